import { randomBytes } from 'node:crypto';
import type { History, Replayable } from '../engine/types.js';
import { parseTarget, type Address } from '../protocol/names.js';

/** Resume replays read history in pages of this many messages. */
const replayPage = 500;

/** Random, and stamped with its start so a resume can replay targets the client never heard from. */
export function newSessionToken(): string {
  return `${randomBytes(18).toString('base64url')}.${Date.now().toString(36)}`;
}

function sessionStart(session: string): number {
  const stamp = parseInt(session.split('.')[1] ?? '', 36);
  const dayAgo = Date.now() - 86_400_000;
  return Number.isFinite(stamp) && stamp > dayAgo ? stamp : Date.now();
}

/**
 * Where the replay of each address starts: the client's last id for it (keys folded, the
 * latest winning), or the start of the session for a target the client never heard from.
 */
export function replayCursors(addresses: Address[], last: Record<string, string>, session: string, history: History): Map<Address, string> {
  const given = new Map<Address, string>();
  for (const [target, id] of Object.entries(last)) {
    let address: Address;
    try {
      address = parseTarget(target).address;
    } catch {
      continue; // a target this server cannot name has nothing to replay
    }
    const known = given.get(address);
    if (known === undefined || history.isAfter(id, known)) given.set(address, id);
  }
  const since = `${sessionStart(session)}-0`;
  return new Map(addresses.map((a) => [a, given.get(a) ?? since]));
}

/**
 * Hands every message after each cursor to `write`, oldest first per address, waiting
 * whenever `backpressure` says the socket is full and stopping once `aborted`; returns how
 * far each address got, so that live copies of replayed messages can be dropped. Messages
 * from `self` are passed over: the client sent them, and live fan-out never echoes them
 * either (its cursor on a target stays behind its own posts, since it never receives them).
 */
export async function replay(
  cursors: Map<Address, string>,
  history: History,
  self: string,
  write: (message: Replayable) => void,
  backpressure: () => Promise<void> | undefined,
  aborted: () => boolean,
): Promise<Map<Address, string>> {
  const upTo = new Map<Address, string>();
  for (const [address, from] of cursors) {
    let cursor = from;
    for (;;) {
      if (aborted()) return upTo;
      const page = await history.after(address, cursor, replayPage);
      for (const m of page) {
        if (m.from === self) continue;
        write(m);
        const full = backpressure();
        if (full) await full;
      }
      if (page.length > 0) cursor = page[page.length - 1]!.id;
      if (page.length < replayPage) break;
    }
    upTo.set(address, cursor);
  }
  return upTo;
}
