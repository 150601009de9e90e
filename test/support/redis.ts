// Real redis-server processes for tests: each on its own free loopback port, in its own
// temporary directory, with no persistence, stopped by whoever started it. Never the
// Redis on 6379.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  /** kill and start again on the same port, empty (no persistence) */
  restart(): Promise<void>;
  /** stop only (for outage tests) */
  kill(): Promise<void>;
  start(): Promise<void>;
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

/** Every server this process started, killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

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

async function until(what: string, deadlineMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      /* not yet: try again until the deadline */
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** One redis-server process that can be killed and started again on the same port. */
class ServerProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = '';

  constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly extraArgs: string[],
  ) {}

  async start(): Promise<void> {
    if (this.child) return;
    const child = spawn(
      'redis-server',
      [
        '--port', String(this.port),
        '--bind', host,
        '--save', '',
        '--appendonly', 'no',
        '--dir', this.dir,
        ...this.extraArgs,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    running.add(child);
    this.log = '';
    const keep = (chunk: Buffer) => {
      this.log = (this.log + chunk.toString()).slice(-4_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        running.delete(child);
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
    try {
      await until(`redis-server on ${this.port} to answer PING`, startDeadlineMs, async () => {
        if (!this.child) throw new Error(`redis-server on ${this.port} exited:\n${this.log}`);
        return (await redisCommand(this.port, 'PING')) === 'PONG';
      });
    } catch (err) {
      await this.kill();
      throw new Error(`${(err as Error).message}\n${this.log}`);
    }
  }

  /** SIGKILL: an outage, not a shutdown. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGKILL');
    await this.exited;
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
  const ports = await Promise.all(Array.from({ length: masters * 2 }, () => freePort()));
  if (new Set(ports).size !== ports.length) return startRedisCluster(masters);
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
      until('cluster_state:ok on every node', clusterDeadlineMs, async () => {
        const infos = await Promise.all(servers.map((s) => redisCommand(s.port, 'CLUSTER', 'INFO')));
        return infos.every((info) => info.includes('cluster_state:ok'));
      });
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
  const cli = spawn('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  cli.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  cli.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => cli.once('exit', resolve));
  if (code !== 0) throw new Error(`redis-cli --cluster create failed (${code}):\n${output}`);
}
