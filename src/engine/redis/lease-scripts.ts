import { Script } from './script.js';

/* The Lua of gateway leases. Each script touches one gateway's {gw:<id>} slot. */

export const heartbeatScript = new Script('heartbeat', String.raw`
-- heartbeat: renews this gateway's lease.
-- KEYS[1] this gateway's lease
-- KEYS[2] this gateway's reaping lock
-- KEYS[3] this gateway's reaped mark
-- ARGV[1] lease time, ms
-- Returns {had, reaping, reaped}: had is 0 when the lease had run out (first beat, Redis
-- restarted empty, or this gateway was cut off long enough to be taken for dead); reaping
-- is 1 while another gateway is cleaning up after it; reaped is 1 (once) when another
-- gateway did, and so announced its users offline.
local had = redis.call('SET', KEYS[1], '1', 'PX', ARGV[1], 'GET')
return {had and 1 or 0, redis.call('EXISTS', KEYS[2]), redis.call('DEL', KEYS[3])}
`);

export const reapLockScript = new Script('reap-lock', String.raw`
-- reap-lock: takes the right to clean up after a gateway whose lease is gone.
-- KEYS[1] its lease
-- KEYS[2] its reaping lock
-- KEYS[3] its retired mark
-- ARGV[1] the reaping gateway's id
-- ARGV[2] lock time, ms (if the reaper dies too, another one takes over after it)
-- Returns 0 when the gateway is alive after all or someone else reaps it; otherwise 1 when
-- its lease ran out, 2 when it retired (stopped on purpose and left users to reap).
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
return redis.call('EXISTS', KEYS[3]) + 1
`);

export const reapDoneScript = new Script('reap-done', String.raw`
-- reap-done: forgets a reaped gateway's users, marks it reaped (should it come back, it
-- announces its users again) and lets go of the lock, if the lock is still ours.
-- KEYS[1] its users set
-- KEYS[2] its reaping lock
-- KEYS[3] its reaped mark
-- KEYS[4] its retired mark
-- ARGV[1] the reaping gateway's id
-- ARGV[2] how long the mark is kept, ms
-- Returns 1 when done, 0 when the lock had passed to another reaper.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
return 1
`);
