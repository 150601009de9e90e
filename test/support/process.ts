// Child processes for tests (servers, redis-server, haproxy, prometheus): each keeps the tail
// of its output for error messages and is stopped by whoever started it. Any still running
// when the test process exits is killed, so a failed test leaves nothing listening behind.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const tailChars = 8_000;

const children = new Set<ChildProcess>();
process.once('exit', () => children.forEach((p) => p.kill('SIGKILL')));

export class Child {
  readonly process: ChildProcess;
  /** Resolves with the exit code once the process is gone: null after a signal, -1 if it never started. */
  readonly exited: Promise<number | null>;
  private output = '';
  private code: number | null | undefined;

  /** Spawns `command` with stdout and stderr piped (and decoded as UTF-8), stdin closed. */
  constructor(readonly name: string, command: string, args: string[], options: SpawnOptions = {}) {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    this.process = child;
    children.add(child);
    const keep = (chunk: string) => {
      this.output = (this.output + chunk).slice(-tailChars);
    };
    child.stdout?.setEncoding('utf8').on('data', keep);
    child.stderr?.setEncoding('utf8').on('data', keep);
    this.exited = new Promise((resolve) => {
      const gone = (code: number | null) => {
        if (!this.running) return;
        children.delete(child);
        this.code = code;
        resolve(code);
      };
      child.once('exit', gone);
      // A command that cannot start (ENOENT) emits 'error' and never 'exit'.
      child.on('error', (err) => {
        this.output += `\n${err.message}`;
        if (child.pid === undefined) gone(-1);
      });
    });
  }

  get running(): boolean {
    return this.code === undefined;
  }

  /** The last few thousand characters of stdout and stderr, interleaved as they came. */
  get tail(): string {
    return this.output;
  }

  /** Throws, with the child's last output, if it has already exited. */
  assertRunning(): void {
    if (!this.running) throw new Error(`${this.name} exited (${this.code}):\n${this.output}`);
  }

  /** Sends `signal` unless the process is already gone. */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.process.kill(signal);
  }

  /** SIGKILL and wait: a crash, or an outage. */
  async kill(): Promise<number | null> {
    this.signal('SIGKILL');
    return this.exited;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves once it has exited. */
  async stop(graceMs = 5_000): Promise<number | null> {
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
