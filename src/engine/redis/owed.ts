import type { Logger } from 'pino';
import type { RoomKey } from '../../protocol/names.js';
import type { Claim } from '../types.js';
import { backoffMs } from './connection.js';
import { inBatches, type Operations } from './operations.js';

/** A release (until undefined) or a detach (until a deadline) of one connection's claim. */
export interface Owed {
  readonly claim: Claim;
  /** When the reservation ends for a detach; undefined for a release. */
  readonly until: number | undefined;
  /** The rooms the connection had entries in. */
  readonly rooms: Iterable<RoomKey>;
}

/**
 * The releases and detaches this gateway owes Redis, by connection. Each is recorded before
 * it is first tried and kept until Redis confirms it, so that whatever broke it off (Redis
 * down, one command timing out, a claim whose bookkeeping failed) is tried again, and stop()
 * sees that it is not done. One attempt at a time per entry, whoever asks: the session,
 * the retry timer, the engine's recovery.
 */
export class OwedWork {
  private readonly owed = new Map<string, Owed>();
  private readonly attempts = new Map<Owed, Promise<boolean>>();
  private timer: NodeJS.Timeout | undefined;
  private retries = 0;
  private closed = false;

  constructor(
    /** Does one entry's work; true when the connection still held the nick. */
    private readonly work: (owed: Owed) => Promise<boolean>,
    private readonly ops: Operations,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.owed.size;
  }

  of(conn: string): Owed | undefined {
    return this.owed.get(conn);
  }

  /** Owed from now; replaces what the same connection owed before. */
  record(owed: Owed): void {
    this.owed.set(owed.claim.conn, owed);
  }

  /** Runs one entry's work now (or joins the attempt in flight) and forgets it once done. */
  settle(owed: Owed): Promise<boolean> {
    let attempt = this.attempts.get(owed);
    if (!attempt) {
      attempt = this.work(owed)
        .then((held) => {
          if (this.owed.get(owed.claim.conn) === owed) this.owed.delete(owed.claim.conn);
          return held;
        })
        .finally(() => this.attempts.delete(owed));
      this.attempts.set(owed, attempt);
    }
    return attempt;
  }

  /** Tries everything owed once; throws the first failure (the rest stay owed). */
  settleAll(): Promise<void> {
    return inBatches([...this.owed.values()], async (owed) => {
      await this.settle(owed);
    });
  }

  /**
   * Work that failed while the engine stays up has nothing else to bring it back (recovery
   * runs only after an outage): tried again with backoff until it succeeds.
   */
  retrySoon(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => void this.retry(), backoffMs(++this.retries));
    this.timer.unref();
  }

  /** The engine is stopping: no more retries (stop() makes one last attempt itself). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async retry(): Promise<void> {
    this.timer = undefined;
    // While the engine is down its recovery settles what is owed, once Redis is back.
    if (this.closed || this.owed.size === 0 || !this.ops.isUp()) return;
    try {
      await this.ops.time('owed', () => this.settleAll());
      this.retries = 0;
    } catch (err) {
      this.log.debug({ err }, 'owed presence work failed again');
      this.retrySoon();
    }
  }
}
