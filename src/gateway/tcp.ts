import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { ChorusError } from '../protocol/errors.js';
import { jsonDialect, legacyDialect, textDialect, type Dialect } from './dialect.js';
import { LineSplitter } from '../protocol/lines.js';
import { LegacyDecoder } from './framing.js';
import type { Transport } from './metrics.js';
import type { Peer } from './peer.js';
import type { Session } from './session.js';

export interface TcpOptions {
  maxFrameBytes: number;
  /** How long a new connection may take to show its mode (its first bytes). */
  sniffTimeoutMs: number;
  tls?: { cert: Buffer; key: Buffer };
  /** Makes the session for a connection whose mode is known, or refuses it (undefined). */
  open(peer: Peer, dialect: Dialect): Session | undefined;
}

/** Bytes enough to tell the three modes apart; a client that sends only digits or blanks this long is text. */
const sniffBytes = 16;
/** How long a closing peer may take to read its last bytes. */
export const closeTimeoutMs = 5_000;

type Mode = 'json' | 'text' | 'legacy';

/**
 * The mode of a TCP connection, from its first bytes: `{` is JSON, digits followed by a
 * space are the legacy header, anything else is text. Undecided until a byte settles it,
 * because the legacy client sends no newline.
 */
export function detectMode(head: Buffer): Mode | undefined {
  let i = 0;
  while (i < head.length && (head[i] === 32 || head[i] === 9 || head[i] === 13 || head[i] === 10)) i++;
  if (i === head.length) return head.length >= sniffBytes ? 'text' : undefined;
  if (head[i] === 0x7b) return 'json';
  if (i > 0) return 'text';
  while (i < head.length && head[i]! >= 0x30 && head[i]! <= 0x39) i++;
  if (i === head.length) return head.length >= sniffBytes ? 'text' : undefined;
  return i > 0 && head[i] === 32 ? 'legacy' : 'text';
}

const dialects: Record<Mode, Dialect> = { json: jsonDialect, text: textDialect, legacy: legacyDialect };
const transports: Record<Mode, Transport> = { json: 'tcp', text: 'text', legacy: 'legacy' };

export function whenDrained(socket: Duplex): Promise<void> {
  if (socket.writableLength === 0 || socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

class TcpPeer implements Peer {
  readonly remote: string;

  constructor(
    private readonly socket: net.Socket,
    readonly transport: Transport,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  buffered(): number {
    return this.socket.writableLength;
  }

  drained(): Promise<void> {
    return whenDrained(this.socket);
  }

  end(): void {
    this.socket.end();
    setTimeout(() => this.socket.destroy(), closeTimeoutMs).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }
}

export interface TcpServer {
  readonly server: net.Server;
  /** Closes the connections that have not said anything yet (they have no session to drain). */
  dropUndecided(): void;
}

export function createTcpServer(opts: TcpOptions): TcpServer {
  const undecided = new Set<net.Socket>();
  const onSocket = (socket: net.Socket) => serve(socket, opts, undecided);
  const server = opts.tls
    ? // A handshake gets the same deadline as the first bytes after it.
      tls.createServer({ cert: opts.tls.cert, key: opts.tls.key, handshakeTimeout: opts.sniffTimeoutMs }, onSocket)
    : net.createServer(onSocket);
  return { server, dropUndecided: () => undecided.forEach((s) => s.destroy()) };
}

function serve(socket: net.Socket, opts: TcpOptions, undecided: Set<net.Socket>): void {
  socket.setNoDelay(true);
  // Text and legacy clients never ping: the kernel's keepalive finds their dead peers.
  socket.setKeepAlive(true, 30_000);
  socket.on('error', () => socket.destroy());
  // Until it shows its mode a connection has no session; it gets a deadline of its own.
  undecided.add(socket);
  socket.setTimeout(opts.sniffTimeoutMs, () => socket.destroy());
  socket.once('close', () => undecided.delete(socket));
  let head: Buffer = Buffer.alloc(0);
  const sniff = (chunk: Buffer) => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const mode = detectMode(head);
    if (mode === undefined) return;
    socket.off('data', sniff);
    socket.setTimeout(0);
    undecided.delete(socket);
    const peer = new TcpPeer(socket, transports[mode]);
    const session = opts.open(peer, dialects[mode]);
    if (!session) return;
    const read = reader(mode, opts.maxFrameBytes, session);
    socket.on('data', read);
    socket.on('close', () => session.onClosed());
    read(head);
  };
  socket.on('data', sniff);
}

function reader(mode: Mode, maxFrameBytes: number, session: Session): (chunk: Buffer) => void {
  const onBad = (err: ChorusError) => session.onBadInput(err);
  const onLine = (line: string) => session.onLine(line);
  let decode: (chunk: Buffer) => void;
  if (mode === 'legacy') {
    const decoder = new LegacyDecoder(maxFrameBytes);
    decode = (chunk) => decoder.push(chunk, onLine);
  } else {
    const splitter = new LineSplitter(maxFrameBytes);
    decode = (chunk) => splitter.push(chunk, (line) => line.trim() !== '' && onLine(line), onBad);
  }
  let broken = false;
  return (chunk) => {
    if (broken) return;
    try {
      decode(chunk);
    } catch (err) {
      broken = true;
      onBad(err instanceof ChorusError ? err : new ChorusError('bad_frame', 'unreadable input', true));
    }
  };
}
