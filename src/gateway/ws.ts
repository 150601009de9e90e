import http from 'node:http';
import https from 'node:https';
import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { ChorusError } from '../protocol/errors.js';
import { wsDialect, type Dialect } from './dialect.js';
import type { Peer } from './peer.js';
import type { Session } from './session.js';
import { closeTimeoutMs, whenDrained } from './tcp.js';

export interface WsOptions {
  maxFrameBytes: number;
  tls?: { cert: Buffer; key: Buffer };
  open(peer: Peer, dialect: Dialect): Session | undefined;
}

/**
 * Writes go straight to the socket as whole frames the dialect built (wsDialect), so a
 * fanned-out message is framed once for every WebSocket. That is safe beside ws's own
 * writes (pongs, close) because, without compression, ws writes each frame whole and at once.
 */
class WsPeer implements Peer {
  readonly transport = 'ws' as const;
  readonly remote: string;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex & { writableLength: number },
  ) {
    this.remote = `${(socket as Partial<Socket>).remoteAddress}:${(socket as Partial<Socket>).remotePort}`;
  }

  /** Nothing may follow a Close frame (RFC 6455 5.5.1), which ws may already have sent. */
  write(frame: Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN) this.socket.write(frame);
  }

  buffered(): number {
    return this.socket.writableLength;
  }

  drained(): Promise<void> {
    return whenDrained(this.socket);
  }

  end(): void {
    this.ws.close(1000);
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

/** The WebSocket port: one JSON frame per text message, on any path. */
export function createWsServer(opts: WsOptions): http.Server {
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }) : http.createServer();
  server.on('request', (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('Chorus speaks WebSocket here\n');
  });
  // ws's default maxPayload is 100 MiB; a frame over ours is refused before it is buffered.
  // UTF-8 is checked here rather than by ws, which would close the connection over it.
  // The gateway tracks its own sessions: ws's client Set (an entry and a close listener per
  // connection) would be a second list nobody reads.
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxFrameBytes, perMessageDeflate: false, skipUTF8Validation: true, clientTracking: false });
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => serve(ws, socket as Duplex & { writableLength: number }));
  });
  const serve = (ws: WebSocket, socket: Duplex & { writableLength: number }) => {
    const session = opts.open(new WsPeer(ws, socket), wsDialect);
    if (!session) return;
    ws.on('message', (data, isBinary) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      if (isBinary) session.onBadInput(new ChorusError('bad_frame', 'binary frames are not accepted; send JSON text'));
      else if (!isUtf8(bytes)) session.onBadInput(new ChorusError('bad_frame', 'a frame must be UTF-8 text'));
      else session.onLine(bytes.toString('utf8'));
    });
    ws.on('pong', () => {
      session.lastSeen = Date.now();
    });
    // ws answers an oversize frame itself, with close code 1009 (the WebSocket form of
    // frame_too_large), and then reports it here; the session ends with the close.
    ws.on('error', () => {});
    ws.on('close', () => session.onClosed());
  };
  return server;
}
