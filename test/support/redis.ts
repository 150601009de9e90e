// Real redis-server processes for tests: each on its own free loopback port, in its own
// temporary directory, with no persistence, stopped by whoever started it. Never the
// Redis on 6379.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, freePorts } from './ports.js';
import { Child } from './process.js';
import { waitUntil } from './wait.js';

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  /** kill and start again on the same port, empty (no persistence) */
  restart(): Promise<void>;
  /** stop only (for outage tests) */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** SIGSTOP: connections stay open, nothing is answered (a hung or overloaded Redis). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
}

export interface RedisClusterHandle {
  readonly nodes: string[] /* "127.0.0.1:port" */;
  stop(): Promise<void>;
  /** Kills one master and starts it again on its port, empty but with its slots (nodes.conf). */
  restartNode(index: number): Promise<void>;
  /** Kills every node: the whole cluster is down. */
  kill(): Promise<void>;
  /** Starts every node again, empty but with its slots, and waits for cluster_state:ok. */
  start(): Promise<void>;
  /**
   * Kills (-9) the master that serves `key`'s slot, waits until one of its replicas serves
   * it and the cluster is ok again (needs replicas), then starts the dead node again, empty,
   * and waits until it has caught up as the new master's replica.
   */
  failOver(key: string): Promise<void>;
}

export interface RedisSentinelHandle {
  /** The master name the sentinels monitor. */
  readonly master: string;
  /** The sentinels, "127.0.0.1:port". */
  readonly sentinels: string[];
  /**
   * Kills (-9) the master and waits until the sentinels have promoted a replica and the
   * other replica has caught up with it (once per group).
   */
  failOver(): Promise<void>;
  stop(): Promise<void>;
}

const host = '127.0.0.1';
const startDeadlineMs = 10_000;
const clusterDeadlineMs = 20_000;
const pollMs = 20;

/**
 * One command over a fresh connection, RESP-encoded; resolves with the reply as text (status,
 * integer or bulk string), or rejects on an error reply or a refused connection.
 */
export async function redisCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    let buffered = Buffer.alloc(0);
    const done = (err: Error | undefined, value?: string) => {
      socket.destroy();
      if (err) reject(err);
      else resolve(value ?? '');
    };
    socket.setTimeout(2_000, () => done(new Error(`redis ${port}: no answer to ${args[0]}`)));
    socket.on('error', (err) => done(err));
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const eol = buffered.indexOf('\r\n');
      if (eol < 0) return;
      const head = buffered.toString('utf8', 1, eol);
      switch (buffered[0]) {
        case 0x2b /* + */:
        case 0x3a /* : */:
          return done(undefined, head);
        case 0x2d /* - */:
          return done(new Error(head));
        case 0x24 /* $ */: {
          const length = Number(head);
          if (length < 0) return done(undefined, '');
          if (buffered.length < eol + 2 + length + 2) return; // wait for the rest of the bulk
          return done(undefined, buffered.toString('utf8', eol + 2, eol + 2 + length));
        }
        default:
          return done(new Error(`redis ${port}: unexpected reply to ${args[0]}`));
      }
    });
    socket.write(
      `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''),
    );
  });
}

/** One redis-server process that can be killed and started again on the same port. */
class ServerProcess {
  private child: Child | undefined;

  constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly extraArgs: string[],
    /** Before the options: a config file (a sentinel's, which it rewrites as it learns). */
    private readonly leadingArgs: string[] = [],
  ) {}

  async start(): Promise<void> {
    if (this.child?.running) return;
    const child = new Child(`redis-server on ${this.port}`, 'redis-server', [
      ...this.leadingArgs,
      '--port', String(this.port),
      '--bind', host,
      '--save', '',
      '--appendonly', 'no',
      '--dir', this.dir,
      ...this.extraArgs,
    ]);
    this.child = child;
    try {
      await waitUntil(async () => {
        child.assertRunning();
        return (await redisCommand(this.port, 'PING').catch(() => '')) === 'PONG';
      }, `redis-server on ${this.port} to answer PING`, startDeadlineMs, pollMs);
    } catch (err) {
      // assertRunning's message carries the output already; a timeout's does not.
      const message = child.running ? `${(err as Error).message}\n${child.tail}` : (err as Error).message;
      await child.kill();
      throw new Error(message);
    }
  }

  /** SIGKILL: an outage, not a shutdown. */
  async kill(): Promise<void> {
    await this.child?.kill();
  }

  signal(signal: NodeJS.Signals): void {
    this.child?.signal(signal);
  }
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'chorus-redis-'));
  const server = new ServerProcess(port, dir, []);
  await server.start();
  let stopped = false;
  return {
    url: `redis://${host}:${port}`,
    port,
    start: () => server.start(),
    kill: () => server.kill(),
    pause: () => server.signal('SIGSTOP'),
    resume: () => server.signal('SIGCONT'),
    async restart() {
      await server.kill();
      await server.start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ClusterOptions {
  masters?: number;
  /** Replicas per master: a master killed then fails over to one of them. */
  replicas?: number;
}

export async function startRedisCluster(options: number | ClusterOptions = 3): Promise<RedisClusterHandle> {
  const { masters = 3, replicas = 0 } = typeof options === 'number' ? { masters: options } : options;
  const count = masters * (1 + replicas);
  // Bus ports are allocated too: the default (port + 10000) can fall outside the port range.
  const ports = await freePorts(count * 2);
  const servers: ServerProcess[] = [];
  const dirs: string[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.kill()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < count; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'chorus-redis-cluster-'));
      dirs.push(dir);
      servers.push(
        new ServerProcess(ports[i]!, dir, [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', join(dir, 'nodes.conf'),
          // With replicas, a dead master is replaced after this: short, for failover tests.
          '--cluster-node-timeout', replicas > 0 ? '1000' : '2000',
          '--cluster-port', String(ports[count + i]),
        ]),
      );
    }
    await Promise.all(servers.map((s) => s.start()));
    const nodes = servers.map((s) => `${host}:${s.port}`);
    await createCluster(nodes, replicas);
    const dead = new Set<ServerProcess>();
    const healthy = () =>
      waitUntil(async () => {
        const living = servers.filter((s) => !dead.has(s));
        const infos = await Promise.all(living.map((s) => redisCommand(s.port, 'CLUSTER', 'INFO').catch(() => '')));
        return infos.every((info) => info.includes('cluster_state:ok'));
      }, 'cluster_state:ok on every node', clusterDeadlineMs, pollMs);
    await healthy();
    // Replicas sync after the slots are assigned: a failover test needs them caught up.
    if (replicas > 0) {
      await waitUntil(async () => {
        const infos = await Promise.all(servers.map((s) => redisCommand(s.port, 'INFO', 'replication')));
        return infos.filter((i) => i.includes('master_link_status:up')).length === masters * replicas;
      }, 'every cluster replica in sync', clusterDeadlineMs, pollMs);
    }
    let stopped: Promise<void> | undefined;
    return {
      nodes,
      stop: () => (stopped ??= stop()),
      async kill() {
        await Promise.all(servers.map((s) => s.kill()));
      },
      async start() {
        await Promise.all(servers.map((s) => s.start()));
        await healthy();
      },
      async restartNode(index) {
        const server = servers[index];
        if (!server) throw new Error(`no cluster node ${index}`);
        await server.kill();
        await server.start();
        await healthy();
      },
      async failOver(key) {
        const living = servers.find((s) => !dead.has(s))!;
        const slot = Number(await redisCommand(living.port, 'CLUSTER', 'KEYSLOT', key));
        const before = masterOfSlot(await redisCommand(living.port, 'CLUSTER', 'NODES'), slot);
        const victim = servers.find((s) => s.port === before);
        if (!victim) throw new Error(`no master serves slot ${slot}`);
        dead.add(victim);
        await victim.kill();
        const survivor = servers.find((s) => !dead.has(s))!;
        await waitUntil(async () => {
          const after = masterOfSlot(await redisCommand(survivor.port, 'CLUSTER', 'NODES').catch(() => ''), slot);
          return after !== undefined && after !== before;
        }, `a replica to take over slot ${slot}`, clusterDeadlineMs, pollMs);
        await healthy();
        // Back with its nodes.conf, it rejoins as a replica of the master that replaced it.
        await victim.start();
        dead.delete(victim);
        await waitUntil(async () => (await redisCommand(victim.port, 'INFO', 'replication').catch(() => '')).includes('master_link_status:up'), 'the old master to resync as a replica', clusterDeadlineMs, pollMs);
        await healthy();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The port of the live master serving `slot`, from CLUSTER NODES text. */
function masterOfSlot(nodes: string, slot: number): number | undefined {
  for (const line of nodes.split('\n')) {
    const [, address, flags, , , , , , ...ranges] = line.split(' ');
    if (!address || !flags || !flags.split(',').includes('master') || /fail/.test(flags)) continue;
    const serves = ranges.some((range) => {
      const [from, to = from] = range.split('-').map(Number);
      return from !== undefined && to !== undefined && slot >= from && slot <= to;
    });
    if (serves) return Number(address.split('@')[0]!.split(':').pop());
  }
  return undefined;
}

const sentinelMaster = 'chorus';

/**
 * A master, two replicas and three sentinels watching them (quorum 2), as the Sentinel
 * deployment runs them, with a short down-after so that failover tests are quick. Two
 * replicas, so that after a failover the new master still has one (--ack-replicas 1).
 */
export async function startRedisSentinel(): Promise<RedisSentinelHandle> {
  const [masterPort, ...ports] = await freePorts(6);
  const replicaPorts = ports.slice(0, 2);
  const sentinelPorts = ports.slice(2);
  const dirs: string[] = [];
  const all: ServerProcess[] = [];
  const tmp = () => {
    const dir = mkdtempSync(join(tmpdir(), 'chorus-redis-sentinel-'));
    dirs.push(dir);
    return dir;
  };
  const stop = async () => {
    await Promise.all(all.map((s) => s.kill()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  const replication = (port: number) => redisCommand(port, 'INFO', 'replication').catch(() => '');
  try {
    const master = new ServerProcess(masterPort!, tmp(), []);
    const replicas = replicaPorts.map((port) => new ServerProcess(port, tmp(), ['--replicaof', host, String(masterPort)]));
    all.push(master, ...replicas);
    await Promise.all(all.map((s) => s.start()));
    await waitUntil(async () => (await Promise.all(replicaPorts.map(replication))).every((i) => i.includes('master_link_status:up')), 'the replicas to sync', startDeadlineMs, pollMs);
    const sentinels = sentinelPorts.map((port) => {
      const dir = tmp();
      const conf = join(dir, 'sentinel.conf');
      writeFileSync(conf, [
        `sentinel monitor ${sentinelMaster} ${host} ${masterPort} 2`,
        `sentinel down-after-milliseconds ${sentinelMaster} 1000`,
        `sentinel failover-timeout ${sentinelMaster} 10000`,
        `sentinel parallel-syncs ${sentinelMaster} 2`,
        '',
      ].join('\n'));
      return new ServerProcess(port, dir, [], [conf, '--sentinel']);
    });
    all.push(...sentinels);
    await Promise.all(sentinels.map((s) => s.start()));
    const sentinelSees = (what: (info: string) => boolean, label: string) =>
      waitUntil(async () => {
        const infos = await Promise.all(sentinels.map((s) => redisCommand(s.port, 'INFO', 'sentinel').catch(() => '')));
        return infos.every(what);
      }, label, clusterDeadlineMs, pollMs);
    await sentinelSees((i) => i.includes(`address=${host}:${masterPort},slaves=2,sentinels=3`), 'every sentinel to know the replicas and the others');
    let stopped: Promise<void> | undefined;
    let failedOver = false;
    return {
      master: sentinelMaster,
      sentinels: sentinels.map((s) => `${host}:${s.port}`),
      stop: () => (stopped ??= stop()),
      async failOver() {
        if (failedOver) throw new Error('this sentinel group has failed over once already');
        failedOver = true;
        await master.kill();
        let promoted: number | undefined;
        await waitUntil(async () => {
          const infos = await Promise.all(replicaPorts.map(replication));
          promoted = replicaPorts.find((_, i) => infos[i]!.includes('role:master'));
          return promoted !== undefined;
        }, 'a replica to be promoted', clusterDeadlineMs, pollMs);
        const other = replicaPorts.find((p) => p !== promoted)!;
        await waitUntil(async () => {
          const info = await replication(other);
          return info.includes(`master_port:${promoted}`) && info.includes('master_link_status:up');
        }, 'the other replica to follow the new master', clusterDeadlineMs, pollMs);
        await sentinelSees((i) => i.includes(`address=${host}:${promoted},`), 'every sentinel to name the new master');
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function createCluster(nodes: string[], replicas: number): Promise<void> {
  const cli = new Child('redis-cli', 'redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', String(replicas), '--cluster-yes']);
  const code = await cli.exited;
  if (code !== 0) throw new Error(`redis-cli --cluster create failed (${code}):\n${cli.tail}`);
}
