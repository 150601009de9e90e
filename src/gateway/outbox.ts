import type { Envelope } from '../engine/types.js';
import type { Peer } from './peer.js';

/** What a socket's outbound bytes are for: the bound applies to traffic the client did not ask for. */
export type WriteKind = 'fanout' | 'reply';

/**
 * Everything one session writes goes through its outbox, so the outbound buffer has one
 * bound and one policy: fanned-out frames must fit under `maxBytes` or the client is cut off
 * as a slow consumer; a reply the client asked for (a long history, say) is written whole as
 * long as the client has been reading.
 */
export class Outbox {
  private closed = false;

  constructor(
    private readonly peer: Peer,
    private readonly maxBytes: number,
    /** Counts a `msg` written to the socket. */
    private readonly onDelivered: () => void,
    /** The bound was passed: the session cuts the client off. */
    private readonly onOverflow: () => void,
  ) {}

  /** Bytes written but not yet taken by the client, plus what is held back elsewhere. */
  get buffered(): number {
    return this.peer.buffered();
  }

  /** Whether `extra` more bytes held for this client would pass the bound. */
  wouldOverflow(extra: number): boolean {
    return this.peer.buffered() + extra > this.maxBytes;
  }

  write(bytes: Buffer | undefined, kind: WriteKind, env?: Envelope): void {
    if (bytes === undefined || this.closed) return;
    if (kind === 'fanout' && this.wouldOverflow(bytes.length)) return this.onOverflow();
    this.peer.write(bytes);
    if (env?.id) this.onDelivered();
  }

  /** The last words before a cut-off: written whatever the bound, then nothing more. */
  writeLast(bytes: Buffer | undefined): void {
    if (bytes !== undefined && !this.closed) this.peer.write(bytes);
    this.close();
  }

  /** Resolves once half the bound is free again, for writers that can wait (resume replays). */
  roomFor(): Promise<void> | undefined {
    return this.peer.buffered() > this.maxBytes / 2 ? this.peer.drained() : undefined;
  }

  close(): void {
    this.closed = true;
  }
}
