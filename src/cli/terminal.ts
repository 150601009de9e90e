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
  private closed = false;

  constructor(
    private readonly opts: TerminalOptions,
    readonly interactive: boolean,
  ) {
    this.rl = interactive
      ? readline.createInterface({ input: opts.input, output: opts.output, terminal: true, historySize: 200 })
      : readline.createInterface({ input: opts.input, terminal: false, crlfDelay: Infinity });
    this.rl.on('line', (line) => this.onLine(line));
    this.rl.on('close', () => this.onEnd());
    if (interactive) this.rl.on('SIGINT', () => opts.onInterrupt());
  }

  print(text: string): void {
    if (this.closed || !this.interactive) {
      this.opts.output.write(text + '\n');
      return;
    }
    const width = (this.opts.output as { columns?: number }).columns ?? 80;
    const line = wrapLine(text, width).join('\n');
    if (!this.prompting) {
      this.opts.output.write(line + '\n');
      return;
    }
    const out = this.opts.output;
    // Go to where the prompt starts (the typed text may wrap over several rows) and clear
    // from there down; print the line; then draw the prompt and the typed text again.
    const rows = this.rl.getCursorPos().rows;
    readline.moveCursor(out, 0, -rows);
    readline.cursorTo(out, 0);
    readline.clearScreenDown(out);
    out.write(line + '\n');
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
      if (!this.interactive && echoWhenPiped) this.opts.output.write(prompt + (line ?? '') + '\n');
      return line;
    };
    const queued = this.queue.shift();
    this.resumeIfDrained();
    if (queued !== undefined) return Promise.resolve(take(queued));
    if (this.ended) return Promise.resolve(take(null));
    if (this.interactive) {
      this.rl.setPrompt(prompt);
      this.prompting = true;
      this.rl.prompt(true);
    }
    return new Promise((resolve) => {
      this.waiter = (line) => resolve(take(line));
    });
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
