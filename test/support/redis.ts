// Real redis-server processes for tests: each on its own free loopback port, in its own
// temporary directory, with no persistence, stopped by whoever started it. Never the
// Redis on 6379.
import { mkdtempSync, rmSync } from 'node:fs';
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
    socket.once('error', (err) => done(err));
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
  ) {}

  async start(): Promise<void> {
    if (this.child?.running) return;
    const child = new Child(`redis-server on ${this.port}`, 'redis-server', [
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

export async function startRedisCluster(masters = 3): Promise<RedisClusterHandle> {
  // Bus ports are allocated too: the default (port + 10000) can fall outside the port range.
  const ports = await freePorts(masters * 2);
  const servers: ServerProcess[] = [];
  const dirs: string[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.kill()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'chorus-redis-cluster-'));
      dirs.push(dir);
      servers.push(
        new ServerProcess(ports[i]!, dir, [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', join(dir, 'nodes.conf'),
          '--cluster-node-timeout', '2000',
          '--cluster-port', String(ports[masters + i]),
        ]),
      );
    }
    await Promise.all(servers.map((s) => s.start()));
    const nodes = servers.map((s) => `${host}:${s.port}`);
    await createCluster(nodes);
    const healthy = () =>
      waitUntil(async () => {
        const infos = await Promise.all(servers.map((s) => redisCommand(s.port, 'CLUSTER', 'INFO').catch(() => '')));
        return infos.every((info) => info.includes('cluster_state:ok'));
      }, 'cluster_state:ok on every node', clusterDeadlineMs, pollMs);
    await healthy();
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
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function createCluster(nodes: string[]): Promise<void> {
  const cli = new Child('redis-cli', 'redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes']);
  const code = await cli.exited;
  if (code !== 0) throw new Error(`redis-cli --cluster create failed (${code}):\n${cli.tail}`);
}
