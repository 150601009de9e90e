import { isUtf8 } from 'node:buffer';
import { ChorusError } from '../protocol/errors.js';

/**
 * Splits a byte stream into lines without ever holding more than `maxBytes` of one line:
 * past that, framing is lost and the connection must go (frame_too_large is fatal).
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Calls `onLine` for each complete line, or `onBad` for one that is not UTF-8. */
  push(chunk: Buffer, onLine: (line: string) => void, onBad: (err: ChorusError) => void): void {
    let start = 0;
    for (let eol = chunk.indexOf(10); eol >= 0; eol = chunk.indexOf(10, start)) {
      const part = chunk.subarray(start, eol);
      start = eol + 1;
      if (this.pendingBytes + part.length > this.maxBytes) throw tooLarge(this.maxBytes);
      const bytes = this.pending.length === 0 ? part : Buffer.concat([...this.pending, part]);
      this.pending = [];
      this.pendingBytes = 0;
      const end = bytes.length > 0 && bytes[bytes.length - 1] === 13 ? bytes.length - 1 : bytes.length;
      const line = bytes.subarray(0, end);
      if (isUtf8(line)) onLine(line.toString('utf8'));
      else onBad(new ChorusError('bad_frame', 'a frame must be UTF-8 text'));
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (this.pendingBytes + rest.length > this.maxBytes) throw tooLarge(this.maxBytes);
      // Copy: the socket may reuse its buffer, and a slice would pin the whole chunk.
      this.pending.push(Buffer.from(rest));
      this.pendingBytes += rest.length;
    }
  }
}

function tooLarge(max: number): ChorusError {
  return new ChorusError('frame_too_large', `a frame may hold at most ${max} bytes`, true);
}

/** The seed client's framing: a 1024-byte header with the body length in ASCII, space padded. */
export const legacyHeaderBytes = 1024;

export function encodeLegacyFrame(body: string): Buffer {
  const bytes = Buffer.from(body, 'utf8');
  const header = Buffer.alloc(legacyHeaderBytes, ' ');
  header.write(String(bytes.length), 'latin1');
  return Buffer.concat([header, bytes]);
}

/** Reads legacy frames across any number of TCP reads; the length is checked before the body is kept. */
export class LegacyDecoder {
  private buffered: Buffer = Buffer.alloc(0);
  private bodyBytes = -1;

  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer, onBody: (body: string) => void): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    for (;;) {
      if (this.bodyBytes < 0) {
        if (this.buffered.length < legacyHeaderBytes) return;
        const header = this.buffered.toString('latin1', 0, legacyHeaderBytes).trim();
        if (!/^\d{1,10}$/.test(header)) {
          throw new ChorusError('bad_frame', 'a legacy header must hold the body length in digits', true);
        }
        this.bodyBytes = Number(header);
        if (this.bodyBytes > this.maxBytes) {
          throw new ChorusError('frame_too_large', `a frame may hold at most ${this.maxBytes} bytes`, true);
        }
        this.buffered = this.buffered.subarray(legacyHeaderBytes);
      }
      if (this.buffered.length < this.bodyBytes) {
        this.buffered = Buffer.from(this.buffered);
        return;
      }
      const body = this.buffered.toString('utf8', 0, this.bodyBytes);
      this.buffered = this.buffered.subarray(this.bodyBytes);
      this.bodyBytes = -1;
      onBody(body);
    }
  }
}

/**
 * A server-to-client WebSocket text frame (RFC 6455 5.2: FIN, opcode 1, unmasked) holding
 * `payload`. Built once per fanned-out message and written as-is to every WebSocket.
 */
export function encodeWsTextFrame(payload: Buffer): Buffer {
  const len = payload.length;
  const headerBytes = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerBytes + len);
  frame[0] = 0x81;
  if (len < 126) {
    frame[1] = len;
  } else if (len < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(len), 2);
  }
  payload.copy(frame, headerBytes);
  return frame;
}
