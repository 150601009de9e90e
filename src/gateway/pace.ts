/**
 * A byte budget that makes its user wait instead of refusing: `rate` bytes a second, up to
 * one second's worth saved up. Uploads are paced with it, so a fast sender is slowed (its
 * socket stops being read while it waits) rather than cut off or buffered.
 */
export class BytePace {
  private tokens: number;
  private last = Date.now();

  constructor(private readonly rate: number) {
    this.tokens = rate;
  }

  /** Spends `bytes`; resolves once the budget is back above zero (undefined: no wait). */
  spend(bytes: number): Promise<void> | undefined {
    const now = Date.now();
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) / 1000) * this.rate) - bytes;
    this.last = now;
    if (this.tokens >= 0) return undefined;
    const waitMs = Math.ceil((-this.tokens / this.rate) * 1000);
    return new Promise((resolve) => setTimeout(resolve, waitMs).unref());
  }
}
