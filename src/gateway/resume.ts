import { randomBytes } from 'node:crypto';
import type { History, Replayable } from '../engine/types.js';
import { parseTarget, type Address } from '../protocol/names.js';

/** Resume replays read history in pages of this many messages. */
const replayPage = 500;

/*
 * A session token is `<secret>.<start>.<id>[.<epoch>]`, parts without dots:
 * - secret: random, new at every welcome, so that a token resumes once and a stolen old one
 *   is worth nothing;
 * - start: when the session began (base 36 ms), so a resume can replay targets the client
 *   never heard from; kept through every rotation;
 * - id: names the session through its rotations (the dedupe of repeated refs is per session);
 * - epoch: the account epoch (engine Account.epoch) the session was identified in, for a
 *   registered nick: a resume is as good as the password only while that password stands.
 * The server hands tokens out and compares them whole, so no part can be forged.
 * Tokens of earlier versions are `<secret>.<start>`: their secret is their id.
 */
interface TokenParts {
  readonly start: number;
  readonly id: string;
  readonly epoch: string;
}

function partsOf(token: string): TokenParts {
  const [secret = '', stamp = '', id = secret, epoch = ''] = token.split('.');
  const start = parseInt(stamp, 36);
  const dayAgo = Date.now() - 86_400_000;
  return { start: Number.isFinite(start) && start > dayAgo ? start : Date.now(), id, epoch };
}

/** When the session began, from its token's stamp (now, for a token without a usable one). */
export function sessionStart(token: string): number {
  return partsOf(token).start;
}

/** The token of a new session, or the next one of the session `previous` names (the resume's). */
export function newSessionToken(epoch: string, previous?: string): string {
  const { start, id } = previous === undefined ? { start: Date.now(), id: randomBytes(9).toString('base64url') } : partsOf(previous);
  const secret = randomBytes(18).toString('base64url');
  return [secret, start.toString(36), id, ...(epoch === '' ? [] : [epoch])].join('.');
}

/** What stays the same through every rotation of a session's token. */
export function sessionId(token: string): string {
  return partsOf(token).id;
}

/** The account epoch the token's session was identified in ('' when it was not). */
export function tokenEpoch(token: string): string {
  return partsOf(token).epoch;
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
  const since = `${partsOf(session).start}-0`;
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
