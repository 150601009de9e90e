import type { ErrorCode, ResumeFailure } from './errors.js';

export const protocolVersion = 1;

/** One server frame as the bytes of a JSON line: built once, written to every socket. */
export function encodeLine(frame: object): Buffer {
  return Buffer.from(JSON.stringify(frame) + '\n');
}

export function errorFrame(code: ErrorCode, message: string, ref?: string, reason?: ResumeFailure): object {
  const frame = reason === undefined ? { type: 'error', code, message } : { type: 'error', code, reason, message };
  return ref === undefined ? frame : { ...frame, ref };
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

export function presenceFrame(event: 'online' | 'offline', nick: string, ts: number): object {
  return { type: 'presence', event, nick, ts };
}
