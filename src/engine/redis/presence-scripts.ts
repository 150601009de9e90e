import { Script } from './script.js';

/*
 * The Lua of presence. A nick key holds "<session> <gateway>": the session proves a resume,
 * the gateway says whose lease keeps the user alive. Gateway ids hold no spaces, so the
 * session is everything before the last space.
 */

export const claimScript = new Script('claim', String.raw`
-- claim: takes a free nick for a session ('new'), or takes back the nick reserved for that
-- session ('resume', on any gateway), atomically: of concurrent claims exactly one wins.
-- KEYS[1] the nick key
-- KEYS[2] the user's rooms set
-- ARGV[1] 'new' or 'resume'
-- ARGV[2] session
-- ARGV[3] this gateway's id
-- Returns 0 when refused; else the rooms the user is in (none for 'new').
local held = redis.call('GET', KEYS[1])
if ARGV[1] == 'new' then
  if held then return 0 end
  -- A previous holder's rooms set can outlive its nick by a moment (two expiries).
  redis.call('DEL', KEYS[2])
else
  if not held or string.match(held, '^(.*) [^ ]*$') ~= ARGV[2] then return 0 end
  redis.call('PERSIST', KEYS[2])
end
redis.call('SET', KEYS[1], ARGV[2] .. ' ' .. ARGV[3])
return redis.call('SMEMBERS', KEYS[2])
`);

export const releaseScript = new Script('release', String.raw`
-- release: the user said bye: nick and rooms set go now, if the session holds the nick on
-- this gateway (a session that resumed elsewhere is not released by its old gateway).
-- KEYS[1] the nick key
-- KEYS[2] the user's rooms set
-- ARGV[1] session
-- ARGV[2] this gateway's id
-- Returns 0 when not held so; else the rooms the user was in.
if redis.call('GET', KEYS[1]) ~= ARGV[1] .. ' ' .. ARGV[2] then return 0 end
local rooms = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
return rooms
`);

export const detachScript = new Script('detach', String.raw`
-- detach: the connection dropped (or its gateway died): nick and rooms set stay reserved for
-- the session for a grace period, then expire.
-- KEYS[1] the nick key
-- KEYS[2] the user's rooms set
-- ARGV[1] session
-- ARGV[2] the gateway that held it (this one, or a dead one being reaped)
-- ARGV[3] grace period, ms
-- Returns 0 when not held so; else the rooms the user was in.
if redis.call('GET', KEYS[1]) ~= ARGV[1] .. ' ' .. ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return redis.call('SMEMBERS', KEYS[2])
`);

export const userRoomScript = new Script('user-room', String.raw`
-- user-room: records a join or a leave in the user's own rooms set (what a resume restores),
-- if the session holds the nick on this gateway.
-- KEYS[1] the nick key
-- KEYS[2] the user's rooms set
-- ARGV[1] session
-- ARGV[2] this gateway's id
-- ARGV[3] 'SADD' or 'SREM'
-- ARGV[4] the room key
-- Returns 0 when not held so; else what SADD/SREM answered.
if redis.call('GET', KEYS[1]) ~= ARGV[1] .. ' ' .. ARGV[2] then return 0 end
return redis.call(ARGV[3], KEYS[2], ARGV[4])
`);

export const reclaimScript = new Script('reclaim', String.raw`
-- reclaim: writes one of this gateway's live claims back after Redis lost it (a restart
-- without persistence) or marked it away (this gateway's lease ran out and it was reaped),
-- unless another session or gateway holds the nick by now.
-- KEYS[1] the nick key
-- KEYS[2] the user's rooms set
-- ARGV[1] session
-- ARGV[2] this gateway's id
-- ARGV[3..] the rooms the user is in
-- Returns 1 when the claim is this gateway's again, 0 when it is lost.
local mine = ARGV[1] .. ' ' .. ARGV[2]
local held = redis.call('GET', KEYS[1])
if held and held ~= mine then return 0 end
redis.call('SET', KEYS[1], mine)
redis.call('DEL', KEYS[2])
if #ARGV > 2 then redis.call('SADD', KEYS[2], unpack(ARGV, 3)) end
return 1
`);
