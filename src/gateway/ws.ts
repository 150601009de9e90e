import http from 'node:http';
import { isUtf8 } from 'node:buffer';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { ChorusError } from '../protocol/errors.js';
import { pageHandler } from '../web/assets.js';
import { plainAddress, trusts } from './admission.js';
import { wsCloseCode, type Departure } from './departure.js';
import { wsDialect, type Dialect } from './dialect.js';
import type { Arrival, Doorway } from './doorway.js';
import type { Peer } from './peer.js';
import type { Session } from './session.js';
import { closeTimeoutMs, whenDrained } from './tcp.js';
import { OutputClock } from './write-deadline.js';

export interface WsOptions {
  maxFrameBytes: number;
  /** Bounds the upgrade request too (headers a byte at a time). */
  helloTimeoutMs: number;
  doorway: Doorway;
  /** Balancers whose X-Forwarded-For names the client. */
  trusted: net.BlockList;
  open(peer: Peer, dialect: Dialect, refusal: Departure | undefined): Session | undefined;
}

/**
 * Writes go straight to the socket as whole frames the dialect built (wsDialect), so a
 * fanned-out message is framed once for every WebSocket. That is safe beside ws's own
 * writes (pongs, close) because, without compression, ws writes each frame whole and at once.
 */
class WsPeer implements Peer {
  readonly transport = 'ws' as const;
  readonly openedAt: number;
  private readonly output: OutputClock;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: net.Socket,
    arrival: Arrival,
    readonly remote: string,
  ) {
    this.openedAt = arrival.openedAt;
    this.output = new OutputClock(socket);
  }

  /** Nothing may follow a Close frame (RFC 6455 5.5.1), which ws may already have sent. */
  write(frame: Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN) this.socket.write(frame);
  }

  buffered(): number {
    return this.socket.writableLength;
  }

  stalledMs(now: number): number {
    return this.output.stalledMs(now);
  }

  drained(): Promise<void> {
    return whenDrained(this.socket);
  }

  /** The close code says why (departure.ts); the reason text names the departure. */
  end(reason?: Departure): void {
    // A paused WebSocket would never read the client's answering Close frame.
    this.ws.resume();
    this.ws.close(wsCloseCode(reason), reason ?? '');
    setTimeout(() => this.ws.terminate(), closeTimeoutMs).unref();
  }

  destroy(): void {
    this.ws.terminate();
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  probe(): void {
    this.ws.ping();
  }
}

/**
 * The client a trusted balancer names: X-Forwarded-For read from the right (each proxy
 * appends the address it heard from), skipping our own trusted proxies. Only a connection
 * from a trusted address may say; anyone else is the client.
 */
export function forwardedFor(header: string | string[] | undefined, arrival: Arrival, trusted: net.BlockList): string {
  const own = `${arrival.address}:${arrival.port}`;
  if (header === undefined || !trusts(trusted, arrival.address)) return own;
  const hops = (Array.isArray(header) ? header.join(',') : header).split(',').map((h) => plainAddress(h.trim()));
  if (hops.some((h) => net.isIP(h) === 0)) return own;
  const client = [...hops].reverse().find((h) => !trusts(trusted, h)) ?? hops[0];
  return client ?? own;
}

/** The browser page, loaded once per process however many gateways it runs. */
let page: ReturnType<typeof pageHandler> | undefined;

/**
 * The WebSocket port: one JSON frame per text message, on any path; plain HTTP gets the
 * chat page (src/web). Connections come
 * through the doorway (PROXY header, per-address limits, TLS, the hello deadline) to an
 * HTTP server that never listens itself, whose only job is the upgrade.
 */
export function createWsServer(opts: WsOptions): net.Server {
  const arrivals = new WeakMap<Duplex, Arrival>();
  const server = http.createServer({
    // A request trickled a byte at a time is cut at the hello timeout by the doorway anyway;
    // these make the HTTP layer answer 408 instead of waiting for it.
    headersTimeout: opts.helloTimeoutMs,
    requestTimeout: opts.helloTimeoutMs,
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, opts.helloTimeoutMs / 4)),
  });
  server.on('request', (page ??= pageHandler()));
  server.on('clientError', (_err, socket) => socket.destroy());
  // ws's default maxPayload is 100 MiB; a frame over ours is refused before it is buffered.
  // UTF-8 is checked here rather than by ws, which would close the connection over it.
  // The gateway tracks its own sessions: ws's client Set (an entry and a close listener per
  // connection) would be a second list nobody reads.
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxFrameBytes, perMessageDeflate: false, skipUTF8Validation: true, clientTracking: false });
  server.on('upgrade', (req, socket, head) => {
    const arrival = arrivals.get(socket);
    if (!arrival) return socket.destroy();
    const remote = forwardedFor(req.headers['x-forwarded-for'], arrival, opts.trusted);
    wss.handleUpgrade(req, socket, head, (ws) => {
      arrival.settle();
      serve(ws, arrival, remote);
    });
  });
  const serve = (ws: WebSocket, arrival: Arrival, remote: string) => {
    const session = opts.open(new WsPeer(ws, arrival.socket, arrival, remote), wsDialect, arrival.refusal);
    if (!session) return;
    ws.on('message', (data, isBinary) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      if (isBinary) session.onBadInput(new ChorusError('bad_frame', 'binary frames are not accepted; send JSON text'));
      else if (!isUtf8(bytes)) session.onBadInput(new ChorusError('bad_frame', 'a frame must be UTF-8 text'));
      else session.onLine(bytes.toString('utf8'));
    });
    // Pongs keep a welcomed session from idling out; they never stand in for a hello.
    ws.on('pong', () => {
      session.lastSeen = Date.now();
    });
    // ws answers an oversize frame itself, with close code 1009 (the WebSocket form of
    // frame_too_large), and then reports it here; the session ends with the close.
    ws.on('error', () => {});
    ws.on('close', () => session.onClosed());
  };
  return net.createServer((raw) => {
    void opts.doorway.arrive(raw).then((arrival) => {
      if (!arrival) return;
      arrivals.set(arrival.socket, arrival);
      server.emit('connection', arrival.socket);
      arrival.socket.resume();
    });
  });
}
