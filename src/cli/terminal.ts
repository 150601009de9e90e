import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { wrapLine } from './wrap.js';

/**
 * The console: reading what the person (or script) types and printing what arrives.
 *
 * Interactive (stdin and stdout are terminals): a readline prompt; a line that arrives while
 * someone is typing is printed above the prompt, and the prompt and the half-typed text are
 * drawn again below it, cursor where it was.
 * Piped: no prompt and no echo; lines are read in order and handed out one at a time, so the
 * caller can wait for each command's answer before taking the next.
 */
export interface Terminal {
  readonly interactive: boolean;
  /** Shows one line (no newline in it) without garbling the input being typed. */
  print(line: string): void;
  /**
   * The next input line, shown after `prompt` on a terminal; null at end of input (Ctrl-D,
   * end of the pipe). With `echoWhenPiped`, piped mode prints the prompt and the answer as
   * one line, so a transcript shows what was asked and answered.
   */
  read(prompt: string, echoWhenPiped?: boolean): Promise<string | null>;
  /**
   * On a terminal, one line kept just above the prompt and redrawn in place (a transfer's
   * progress bar); undefined leaves the last one on screen as an ordinary line. Piped: nothing.
   */
  status(line: string | undefined): void;
  /** The terminal's width, for lines that fill it. */
  readonly columns: number;
  /**
   * A line that must not be shown (a password): on a terminal nothing typed is echoed and it
   * stays out of the line history; piped, it is the next line, never echoed.
   */
  readSecret(prompt: string): Promise<string | null>;
  close(): void;
}

export interface TerminalOptions {
  input: Readable & { isTTY?: boolean };
  output: Writable & { isTTY?: boolean };
  /** Ctrl-C on a terminal: the caller says bye and exits. */
  onInterrupt(): void;
}

// Lines read ahead of the consumer. Past this the input is paused; one chunk already read
// (at most the stream's highWaterMark of bytes) can still arrive, so the queue stays bounded.
const maxQueuedLines = 64;

export function createTerminal(opts: TerminalOptions): Terminal {
  const interactive = opts.input.isTTY === true && opts.output.isTTY === true;
  return new ReadlineTerminal(opts, interactive);
}

class ReadlineTerminal implements Terminal {
  private readonly rl: readline.Interface;
  private readonly queue: string[] = [];
  private waiter: ((line: string | null) => void) | undefined;
  private ended = false;
  private paused = false;
  /** True while a prompt (and maybe half a line) is on screen. */
  private prompting = false;
  /** The status line on screen above the prompt, if any. */
  private statusLine: string | undefined;
  /** A status given while no prompt was up, drawn with the next one. */
  private pendingStatus: string | undefined;
  private closed = false;
  /** While a secret is typed: readline's echo of it is swallowed. */
  private secret = false;

  constructor(
    private readonly opts: TerminalOptions,
    readonly interactive: boolean,
  ) {
    this.rl = interactive
      ? readline.createInterface({ input: opts.input, output: opts.output, terminal: true, historySize: 200 })
      : readline.createInterface({ input: opts.input, terminal: false, crlfDelay: Infinity });
    if (interactive) {
      // readline echoes every keystroke through this one method; a secret's are dropped.
      const rl = this.rl as unknown as { _writeToOutput(text: string): void };
      const echo = rl._writeToOutput.bind(this.rl);
      rl._writeToOutput = (text) => {
        if (!this.secret) echo(text);
      };
    }
    this.rl.on('line', (line) => this.onLine(line));
    this.rl.on('close', () => this.onEnd());
    if (interactive) this.rl.on('SIGINT', () => opts.onInterrupt());
  }

  get columns(): number {
    return (this.opts.output as { columns?: number }).columns ?? 80;
  }

  print(text: string): void {
    if (this.closed || !this.interactive) {
      this.opts.output.write(text + '\n');
      return;
    }
    const line = wrapLine(text, this.columns).join('\n');
    if (!this.prompting) {
      this.opts.output.write(line + '\n');
      return;
    }
    this.redraw(line, this.statusLine);
  }

  status(line: string | undefined): void {
    if (this.closed || !this.interactive) return;
    if (!this.prompting) {
      // Between an entered line and the next prompt: drawn with that prompt.
      if (line === undefined && this.pendingStatus !== undefined) this.opts.output.write(this.pendingStatus + '\n');
      this.pendingStatus = line;
      return;
    }
    if (line !== undefined) this.redraw(undefined, line);
    // The last state stays, as an ordinary line above the prompt.
    else if (this.statusLine !== undefined) this.redraw(this.statusLine, undefined);
  }

  /**
   * Goes to where the status line (or the prompt) starts (the typed text may wrap over
   * several rows) and clears from there down; prints `line`, then the status, then draws
   * the prompt and the typed text again.
   */
  private redraw(line: string | undefined, status: string | undefined): void {
    const out = this.opts.output;
    const rows = this.rl.getCursorPos().rows + (this.statusLine === undefined ? 0 : 1);
    readline.moveCursor(out, 0, -rows);
    readline.cursorTo(out, 0);
    readline.clearScreenDown(out);
    if (line !== undefined) out.write(line + '\n');
    this.statusLine = status;
    if (status !== undefined) out.write(status.slice(0, Math.max(1, this.columns - 1)) + '\n');
    // prompt(true) first moves up by the rows the cursor sat below the prompt's start when
    // readline last drew it (its private prevRows). We already cleared that input and stand
    // on a fresh row, so there is nothing above to move past.
    (this.rl as unknown as { prevRows: number }).prevRows = 0;
    this.rl.prompt(true);
  }

  read(prompt: string, echoWhenPiped = false): Promise<string | null> {
    if (this.waiter !== undefined) throw new Error('one read at a time');
    const take = (line: string | null): string | null => {
      this.prompting = false;
      // Entered text scrolled it up: a later status goes above the next prompt.
      this.statusLine = undefined;
      if (!this.interactive && echoWhenPiped) this.opts.output.write(prompt + (line ?? '') + '\n');
      return line;
    };
    const queued = this.queue.shift();
    this.resumeIfDrained();
    if (queued !== undefined) return Promise.resolve(take(queued));
    if (this.ended) return Promise.resolve(take(null));
    if (this.interactive) {
      if (this.pendingStatus !== undefined) {
        this.opts.output.write(this.pendingStatus.slice(0, Math.max(1, this.columns - 1)) + '\n');
        this.statusLine = this.pendingStatus;
        this.pendingStatus = undefined;
      }
      this.rl.setPrompt(prompt);
      this.prompting = true;
      this.rl.prompt(true);
    }
    return new Promise((resolve) => {
      this.waiter = (line) => resolve(take(line));
    });
  }

  async readSecret(prompt: string): Promise<string | null> {
    if (!this.interactive) return this.read(prompt);
    // The prompt is written directly: readline would draw it through the swallowed echo.
    this.opts.output.write(prompt);
    this.secret = true;
    try {
      const line = await this.read('');
      const history = (this.rl as unknown as { history?: string[] }).history;
      if (line !== null && history?.[0] === line) history.shift();
      return line;
    } finally {
      this.secret = false;
      this.opts.output.write('\n');
    }
  }

  close(): void {
    if (this.closed) return;
    // Leave what was typed on screen and go on below it, as a shell does on Ctrl-C.
    if (this.interactive && this.prompting) this.opts.output.write('\n');
    this.closed = true;
    this.prompting = false;
    this.rl.close();
  }

  private onLine(line: string): void {
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      waiter(line);
      return;
    }
    this.queue.push(line);
    if (this.queue.length >= maxQueuedLines && !this.paused) {
      this.paused = true;
      this.rl.pause();
    }
  }

  private onEnd(): void {
    this.ended = true;
    const waiter = this.waiter;
    this.waiter = undefined;
    if (this.interactive && this.prompting && !this.closed) this.opts.output.write('\n');
    waiter?.(null);
  }

  private resumeIfDrained(): void {
    if (this.paused && this.queue.length < maxQueuedLines / 2) {
      this.paused = false;
      this.rl.resume();
    }
  }
}
