import { constants, openSync, writeSync } from 'node:fs';

/** Log bytes kept while stdout is not taking them; past this, lines are dropped (and counted). */
const maxPendingBytes = 1024 * 1024;
const retryMs = 50;

/**
 * Where JSON log lines go: stdout, written so that logging never blocks and never throws.
 * A pipe whose reader stopped reading (or died while another process holds it open) blocks
 * a plain write forever, freezing the event loop with every signal caught and none handled;
 * a closed one fails with EPIPE. So stdout is reopened non-blocking where it is a pipe or a
 * file (on Linux, through /proc/self/fd/1: a new open file description, so the flag does not
 * change stdout for anyone else), lines it cannot take now wait in a bounded queue, and once
 * it is broken for good the sink stops writing.
 */
export class StdoutSink {
  private readonly fd: number;
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private broken = false;
  /** Lines thrown away because stdout was full; reported in the next line that gets through. */
  dropped = 0;

  constructor() {
    this.fd = nonBlockingStdout();
    // The last lines (`stopped`, or why the process gives up) get one more try, which cannot block.
    process.once('exit', () => this.flush());
  }

  /** pino's destination interface. */
  write(line: string): void {
    if (this.broken) return;
    const bytes = Buffer.from(line);
    if (this.pendingBytes + bytes.length > maxPendingBytes) {
      this.dropped++;
      return;
    }
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (!this.timer) this.flush();
  }

  private flush(): void {
    this.timer = undefined;
    if (this.dropped > 0 && this.pending.length > 0) {
      const note = Buffer.from(`${JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, dropped: this.dropped, msg: 'log lines dropped: stdout was not taking them' })}\n`);
      this.pending.unshift(note);
      this.pendingBytes += note.length;
      this.dropped = 0;
    }
    while (this.pending.length > 0 && !this.broken) {
      const head = this.pending[0]!;
      let written: number;
      try {
        written = writeSync(this.fd, head);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          this.timer = setTimeout(() => this.flush(), retryMs);
          this.timer.unref();
        } else {
          this.broken = true; // EPIPE and the like: nobody will read it again
          this.pending.length = 0;
          this.pendingBytes = 0;
        }
        return;
      }
      this.pendingBytes -= written;
      if (written === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(written);
    }
  }
}

/** fd 1, reopened non-blocking where the system allows; fd 1 itself otherwise (a socket, say). */
function nonBlockingStdout(): number {
  try {
    // Left open until the process ends: the last flush runs in an exit handler.
    return openSync('/proc/self/fd/1', constants.O_WRONLY | constants.O_APPEND | constants.O_NONBLOCK);
  } catch {
    return 1;
  }
}
