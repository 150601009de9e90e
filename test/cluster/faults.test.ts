// Gateways die, Redis restarts, gateways drain: nobody loses an acked message.
import { afterAll, describe, expect, it } from 'vitest';
import { connect, TestClient, wentOffline } from '../support/client.js';
import { startHaproxy } from '../deploy/haproxy.js';
import { ResumingClient } from '../support/resuming.js';
import { stopAll, type ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';
import { startGateways, storesForThisFile } from './gateways.js';

const stores = storesForThisFile();

/** Sends `count` public messages and `count` private ones to each of `to`; returns the acked ids. */
async function chatter(sender: Awaited<ReturnType<typeof connect>>, to: string[], count: number): Promise<{ public: string[]; private: Map<string, string[]> }> {
  const acked = { public: [] as string[], private: new Map<string, string[]>(to.map((n) => [n, []])) };
  for (let i = 0; i < count; i++) {
    const ack = await sender.request({ type: 'send', to: '*', text: `pub ${i}` });
    if (ack.type === 'ack') acked.public.push(ack.id);
    for (const nick of to) {
      const p = await sender.request({ type: 'send', to: `@${nick}`, text: `for ${nick} ${i}` });
      if (p.type === 'ack') acked.private.get(nick)!.push(p.id);
    }
  }
  return acked;
}

describe.each(stores.each)('faults on %s', (_name, store) => {
  let gw: ServerHandle[] = [];
  afterAll(() => stopAll(gw));

  it('survives kill -9 of a gateway: ghosts vanish within 10 s, resumed clients get every acked message once', async () => {
    // Behind the shipped haproxy.cfg, which sends PROXY v2 headers; direct clients still work.
    gw = await startGateways(3, store(), ['--proxy-protocol', '--trusted-proxies', '127.0.0.1']);
    const lb = await startHaproxy({ gateways: gw });
    try {
      const victim = gw[0]!;
      // Two users resume through the balancer; one ghost never comes back.
      const ann = new ResumingClient('ann', victim.tcpPort);
      const bob = new ResumingClient('bob', victim.tcpPort);
      await Promise.all([ann.connect(), bob.connect()]);
      const ghost = await connect(victim.tcpPort, 'ghost');
      const cat = await connect(gw[1]!.tcpPort, 'cat');
      const dan = await connect(gw[2]!.wsPort, 'dan', 'ws');
      const before = await chatter(cat, ['ann', 'bob'], 3);
      await waitUntil(() => ann.seen.size === 6 && bob.seen.size === 6, 'the first messages');

      const killedAt = Date.now();
      await victim.kill();
      const during = chatter(cat, ['ann', 'bob'], 10);
      const vanished = await waitUntil(async () => {
        const who = await dan.request({ type: 'who' });
        return !who.users.includes('ghost') && Date.now();
      }, 'the ghost to vanish from who', 10_000, 100);
      console.log(`ghost removed from who ${vanished - killedAt} ms after kill -9`);
      expect(await dan.next('presence', wentOffline('ghost'))).toBeDefined();

      // Reconnect through HAProxy with the balancer's port, as a real client would.
      for (const c of [ann, bob]) c.port = lb.tcpPort;
      await Promise.all([ann.resume(), bob.resume()]);
      console.log(`resumed ${Date.now() - killedAt} ms after kill -9 on ${ann.gateway}, ${bob.gateway}`);
      const sent = await during;
      const after = await chatter(cat, ['ann', 'bob'], 2);
      for (const [c, nick] of [[ann, 'ann'], [bob, 'bob']] as const) {
        const want = [...before.public, ...sent.public, ...after.public, ...before.private.get(nick)!, ...sent.private.get(nick)!, ...after.private.get(nick)!];
        await waitUntil(() => want.every((id) => c.seen.has(id)), `${nick} to have all ${want.length} acked messages`);
        expect(c.duplicates()).toEqual([]);
        console.log(`${nick}: ${want.length} acked messages, ${c.seen.size} received, ${c.duplicates().length} duplicates`);
      }
      expect(new Set([ann.gateway, bob.gateway]).has('g1-1')).toBe(false);
      [ann.client, bob.client, cat, dan].forEach((c) => c.close());
      ghost.close();
    } finally {
      await lb.stop();
    }
  });
});

describe.each(stores.each)('a restart of %s under the gateways', (_name, store) => {
  it('refuses with unavailable while Redis is down, and chats again after, with who right', async () => {
    const gws = await startGateways(2, store());
    const outage = 'redis' in store() ? stores.redis() : stores.cluster();
    try {
      const ann = await connect(gws[0]!.tcpPort, 'ann');
      const bob = await connect(gws[1]!.tcpPort, 'bob');
      await ann.request({ type: 'join', room: '#ops' });
      await outage.kill();
      await waitUntil(async () => (await gws[0]!.readyz()) === 503, 'readyz to turn 503');
      expect(await ann.request({ type: 'send', to: '*', text: 'anyone?' })).toMatchObject({ type: 'error', code: 'unavailable' });
      expect(await gws[0]!.metrics()).toMatch(/chorus_engine_up 0/);
      const latecomer = await TestClient.tcp(gws[1]!.tcpPort);
      expect(await latecomer.hello('carl')).toMatchObject({ type: 'error', code: 'unavailable' });
      await outage.start();
      await waitUntil(async () => (await gws[0]!.readyz()) === 200 && (await gws[1]!.readyz()) === 200, 'both gateways ready again', 20_000);
      const ack = await waitUntil(async () => {
        const r = await ann.request({ type: 'send', to: '@bob', text: 'back' });
        return r.type === 'ack' && r;
      }, 'a send to be accepted again');
      expect(await bob.next('msg', (m) => m.id === ack.id)).toMatchObject({ text: 'back' });
      const pub = await bob.request({ type: 'send', to: '*', text: 'public again' });
      expect(await ann.next('msg', (m) => m.id === pub.id)).toBeDefined();
      expect((await ann.request({ type: 'who' })).users.sort()).toEqual(['ann', 'bob']);
      expect((await bob.request({ type: 'who', room: '#ops' })).users).toEqual(['ann']);
      // The same connection that was refused during the outage says hello again and is in.
      expect(await latecomer.hello('carl')).toMatchObject({ type: 'welcome' });
      latecomer.close();
      expect(gws.every((g) => g.proc.exitCode === null)).toBe(true);
      [ann, bob].forEach((c) => c.close());
    } finally {
      await stopAll(gws);
    }
  });
});

describe.each(stores.each)('draining a gateway on %s', (_name, store) => {
  it('says bye{reason:"restart"} on SIGTERM, and a resume elsewhere loses nothing', async () => {
    const gws = await startGateways(2, store());
    try {
      const ann = new ResumingClient('ann', gws[0]!.tcpPort);
      await ann.connect();
      const cat = await connect(gws[1]!.tcpPort, 'cat');
      const first = await cat.request({ type: 'send', to: '@ann', text: 'one' });
      await waitUntil(() => ann.seen.has(first.id), 'the first message');
      expect(await gws[0]!.stop()).toBe(0);
      await waitUntil(() => ann.byes.length > 0, 'the bye');
      expect(ann.byes[0]).toMatchObject({ reason: 'restart' });
      const missed = [await cat.request({ type: 'send', to: '@ann', text: 'two' }), await cat.request({ type: 'send', to: '*', text: 'three' })];
      ann.port = gws[1]!.tcpPort;
      await ann.resume();
      await waitUntil(() => missed.every((m) => ann.seen.has(m.id)), 'the missed messages');
      expect(ann.duplicates()).toEqual([]);
      const rooms = await ann.client.request({ type: 'who' });
      expect(rooms.users.sort()).toEqual(['ann', 'cat']);
      [ann.client, cat].forEach((c) => c.close());
    } finally {
      await stopAll(gws);
    }
  });
});

describe.each(stores.each)('workers behind one port on %s', (_name, store) => {
  it('lets users on different workers of one gateway reach each other, and restarts a worker that dies', async () => {
    const [server] = await startGateways(1, store(), ['--workers', '2']);
    try {
      const clients = await Promise.all(Array.from({ length: 8 }, (_, i) => connect(server!.tcpPort, `w${i}`)));
      const byWorker = new Map(clients.map((c) => [c.welcome!.gateway, c]));
      expect(byWorker.size).toBe(2);
      const [a, b] = [...byWorker.values()];
      const ack = await a!.request({ type: 'send', to: `@${b!.welcome!.nick}`, text: 'across workers' });
      expect(await b!.next('msg', (m) => m.id === ack.id)).toMatchObject({ text: 'across workers' });
      const metrics = await server!.metrics();
      expect(metrics).toMatch(/chorus_connections\{transport="tcp"\} 8/);
      expect(metrics).toMatch(/chorus_worker_connections\{worker="1"\} [1-7]\b/);
      expect(metrics).toMatch(/chorus_worker_connections\{worker="2"\} [1-7]\b/);

      // A worker that dies is restarted; the other worker's users never notice.
      const victimPid = server!.logs.find((l) => l.msg === 'registered' && l.nick === a!.welcome!.nick)!.pid as number;
      process.kill(victimPid, 'SIGKILL');
      await a!.waitClosed();
      await waitUntil(async () => /chorus_worker_restarts_total 1/.test(await server!.metrics()) && /chorus_workers_ready 2/.test(await server!.metrics()), 'the worker to be restarted');
      expect(await b!.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
      const again = await connect(server!.tcpPort, 'after-restart');
      expect(await again.request({ type: 'who' })).toMatchObject({ type: 'who' });
      [...clients, again].forEach((c) => c.close());
    } finally {
      await server?.stop();
    }
  });
});
