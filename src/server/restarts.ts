/** A worker that dies sooner than this after starting did not really start: it counts as a quick death. */
export const stableAfterMs = 10_000;
const firstDelayMs = 250;
const maxDelayMs = 10_000;
/** Quick deaths in a row from which the workers are reported crash-looping. */
export const crashLoopAfter = 3;
/** Quick deaths in a row, with no worker listening, after which the primary gives up. */
export const giveUpAfter = 7;

/**
 * When the primary restarts a dead worker: at once-ish after a worker that had run for a
 * while, with a doubling delay (250 ms … 10 s) while they keep dying young. Quick deaths in
 * a row make a crash loop, which the primary reports; enough of them with nobody alive mean
 * this configuration or host cannot run a worker, and a supervisor above should know.
 */
export class RestartPolicy {
  private quickDeaths = 0;
  private delayMs = firstDelayMs;

  /** A worker died after `livedMs`; returns how long to wait before forking its replacement. */
  died(livedMs: number): number {
    if (livedMs >= stableAfterMs) {
      this.quickDeaths = 0;
      this.delayMs = firstDelayMs;
    } else {
      this.quickDeaths++;
      this.delayMs = this.quickDeaths === 1 ? firstDelayMs : Math.min(maxDelayMs, this.delayMs * 2);
    }
    return this.delayMs;
  }

  /** A worker has now run for stableAfterMs: whatever was looping has stopped. */
  stable(): void {
    this.quickDeaths = 0;
    this.delayMs = firstDelayMs;
  }

  get crashLooping(): boolean {
    return this.quickDeaths >= crashLoopAfter;
  }

  /** True when the primary should exit: workers keep dying young and none is listening. */
  hopeless(listening: number): boolean {
    return listening === 0 && this.quickDeaths >= giveUpAfter;
  }
}
