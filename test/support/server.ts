// Real chorus-server processes for tests, on free loopback ports, stopped by their owner.
import { execFile, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Child } from './process.js';
import { waitUntil } from './wait.js';

export const serverBin = fileURLToPath(new URL('../../dist/server/main.js', import.meta.url));
export const clientBin = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

const host = '127.0.0.1';

export interface ServerOptions {
  /** CHORUS_* and other variables on top of this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** The server's main.js: another build of it (a replayed image) instead of dist/. */
  entry?: string;
  /** The working directory, where the entry's own node_modules are found from. */
  cwd?: string;
}

export interface ServerHandle {
  /** The address every port listens on. */
  readonly host: string;
  readonly tcpPort: number;
  readonly wsPort: number;
  readonly metricsPort: number;
  readonly proc: ChildProcess;
  /** Every JSON log line so far. */
  readonly logs: Array<Record<string, unknown>>;
  /** Resolves with the exit code once the process is gone. */
  readonly exited: Promise<number | null>;
  /** SIGTERM and wait: the graceful path. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait: a crash. */
  kill(): Promise<void>;
  waitForLog(match: (line: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  metrics(): Promise<string>;
  readyz(): Promise<number>;
}

/** Starts `chorus-server` with `args` (ports default to 0) and resolves once it logs `listening`. */
export async function startServer(args: string[] = [], options: ServerOptions = {}): Promise<ServerHandle> {
  const child = new Child(
    'chorus-server',
    process.execPath,
    [options.entry ?? serverBin, '--host', host, '--tcp-port', '0', '--ws-port', '0', '--metrics-port', '0', ...args],
    { cwd: options.cwd, env: { ...process.env, ...options.env, NO_COLOR: '1' } },
  );
  // stdout is a pipe, not a TTY, so the server logs JSON lines there.
  const logs: Array<Record<string, unknown>> = [];
  let partial = '';
  child.process.stdout!.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line });
      }
    }
  });
  const waitForLog: ServerHandle['waitForLog'] = (match, what, timeoutMs = 20_000) =>
    waitUntil(() => {
      if (!child.running) throw new Error(`server exited while waiting for ${what}:\n${child.tail}`);
      return logs.find(match);
    }, what, timeoutMs);
  let listening: Record<string, unknown>;
  try {
    listening = await waitForLog((l) => l.msg === 'listening', 'the listening log line');
  } catch (err) {
    await child.kill();
    throw err;
  }
  const metricsPort = listening.metricsPort as number;
  const http = (path: string) => fetch(`http://${host}:${metricsPort}${path}`);
  return {
    host,
    tcpPort: listening.tcpPort as number,
    wsPort: listening.wsPort as number,
    metricsPort,
    proc: child.process,
    logs,
    exited: child.exited,
    async stop() {
      child.signal('SIGTERM');
      return child.exited;
    },
    async kill() {
      await child.kill();
    },
    waitForLog,
    metrics: async () => (await http('/metrics')).text(),
    readyz: async () => (await http('/readyz')).status,
  };
}

/** Stops every handle, ignoring ones already gone. */
export async function stopAll(handles: Array<{ stop(): Promise<unknown> } | undefined>): Promise<void> {
  await Promise.all(handles.map((h) => h?.stop()));
}

/** `chorus-server --help`: the documented flags and CHORUS_* variables. */
export async function serverHelp(): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [serverBin, '--help']);
  return stdout;
}

/**
 * True when `help` documents both the variable and the flag it maps to (CHORUS_TCP_PORT and
 * --tcp-port, as ARCHITECTURE.md promises for every setting). Whole words only: --redis is
 * not --redis-cluster.
 */
export function documents(help: string, envName: string): boolean {
  const flag = `--${envName.replace(/^CHORUS_/, '').toLowerCase().replace(/_/g, '-')}`;
  const word = (s: string) => new RegExp(`(^|\\s)${s}(?![\\w-])`, 'm');
  return word(flag).test(help) && word(envName).test(help);
}
