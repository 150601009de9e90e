// Raw sockets for the fuzz tests: bytes written exactly as split, in every dialect, and what
// came back, parsed as that dialect frames it. No client library smooths anything over.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { legacyBodies, legacyFrame } from '../support/client.js';
import { waitUntil } from '../support/wait.js';

export type Dialect = 'json' | 'text' | 'legacy' | 'ws';

/** A raw connection that records every byte the server sent and whether it closed. */
export class Wire {
  private readonly chunks: Buffer[] = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => this.chunks.push(c));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static open(port: number): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.setNoDelay(true);
      socket.once('connect', () => resolve(new Wire(socket)));
      socket.once('error', reject);
    });
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Writes each piece as its own write, letting the event loop turn between them so reads split there too. */
  async writeSplit(pieces: Buffer[]): Promise<void> {
    for (const piece of pieces) {
      if (this.closed) return;
      if (piece.length > 0) this.socket.write(piece);
      await new Promise((r) => setImmediate(r));
    }
  }

  waitFor(found: () => boolean, what: string, timeoutMs = 10_000): Promise<true> {
    return waitUntil(() => found() || (this.closed && found()), what, timeoutMs, 5);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Cuts `bytes` at the given fractions (sorted, deduplicated), as TCP may deliver them. */
export function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    pieces.push(bytes.subarray(from, p));
    from = p;
  }
  pieces.push(bytes.subarray(from));
  return pieces;
}

/** The JSON frames in a stream of JSON lines (lines that are not JSON objects are kept as `{type:'?'}`). */
export function jsonFrames(bytes: Buffer): Array<Record<string, any>> {
  return bytes
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, any>;
      } catch {
        return { type: '?', line: l };
      }
    });
}

/** The lines people see, in text mode or in legacy frames. */
export function peopleLines(dialect: 'text' | 'legacy', bytes: Buffer): string[] {
  const text = dialect === 'text' ? bytes.toString('utf8') : legacyBodies(bytes).join('\n');
  return text.split('\n');
}

export function legacyBytes(body: string): Buffer {
  const { header, body: b } = legacyFrame(body);
  return Buffer.concat([header, b]);
}

/** A masked client-to-server WebSocket frame (RFC 6455 5.2), built by hand so it can be split or broken. */
export function wsFrame(payload: Buffer, opcode = 1, fin = true): Buffer {
  const mask = randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len])
    : len < 65536 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, len >> 8, len & 255])
    : Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 127]), bigLength(len)]);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i]! ^= mask[i % 4]!;
  return Buffer.concat([head, mask, masked]);
}

function bigLength(len: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(len));
  return b;
}

/** Server-to-client frames (unmasked) in `bytes` after the HTTP upgrade answer: text payloads, and whether a close came. */
export function wsMessages(bytes: Buffer): { texts: string[]; closeCode?: number } {
  const start = bytes.indexOf('\r\n\r\n');
  if (start < 0) return { texts: [] };
  const texts: string[] = [];
  let at = start + 4;
  let closeCode: number | undefined;
  while (at + 2 <= bytes.length) {
    const opcode = bytes[at]! & 0x0f;
    let len = bytes[at + 1]! & 0x7f;
    let head = 2;
    if (len === 126) {
      if (at + 4 > bytes.length) break;
      len = bytes.readUInt16BE(at + 2);
      head = 4;
    } else if (len === 127) {
      if (at + 10 > bytes.length) break;
      len = Number(bytes.readBigUInt64BE(at + 2));
      head = 10;
    }
    if (at + head + len > bytes.length) break;
    const payload = bytes.subarray(at + head, at + head + len);
    if (opcode === 1) texts.push(payload.toString('utf8'));
    if (opcode === 8) closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    at += head + len;
  }
  return closeCode === undefined ? { texts } : { texts, closeCode };
}

/** The HTTP upgrade request for the WebSocket port. */
export function wsUpgrade(): Buffer {
  return Buffer.from(
    'GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
}
