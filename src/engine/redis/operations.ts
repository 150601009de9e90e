import { ChorusError } from '../../protocol/errors.js';

/** Runs one store operation, timed for whoever listens (the gateway's `chorus_engine_op_seconds`). */
export type Timed = <T>(op: string, work: () => Promise<T>) => Promise<T>;

export class Operations {
  private readonly handlers: Array<(op: string, seconds: number) => void> = [];

  constructor(readonly isUp: () => boolean) {}

  onOperation(handler: (op: string, seconds: number) => void): void {
    this.handlers.push(handler);
  }

  /** Failed operations count too: a slow timeout is exactly what the histogram should show. */
  readonly time: Timed = async (op, work) => {
    const started = process.hrtime.bigint();
    try {
      return await work();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      for (const handler of this.handlers) handler(op, seconds);
    }
  };

  /**
   * What the gateway calls: refused while the engine is down, even if one connection is
   * back already, because until recovery is over this gateway's claims and subscriptions
   * may be missing from Redis. The engine's own recovery and lease work use `time`.
   */
  readonly guarded: Timed = (op, work) => {
    if (!this.isUp()) {
      return Promise.reject(new ChorusError('unavailable', 'the server lost its store; nothing was accepted, try again'));
    }
    return this.time(op, work);
  };
}

/** Scripts per batch when many users are written at once (recovery, reaping, owed work). */
const batchSize = 256;

export async function inBatches<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += batchSize) {
    await Promise.all(items.slice(i, i + batchSize).map(work));
  }
}
