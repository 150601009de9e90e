// The Redis engine's own bookkeeping when work breaks off: the takeover notice a resume sends
// the gateway of the old connection, a gateway that stops while claims and releases are in
// flight, and releases, detaches and claims whose commands fail while Redis stays up. Real
// redis-server; a command is made to fail by giving a key it touches the wrong type.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeEnvelope } from '../../src/engine/envelope.js';
import { createRedisEngine, type RedisEngineOptions } from '../../src/engine/redis/index.js';
import { takeoverLine, takeoverNotice } from '../../src/engine/takeover.js';
import type { Claim, Engine } from '../../src/engine/types.js';
import { parseRoom, roomKey } from '../../src/protocol/names.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { claimOf, reconnected } from './contract.js';
import { eventually, tap } from './helpers.js';

const log = pino({ level: 'silent' });
const devKey = roomKey(parseRoom('#Dev'));

describe('Redis engine bookkeeping', () => {
  let redis: RedisServer;
  let raw: Redis;
  let engines: Engine[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url);
  });
  afterEach(async () => {
    await Promise.all(engines.map((e) => e.stop()));
    engines = [];
  });
  afterAll(async () => {
    raw?.disconnect();
    await redis?.stop();
  });

  /** Engines ("gateways") sharing one prefix, and the names of the keys a test looks at. */
  function system(extra: Partial<RedisEngineOptions> = {}) {
    const prefix = `l-${randomUUID().slice(0, 8)}:`;
    return {
      nick: (c: Claim) => `${prefix}{u:${c.key}}:nick`,
      rooms: (c: Claim) => `${prefix}{u:${c.key}}:rooms`,
      online: `${prefix}{online}`,
      gateways: `${prefix}{gateways}`,
      users: (e: Engine) => `${prefix}{gw:${e.gateway}}:users`,
      channel: (c: Claim) => `${prefix}{u:${c.key}}:bus`,
      async gateway(): Promise<Engine> {
        const engine = createRedisEngine({
          url: redis.url, prefix, historyLimit: 100, gatewayId: `gw-${randomUUID().slice(0, 8)}`, leaseMs: 600, log, ...extra,
        });
        engines.push(engine);
        await engine.start();
        return engine;
      },
    };
  }

  /** A user's entry in a gateway's users set (keys.ts gatewayUser). */
  const listed = (c: Claim) => `${c.key} ${c.session} ${c.conn} ${c.nick}`;

  it('tells the gateway of the connection a resume took the nick from, in the bytes envelope.ts encodes', async () => {
    const chat = system();
    const [a, b] = [await chat.gateway(), await chat.gateway()];
    const seenA = tap(a);
    const ann = claimOf('ann');
    await a.bus.subscribe('@ann');
    await a.claims.claim(ann, 'new');
    const listener = new Redis(redis.url);
    try {
      const published: Buffer[] = [];
      listener.on('messageBuffer', (_channel: Buffer, message: Buffer) => published.push(message));
      await listener.subscribe(chat.channel(ann));
      const before = Date.now();
      expect(await b.claims.claim(reconnected(ann), 'resume')).toBe(true);
      await b.bus.publish('@ann', { id: '', ts: Date.now(), from: 'bob', line: Buffer.from('{"type":"marker"}\n') });
      await eventually(async () => expect(seenA).toHaveLength(2));
      const [notice, marker] = seenA;
      expect(notice!.address).toBe('@ann');
      expect(notice!.env).toEqual({ id: '', ts: expect.any(Number), from: '', conn: ann.conn, line: takeoverLine });
      expect(notice!.env.ts).toBeGreaterThanOrEqual(before);
      expect(marker!.env.conn).toBeUndefined();
      await eventually(async () => expect(published).toHaveLength(2));
      expect(published[0]!.equals(encodeEnvelope(takeoverNotice(ann.conn, notice!.env.ts)))).toBe(true);
    } finally {
      listener.disconnect();
    }
  });

  it('never leaves a nick held with no expiry and no reaper to find it when it stops during a claim', async () => {
    const chat = system();
    const a = await chat.gateway();
    const ann = claimOf('ann');
    const claimed = a.claims.claim(ann, 'new');
    const stopping = a.stop();
    const [outcome] = await Promise.allSettled([claimed]);
    await stopping;
    if (outcome!.status === 'fulfilled' && outcome!.value) {
      // Won before the stop: left for a reaper, which finds the gateway and the user listed.
      expect(await raw.pttl(chat.nick(ann))).toBe(-1);
      expect(await raw.sismember(chat.gateways, a.gateway)).toBe(1);
      expect(await raw.smembers(chat.users(a))).toEqual([listed(ann)]);
    } else {
      expect(await raw.exists(chat.nick(ann))).toBe(0);
    }
    await chat.gateway();
    await eventually(async () => expect(await raw.pttl(chat.nick(ann))).not.toBe(-1));
  });

  it('keeps a release that fails while it stops listed for a reaper', async () => {
    const chat = system();
    const a = await chat.gateway();
    const ann = claimOf('ann');
    await a.claims.claim(ann, 'new');
    await raw.set(chat.rooms(ann), 'not a set');
    const releasing = a.claims.release(ann);
    const stopping = a.stop();
    await expect(releasing).rejects.toThrow(/WRONGTYPE/);
    await stopping;
    expect(await raw.sismember(chat.gateways, a.gateway)).toBe(1);
    expect(await raw.smembers(chat.users(a))).toEqual([listed(ann)]);
    await raw.del(chat.rooms(ann));
    await chat.gateway();
    // Reaped as a dropped user: reserved through the grace period, then free.
    await eventually(async () => expect(await raw.pttl(chat.nick(ann))).toBeGreaterThan(0));
  });

  it('retries a release and a detach that failed while Redis stayed up, until Redis takes them', async () => {
    const chat = system({ leaseMs: 10_000 }); // no reaping: only this gateway's own retries
    const a = await chat.gateway();
    const [ann, bob] = [claimOf('ann'), claimOf('bob')];
    for (const c of [ann, bob]) {
      await a.claims.claim(c, 'new');
      await a.rooms.join(devKey, c, 100);
      await raw.set(chat.rooms(c), 'not a set');
    }
    await expect(a.claims.release(ann)).rejects.toThrow(/WRONGTYPE/);
    await expect(a.claims.detach(bob, 60_000)).rejects.toThrow(/WRONGTYPE/);
    expect(a.up).toBe(true);
    expect((await a.online.list()).sort()).toEqual(['ann', 'bob']);
    await raw.del(chat.rooms(ann), chat.rooms(bob));
    await eventually(async () => {
      expect(await raw.exists(chat.nick(ann))).toBe(0);
      expect(await raw.pttl(chat.nick(bob))).toBeGreaterThan(0);
    });
    await eventually(async () => expect(await raw.smembers(chat.users(a))).toEqual([]));
    expect(await a.online.list()).toEqual([]);
    expect(await a.rooms.members(devKey)).toEqual([]);
  });

  it('gives back a nick whose claim failed half-way while Redis stayed up', async () => {
    const chat = system({ leaseMs: 10_000 });
    const a = await chat.gateway();
    const ann = claimOf('ann');
    await raw.set(chat.online, 'not a set');
    await expect(a.claims.claim(ann, 'new')).rejects.toThrow(/WRONGTYPE/);
    expect(await raw.exists(chat.nick(ann))).toBe(1);
    await raw.del(chat.online);
    await eventually(async () => expect(await raw.exists(chat.nick(ann))).toBe(0));
    await eventually(async () => expect(await raw.smembers(chat.users(a))).toEqual([]));
    expect(await a.claims.claim(claimOf('Ann'), 'new')).toBe(true);
  });

  it('lists a user in its gateway\'s users set before taking the nick, so a reaper can always find it', async () => {
    const chat = system();
    const a = await chat.gateway();
    const ann = claimOf('ann');
    await raw.set(chat.users(a), 'not a set');
    await expect(a.claims.claim(ann, 'new')).rejects.toThrow(/WRONGTYPE/);
    expect(await raw.exists(chat.nick(ann))).toBe(0);
    await raw.del(chat.users(a));
    expect(await a.claims.claim(ann, 'new')).toBe(true);
    expect(await raw.smembers(chat.users(a))).toEqual([listed(ann)]);
  });
});
