// The Redis engine between gateways and through failures: several engines ("gateways") on
// one real redis-server or Redis Cluster, a gateway process killed with SIGKILL or frozen
// with SIGSTOP, and a Redis restarted empty under a running gateway.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisEngine, type RedisEngineOptions } from '../../src/engine/redis/index.js';
import type { Engine, Posted, PresenceChange } from '../../src/engine/types.js';
import { messageJson } from '../../src/protocol/encode.js';
import { asChorusError } from '../../src/protocol/errors.js';
import { parseRoom, roomAddress, roomKey, type Address } from '../../src/protocol/names.js';
import { startRedis, startRedisCluster, type RedisClusterHandle, type RedisServer } from '../support/redis.js';
import { claimOf, reconnected } from './contract.js';
import { changesOf, draft, eventually, tap } from './helpers.js';

const log = pino({ level: 'silent' });
const devKey = roomKey(parseRoom('#Dev'));
/** The room's key, and its address for the bus and history. */
const dev = roomAddress(devKey);
const leaseMs = 600;

/** Closes one named connection from the server's side, as Redis does past a client output-buffer limit. */
async function killConnection(url: string, name: string): Promise<void> {
  const raw = new Redis(url);
  try {
    const list = String(await raw.client('LIST'));
    const line = list.split('\n').find((l) => l.includes(` name=${name} `));
    const id = line?.match(/^id=(\d+) /)?.[1];
    if (id === undefined) throw new Error(`no connection named ${name}`);
    await raw.client('KILL', 'ID', id);
  } finally {
    raw.disconnect();
  }
}

/**
 * A TCP hop between one gateway and Redis that the test can cut: a network partition of one
 * gateway. With `delayMs`, every command reaches Redis that much later: a slow link.
 */
async function startProxy(targetPort: number, delayMs = 0): Promise<{ url: string; cut(): void; heal(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let open = true;
  const server = createServer((client) => {
    if (!open) return client.destroy();
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      sockets.add(a);
      if (delayMs > 0 && a === client) a.on('data', (chunk) => setTimeout(() => b.write(chunk), delayMs));
      else a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    cut() {
      open = false;
      for (const socket of sockets) socket.destroy();
    },
    heal() {
      open = true;
    },
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/*
 * A gateway in its own process, so that it can die for real. Node 20 runs no TypeScript, so
 * the child registers a loader that transpiles the engine's sources with the project's
 * TypeScript on the fly (imports say `.js`, files are `.ts`).
 */
const typescriptUrl = pathToFileURL(createRequire(import.meta.url).resolve('typescript')).href;
const engineUrl = new URL('../../src/engine/redis/index.ts', import.meta.url).href;
const hooks = `
import ts from ${JSON.stringify(typescriptUrl)};
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (!specifier.startsWith('.') || !specifier.endsWith('.js')) throw err;
    return next(specifier.slice(0, -3) + '.ts', context);
  }
}
export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
  const source = await readFile(fileURLToPath(url), 'utf8');
  const compilerOptions = { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 };
  return { format: 'module', source: ts.transpileModule(source, { compilerOptions }).outputText, shortCircuit: true };
}`;
const child = `
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}));
const { pino } = await import('pino');
const { createRedisEngine } = await import(${JSON.stringify(engineUrl)});
const spec = JSON.parse(process.env.CHORUS_TEST_GATEWAY);
const engine = createRedisEngine({ ...spec.engine, log: pino({ level: 'silent' }) });
engine.online.onChange((change) => process.stdout.write('change ' + JSON.stringify(change) + '\\n'));
await engine.start();
for (const user of spec.users) {
  if (!(await engine.claims.claim(user.claim, 'new'))) throw new Error('claim refused: ' + user.claim.nick);
  for (const room of user.rooms) await engine.rooms.join(room, user.claim, 100);
}
process.stdout.write('ready\\n');
setInterval(() => {}, 60_000);
`;

interface ChildGateway {
  readonly process: ChildProcess;
  /** The presence changes its engine reported on its own (for its gateway to announce). */
  readonly changes: PresenceChange[];
  kill(signal: NodeJS.Signals): Promise<void>;
}

async function startChildGateway(
  engine: Omit<RedisEngineOptions, 'log'>,
  users: Array<{ claim: ReturnType<typeof claimOf>; rooms: string[] }>,
): Promise<ChildGateway> {
  const proc = spawn(process.execPath, ['--input-type=module', '-e', child], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    env: { ...process.env, CHORUS_TEST_GATEWAY: JSON.stringify({ engine, users }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let output = '';
  const changes: PresenceChange[] = [];
  let partial = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line.startsWith('change ')) changes.push(JSON.parse(line.slice(7)) as PresenceChange);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child gateway not ready:\n${output}`)), 15_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('ready\n')) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`child gateway exited:\n${output}`));
    });
  });
  return {
    process: proc,
    changes,
    async kill(signal) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      if (signal === 'SIGKILL' || signal === 'SIGTERM') await exited;
    },
  };
}

const children = new Set<ChildProcess>();
let engines: Engine[] = [];

afterEach(async () => {
  for (const proc of children) {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGKILL');
      await exited;
    }
  }
  children.clear();
  await Promise.all(engines.map((e) => e.stop()));
  engines = [];
});

describe('Redis engine, gateways on one standalone Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  /** Engines ("gateways") sharing one prefix: one chat system per test. */
  function system(extra: Partial<RedisEngineOptions> = {}) {
    const prefix = `f-${randomUUID().slice(0, 8)}:`;
    const options = (): Omit<RedisEngineOptions, 'log'> => ({
      url: redis.url, prefix, historyLimit: 100, gatewayId: `gw-${randomUUID().slice(0, 8)}`, leaseMs, ...extra,
    });
    return {
      options,
      async gateway(): Promise<Engine> {
        const engine = createRedisEngine({ ...options(), log });
        engines.push(engine);
        await engine.start();
        return engine;
      },
    };
  }

  it('holds a nick claimed on one gateway against every other gateway', async () => {
    const chat = system();
    const [a, b] = [await chat.gateway(), await chat.gateway()];
    const ann = claimOf('Ann');
    expect(await a.claims.claim(ann, 'new')).toBe(true);
    expect(await b.claims.claim(claimOf('ANN'), 'new')).toBe(false);
    expect(await b.online.list()).toEqual(['Ann']);
    expect(await b.online.count()).toBe(1);
    await a.claims.release(ann);
    expect(await b.claims.claim(claimOf('ann'), 'new')).toBe(true);
  });

  it('keeps a user who resumed on another gateway when her old connection there detaches late', async () => {
    const chat = system();
    const [a, b] = [await chat.gateway(), await chat.gateway()];
    const ann = claimOf('ann');
    const bob = claimOf('bob');
    await a.claims.claim(ann, 'new');
    await a.rooms.join(devKey, ann, 100);
    await b.claims.claim(bob, 'new');
    const again = reconnected(ann);
    expect(await b.claims.claim(again, 'resume')).toBe(true);
    expect(await a.claims.detach(ann, 60_000)).toBe(false);
    expect((await a.online.list()).sort()).toEqual(['ann', 'bob']);
    expect(await a.online.count()).toBe(2);
    expect(await a.rooms.members(devKey)).toEqual(['ann']);
    expect(await a.claims.claim(claimOf('Ann'), 'new')).toBe(false);
    await expect(b.history.post(draft(bob, '@ann', 'still there?'))).resolves.toMatchObject({ duplicate: false });
    await expect(b.history.post(draft(again, dev, 'yes'))).resolves.toMatchObject({ duplicate: false });
    const raw = new Redis(redis.url);
    try {
      // Nothing of the old connection is left for a reaper of a to find.
      expect(await raw.smembers(`${chat.options().prefix}{gw:${a.gateway}}:users`)).toEqual([]);
    } finally {
      raw.disconnect();
    }
  });

  it('never loses a user who resumes on one gateway while her old connection detaches on another', async () => {
    const chat = system();
    const b = await chat.gateway();
    // a's commands arrive late: its detach's second step (online and member sets) lands
    // after a resume on b that came in between the two steps.
    const slow = await startProxy(redis.port, 40);
    const raw = new Redis(redis.url);
    try {
      const a = createRedisEngine({ ...chat.options(), url: slow.url, log });
      engines.push(a);
      await a.start();
      const ann = claimOf('ann');
      await a.claims.claim(ann, 'new');
      await a.rooms.join(devKey, ann, 100);
      const detached = a.claims.detach(ann, 60_000);
      await eventually(async () => expect(await raw.pttl(`${chat.options().prefix}{u:ann}:nick`)).toBeGreaterThan(0));
      expect(await b.claims.claim(reconnected(ann), 'resume')).toBe(true);
      expect(await detached).toBe(true);
      expect(await b.online.list()).toEqual(['ann']);
      expect(await b.rooms.members(devKey)).toEqual(['ann']);
    } finally {
      raw.disconnect();
      await slow.close();
    }
  });

  it('delivers what was published while its subscriber connection was cut, once and in order', async () => {
    const chat = system();
    const [a, b] = [await chat.gateway(), await chat.gateway()];
    const seen = tap(a);
    const ann = claimOf('ann');
    const bob = claimOf('bob');
    await a.claims.claim(ann, 'new');
    await b.claims.claim(bob, 'new');
    await Promise.all([a.bus.subscribe('*'), a.bus.subscribe('@ann')]);
    const sent: Record<string, string[]> = { '*': [], '@ann': [] };
    const post = async (to: Address, text: string) => sent[to]!.push((await b.history.post(draft(bob, to, text))).id);
    for (let i = 0; i < 5; i++) await post('*', `before ${i}`);
    await eventually(async () => expect(seen).toHaveLength(5));

    await killConnection(redis.url, `chorus:${a.gateway}:sub`);
    for (let i = 5; i < 30; i++) {
      await post('*', `during ${i}`);
      if (i % 3 === 0) await post('@ann', `psst ${i}`);
    }
    await eventually(async () => expect(a.up).toBe(true));
    await post('*', 'after');
    const ids = (address: string) => seen.filter((s) => s.address === address).map((s) => s.env.id);
    await eventually(async () => expect(ids('*')).toContain(sent['*']!.at(-1)));
    expect(ids('*')).toEqual(sent['*']);
    expect(ids('@ann')).toEqual(sent['@ann']);
    expect(sent['*']).toHaveLength(31);
    // Rebuilt from the stream, a missed message is the envelope the post published.
    const missed = seen.find((s) => s.address === '@ann')!.env;
    expect(missed.from).toBe('bob');
    expect(JSON.parse(missed.line.toString())).toMatchObject({ type: 'msg', id: missed.id, from: 'bob', to: '@ann', ts: missed.ts });
  });

  it('delivers a post accepted on one gateway to another, byte for byte as the memory engine encodes it', async () => {
    const chat = system();
    const [a, b] = [await chat.gateway(), await chat.gateway()];
    const seenA = tap(a);
    const seenB = tap(b);
    const ann = claimOf('ann');
    const bob = claimOf('Bob');
    await a.claims.claim(ann, 'new');
    await b.claims.claim(bob, 'new');
    await Promise.all([a.bus.subscribe('*'), b.bus.subscribe('*'), b.bus.subscribe('@bob'), b.bus.subscribe(dev)]);
    await b.rooms.join(devKey, bob, 100);
    await a.rooms.join(devKey, ann, 100);

    const posts = [draft(ann, '*', 'hello "all" ☃\n'), draft(ann, '@bob', 'psst'), draft(ann, dev, 'dev talk')];
    const acks: Posted[] = [];
    for (const d of posts) acks.push(await a.history.post(d));
    await eventually(async () => expect(seenB).toHaveLength(3));
    seenB.forEach(({ address, env }, i) => {
      expect(address).toBe(posts[i]!.to);
      expect(env).toMatchObject({ id: acks[i]!.id, ts: posts[i]!.ts, from: 'ann' });
      expect(env.line.equals(Buffer.from(messageJson(acks[i]!.id, posts[i]!.tail) + '\n'))).toBe(true);
    });
    await eventually(async () => expect(seenA).toHaveLength(1));
    expect(seenA[0]!.env.line.equals(seenB[0]!.env.line)).toBe(true);
  });

  it('posts a message once when the same ref is sent concurrently', async () => {
    const chat = system();
    const a = await chat.gateway();
    const seen = tap(a);
    await a.bus.subscribe('*');
    const ann = claimOf('ann');
    await a.claims.claim(ann, 'new');
    const d = draft(ann, '*', 'retry me', { dedupe: `${ann.session}:r1` });
    const results = await Promise.all(Array.from({ length: 8 }, () => a.history.post(d)));
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    await a.history.post(draft(ann, '*', 'marker'));
    await eventually(async () => expect(seen).toHaveLength(2));
    expect(seen[0]!.env.id).toBe(results[0]!.id);
  });

  it('pages a private conversation even when both directions got ids out of order', async () => {
    const chat = system();
    const a = await chat.gateway();
    const ann = claimOf('ann');
    const bob = claimOf('bob');
    await a.claims.claim(ann, 'new');
    await a.claims.claim(bob, 'new');
    const first = await a.history.post(draft(ann, '@bob', 'one'));
    // Push ann's inbox ids an hour ahead, as a Redis node with a fast clock would.
    const future = Date.now() + 3_600_000;
    const raw = new Redis(redis.url);
    await raw.xadd(`${chat.options().prefix}{u:ann}:log`, `${future}-0`, 't', '{}');
    raw.disconnect();
    const second = await a.history.post(draft(bob, '@ann', 'two')); // id an hour ahead
    const third = await a.history.post(draft(ann, '@bob', 'three')); // id now: filed after second
    expect(a.history.isAfter(second.id, third.id)).toBe(true);
    const view = await a.history.range('@bob', ann.key, undefined, 10);
    expect(view.map((m) => JSON.parse(m.json).text)).toEqual(['one', 'two', 'three']);
    expect(view.map((m) => m.id)).toEqual([first.id, second.id, third.id]);
    const older = await a.history.range('@ann', bob.key, third.id, 10);
    expect(older.map((m) => JSON.parse(m.json).text)).toEqual(['one', 'two']);
  });

  it('reports each store operation with its duration', async () => {
    const chat = system();
    const a = await chat.gateway();
    const ops: Array<[string, number]> = [];
    a.onOperation((op, seconds) => ops.push([op, seconds]));
    const ann = claimOf('ann');
    await a.claims.claim(ann, 'new');
    await a.history.post(draft(ann, '*', 'hi'));
    await a.history.range('*', ann.key, undefined, 5);
    // The heartbeat is timed too ('heartbeat', 'reap'), whenever it runs.
    const gatewayOps = ops.map(([op]) => op).filter((op) => op !== 'heartbeat' && op !== 'reap');
    expect(gatewayOps).toEqual(['claim', 'post', 'range']);
    for (const [, seconds] of ops) expect(seconds).toBeGreaterThan(0);
  });

  it('takes the users of a gateway that died offline within seconds, announces it, and keeps their nicks for a resume', async () => {
    const chat = system({ graceMs: 30_000 });
    const b = await chat.gateway();
    const seen = changesOf(b);
    const ann = claimOf('ann');
    const zoe = claimOf('Zoë');
    const doomed = await startChildGateway(chat.options(), [
      { claim: ann, rooms: [devKey] },
      { claim: zoe, rooms: [] },
    ]);
    expect((await b.online.list()).sort()).toEqual(['Zoë', 'ann']);
    expect(await b.rooms.members(devKey)).toEqual(['ann']);

    await doomed.kill('SIGKILL');
    const killedAt = Date.now();
    await eventually(async () => expect(await b.online.list()).toEqual([]), 5_000);
    expect(Date.now() - killedAt).toBeLessThan(leaseMs + 2_000);
    expect(await b.rooms.members(devKey)).toEqual([]);
    // Reported to the reaping gateway, whose announcer publishes them with its own users' changes.
    await eventually(async () => expect(seen).toHaveLength(2));
    expect([...seen].sort((x, y) => x.key.localeCompare(y.key))).toEqual([
      { event: 'offline', key: 'ann', nick: 'ann' },
      { event: 'offline', key: 'zoë', nick: 'Zoë' },
    ]);

    // Reserved for the sessions that held them, as after a detach: a resume on b gets ann's rooms back.
    expect(await b.claims.claim(claimOf('ann'), 'new')).toBe(false);
    expect(await b.claims.claim(ann, 'resume')).toBe(true);
    expect(await b.rooms.members(devKey)).toEqual(['ann']);
    expect(await b.online.list()).toEqual(['ann']);
  });

  it('reaps the users of its previous run when a gateway restarts at once under the same id', async () => {
    // A lease far longer than the test: only the restarted gateway itself can clean up.
    const chat = system({ leaseMs: 10_000, graceMs: 1_500 });
    const b = await chat.gateway();
    const ann = claimOf('ann');
    const options = chat.options();
    const first = await startChildGateway(options, [{ claim: ann, rooms: [devKey] }]);
    expect(await b.online.list()).toEqual(['ann']);

    await first.kill('SIGKILL');
    const second = createRedisEngine({ ...options, log });
    const seen = changesOf(second);
    engines.push(second);
    await second.start();
    expect(await b.online.list()).toEqual([]);
    expect(await b.rooms.members(devKey)).toEqual([]);
    await eventually(async () => expect(seen).toEqual([{ event: 'offline', key: 'ann', nick: 'ann' }]));
    // Reserved for a resume through the grace period, then free.
    expect(await b.claims.claim(claimOf('ann'), 'new')).toBe(false);
    await eventually(async () => expect(await b.claims.claim(claimOf('ann'), 'new')).toBe(true), 5_000);
  });

  it('gives a gateway that was cut off past its lease its users back, and announces them again', async () => {
    const chat = system();
    const b = await chat.gateway();
    const seen = changesOf(b);
    const ann = claimOf('ann');
    const frozen = await startChildGateway(chat.options(), [{ claim: ann, rooms: [devKey] }]);
    await frozen.kill('SIGSTOP');
    await eventually(async () => expect(await b.online.list()).toEqual([]), 5_000);
    await frozen.kill('SIGCONT');
    await eventually(async () => expect(await b.online.list()).toEqual(['ann']), 5_000);
    expect(await b.rooms.members(devKey)).toEqual(['ann']);
    expect(await b.claims.claim(claimOf('ann'), 'new')).toBe(false);
    // Offline by the reaper, online again by the gateway that was cut off: each announces its own.
    await eventually(async () => expect(seen.map((c) => c.event)).toEqual(['offline']));
    await eventually(async () => expect(frozen.changes.map((c) => c.event)).toEqual(['online']));
  });

  it('writes back and announces the users of a gateway that was cut off from Redis and reaped meanwhile', async () => {
    const chat = system();
    const b = await chat.gateway();
    const seen = changesOf(b);
    const proxy = await startProxy(redis.port);
    try {
      const a = createRedisEngine({ ...chat.options(), url: proxy.url, log });
      const seenByA = changesOf(a);
      engines.push(a);
      await a.start();
      const ann = claimOf('ann');
      await a.claims.claim(ann, 'new');
      await a.rooms.join(devKey, ann, 100);
      await a.bus.subscribe('@ann');
      const seenA = tap(a);

      proxy.cut();
      await eventually(async () => expect(a.up).toBe(false));
      await eventually(async () => expect(await b.online.list()).toEqual([]), 5_000);
      proxy.heal();
      await eventually(async () => expect(a.up).toBe(true), 10_000);
      expect(await b.online.list()).toEqual(['ann']);
      expect(await b.rooms.members(devKey)).toEqual(['ann']);
      await eventually(async () => expect(seen).toEqual([{ event: 'offline', key: 'ann', nick: 'ann' }]));
      await eventually(async () => expect(seenByA).toEqual([{ event: 'online', key: 'ann', nick: 'ann' }]));
      const bob = claimOf('bob');
      await b.claims.claim(bob, 'new');
      const sent = await b.history.post(draft(bob, '@ann', 'still there?'));
      await eventually(async () => expect(seenA.map((s) => s.env.id)).toEqual([sent.id]));
    } finally {
      await proxy.close();
    }
  });

  it('finishes after an outage the releases and detaches that failed during it', async () => {
    const chat = system({ leaseMs: 10_000 }); // no reaping here: only this gateway's own bookkeeping
    const b = await chat.gateway();
    const proxy = await startProxy(redis.port);
    try {
      const a = createRedisEngine({ ...chat.options(), url: proxy.url, log });
      engines.push(a);
      await a.start();
      const [ann, bob, cat] = [claimOf('ann'), claimOf('bob'), claimOf('cat')];
      for (const c of [ann, bob, cat]) await a.claims.claim(c, 'new');
      proxy.cut();
      await eventually(async () => expect(a.up).toBe(false));
      await expect(a.claims.release(bob)).rejects.toMatchObject({ code: 'unavailable' });
      await expect(a.claims.detach(cat, 60_000)).rejects.toMatchObject({ code: 'unavailable' });
      expect((await b.online.list()).sort()).toEqual(['ann', 'bob', 'cat']);
      proxy.heal();
      await eventually(async () => expect(a.up).toBe(true), 10_000);
      expect(await b.online.list()).toEqual(['ann']);
      expect(await b.claims.claim(claimOf('Bob'), 'new')).toBe(true);
      expect(await b.claims.claim(claimOf('Cat'), 'new')).toBe(false);
      expect(await b.claims.claim(cat, 'resume')).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('gives up starting when Redis cannot be reached, and stops cleanly', async () => {
    const proxy = await startProxy(redis.port);
    proxy.cut();
    try {
      const a = createRedisEngine({ ...system({ startTimeoutMs: 300 }).options(), url: proxy.url, log });
      engines.push(a);
      await expect(a.start()).rejects.toThrow(/not reachable/);
      expect(a.up).toBe(false);
    } finally {
      await proxy.close();
    }
  });

  it('removes its lease and registry entry when it stops with no users left', async () => {
    const chat = system();
    const a = await chat.gateway();
    const ann = claimOf('ann');
    await a.claims.claim(ann, 'new');
    await a.claims.release(ann);
    const raw = new Redis(redis.url);
    try {
      const { prefix } = chat.options();
      expect(await raw.sismember(`${prefix}{gateways}`, a.gateway)).toBe(1);
      expect(await raw.exists(`${prefix}{gw:${a.gateway}}:lease`)).toBe(1);
      await a.stop();
      await a.stop();
      expect(await raw.sismember(`${prefix}{gateways}`, a.gateway)).toBe(0);
      expect(await raw.keys(`${prefix}{gw:${a.gateway}}*`)).toEqual([]);
    } finally {
      raw.disconnect();
    }
  });

  it('goes down while Redis is down, fails operations at once, and restores its claims and subscriptions when Redis returns empty', async () => {
    const chat = system();
    const a = await chat.gateway();
    const statuses: boolean[] = [];
    a.onStatus((up) => statuses.push(up));
    const seen = tap(a);
    const ann = claimOf('ann');
    await a.claims.claim(ann, 'new');
    await a.rooms.join(devKey, ann, 100);
    await Promise.all([a.bus.subscribe('*'), a.bus.subscribe('@ann'), a.bus.subscribe(dev)]);

    await redis.kill();
    await eventually(async () => expect(a.up).toBe(false));
    const started = Date.now();
    const failures = await Promise.allSettled([
      a.online.list(),
      a.claims.claim(claimOf('bob'), 'new'),
      a.history.post(draft(ann, '*', 'lost')),
      a.bus.publish('*', { id: '', ts: Date.now(), from: 'ann', line: Buffer.from('{}\n') }),
    ]);
    expect(Date.now() - started).toBeLessThan(1_000);
    for (const failure of failures) {
      expect(failure.status).toBe('rejected');
      expect(asChorusError((failure as PromiseRejectedResult).reason).code).toBe('unavailable');
    }

    await redis.start();
    await eventually(async () => expect(a.up).toBe(true), 10_000);
    expect(statuses).toEqual([false, true]);
    expect(await a.online.list()).toEqual(['ann']);
    expect(await a.rooms.members(devKey)).toEqual(['ann']);
    expect(await a.rooms.of(ann.key)).toEqual([devKey]);

    const b = await chat.gateway();
    expect(await b.claims.claim(claimOf('Ann'), 'new')).toBe(false);
    const bob = claimOf('bob');
    await b.claims.claim(bob, 'new');
    await b.rooms.join(devKey, bob, 100);
    const posted = [await b.history.post(draft(bob, '@ann', 'back?')), await b.history.post(draft(bob, dev, 'back!')), await b.history.post(draft(bob, '*', 'hi all'))];
    await eventually(async () => expect(seen.map((s) => s.env.id)).toEqual(posted.map((p) => p.id)));
    expect(seen.map((s) => s.address)).toEqual(['@ann', dev, '*']);
  });
});

describe('Redis engine, gateways on a 3-master Redis Cluster', () => {
  let cluster: RedisClusterHandle;
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  async function gateways(n: number, prefix = `c-${randomUUID().slice(0, 8)}:`): Promise<Engine[]> {
    const made: Engine[] = [];
    for (let i = 0; i < n; i++) {
      const engine = createRedisEngine({
        cluster: cluster.nodes, prefix, historyLimit: 100, gatewayId: `gw-${randomUUID().slice(0, 8)}`, leaseMs, log,
      });
      engines.push(engine);
      await engine.start();
      made.push(engine);
    }
    return made;
  }

  it('routes private and room messages between gateways through every shard', async () => {
    const [a, b] = await gateways(2);
    const seen = tap(b!);
    const sender = claimOf('Sender');
    await a!.claims.claim(sender, 'new');
    // Enough users and rooms that every master owns some of their slots; one nick not ASCII.
    const users = [...Array.from({ length: 12 }, (_, i) => claimOf(`user${i}`)), claimOf('Đặng')];
    const rooms = Array.from({ length: 12 }, (_, i) => roomKey(parseRoom(`#room${i}`)));
    for (const user of users) {
      expect(await b!.claims.claim(user, 'new')).toBe(true);
      await b!.bus.subscribe(`@${user.key}`);
    }
    for (const room of rooms) {
      await b!.rooms.join(room, users[0]!, 100);
      await a!.rooms.join(room, sender, 100);
      await b!.bus.subscribe(roomAddress(room));
    }
    const sent: Array<{ to: Address; id: string }> = [];
    for (const user of users) sent.push({ to: `@${user.key}`, id: (await a!.history.post(draft(sender, `@${user.key}`, 'hi'))).id });
    for (const room of rooms.map(roomAddress)) sent.push({ to: room, id: (await a!.history.post(draft(sender, room, 'hi room'))).id });
    await eventually(async () => expect(seen).toHaveLength(sent.length));
    // Each shard delivers over its own connection: order holds per target, not across them.
    const byTarget = (a: { to: string }, b: { to: string }) => a.to.localeCompare(b.to);
    expect(seen.map(({ address, env }) => ({ to: address, id: env.id })).sort(byTarget)).toEqual([...sent].sort(byTarget));
    expect(await a!.online.count()).toBe(users.length + 1);
    const dang: Address = `@${users.at(-1)!.key}`;
    const toDang = sent.find((s) => s.to === dang)!;
    expect((await a!.history.after(dang, '0-0', 10)).map((m) => m.id)).toEqual([toDang.id]);
  });

  it('delivers what its sharded subscribers missed while their connections were cut, once and in order', async () => {
    const [a, b] = await gateways(2);
    const seen = tap(a!);
    const sender = claimOf('sender');
    await b!.claims.claim(sender, 'new');
    // Enough users that every master owns some of their inboxes.
    const users = Array.from({ length: 12 }, (_, i) => claimOf(`u${i}`));
    for (const user of users) {
      await a!.claims.claim(user, 'new');
      await a!.bus.subscribe(`@${user.key}`);
    }
    // The public channel too: on a cluster it is a shard channel like the others.
    await a!.bus.subscribe('*');
    const sent = new Map<Address, string[]>([['*', []], ...users.map((u) => [`@${u.key}` as Address, []] as [Address, string[]])]);
    const round = async (text: string) => {
      for (const [to, ids] of sent) ids.push((await b!.history.post(draft(sender, to, text))).id);
    };
    await round('before');
    await eventually(async () => expect(seen).toHaveLength(sent.size));

    const name = `ioredis-cluster(ssubscriber):chorus:${a!.gateway}:sub`;
    const killed = await Promise.allSettled(cluster.nodes.map((node) => killConnection(`redis://${node}`, name)));
    expect(killed.filter((k) => k.status === 'fulfilled')).toHaveLength(cluster.nodes.length);
    for (let i = 0; i < 5; i++) await round(`during ${i}`);
    // Until every shard's subscriber is back, each round may be missed too, and must be caught up.
    await eventually(async () => {
      await round('after');
      const got = (address: Address) => seen.filter((s) => s.address === address).map((s) => s.env.id);
      for (const [to, ids] of sent) expect(got(to)).toContain(ids.at(-1));
    }, 15_000);
    for (const [to, ids] of sent) {
      expect(seen.filter((s) => s.address === to).map((s) => s.env.id)).toEqual(ids);
    }
  });

  it('resubscribes its sharded channels when a master restarts', async () => {
    const [a, b] = await gateways(2);
    const seen = tap(b!);
    const addresses: Address[] = Array.from({ length: 12 }, (_, i) => `@u${i}` as Address);
    for (const address of addresses) await b!.bus.subscribe(address);
    await cluster.restartNode(0);
    // Publish until every channel, on every master, has delivered again.
    await eventually(async () => {
      for (const address of addresses) {
        await a!.bus.publish(address, { id: '', ts: Date.now(), from: 'x', line: Buffer.from('{}\n') }).catch(() => {});
      }
      expect(new Set(seen.map((s) => s.address))).toEqual(new Set(addresses));
    }, 20_000);
  });
});
