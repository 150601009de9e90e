import type net from 'node:net';
import tls from 'node:tls';
import { plainAddress, trusts, type Admission } from './admission.js';
import type { Departure } from './departure.js';
import { readProxyHeader } from './proxy-protocol.js';

export interface DoorwayOptions {
  /** A connection not welcomed this long after it was accepted is closed. */
  helloTimeoutMs: number;
  /** With --proxy-protocol: the balancers that must (and alone may) start with a PROXY header. */
  proxies?: net.BlockList;
  admission: Admission;
  tls?: tls.SecureContext;
  /** A connection ended before the gateway took it (counted and logged there). */
  onDrop(reason: Departure): void;
}

/** How long a connection refused by a per-address limit may take to show its mode before it is dropped. */
const refusedGraceMs = 2_000;

/** A connection through the door: its client's address, and whether the per-address limits let it in. */
export interface Arrival {
  /** Paused when bytes were read ahead (a PROXY header): attach a reader, then resume(). */
  readonly socket: net.Socket;
  readonly address: string;
  readonly port: number;
  readonly openedAt: number;
  /** Set when a per-address limit refuses it: the gateway tells the client in its own dialect. */
  readonly refusal: Departure | undefined;
  /** The gateway has it now: from here the session's hello timeout and its departure count apply. */
  settle(): void;
}

/**
 * Every raw connection on both client ports passes here first: the hello deadline starts
 * at accept, so a socket that trickles a PROXY header, stalls a TLS handshake, sends a
 * few bytes that settle nothing, or an HTTP upgrade a byte at a time is closed on time
 * all the same. Until settled a connection is the doorway's to count and to drop.
 */
export class Doorway {
  private readonly waiting = new Set<net.Socket>();
  private readonly why = new WeakMap<net.Socket, Departure>();

  constructor(private readonly opts: DoorwayOptions) {}

  /** Resolves with the connection ready to speak, or undefined once it has been dropped. */
  async arrive(raw: net.Socket): Promise<Arrival | undefined> {
    const { opts } = this;
    const openedAt = Date.now();
    let settled = false;
    this.waiting.add(raw);
    let deadline = setTimeout(() => this.drop(raw, 'hello_timeout'), opts.helloTimeoutMs).unref();
    raw.on('error', () => raw.destroy());
    raw.once('close', () => {
      clearTimeout(deadline);
      this.waiting.delete(raw);
      if (!settled) opts.onDrop(this.why.get(raw) ?? 'closed');
    });
    // Reset before we got to it (a balancer's port probe): there is nobody to serve.
    if (raw.remoteAddress === undefined) {
      raw.destroy();
      return undefined;
    }
    let address = plainAddress(raw.remoteAddress);
    let port = raw.remotePort ?? 0;
    if (opts.proxies && trusts(opts.proxies, address)) {
      try {
        // LOCAL (a health check) names nobody: the proxy's own address stands.
        const source = await readProxyHeader(raw);
        if (source) ({ address, port } = { address: plainAddress(source.address), port: source.port });
      } catch {
        this.drop(raw, 'proxy_protocol');
        return undefined;
      }
    }
    if (raw.destroyed) return undefined;
    const refusal = opts.admission.admit(address);
    if (refusal === undefined) {
      raw.once('close', () => opts.admission.release(address));
    } else {
      // Refused connections are not counted, so they must not linger either: a client gets
      // a moment to show its mode (and be told why in its dialect), a silent socket no more.
      clearTimeout(deadline);
      deadline = setTimeout(() => this.drop(raw, refusal), Math.min(opts.helloTimeoutMs, refusedGraceMs)).unref();
    }
    let socket: net.Socket = raw;
    if (opts.tls) {
      try {
        socket = await handshake(raw, opts.tls);
      } catch {
        this.drop(raw, 'tls');
        return undefined;
      }
    }
    const settle = () => {
      settled = true;
      clearTimeout(deadline);
      this.waiting.delete(raw);
    };
    return { socket, address, port, openedAt, refusal, settle };
  }

  /** Shutdown: connections nobody has taken yet have no session to say bye to. */
  dropAll(reason: Departure): void {
    for (const raw of this.waiting) this.drop(raw, reason);
  }

  private drop(raw: net.Socket, reason: Departure): void {
    if (!this.why.has(raw)) this.why.set(raw, reason);
    raw.destroy();
  }
}

/**
 * TLS over the raw socket, wrapped here rather than by tls.Server so that the PROXY header
 * before it can be read first, and so that a handshake that fails or stalls closes the raw
 * socket itself (tls.Server's handshakeTimeout only reports it).
 */
function handshake(raw: net.Socket, secureContext: tls.SecureContext): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = new tls.TLSSocket(raw, { isServer: true, secureContext });
    const fail = () => reject(new Error('TLS handshake failed'));
    socket.once('error', fail);
    raw.once('close', fail);
    socket.once('secure', () => {
      socket.off('error', fail);
      raw.off('close', fail);
      socket.on('error', () => socket.destroy());
      resolve(socket);
    });
  });
}
