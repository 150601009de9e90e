import { Script } from './script.js';

/*
 * The Lua of file transfer (keys.ts lists the keys). A file's scripts touch only its own
 * {f:<id>} slot; the quota scripts only the {fq} slot.
 */

/**
 * Lua: whether a file whose `expires` (ms) is in `expires` has expired at `now`, the
 * gateway's clock, as find() decides: in the millisecond before Redis expires the keys, a
 * file find() calls gone must not be read, answered or appended to.
 */
const expired = (expires: string, now: string) => `tonumber(${expires}) <= tonumber(${now})`;

/** Takes one file off the quota ledger; shared by the two quota scripts. KEYS as theirs. */
const releaseFunction = String.raw`
local function release(id)
  local entry = redis.call('HGET', KEYS[2], id)
  if entry then
    local space = string.find(entry, ' ', 1, true)
    local size = tonumber(string.sub(entry, 1, space - 1))
    local sender = string.sub(entry, space + 1)
    if redis.call('HINCRBY', KEYS[3], sender, -size) <= 0 then redis.call('HDEL', KEYS[3], sender) end
    redis.call('HINCRBY', KEYS[3], '*', -size)
    redis.call('HDEL', KEYS[2], id)
  end
  redis.call('ZREM', KEYS[1], id)
end
`;

export const reserveScript = new Script('file-reserve', String.raw`
-- file-reserve: counts an offer's size against the sender's and the store's quota, or refuses.
-- Files past their expiry are taken off first (a bounded number per call: the ledger keeps up
-- because every offer prunes).
-- KEYS[1] {fq}:expiry  KEYS[2] {fq}:sizes  KEYS[3] {fq}:used
-- ARGV[1] now (ms)  ARGV[2] file id  ARGV[3] sender key  ARGV[4] size  ARGV[5] expires (ms)
-- ARGV[6] per-sender quota  ARGV[7] total quota
-- Returns 'ok' | 'sender' | 'total'
${releaseFunction}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)) do release(id) end
local size = tonumber(ARGV[4])
if tonumber(redis.call('HGET', KEYS[3], ARGV[3]) or '0') + size > tonumber(ARGV[6]) then return 'sender' end
if tonumber(redis.call('HGET', KEYS[3], '*') or '0') + size > tonumber(ARGV[7]) then return 'total' end
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4] .. ' ' .. ARGV[3])
redis.call('HINCRBY', KEYS[3], ARGV[3], ARGV[4])
redis.call('HINCRBY', KEYS[3], '*', ARGV[4])
return 'ok'
`);

export const releaseScript = new Script('file-release', String.raw`
-- file-release: a dropped file gives its bytes back to the quotas.
-- KEYS[1] {fq}:expiry  KEYS[2] {fq}:sizes  KEYS[3] {fq}:used
-- ARGV[1] file id
${releaseFunction}
release(ARGV[1])
return 1
`);

export const offerScript = new Script('file-offer', String.raw`
-- file-offer: files an offer and its recipients, both expiring with it.
-- KEYS[1] meta  KEYS[2] recipients
-- ARGV[1] expires (ms)  ARGV[2..8] from, fromKey, to, address, name, size, sha256
-- ARGV[9..] recipient nick keys
redis.call('HSET', KEYS[1], 'from', ARGV[2], 'fromKey', ARGV[3], 'to', ARGV[4], 'address', ARGV[5],
  'name', ARGV[6], 'size', ARGV[7], 'sha256', ARGV[8], 'expires', ARGV[1], 'state', 'uploading')
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
-- In batches: unpack() of a whole cluster's online list would pass Lua's stack limit.
for i = 9, #ARGV, 1000 do
  redis.call('SADD', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if #ARGV >= 9 then redis.call('PEXPIREAT', KEYS[2], ARGV[1]) end
return 1
`);

export const appendScript = new Script('file-append', String.raw`
-- file-append: stores chunk ARGV[1] if it is the next one and the file is still uploading.
-- KEYS[1] meta  KEYS[2] chunks
-- ARGV[1] seq  ARGV[2] the chunk's file_chunk JSON  ARGV[3] now, ms (see expired)
-- Returns 'ok' | 'gap' | 'gone'
local meta = redis.call('HMGET', KEYS[1], 'state', 'expires')
if meta[1] ~= 'uploading' or ${expired('meta[2]', 'ARGV[3]')} then return 'gone' end
if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[1]) then return 'gap' end
redis.call('RPUSH', KEYS[2], ARGV[2])
if ARGV[1] == '0' then redis.call('PEXPIREAT', KEYS[2], redis.call('HGET', KEYS[1], 'expires')) end
return 'ok'
`);

export const sealScript = new Script('file-seal', String.raw`
-- file-seal: the upload is complete and verified.
-- KEYS[1] meta
-- Returns 1, or 0 when the file was not uploading.
if redis.call('HGET', KEYS[1], 'state') ~= 'uploading' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'stored')
return 1
`);

export const dropScript = new Script('file-drop', String.raw`
-- file-drop: the file failed: its bytes go, readers see 'failed' until it expires.
-- KEYS[1] meta  KEYS[2] chunks
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'failed')
redis.call('DEL', KEYS[2])
return 1
`);

export const answerScript = new Script('file-answer', String.raw`
-- file-answer: records a recipient's accept or reject.
-- KEYS[1] meta  KEYS[2] answers
-- ARGV[1] nick key  ARGV[2] 'accept' | 'reject'  ARGV[3] now, ms (see expired)
-- Returns 1 when the answer is new (first, or changed), else 0.
local expires = redis.call('HGET', KEYS[1], 'expires')
if not expires or ${expired('expires', 'ARGV[3]')} then return 0 end
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIREAT', KEYS[2], expires)
return 1
`);

export const readScript = new Script('file-read', String.raw`
-- file-read: chunks from seq ARGV[1] on, with the upload's state, read in one step so that a
-- 'stored' state always comes with every chunk.
-- KEYS[1] meta  KEYS[2] chunks
-- ARGV[1] first seq  ARGV[2] how many at most  ARGV[3] now, ms (see expired)
-- Returns {state, stored, {json, ...}}, or false when the file is gone.
local meta = redis.call('HMGET', KEYS[1], 'state', 'expires')
local state = meta[1]
if not state or ${expired('meta[2]', 'ARGV[3]')} then return false end
local first = tonumber(ARGV[1])
return {state, redis.call('LLEN', KEYS[2]),
  redis.call('LRANGE', KEYS[2], first, first + tonumber(ARGV[2]) - 1)}
`);
