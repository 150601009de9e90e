// Presence whose cost follows interest, not population: batches once per tick per gateway,
// a population threshold, and watch lists, on two real gateways sharing a real Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, TestClient, wentOffline, wentOnline, type Frame } from '../support/client.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { stopAll, type ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';
import { startGateways } from './gateways.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis?.stop());

let serial = 0;
const nick = (base: string) => `${base}${++serial}`;

/** Every presence frame a client gets, from the moment it is made. */
function presenceOf(client: TestClient): Frame[] {
  const seen: Frame[] = [];
  client.onFrame((f) => f.type === 'presence' && seen.push(f));
  return seen;
}

async function batchesOf(g: ServerHandle): Promise<number> {
  return Number(/^chorus_presence_batches_total (\d+)/m.exec(await g.metrics())?.[1]);
}

const names = (frames: Frame[]) => frames.flatMap((f) => [...(f.online ?? []), ...(f.offline ?? [])]);

/** `count` clients saying hello at once, alternating between the gateways, each with its presence frames. */
async function storm(gw: ServerHandle[], count: number, base: string): Promise<Array<{ client: TestClient; frames: Frame[] }>> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const client = await TestClient.tcp(gw[i % gw.length]!.tcpPort);
      const frames = presenceOf(client);
      const reply = await client.hello(`${base}${i}`, {}, 30_000);
      if (reply.type !== 'welcome') throw new Error(`not welcomed: ${JSON.stringify(reply)}`);
      return { client, frames };
    }),
  );
}

describe('presence batches on two gateways', () => {
  const tickMs = 500;
  let gw: ServerHandle[] = [];
  beforeAll(async () => {
    gw = await startGateways(2, { redis: redis.url }, ['--presence-tick-ms', String(tickMs), '--room-presence-max', '2', '--lease-ms', '10000']);
  });
  afterAll(() => stopAll(gw));

  it('reads a single change as a version 1 frame: event, nick and ts', async () => {
    const ann = await connect(gw[0]!.tcpPort, nick('ann'));
    const cat = await connect(gw[1]!.tcpPort, nick('cat'));
    // Past the tick of ann's and cat's own arrivals, so bob is alone in his.
    await cat.next('presence', wentOnline(ann.welcome!.nick));
    await ann.next('presence', wentOnline(cat.welcome!.nick));
    const b = nick('bob');
    const bob = await connect(gw[1]!.tcpPort, b);
    const frame = await ann.next('presence', wentOnline(b));
    expect(frame).toEqual({ type: 'presence', event: 'online', nick: b, ts: expect.any(Number), online: [b], offline: [] });
    expect(Object.keys(frame).slice(0, 4)).toEqual(['type', 'event', 'nick', 'ts']);
    [ann, bob, cat].forEach((c) => c.close());
  });

  it('announces joins and leaves in rooms up to --room-presence-max members, and counts above', async () => {
    const room = `#big${++serial}`;
    const [ann, bob, cat] = await Promise.all(['ann', 'bob', 'cat'].map((n, i) => connect(gw[i % 2]!.tcpPort, nick(n))));
    await ann!.request({ type: 'join', room });
    expect(await bob!.request({ type: 'join', room })).toMatchObject({ members: expect.arrayContaining([ann!.welcome!.nick, bob!.welcome!.nick]) });
    await ann!.next('joined', (j) => j.nick === bob!.welcome!.nick);
    const third = await cat!.request({ type: 'join', room });
    expect(third).toMatchObject({ type: 'joined', nick: cat!.welcome!.nick, count: 3 });
    expect(third.members).toBeUndefined();
    expect(await cat!.request({ type: 'who', room })).toMatchObject({ users: [], count: 3 });
    await cat!.request({ type: 'leave', room });
    // Barrier: a message on the same room channel, after the join and leave that went unannounced.
    const sent = await bob!.request({ type: 'send', to: room, text: 'after' });
    await ann!.next('msg', (m) => m.id === sent.id);
    expect(ann!.pending('joined')).toEqual([]);
    expect(ann!.pending('left')).toEqual([]);
    [ann, bob, cat].forEach((c) => c!.close());
  });

  it('lets an online-then-offline flap inside one tick reach nobody', async () => {
    const here = await connect(gw[0]!.tcpPort, nick('here'));
    const there = await connect(gw[1]!.tcpPort, nick('there'));
    const seen = [presenceOf(here), presenceOf(there)];
    // A tick of the flap's gateway just passed (its clients were shown a change): the flap
    // that follows at once has the whole tick to come and go in.
    const sync = nick('sync');
    const syncer = await connect(gw[1]!.tcpPort, sync);
    await here.next('presence', wentOnline(sync));
    const f = nick('flap');
    const flap = await connect(gw[0]!.tcpPort, f);
    await flap.request({ type: 'bye' });
    const m = nick('marker');
    const marker = await connect(gw[0]!.tcpPort, m);
    await waitUntil(() => seen.every((frames) => frames.some(wentOnline(m))), 'the marker on both gateways');
    for (const frames of seen) expect(names(frames)).not.toContain(f);
    [here, there, syncer, marker].forEach((c) => c.close());
  });
  it('gives no client more presence frames than the ticks that passed, plus one, in a connect storm of 300', async () => {
    // Last in its gateways' life: the storm's departures reach no later test.
    const batchesBefore = await Promise.all(gw.map(batchesOf));
    const startedAt = Date.now();
    const users = await storm(gw, 300, nick('storm'));
    // Barrier: one more arrival, after everyone was welcomed, reaches every client in a later batch.
    const marker = await connect(gw[0]!.tcpPort, nick('marker'));
    await waitUntil(() => users.every((u) => u.frames.some(wentOnline(marker.welcome!.nick))), 'everyone to see the marker', 20_000, 50);
    const ticks = Math.floor((Date.now() - startedAt) / tickMs) + 1;
    const most = Math.max(...users.map((u) => u.frames.length));
    console.log(`300 hellos over 2 gateways: at most ${most} presence frames per client in ${ticks} ticks`);
    for (const u of users) expect(u.frames.length).toBeLessThanOrEqual(ticks);
    // Batches really carried many changes: some client heard of more users than it got frames.
    expect(Math.max(...users.map((u) => new Set(names(u.frames)).size))).toBeGreaterThan(most);
    const batches = await Promise.all(gw.map(batchesOf));
    for (const [i, n] of batches.entries()) expect(n - batchesBefore[i]!).toBeLessThanOrEqual(ticks);
    for (const text of await Promise.all(gw.map((g) => g.metrics()))) {
      expect(Number(/^chorus_presence_frames_total (\d+)/m.exec(text)?.[1])).toBeGreaterThan(300);
    }
    [marker, ...users.map((u) => u.client)].forEach((c) => c.close());
  });

});

describe('presence above --presence-max-users', () => {
  const maxUsers = 100;
  let gw: ServerHandle[] = [];
  beforeAll(async () => {
    // A lease long enough that a gateway stalled by a loaded machine is not reaped meanwhile:
    // its users would be announced offline and back, names the crowd would rightly hear.
    gw = await startGateways(2, { redis: redis.url }, ['--presence-tick-ms', '250', '--presence-max-users', String(maxUsers), '--lease-ms', '10000']);
  });
  afterAll(() => stopAll(gw));

  it('sends no per-user presence above the threshold, only the count, and pages who', async () => {
    const users = await storm(gw, 300, nick('crowd'));
    // Barrier: the count that includes one more arrival reaches every client (slow tick).
    const m = nick('marker');
    const marker = await connect(gw[1]!.tcpPort, m);
    await waitUntil(() => users.every((u) => u.frames.some((f) => f.count === 301)), 'everyone to get the count of 301', 20_000, 50);
    for (const { frames } of users) {
      // Once a client was told the count, it is told no more names while the crowd only grows.
      const counted = frames.findIndex((f) => typeof f.count === 'number');
      expect(counted).toBeGreaterThanOrEqual(0);
      expect(names(frames.slice(counted))).toEqual([]);
      expect(names(frames)).not.toContain(m);
    }
    // who comes in pages that together hold everyone.
    const all = new Set<string>();
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await marker.request({ type: 'who', limit: 50, ...(cursor === undefined ? {} : { cursor }) });
      expect(page.count).toBe(301);
      page.users.forEach((u: string) => all.add(u));
      cursor = page.next;
      pages++;
    } while (cursor !== undefined && pages < 100);
    expect(all.size).toBe(301);
    expect(pages).toBeGreaterThan(1);
    expect(await marker.request({ type: 'who', cursor: 'nope' })).toMatchObject({ type: 'error', code: 'bad_frame' });
    [marker, ...users.map((u) => u.client)].forEach((c) => c.close());
  });
});

describe('watch lists', () => {
  let gw: ServerHandle[] = [];
  beforeAll(async () => {
    // One user online already passes the threshold: public presence is off, only watches remain.
    gw = await startGateways(2, { redis: redis.url }, ['--presence-tick-ms', '250', '--presence-max-users', '1', '--lease-ms', '10000']);
  });
  afterAll(() => stopAll(gw));

  it('carries a watched nick\'s presence across gateways, and nothing of the unwatched', async () => {
    const [b, c] = [nick('bob'), nick('cat')];
    const ann = await connect(gw[0]!.tcpPort, nick('ann'));
    const dan = await connect(gw[1]!.tcpPort, nick('dan'));
    expect(await ann.request({ type: 'watch', nicks: [b, dan.welcome!.nick] })).toMatchObject({
      type: 'watching', nicks: [b, dan.welcome!.nick], online: [dan.welcome!.nick],
    });
    const frames = presenceOf(ann);
    const cat = await connect(gw[1]!.tcpPort, c);
    const bob = await connect(gw[1]!.tcpPort, b);
    // dan's own arrival may still be on its way here, in the same batch: watched too.
    await ann.next('presence', wentOnline(b));
    await bob.request({ type: 'bye' });
    await ann.next('presence', wentOffline(b));
    expect(names(frames)).not.toContain(c);
    expect(await ann.request({ type: 'unwatch', nicks: [b.toUpperCase()] })).toMatchObject({ nicks: [dan.welcome!.nick] });
    expect(await ann.request({ type: 'watch', nicks: [] })).toMatchObject({ type: 'error', code: 'bad_frame' });
    [ann, cat, dan].forEach((x) => x.close());
  });
});
