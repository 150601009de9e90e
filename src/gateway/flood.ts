/** What the flood gate needs from the metrics: a count of frames it held back. */
interface Tally {
  inc(): void;
}

export interface FloodLimits {
  /** Frames a second, on average. */
  readonly rate: number;
  /** Frames that may come at once before any is delayed. */
  readonly burst: number;
  /** Frames a connection may have waiting beyond its rate; one more and it is a flood. */
  readonly floodFrames: number;
}

/**
 * Ergo's fakelag, as a generic cell rate algorithm: within the burst a frame is handled at
 * once; past it each frame waits its turn at `rate` a second (the session stops reading
 * while frames wait, so the client's own socket fills and it slows down), and a client that
 * has more than `floodFrames` waiting is flooding and is disconnected. Answering each
 * excess frame with an error instead would cost us as much as the flood itself.
 */
export class FloodGate {
  /** When the client's allowance would be used up (ms): the "theoretical arrival time". */
  private tat = 0;
  private readonly intervalMs: number;
  private readonly toleranceMs: number;
  /** When each admitted frame, oldest first, may be handled. */
  private readonly turns: number[] = [];

  constructor(
    private readonly limits: FloodLimits,
    private readonly lagged: Tally,
  ) {
    this.intervalMs = 1000 / limits.rate;
    this.toleranceMs = limits.burst * this.intervalMs;
  }

  /** Charges one frame that will be handled in order; false when the client is flooding. */
  admit(now = Date.now()): boolean {
    const wait = this.charge(now);
    if (wait === undefined) return false;
    this.turns.push(now + wait);
    return true;
  }

  /**
   * Charges one frame answered on the spot (input refused before it is queued): ms it
   * would have waited, or undefined when the client is flooding.
   */
  charge(now = Date.now()): number | undefined {
    const tat = Math.max(this.tat, now) + this.intervalMs;
    const wait = Math.max(0, tat - now - this.toleranceMs);
    if (wait / this.intervalMs > this.limits.floodFrames) return undefined;
    this.tat = tat;
    if (wait > 0) this.lagged.inc();
    return wait;
  }

  /** Resolves when the oldest admitted frame may be handled. */
  turn(now = Date.now()): Promise<void> | undefined {
    const at = this.turns.shift();
    if (at === undefined || at <= now) return undefined;
    return new Promise((resolve) => setTimeout(resolve, at - now).unref());
  }
}
