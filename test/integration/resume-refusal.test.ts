// A refused resume says why: `history_lost` when the store lost its data since the session
// began (acked messages may be gone), `expired` when the session simply ran out.
import { afterEach, expect, it } from 'vitest';
import { connect, TestClient } from '../support/client.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { startServer, type ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';

let redis: RedisServer | undefined;
let servers: ServerHandle[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.kill()));
  await redis?.stop();
  servers = [];
  redis = undefined;
});

async function start(args: string[]): Promise<ServerHandle> {
  const server = await startServer(args);
  servers.push(server);
  return server;
}

async function resume(port: number, nick: string, session: string): Promise<Record<string, unknown>> {
  const client = await TestClient.tcp(port);
  const reply = await client.hello(nick, { resume: { session, last: {} } });
  client.close();
  return reply;
}

it('tells a user whose Redis restarted empty that its history is lost', async () => {
  redis = await startRedis();
  const server = await start(['--redis', redis.url, '--workers', '1']);
  const ann = await connect(server.tcpPort, 'ann');
  const session = ann.welcome!.session as string;
  const bob = await connect(server.tcpPort, 'bob');
  ann.close();
  let acked = 0;
  for (let i = 0; i < 20; i++) if ((await bob.request({ type: 'send', to: '@ann', text: `m${i}` })).type === 'ack') acked++;
  expect(acked).toBe(20);

  await redis.restart();
  await waitUntil(async () => (await server.readyz()) === 200 && (await bob.request({ type: 'who' })).type === 'who', 'the gateway to be back on the empty Redis');
  expect(await resume(server.tcpPort, 'ann', session)).toMatchObject({ type: 'error', code: 'resume_failed', reason: 'history_lost' });
});

it('tells a user of the single-process server, restarted, that its history is lost', async () => {
  const first = await start([]);
  const ann = await connect(first.tcpPort, 'ann');
  const session = ann.welcome!.session as string;
  expect(await first.stop()).toBe(0);
  const second = await start([]);
  expect(await resume(second.tcpPort, 'ann', session)).toMatchObject({ type: 'error', code: 'resume_failed', reason: 'history_lost' });
});

it('says expired, not lost, for a session that ran out while the store kept everything', async () => {
  redis = await startRedis();
  const server = await start(['--redis', redis.url, '--workers', '1', '--resume-grace-ms', '300']);
  const ann = await connect(server.tcpPort, 'ann');
  const session = ann.welcome!.session as string;
  ann.close();
  // Once the grace period is over the nick is free: someone else takes it.
  await waitUntil(async () => {
    const other = await TestClient.tcp(server.tcpPort);
    if ((await other.hello('ann')).type === 'welcome') return true;
    other.close();
    return false;
  }, 'the nick to be free again', 10_000, 100);
  expect(await resume(server.tcpPort, 'ann', session)).toMatchObject({ type: 'error', code: 'resume_failed', reason: 'expired' });
});
