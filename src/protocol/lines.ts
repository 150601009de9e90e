import { isUtf8 } from 'node:buffer';
import { ChorusError } from './errors.js';

/**
 * Bytes of one frame gathered across reads: grows by doubling (so a frame trickling in a
 * byte at a time costs linear, not quadratic, copying) and lets go of a large buffer once
 * the frame is done, so an idle connection holds almost nothing.
 */
export class FrameBuffer {
  private buf = Buffer.alloc(0);
  length = 0;

  append(bytes: Buffer): void {
    const need = this.length + bytes.length;
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2, 256));
      this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
    }
    bytes.copy(this.buf, this.length);
    this.length = need;
  }

  view(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  /** The gathered bytes followed by `tail`, without copying when nothing was gathered. */
  with(tail: Buffer): Buffer {
    if (this.length === 0) return tail;
    this.append(tail);
    return this.view();
  }

  clear(): void {
    this.length = 0;
    if (this.buf.length > 4096) this.buf = Buffer.alloc(0);
  }
}

/**
 * Splits a byte stream into lines without ever holding more than `maxBytes` of one line:
 * past that, framing is lost and the connection must go (frame_too_large is fatal).
 */
export class LineSplitter {
  private readonly pending = new FrameBuffer();

  constructor(private readonly maxBytes: number) {}

  /** Bytes of an unfinished line held now. */
  get buffered(): number {
    return this.pending.length;
  }

  /** Calls `onLine` for each complete line, or `onBad` for one that is not UTF-8. */
  push(chunk: Buffer, onLine: (line: string) => void, onBad: (err: ChorusError) => void): void {
    let start = 0;
    for (let eol = chunk.indexOf(10); eol >= 0; eol = chunk.indexOf(10, start)) {
      const part = chunk.subarray(start, eol);
      start = eol + 1;
      if (this.pending.length + part.length > this.maxBytes) throw tooLarge(this.maxBytes);
      const bytes = this.pending.with(part);
      const end = bytes.length > 0 && bytes[bytes.length - 1] === 13 ? bytes.length - 1 : bytes.length;
      const line = bytes.subarray(0, end);
      if (isUtf8(line)) onLine(line.toString('utf8'));
      else onBad(new ChorusError('bad_frame', 'a frame must be UTF-8 text'));
      this.pending.clear();
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (this.pending.length + rest.length > this.maxBytes) throw tooLarge(this.maxBytes);
      this.pending.append(rest);
    }
  }
}

function tooLarge(max: number): ChorusError {
  return new ChorusError('frame_too_large', `a frame may hold at most ${max} bytes`, true);
}
