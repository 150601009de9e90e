import { Script } from './script.js';

/*
 * The Lua of presence. A nick key holds its holder, "<session> <conn> <gateway>" (keys.ts
 * holderOf): the session proves a resume, the connection is the one that may let the nick go,
 * the gateway says whose lease keeps the user alive. Connection and gateway ids hold no
 * spaces, so the session is everything before the last two.
 */

export const claimScript = new Script('claim', String.raw`
-- claim: takes a free nick for a session ('new'), or takes back the nick reserved for that
-- session ('resume', on any gateway, even while another connection still holds it: that one
-- loses it, and is told so), atomically: of concurrent claims exactly one wins.
-- KEYS[1] the nick key
-- KEYS[2] the user's rooms set
-- KEYS[3] the user's channel
-- ARGV[1] 'new' or 'resume'
-- ARGV[2] the session a resume proves (the token it was given); unused for 'new'
-- ARGV[3] the holder to write: "<session> <conn> <gateway>", with the rotated token on resume
-- ARGV[4] ts of a takeover notice, ms since epoch
-- ARGV[5] 'PUBLISH' or 'SPUBLISH'
-- ARGV[6] the takeover notice's frame, ending in '\n'
-- Returns 0 when refused; else {the connection that held it before ('' for 'new'), the rooms
-- the user is in (none for 'new')}.
local held = redis.call('GET', KEYS[1])
local previous = ''
if ARGV[1] == 'new' then
  if held then return 0 end
  -- A previous holder's rooms set can outlive its nick by a moment (two expiries).
  redis.call('DEL', KEYS[2])
else
  if not held then return 0 end
  local session, conn = string.match(held, '^(.*) (%S+) %S+$')
  if session ~= ARGV[2] then return 0 end
  previous = conn
  redis.call('PERSIST', KEYS[2])
  if held ~= ARGV[3] then
    -- The takeover notice for the connection that loses the nick, laid out as envelope.ts
    -- encodes it: "<id> <ts> <from> <conn>" with id and from empty, then the frame.
    redis.call(ARGV[5], KEYS[3], ' ' .. ARGV[4] .. '  ' .. previous .. '\n' .. ARGV[6])
  end
end
redis.call('SET', KEYS[1], ARGV[3])
return {previous, redis.call('SMEMBERS', KEYS[2])}
`);

export const releaseScript = new Script('release', String.raw`
-- release: the user said bye: nick and rooms set go now, if this connection holds the nick
-- (one the session has left, by resuming elsewhere, releases nothing).
-- KEYS[1] the nick key
-- KEYS[2] the user's rooms set
-- ARGV[1] the holder: "<session> <conn> <gateway>"
-- Returns {1 when released else 0, the rooms the user is in}: the connection takes its own
-- entries out of those rooms either way.
local rooms = redis.call('SMEMBERS', KEYS[2])
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0, rooms} end
redis.call('DEL', KEYS[1], KEYS[2])
return {1, rooms}
`);

export const detachScript = new Script('detach', String.raw`
-- detach: the connection dropped (or its gateway died): nick and rooms set stay reserved for
-- the session for a grace period, then expire; if this connection still holds the nick.
-- KEYS[1] the nick key
-- KEYS[2] the user's rooms set
-- ARGV[1] the holder: "<session> <conn> <gateway>" (this gateway, or a dead one being reaped)
-- ARGV[2] grace period, ms
-- Returns {1 when detached else 0, the rooms the user is in}, as release does.
local rooms = redis.call('SMEMBERS', KEYS[2])
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0, rooms} end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {1, rooms}
`);

export const userRoomScript = new Script('user-room', String.raw`
-- user-room: records a join or a leave in the user's own rooms set (what a resume restores),
-- if this connection holds the nick.
-- KEYS[1] the nick key
-- KEYS[2] the user's rooms set
-- ARGV[1] the holder: "<session> <conn> <gateway>"
-- ARGV[2] 'SADD' or 'SREM'
-- ARGV[3] the room key
-- Returns -1 when not held so; else what SADD/SREM answered.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
return redis.call(ARGV[2], KEYS[2], ARGV[3])
`);

export const reclaimScript = new Script('reclaim', String.raw`
-- reclaim: writes one of this gateway's live claims back after Redis lost it (a restart
-- without persistence) or marked it away (this gateway's lease ran out and it was reaped),
-- unless another connection holds the nick by now.
-- KEYS[1] the nick key
-- KEYS[2] the user's rooms set
-- ARGV[1] the holder: "<session> <conn> <gateway>"
-- ARGV[2..] the rooms the user is in
-- Returns 1 when the claim is this connection's again, 0 when it is lost.
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
if #ARGV > 1 then redis.call('SADD', KEYS[2], unpack(ARGV, 2)) end
return 1
`);
