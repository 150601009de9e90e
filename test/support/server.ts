// Real chorus-server processes for tests, on free loopback ports, stopped by their owner.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitUntil } from './wait.js';

export const serverBin = fileURLToPath(new URL('../../dist/server/main.js', import.meta.url));
export const clientBin = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface ServerHandle {
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

const running = new Set<ChildProcess>();
process.once('exit', () => running.forEach((p) => p.kill('SIGKILL')));

/** Starts `chorus-server` with `args` (ports default to 0) and resolves once it logs `listening`. */
export async function startServer(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServerHandle> {
  const proc = spawn(
    process.execPath,
    [serverBin, '--host', '127.0.0.1', '--tcp-port', '0', '--ws-port', '0', '--metrics-port', '0', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env, NO_COLOR: '1' } },
  );
  running.add(proc);
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  let partial = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
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
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      running.delete(proc);
      resolve(code);
    }),
  );
  let gone = false;
  void exited.then(() => (gone = true));
  const waitForLog: ServerHandle['waitForLog'] = (match, what, timeoutMs = 20_000) =>
    waitUntil(() => {
      if (gone) throw new Error(`server exited while waiting for ${what}: ${stderr}`);
      return logs.find(match);
    }, what, timeoutMs);
  const listening = await waitForLog((l) => l.msg === 'listening', 'the listening log line');
  const metricsPort = listening.metricsPort as number;
  const http = (path: string) => fetch(`http://127.0.0.1:${metricsPort}${path}`);
  return {
    tcpPort: listening.tcpPort as number,
    wsPort: listening.wsPort as number,
    metricsPort,
    proc,
    logs,
    exited,
    async stop() {
      if (!gone) proc.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (!gone) proc.kill('SIGKILL');
      await exited;
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
