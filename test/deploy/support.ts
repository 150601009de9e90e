import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Small process and network helpers shared by the deploy tests. */

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const deployDir = path.join(root, 'deploy');
export const serverMain = path.join(root, 'dist/server/main.js');

/**
 * `count` distinct free loopback ports. All are held open until every one is chosen, so
 * the kernel cannot hand the same port out twice; another process could still take one
 * before the caller binds it, which is as good as port-0 allocation gets for a child.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, async () => {
      const server = net.createServer();
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      return server;
    }),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

export interface PollOptions {
  intervalMs?: number;
  /** Called before each attempt; what it throws ends the wait at once (a child that died). */
  alive?: () => void;
}

/**
 * Calls `probe` until it returns something other than undefined, or throws at the deadline
 * with the probe's last error. Errors from `probe` only mean "not yet".
 */
export async function pollUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, options: PollOptions = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    options.alive?.();
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}

/** Resolves once a TCP connect to host:port succeeds. */
export function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitForPort(host: string, port: number, timeoutMs: number, child?: Child): Promise<void> {
  const alive = child ? () => child.assertRunning() : undefined;
  await pollUntil(`${host}:${port} to accept connections`, timeoutMs, async () => ((await canConnect(host, port)) ? true : undefined), { alive });
}

/** A child process that keeps the tail of its output for error messages and can be stopped once. */
export class Child {
  readonly process: ChildProcess;
  private output = '';
  private exited: Promise<void>;
  private exitCode: number | null | undefined;

  constructor(readonly name: string, command: string, args: string[], options: SpawnOptions = {}) {
    this.process = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-8_000);
    };
    this.process.stdout?.on('data', keep);
    this.process.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.process.once('exit', (code) => {
        this.exitCode = code;
        resolve();
      });
      // A command that cannot start (ENOENT) emits 'error' and never 'exit'.
      this.process.once('error', (err) => {
        this.output += `\n${err.message}`;
        this.exitCode = -1;
        resolve();
      });
    });
  }

  get tail(): string {
    return this.output;
  }

  /** Throws, with the child's last output, if it has already exited. */
  assertRunning(): void {
    if (this.exitCode !== undefined) throw new Error(`${this.name} exited (${this.exitCode}):\n${this.output}`);
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves once it has exited. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exitCode === undefined) this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
