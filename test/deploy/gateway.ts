import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Child, pollUntil, root, serverMain } from './support.js';

/** The real chorus-server as a child process, the way the deploy files start it. */

export interface Gateway {
  host: string;
  tcpPort: number;
  wsPort: number;
  metricsPort: number;
  child: Child;
  stop(): Promise<void>;
}

/**
 * Starts `node <main> ...args` on port 0 everywhere (unless args say otherwise) and reads
 * the ports it picked from its `listening` log line(s): JSON lines on stdout, since stdout
 * is a pipe and not a TTY.
 */
export async function startGateway(args: string[] = [], options: { main?: string; cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Gateway> {
  const host = '127.0.0.1';
  const child = new Child('chorus-server', process.execPath, [
    options.main ?? serverMain,
    ...['--host', host, '--tcp-port', '0', '--ws-port', '0', '--metrics-port', '0'],
    ...args,
  ], { cwd: options.cwd ?? root, env: { ...process.env, ...options.env } });
  const ports: Partial<Record<'tcpPort' | 'wsPort' | 'metricsPort', number>> = {};
  let buffered = '';
  child.process.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      const entry = parseJson(line);
      if (entry?.msg !== 'listening') continue;
      // Merge: a primary and its workers may each report part of the picture.
      for (const key of ['tcpPort', 'wsPort', 'metricsPort'] as const) {
        if (typeof entry[key] === 'number') ports[key] = entry[key];
      }
    }
  });
  try {
    const { tcpPort, wsPort, metricsPort } = await pollUntil('the "listening" log line with tcpPort, wsPort and metricsPort', options.timeoutMs ?? 20_000,
      async () => (ports.tcpPort && ports.wsPort && ports.metricsPort ? (ports as Required<typeof ports>) : undefined),
      { intervalMs: 25, alive: () => child.assertRunning() });
    return { host, tcpPort, wsPort, metricsPort, child, stop: () => child.stop(10_000) };
  } catch (err) {
    await child.stop();
    throw err;
  }
}

function parseJson(line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** `chorus-server --help`: the documented flags and CHORUS_* variables. */
export async function serverHelp(main = serverMain): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [main, '--help']);
  return stdout;
}

/** CHORUS_TCP_PORT → --tcp-port: the mapping ARCHITECTURE.md promises for every setting. */
export function flagOf(envName: string): string {
  return `--${envName.replace(/^CHORUS_/, '').toLowerCase().replace(/_/g, '-')}`;
}

/** True when `help` documents both the flag and the variable (whole words only: --redis is not --redis-cluster). */
export function documents(help: string, envName: string): boolean {
  const word = (s: string) => new RegExp(`(^|\\s)${s}(?![\\w-])`, 'm');
  return word(flagOf(envName)).test(help) && word(envName).test(help);
}
