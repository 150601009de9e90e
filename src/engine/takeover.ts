import { encodeLine } from '../protocol/encode.js';
import type { Envelope } from './types.js';

/** What the connection a resume took the nick from says before it closes. */
export const takeoverLine = encodeLine({ type: 'bye', reason: 'moved' });

/**
 * The notice a resume publishes on the user's own channel, for the one connection that held
 * the nick before (`conn`): wherever that connection still is, its gateway says `bye` on it
 * and closes it, so that it neither receives the user's messages nor posts as the user. The
 * Redis claim script writes these very bytes (envelope.ts).
 */
export function takeoverNotice(conn: string, ts: number): Envelope {
  return { id: '', ts, from: '', conn, line: takeoverLine };
}
