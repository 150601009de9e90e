import { ChorusError } from '../protocol/errors.js';
import { FrameBuffer } from '../protocol/lines.js';

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
  private readonly header = new FrameBuffer();
  /** The body being read, allocated at its announced size; undefined while reading a header. */
  private body: Buffer | undefined;
  private bodyRead = 0;

  constructor(private readonly maxBytes: number) {}

  /** Bytes of an unfinished frame read so far: a frame whose header is in counts even before its body starts. */
  get buffered(): number {
    return this.body ? legacyHeaderBytes + this.bodyRead : this.header.length;
  }

  push(chunk: Buffer, onBody: (body: string) => void): void {
    let at = 0;
    while (at < chunk.length) {
      if (!this.body) {
        const take = Math.min(legacyHeaderBytes - this.header.length, chunk.length - at);
        this.header.append(chunk.subarray(at, at + take));
        at += take;
        if (this.header.length < legacyHeaderBytes) return;
        this.body = Buffer.allocUnsafe(this.bodyLength(this.header.view()));
        this.bodyRead = 0;
        this.header.clear();
      }
      const take = Math.min(this.body.length - this.bodyRead, chunk.length - at);
      chunk.copy(this.body, this.bodyRead, at, at + take);
      this.bodyRead += take;
      at += take;
      if (this.bodyRead === this.body.length) {
        const body = this.body.toString('utf8');
        this.body = undefined;
        onBody(body);
      }
    }
  }

  private bodyLength(header: Buffer): number {
    const text = header.toString('latin1').trim();
    if (!/^\d{1,10}$/.test(text)) {
      throw new ChorusError('bad_frame', 'a legacy header must hold the body length in digits', true);
    }
    const length = Number(text);
    if (length > this.maxBytes) {
      throw new ChorusError('frame_too_large', `a frame may hold at most ${this.maxBytes} bytes`, true);
    }
    return length;
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
