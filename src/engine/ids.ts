/**
 * Message ids are `ms-seq`, as Redis stream ids are: both engines order them the same way,
 * and clients can treat them as opaque strings.
 */
export function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

/** Makes strictly increasing ids from the clock, like XADD's `*` does. */
export class IdClock {
  private lastMs = 0;
  private seq = 0;

  next(now: number): string {
    if (now > this.lastMs) {
      this.lastMs = now;
      this.seq = 0;
    } else {
      this.seq++;
    }
    return `${this.lastMs}-${this.seq}`;
  }
}

/** A private conversation is filed once for both parties, under a key neither order changes. */
export function conversationOf(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

/** Refs remembered per session for this long: a client retrying within it is not delivered twice. */
export const dedupeWindowMs = 60_000;
