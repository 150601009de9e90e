import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ChorusError } from '../protocol/errors.js';
import type { Departure } from './departure.js';
import { jsonDialect, legacyDialect, textDialect, type Dialect } from './dialect.js';
import { LineSplitter } from '../protocol/lines.js';
import { LegacyDecoder } from './framing.js';
import type { Transport } from './metrics.js';
import type { Arrival, Doorway } from './doorway.js';
import type { Peer } from './peer.js';
import type { Session } from './session.js';
import { OutputClock } from './write-deadline.js';

export interface TcpOptions {
  maxFrameBytes: number;
  /** How long an unfinished line (or legacy frame) may wait for the rest of it. */
  partialLineTimeoutMs: number;
  doorway: Doorway;
  /** Makes the session for a connection whose mode is known, or refuses it (undefined). */
  open(peer: Peer, dialect: Dialect, refusal: Departure | undefined): Session | undefined;
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
  readonly openedAt: number;
  private readonly socket: net.Socket;
  private readonly output: OutputClock;

  constructor(
    arrival: Arrival,
    readonly transport: Transport,
  ) {
    this.socket = arrival.socket;
    this.remote = `${arrival.address}:${arrival.port}`;
    this.openedAt = arrival.openedAt;
    this.output = new OutputClock(arrival.socket);
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
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

  end(): void {
    // Whatever the client still sends is read and dropped, unparsed (a flood may have
    // megabytes in flight), so that its FIN comes in: a paused socket never sees it.
    this.socket.removeAllListeners('data');
    this.socket.on('data', () => {});
    this.socket.resume();
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

/** The TCP port (TLS too: the doorway does the handshake, so the connection cap counts raw sockets). */
export function createTcpServer(opts: TcpOptions): net.Server {
  return net.createServer((raw) => {
    void opts.doorway.arrive(raw).then((arrival) => arrival && serve(arrival, opts));
  });
}

function serve(arrival: Arrival, opts: TcpOptions): void {
  const { socket } = arrival;
  socket.setNoDelay(true);
  // Text and legacy clients never ping: the kernel's keepalive finds their dead peers.
  socket.setKeepAlive(true, 30_000);
  socket.on('error', () => socket.destroy());
  // Until it shows its mode a connection has no session: the doorway's hello deadline holds it.
  let head: Buffer = Buffer.alloc(0);
  const sniff = (chunk: Buffer) => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const mode = detectMode(head);
    if (mode === undefined) return;
    socket.off('data', sniff);
    arrival.settle();
    const session = opts.open(new TcpPeer(arrival, transports[mode]), dialects[mode], arrival.refusal);
    if (!session) return;
    const read = reader(mode, opts, session);
    socket.on('data', read.push);
    socket.on('close', () => {
      read.stop();
      session.onClosed();
    });
    read.push(head);
  };
  socket.on('data', sniff);
  socket.resume();
}

/** Something that holds bytes of an unfinished line or frame. */
interface Decoder {
  readonly buffered: number;
}

/**
 * Feeds a session its lines. A line (or legacy frame) that is started and not finished
 * within the partial-line timeout ends the connection: otherwise 65 KB without a newline
 * would hold a socket and its buffer for as long as the sender likes.
 */
function reader(mode: Mode, opts: TcpOptions, session: Session): { push(chunk: Buffer): void; stop(): void } {
  const onBad = (err: ChorusError) => session.onBadInput(err);
  const onLine = (line: string) => {
    lines++;
    session.onLine(line);
  };
  let lines = 0;
  let decoder: Decoder;
  let decode: (chunk: Buffer) => void;
  if (mode === 'legacy') {
    const legacy = new LegacyDecoder(opts.maxFrameBytes);
    decoder = legacy;
    decode = (chunk) => legacy.push(chunk, onLine);
  } else {
    const splitter = new LineSplitter(opts.maxFrameBytes);
    decoder = splitter;
    decode = (chunk) => splitter.push(chunk, (line) => line.trim() !== '' && onLine(line), onBad);
  }
  let broken = false;
  let partial: NodeJS.Timeout | undefined;
  const stall = () => {
    broken = true;
    const seconds = Math.round(opts.partialLineTimeoutMs / 1000);
    onBad(new ChorusError('bad_frame', `a line must be finished within ${seconds} s of its first byte`, true));
  };
  const stop = () => clearTimeout(partial);
  const push = (chunk: Buffer) => {
    if (broken) return;
    const before = lines;
    try {
      decode(chunk);
    } catch (err) {
      broken = true;
      stop();
      onBad(err instanceof ChorusError ? err : new ChorusError('bad_frame', 'unreadable input', true));
      return;
    }
    if (decoder.buffered === 0) {
      stop();
      partial = undefined;
    } else if (partial === undefined) {
      partial = setTimeout(stall, opts.partialLineTimeoutMs).unref();
    } else if (lines > before) {
      // A line ended and another began: the clock restarts for the new one.
      partial.refresh();
    }
  };
  return { push, stop };
}
