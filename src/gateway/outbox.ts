import type { Envelope } from '../engine/types.js';
import { transports, type Transport } from './metrics.js';
import type { Peer } from './peer.js';

/** What a socket's outbound bytes are for: the bound applies to traffic the client did not ask for. */
export type WriteKind = 'fanout' | 'reply';

/**
 * An outbox gathers at most this many bytes (or a quarter of its bound, if less) before it
 * writes them out on the spot: gathering saves syscalls on small frames, and past a few
 * kilobytes there is nothing left to save, while bytes held here count against the
 * slow-consumer bound before the kernel has had a chance to take them.
 */
const maxGatherBytes = 64 * 1024;

/**
 * When this gateway's outboxes write. A write to a socket is a syscall, and it costs about
 * as much for one frame as for twenty: so frames are gathered per socket and each socket
 * written once per event-loop turn (replies, and fan-out with no delay), or once per
 * `writeDelayMs` for fan-out (centrifuge's WriteDelay): a socket that gets fifty messages a
 * second then takes them in a few writes instead of fifty. One timer and one immediate serve
 * every socket of the gateway; the delay bounds how late a fanned-out frame may go out.
 */
export class WriteScheduler {
  private soon = new Set<Outbox>();
  private later = new Set<Outbox>();
  private immediate: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Deliveries written since the last count, by transport: the metric moves once per round, not per socket. */
  private readonly written = new Map<Transport, number>(transports.map((t) => [t, 0]));

  constructor(
    private readonly writeDelayMs: number,
    /** After each round of writes: the deliveries it made on one transport. */
    private readonly onWritten: (transport: Transport, deliveries: number) => void,
  ) {}

  /** Deliveries an outbox wrote on its own (a cut-off, a close): counted with the next round. */
  wrote(transport: Transport, deliveries: number): void {
    this.written.set(transport, this.written.get(transport)! + deliveries);
  }

  /** At the end of this turn. */
  now(box: Outbox): void {
    this.soon.add(box);
    this.immediate ??= setImmediate(() => {
      this.immediate = undefined;
      const boxes = this.soon;
      this.soon = new Set(); // a box written to while these flush waits for the next round
      this.flush(boxes);
    });
  }

  /** Within writeDelayMs (at the end of this turn when that is 0). */
  delayed(box: Outbox): void {
    if (this.writeDelayMs === 0) return this.now(box);
    this.later.add(box);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      const boxes = this.later;
      this.later = new Set();
      this.flush(boxes);
    }, this.writeDelayMs);
  }

  /** Writes everything still waiting (a stopping gateway); nothing is dropped. */
  stop(): void {
    if (this.immediate) clearImmediate(this.immediate);
    if (this.timer) clearTimeout(this.timer);
    this.immediate = this.timer = undefined;
    const boxes = new Set([...this.soon, ...this.later]);
    this.soon = new Set();
    this.later = new Set();
    this.flush(boxes);
  }

  private flush(boxes: Set<Outbox>): void {
    for (const box of boxes) box.flush();
    for (const [transport, n] of this.written) {
      if (n === 0) continue;
      this.onWritten(transport, n);
      this.written.set(transport, 0);
    }
  }
}

/**
 * Everything one session writes goes through its outbox, so the outbound buffer has one
 * bound and one policy: fanned-out frames must fit under `maxBytes` (counting what waits
 * here and what the socket has not sent yet) or the client is cut off as a slow consumer; a
 * reply the client asked for (a long history, say) is written whole as long as the client
 * has been reading. Frames keep their order: they wait in one queue and go out in one write.
 */
export class Outbox {
  private closed = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** `msg` frames among the pending ones: counted as delivered when written. */
  private pendingDeliveries = 0;
  private readonly gatherBytes: number;

  constructor(
    private readonly peer: Peer,
    private readonly maxBytes: number,
    private readonly scheduler: WriteScheduler,
    /** The bound was passed: the session cuts the client off. */
    private readonly onOverflow: () => void,
  ) {
    this.gatherBytes = Math.min(maxGatherBytes, Math.floor(maxBytes / 4));
  }

  /** Bytes written but not yet taken by the client, plus those waiting here. */
  get buffered(): number {
    return this.peer.buffered() + this.pendingBytes;
  }

  /** Whether `extra` more bytes held for this client would pass the bound. */
  wouldOverflow(extra: number): boolean {
    return this.buffered + extra > this.maxBytes;
  }

  write(bytes: Buffer | undefined, kind: WriteKind, env?: Envelope): void {
    if (bytes === undefined || this.closed) return;
    if (this.pendingBytes + bytes.length > this.gatherBytes) this.flush();
    if (kind === 'fanout' && this.wouldOverflow(bytes.length)) return this.onOverflow();
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (env?.id) this.pendingDeliveries++;
    if (kind === 'reply') this.scheduler.now(this);
    else this.scheduler.delayed(this);
  }

  /** The last words before a cut-off: written after what waits, whatever the bound, then nothing more. */
  writeLast(bytes: Buffer | undefined): void {
    if (bytes !== undefined && !this.closed) {
      this.pending.push(bytes);
      this.pendingBytes += bytes.length;
    }
    this.close();
  }

  /** Resolves once half the bound is free again, for writers that can wait (resume replays). */
  roomFor(): Promise<void> | undefined {
    if (this.buffered <= this.maxBytes / 2) return undefined;
    this.flush();
    return this.peer.drained();
  }

  /** Writes what waits, in one write. */
  flush(): void {
    const n = this.pending.length;
    if (n === 0) return;
    const bytes = n === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    if (this.pendingDeliveries > 0) this.scheduler.wrote(this.peer.transport, this.pendingDeliveries);
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingDeliveries = 0;
    this.peer.write(bytes);
  }

  /** What waits still goes out (the session ends the socket after this); nothing more is taken. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
  }
}
