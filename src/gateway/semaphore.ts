/**
 * At most `limit` jobs at once and `maxWaiting` more in line; past that, `run` refuses at once
 * (the caller's `refusal`), so a storm costs a bounded amount of memory and threads.
 */
export class Semaphore {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly limit: number,
    private readonly maxWaiting: number,
  ) {}

  /** Undefined when refused (the line is full); otherwise what `work` resolves with. */
  async run<T>(work: () => Promise<T>): Promise<{ value: T } | undefined> {
    if (this.running >= this.limit) {
      if (this.waiting.length >= this.maxWaiting) return undefined;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return { value: await work() };
    } finally {
      // The slot passes straight to the next in line, if any: running stays the same.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
