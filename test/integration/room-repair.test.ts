// A gateway taken for dead (stalled past its lease) has its users reaped by another: their
// room memberships leave the store until it writes them back. A room send in between is
// the user's own, in a room it never left: it is acked, not refused `not_in_room`.
import { afterAll, expect, it } from 'vitest';
import { connect } from '../support/client.js';
import { redisCommand, startRedis, type RedisServer } from '../support/redis.js';
import { startServer, type ServerHandle } from '../support/server.js';

let redis: RedisServer | undefined;
let server: ServerHandle | undefined;
afterAll(async () => {
  await server?.kill();
  await redis?.stop();
});

/** Deletes the room's member set, as a reaper's SREMs would. */
const dropMembers = (port: number, room: string) =>
  redisCommand(port, 'EVAL', "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 1", '0', `*{r:*${room}}:members`);

it('writes back a room membership the store lost, and delivers the send', async () => {
  redis = await startRedis();
  server = await startServer(['--redis', redis.url, '--workers', '1']);
  const ann = await connect(server.tcpPort, 'ann');
  const bob = await connect(server.tcpPort, 'bob');
  for (const c of [ann, bob]) expect(await c.request({ type: 'join', room: '#dev' })).toMatchObject({ type: 'joined' });
  await dropMembers(redis.port, 'dev');
  const ack = await ann.request({ type: 'send', to: '#dev', text: 'still here' });
  expect(ack).toMatchObject({ type: 'ack' });
  await bob.next('msg', (f) => f.id === ack.id);
  expect(server.logs.some((l) => l.msg === 'a room membership was missing from the store: written back')).toBe(true);
  // Written back: the room lists ann again, and the next send needs no repair.
  expect((await ann.request({ type: 'who', room: '#dev' })).users).toContain('ann');
  ann.close();
  bob.close();
});
