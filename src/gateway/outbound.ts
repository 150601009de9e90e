import type { Envelope } from '../engine/types.js';
import { renderFrame, type Style } from '../protocol/render.js';
import { encodeWsTextFrame } from './framing.js';

/**
 * One frame on its way to this gateway's sockets. JSON clients get the envelope's bytes as
 * they are; each people-facing style is rendered at most once per frame, however many
 * sockets take it.
 */
export class Outbound {
  private readonly rendered = new Map<Style, string[]>();
  private wsFrame: Buffer | undefined;

  constructor(readonly env: Envelope) {}

  /** An outbound frame for a stored message (resume replays). */
  static stored(id: string, json: string): Outbound {
    return new Outbound({ id, ts: 0, from: '', line: Buffer.from(json + '\n') });
  }

  /** The JSON line as one WebSocket frame, the same bytes for every WebSocket. */
  asWsFrame(): Buffer {
    return (this.wsFrame ??= encodeWsTextFrame(this.env.line.subarray(0, this.env.line.length - 1)));
  }

  lines(style: Style): string[] {
    let lines = this.rendered.get(style);
    if (!lines) {
      const frame = JSON.parse(this.env.line.toString('utf8')) as Record<string, unknown>;
      this.rendered.set(style, (lines = renderFrame(frame, style, '')));
    }
    return lines;
  }
}
