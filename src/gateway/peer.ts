import type { Departure } from './departure.js';
import type { Transport } from './metrics.js';

/** The socket side of a session, whatever the transport. */
export interface Peer {
  readonly transport: Transport;
  /** host:port of the client (the one a trusted proxy named, behind one), for logs. */
  readonly remote: string;
  /** When the connection was accepted (ms): the hello timeout counts from here. */
  readonly openedAt: number;
  write(bytes: Buffer): void;
  /** Bytes written but not yet taken by the kernel: what a slow consumer piles up. */
  buffered(): number;
  /** How long queued output has sat without any of it being taken (0 when none is queued). */
  stalledMs(now: number): number;
  /** Resolves once the queued bytes have gone out (or the connection has closed). */
  drained(): Promise<void>;
  /**
   * Flush what is queued, then close, saying why where the transport can (a WebSocket
   * close code); a peer that does not take it within a few seconds is destroyed.
   */
  end(reason?: Departure): void;
  /** Close now, dropping what is queued. */
  destroy(): void;
  /** Stop or restart reading: backpressure on a client that sends faster than we answer. */
  pause(): void;
  resume(): void;
  /** Transport-level liveness probe, where the transport has one (WebSocket ping). */
  probe?(): void;
}
