// The real `chorus` console client (dist/cli/main.js), driven through piped stdin.
import { spawn, type ChildProcess } from 'node:child_process';
import { clientBin } from './server.js';
import { waitUntil } from './wait.js';

const running = new Set<Chorus>();

/** Kills every `chorus` process still running (a failed test's leftovers). */
export function killAllChorus(): void {
  for (const c of running) c.kill();
}

/** One `chorus` process: what it printed so far, a way to type, and its exit. */
export class Chorus {
  out = '';
  err = '';
  readonly exited: Promise<number | null>;
  private readonly proc: ChildProcess;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    const childEnv = { ...process.env, ...env };
    delete childEnv.NO_COLOR;
    this.proc = spawn(process.execPath, [clientBin, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv });
    running.add(this);
    this.proc.stdout!.setEncoding('utf8').on('data', (s: string) => (this.out += s));
    this.proc.stderr!.setEncoding('utf8').on('data', (s: string) => (this.err += s));
    this.exited = new Promise((resolve) =>
      this.proc.once('exit', (code) => {
        running.delete(this);
        resolve(code);
      }),
    );
  }

  type(...lines: string[]): this {
    this.proc.stdin!.write(lines.map((l) => l + '\n').join(''));
    return this;
  }

  /** End of input: the client says bye and exits. */
  async end(): Promise<number | null> {
    this.proc.stdin!.end();
    return this.exited;
  }

  kill(): void {
    this.proc.kill('SIGKILL');
  }

  lines(): string[] {
    return this.out.split('\n');
  }

  count(text: string): number {
    return this.out.split(text).length - 1;
  }

  /** Waits until the output holds `text` (`times` times), or fails showing what it did print. */
  async waitFor(text: string | RegExp, times = 1, timeoutMs = 10_000): Promise<void> {
    const found = () => (typeof text === 'string' ? this.count(text) >= times : text.test(this.out));
    try {
      await waitUntil(found, `${String(text)} in the output`, timeoutMs);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- stdout ---\n${this.out}--- stderr ---\n${this.err}`);
    }
  }
}

