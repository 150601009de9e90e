import type { ErrorCode } from './errors.js';

/** 2: presence comes in batches (docs/protocol.md); a batch of one still reads as version 1's frame. */
export const protocolVersion = 2;

/** One server frame as the bytes of a JSON line: built once, written to every socket. */
export function encodeLine(frame: object): Buffer {
  return Buffer.from(JSON.stringify(frame) + '\n');
}

export function errorFrame(code: ErrorCode, message: string, ref?: string): object {
  return ref === undefined ? { type: 'error', code, message } : { type: 'error', code, message, ref };
}

/**
 * The JSON of a `msg` frame minus its opening and its id: `"from":…,"ts":…}`. The engine
 * splices the id it assigns in front (`{"type":"msg","id":"…",` + tail), so the text is
 * escaped once, by the accepting gateway, and never parsed again on the way out.
 */
export function messageTail(from: string, to: string, text: string, ts: number): string {
  return JSON.stringify({ from, to, text, ts }).slice(1);
}

export function messageJson(id: string, tail: string): string {
  return `{"type":"msg","id":${JSON.stringify(id)},${tail}`;
}

/**
 * One tick's presence changes. A batch of exactly one change also carries version 1's
 * `event` and `nick`, first, so old readers see the frame they always did.
 */
export function presenceFrame(ts: number, online: readonly string[], offline: readonly string[]): object {
  if (online.length + offline.length !== 1) return { type: 'presence', ts, online, offline };
  const [event, nick] = online.length === 1 ? ['online', online[0]] : ['offline', offline[0]];
  return { type: 'presence', event, nick, ts, online, offline };
}

/** Above the population threshold: how many are online, instead of who. */
export function presenceCountFrame(ts: number, count: number): object {
  return { type: 'presence', ts, count };
}
