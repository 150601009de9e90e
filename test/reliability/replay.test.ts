// What a resume replays, seen from the client that resumes: what it missed, not what it
// sent itself (the server does not echo a sender, live or on replay).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, TestClient } from '../support/client.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { startServer, type ServerHandle } from '../support/server.js';

let redis: RedisServer;
const servers: Record<string, ServerHandle> = {};
beforeAll(async () => {
  redis = await startRedis();
  [servers.memory, servers.redis] = await Promise.all([
    startServer([]),
    startServer(['--redis', redis.url, '--workers', '1']),
  ]);
});
afterAll(async () => {
  await Promise.all(Object.values(servers).map((s) => s.stop()));
  await redis.stop();
});

let seq = 0;

describe.each(['memory', 'redis'])('a resume on the %s engine', (engine) => {
  it('replays what others sent meanwhile but never the resuming user\'s own messages', async () => {
    const port = servers[engine]!.tcpPort;
    const n = ++seq;
    const ann = await connect(port, `ann${n}`);
    const bob = await connect(port, `bob${n}`);
    const room = `#echo${n}`;
    await ann.request({ type: 'join', room });
    await bob.request({ type: 'join', room });
    // Ann has received nothing on '*' or the room yet: her cursors there start at her session.
    const own = await ann.request({ type: 'send', to: '*', text: 'mine, public' });
    const ownRoom = await ann.request({ type: 'send', to: room, text: 'mine, room' });
    expect(own.type).toBe('ack');
    expect(ownRoom.type).toBe('ack');
    await bob.next('msg', (m) => m.id === ownRoom.id);
    ann.close();
    const missed = await bob.request({ type: 'send', to: '*', text: 'for ann, public' });
    const missedRoom = await bob.request({ type: 'send', to: room, text: 'for ann, room' });
    const again = await TestClient.tcp(port);
    const welcome = await again.hello(`ann${n}`, { resume: { session: ann.welcome!.session, last: {} } });
    expect(welcome.type).toBe('welcome');
    // A barrier: bob's next message comes live, after the replay.
    const after = await bob.request({ type: 'send', to: room, text: 'live' });
    await again.next('msg', (m) => m.id === after.id);
    const got = again.received.filter((f) => f.type === 'msg').map((m) => m.text);
    expect(got).toEqual(['for ann, public', 'for ann, room', 'live']);
    expect(missed.type).toBe('ack');
    expect(missedRoom.type).toBe('ack');
    again.close();
    bob.close();
  });
});
