import type { ServerFrame } from './connection.js';

/** A frame sent with a ref, waiting for the server's answer. */
export interface Request {
  readonly ref: string;
  /** The frame as sent, ref included: sent again as it is after a resume. */
  readonly frame: Record<string, unknown> & { ref: string };
  /** What it was, for people: `your message to bob`, `!join #dev`. */
  readonly what: string;
  /** The answer, or undefined once the timeout warning went out. */
  readonly reply: Promise<ServerFrame | undefined>;
}

interface Entry extends Request {
  /** For an answer that comes back without our ref: does this frame answer the request? */
  readonly answers: (f: ServerFrame) => boolean;
  timer: NodeJS.Timeout | undefined;
  retries: number;
  retryTimer: NodeJS.Timeout | undefined;
  settle: (reply: ServerFrame | undefined) => void;
}

// Refusals that mean "not now" rather than "no": the same frame, sent again a little later
// under the same ref, gets through (PROTOCOL.md: a repeated ref is not delivered twice).
const transientCodes = new Set(['rate_limited', 'unavailable']);
// 0.25 + 0.5 + 1 + 2 + 4 s: within the 10 s before the silence warning.
const maxRetries = 5;
const firstRetryMs = 250;

/**
 * The requests the server has not answered yet, oldest first. A request stays until its
 * answer comes, even after the timeout warning, so a late answer still finds what it answers
 * and a resumed connection can send it again (the server drops a repeated ref).
 */
export class Requests {
  private readonly open = new Map<string, Entry>();
  private lastRef = 0;

  constructor(
    /** Called once per request that has no answer after `timeoutMs`. */
    private readonly onSilence: (r: Request) => void,
    private readonly timeoutMs: number,
    // A person cannot type this many requests within the timeout; a server that answers
    // nothing at all does not get to grow this without end either.
    private readonly maxOpen = 1000,
  ) {}

  /** A fresh ref, unique in this session: the server's dedupe key for sends. */
  nextRef(): string {
    return String(++this.lastRef);
  }

  add(frame: Record<string, unknown> & { ref: string }, what: string, answers: (f: ServerFrame) => boolean): Request {
    let settle!: (reply: ServerFrame | undefined) => void;
    const reply = new Promise<ServerFrame | undefined>((resolve) => (settle = resolve));
    const entry: Entry = { ref: frame.ref, frame, what, reply, answers, timer: undefined, retries: 0, retryTimer: undefined, settle };
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      this.onSilence(entry);
      entry.settle(undefined);
    }, this.timeoutMs);
    if (this.open.size >= this.maxOpen) this.take(this.open.keys().next().value!);
    this.open.set(entry.ref, entry);
    return entry;
  }

  /** The request `f` answers, now closed: by ref, or (for a server that left the ref out) by shape. */
  answer(f: ServerFrame): Request | undefined {
    let entry: Entry | undefined;
    if (typeof f.ref === 'string') entry = this.open.get(f.ref);
    else for (const e of this.open.values()) if (e.answers(f)) entry = entry ?? e;
    if (entry === undefined) return undefined;
    this.take(entry.ref);
    entry.settle(f);
    return entry;
  }

  /**
   * For a refusal that may pass if tried again (rate_limited, unavailable): keeps the request
   * open and calls `resend` with it after a growing delay. False once it is not worth another
   * try, and for any other frame: then the refusal is the answer.
   */
  retryLater(f: ServerFrame, resend: (frame: Request['frame']) => void): boolean {
    if (f.type !== 'error' || typeof f.ref !== 'string' || !transientCodes.has(String(f.code))) return false;
    const entry = this.open.get(f.ref);
    if (entry === undefined || entry.retries >= maxRetries) return false;
    const delayMs = firstRetryMs * 2 ** entry.retries++;
    clearTimeout(entry.retryTimer);
    entry.retryTimer = setTimeout(() => {
      entry.retryTimer = undefined;
      if (this.open.get(entry.ref) === entry) resend(entry.frame);
    }, delayMs);
    return true;
  }

  /** Every request still open, oldest first. */
  unanswered(): Request[] {
    return [...this.open.values()];
  }

  clear(): void {
    for (const ref of [...this.open.keys()]) this.take(ref)?.settle(undefined);
  }

  private take(ref: string): Entry | undefined {
    const entry = this.open.get(ref);
    if (entry === undefined) return undefined;
    clearTimeout(entry.timer);
    clearTimeout(entry.retryTimer);
    this.open.delete(ref);
    return entry;
  }
}
