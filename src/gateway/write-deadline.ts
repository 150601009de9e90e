/** The socket fields a write deadline reads. */
interface Outgoing {
  readonly writableLength: number;
  /** Bytes written so far, those still queued included. */
  readonly bytesWritten: number;
}

/**
 * When a socket's queued output last moved, for the write deadline (NATS's write_deadline):
 * a client whose socket accepts nothing for that long is cut off as a slow consumer, even
 * while its backlog is under the byte bound. Read by the gateway's deadline sweep, so
 * "moved" means between two sweeps.
 */
export class OutputClock {
  private flushed = 0;
  private movedAt = Date.now();

  constructor(private readonly socket: Outgoing) {}

  /** How long output has been queued without any of it leaving (0 when nothing is queued). */
  stalledMs(now = Date.now()): number {
    const queued = this.socket.writableLength;
    const flushed = this.socket.bytesWritten - queued;
    if (queued === 0 || flushed !== this.flushed) {
      this.flushed = flushed;
      this.movedAt = now;
    }
    return now - this.movedAt;
  }
}
