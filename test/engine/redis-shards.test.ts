// The Redis engine's shard subscriptions on a real 3-master Redis Cluster: what ioredis
// resubscribes by itself after a subscriber connection ends, and what it must not.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisEngine } from '../../src/engine/redis/index.js';
import { makeKeys } from '../../src/engine/redis/keys.js';
import { slotOf } from '../../src/engine/redis/slot.js';
import type { Engine } from '../../src/engine/types.js';
import type { Address } from '../../src/protocol/names.js';
import { redisCommand, startRedisCluster, type RedisClusterHandle } from '../support/redis.js';
import { claimOf } from './contract.js';
import { draft, eventually, tap } from './helpers.js';

const log = pino({ level: 'silent' });

/**
 * The shard channels ioredis's subscriber group will SSUBSCRIBE again after a reconnect, each
 * as often as it holds it. ioredis has no public way to list them: this reads its internals.
 */
function heldByIoredis(engine: Engine): string[] {
  const internals = engine as unknown as { conns: { sub: { shardedSubscribers: { channels: Map<number, string[]> } } } };
  return [...internals.conns.sub.shardedSubscribers.channels.values()].flat().sort();
}

describe('Redis engine shard subscriptions, 3-master Redis Cluster', () => {
  let cluster: RedisClusterHandle;
  let engines: Engine[] = [];
  const ports = () => cluster.nodes.map((node) => Number(node.slice(node.lastIndexOf(':') + 1)));
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
  });
  afterEach(async () => {
    await Promise.all(engines.map((e) => e.stop()));
    engines = [];
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  async function gateways(n: number) {
    const prefix = `s-${randomUUID().slice(0, 8)}:`;
    const made: Engine[] = [];
    for (let i = 0; i < n; i++) {
      const engine = createRedisEngine({
        cluster: cluster.nodes, prefix, historyLimit: 100, gatewayId: `gw-${randomUUID().slice(0, 8)}`, leaseMs: 600, log,
      });
      engines.push(engine);
      await engine.start();
      made.push(engine);
    }
    return { keys: makeKeys(prefix), made };
  }

  /** How many connections are subscribed to a shard channel, over all masters (those not serving it answer MOVED). */
  /**
   * Two gateways: b posts as `sender`, a subscribes to `*` and to the inboxes of enough users
   * that every master owns some of them.
   */
  async function spreadOverShards() {
    const { keys, made: [a, b] } = await gateways(2);
    const seen = tap(a);
    const sender = claimOf('sender');
    await b.claims.claim(sender, 'new');
    const users = Array.from({ length: 9 }, (_, i) => claimOf(`u${i}`));
    for (const user of users) await a.claims.claim(user, 'new');
    const targets: Address[] = ['*', ...users.map((u) => `@${u.key}` as Address)];
    for (const to of targets) await a.bus.subscribe(to);
    return { keys, a: a!, b: b!, seen, sender, targets };
  }

  async function subscribers(channel: string): Promise<number> {
    const counts = await Promise.all(ports().map(async (port) => {
      const node = new Redis(port, '127.0.0.1');
      try {
        const [, count] = (await node.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
        return count;
      } catch {
        return 0;
      } finally {
        node.disconnect();
      }
    }));
    return counts.reduce((sum, count) => sum + count, 0);
  }

  it('computes the slot of every kind of name as Redis does', async () => {
    const { keys } = await gateways(0);
    const names = [keys.channel('*'), keys.channel('@đặng'), keys.probe('#dev'), 'plain', 'a{}b{c}', '{x}{y}', 'x{y'];
    for (const name of names) {
      expect(slotOf(name)).toBe(Number(await redisCommand(ports()[0]!, 'CLUSTER', 'KEYSLOT', name)));
    }
  });

  it('holds each channel once through three rounds of killed subscribers, and delivers every message once', async () => {
    const { keys, a, b, seen, sender, targets } = await spreadOverShards();
    const channels = targets.map((to) => keys.channel(to)).sort();
    expect(heldByIoredis(a)).toEqual(channels);
    const sent = new Map(targets.map((to) => [to, [] as string[]]));
    const round = async (text: string) => {
      for (const [to, ids] of sent) ids.push((await b.history.post(draft(sender, to, text))).id);
    };
    const got = (to: Address) => seen.filter((s) => s.address === to).map((s) => s.env.id);

    for (let kill = 1; kill <= 3; kill++) {
      await Promise.all(ports().map((port) => redisCommand(port, 'CLIENT', 'KILL', 'TYPE', 'pubsub')));
      for (let i = 0; i < 3; i++) await round(`during ${kill}.${i}`);
      // Until every shard's subscriber is back, each round may be missed too, and must be caught up.
      await eventually(async () => {
        await round(`after ${kill}`);
        for (const [to, ids] of sent) expect(got(to)).toContain(ids.at(-1));
      }, 15_000);
      expect(heldByIoredis(a)).toEqual(channels);
    }
    for (const [to, ids] of sent) expect(got(to)).toEqual(ids);
    for (const channel of channels) expect(await subscribers(channel)).toBe(1);
  });

  it('reads back only the channels of the master whose subscriber connection ended', async () => {
    const { keys, a, b, seen, sender, targets } = await spreadOverShards();
    // Which streams the engine reads back: its command connection's XRANGEs (internals, test only).
    const cmd = (a as unknown as { conns: { cmd: { xrange: (...args: unknown[]) => Promise<unknown> } } }).conns.cmd;
    const xrange = cmd.xrange.bind(cmd);
    const readBack = new Set<string>();
    cmd.xrange = (...args: unknown[]) => {
      readBack.add(String(args[0]));
      return xrange(...args);
    };
    const port = ports()[0]!;
    const node = new Redis(port, '127.0.0.1');
    try {
      const there = (await node.call('PUBSUB', 'SHARDCHANNELS', `${keys.channel('*').split('{')[0]}*`)) as string[];
      expect(there.length).toBeGreaterThan(0);
      const name = `ioredis-cluster(ssubscriber):chorus:${a.gateway}:sub`;
      const line = String(await node.client('LIST')).split('\n').find((l) => l.includes(` name=${name} `));
      await node.client('KILL', 'ID', line!.match(/^id=(\d+) /)![1]!);
      const sent = new Map<Address, string>();
      await eventually(async () => {
        for (const to of targets) sent.set(to, (await b.history.post(draft(sender, to, 'hi'))).id);
        for (const [to, id] of sent) expect(seen.filter((s) => s.address === to).map((s) => s.env.id)).toContain(id);
      }, 15_000);
      const logOf = (channel: string) => channel.replace(/:bus$/, ':log');
      expect([...readBack].sort()).toEqual(there.map(logOf).sort());
    } finally {
      node.disconnect();
    }
  });

  it('lets go of a channel unsubscribed while the cluster was down once it is back', async () => {
    const { keys, made: [a] } = await gateways(1);
    const seen = tap(a);
    await a.bus.subscribe('@kept');
    await a.bus.subscribe('@gone');
    await cluster.kill();
    await eventually(async () => expect(a.up).toBe(false));
    await expect(a.bus.unsubscribe('@gone')).rejects.toMatchObject({ code: 'unavailable' });
    await cluster.start();
    // A restarted cluster takes a while to agree on its slots again, longer on a busy machine.
    await eventually(async () => expect(a.up).toBe(true), 45_000);
    await eventually(async () => {
      expect(heldByIoredis(a)).toEqual([keys.channel('@kept')]);
      expect(await subscribers(keys.channel('@gone'))).toBe(0);
      expect(await subscribers(keys.channel('@kept'))).toBe(1);
    }, 10_000);
    await a.bus.publish('@kept', { id: '', ts: Date.now(), from: 'x', line: Buffer.from('{}\n') });
    await eventually(async () => expect(seen.map((s) => s.address)).toEqual(['@kept']));
  }, 90_000);
});
