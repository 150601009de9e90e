import { ChorusError } from './errors.js';
import { skeleton } from './skeleton.js';

/** A nick as first typed, NFC-normalised: what people see. */
export type Nick = string & { readonly brand: 'Nick' };
/** A nick case-folded: what uniqueness, channels and keys use. */
export type NickKey = string & { readonly brand: 'NickKey' };
/** `#` and a room name as first typed. */
export type Room = string & { readonly brand: 'Room' };
/** A room case-folded. */
export type RoomKey = string & { readonly brand: 'RoomKey' };

/**
 * Where a message goes and where it is filed: `*` (everyone), `@nickkey` (one user's
 * inbox) or `#roomkey` (a room). Channels and history streams are keyed by it.
 */
export type Address = '*' | `@${string}` | `#${string}`;

export type Target =
  | { kind: 'public'; address: '*' }
  | { kind: 'private'; nick: Nick; key: NickKey; address: Address }
  | { kind: 'room'; room: Room; key: RoomKey; address: Address };

const nickChars = /^[\p{L}\p{N}_.-]+$/u;
/**
 * Letters that show as nothing (the Hangul fillers are letters to Unicode, U+3164 among
 * them) and bidi controls: a nick holding one looks like another nick, or like none.
 */
const invisible = /[\p{Default_Ignorable_Code_Point}\p{Bidi_Control}]/u;
const letterOrDigit = /[\p{L}\p{N}]/u;
const maxNickChars = 32;
const maxRoomChars = 64;

/** Case folding that treats `Quang` and `quang` (and `STRASSE`, `straße`) alike. */
function fold(s: string): string {
  return s.normalize('NFC').toLowerCase().replace(/ß/g, 'ss').normalize('NFC');
}

function charCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

export function parseNick(raw: unknown): Nick {
  if (typeof raw !== 'string') throw new ChorusError('bad_nick', 'nick must be a string');
  const nick = raw.normalize('NFC');
  const len = charCount(nick);
  if (len < 1 || len > maxNickChars) {
    throw new ChorusError('bad_nick', `nick must be 1 to ${maxNickChars} characters`);
  }
  if (!nickChars.test(nick) || invisible.test(nick)) {
    throw new ChorusError('bad_nick', 'nick may hold only visible letters, digits, "_", "-" and "."');
  }
  if (!letterOrDigit.test(nick)) throw new ChorusError('bad_nick', 'nick needs at least one letter or digit');
  return nick as Nick;
}

/**
 * What makes two nicks one: the Unicode TR39 skeleton of the nick's compatibility
 * case-folded form, so that look-alikes (Cyrillic `аnn`, fullwidth `ａｎｎ`, math bold `𝐚𝐧𝐧`)
 * are the same nick as `ann` for uniqueness, addressing and accounts.
 */
export function nickKey(nick: Nick): NickKey {
  return skeleton(fold(nick.normalize('NFKC'))) as NickKey;
}

/** Two nicks that are one nick (same key) without being spelled alike: a look-alike of the other. */
export function looksLike(nick: Nick, other: Nick): boolean {
  return nickKey(nick) === nickKey(other) && fold(nick) !== fold(other);
}

export function parseRoom(raw: unknown): Room {
  if (typeof raw !== 'string' || !raw.startsWith('#')) {
    throw new ChorusError('bad_target', 'a room is "#" followed by its name');
  }
  const room = raw.normalize('NFC');
  const name = room.slice(1);
  const len = charCount(name);
  if (len < 1 || len > maxRoomChars || !nickChars.test(name)) {
    throw new ChorusError(
      'bad_target',
      `a room name is 1 to ${maxRoomChars} letters, digits, "_", "-" or "."`,
    );
  }
  return room as Room;
}

export function roomKey(room: Room): RoomKey {
  return fold(room) as RoomKey;
}

export function userAddress(key: NickKey): Address {
  return `@${key}`;
}

export function roomAddress(key: RoomKey): Address {
  return key as Address;
}

/**
 * Where gateways publish their presence batches to one another (never a client's target:
 * no room name holds `~`, so nobody can join it or post to it).
 */
export const presenceAddress: Address = '#~presence';

export function parseTarget(raw: unknown): Target {
  if (raw === '*') return { kind: 'public', address: '*' };
  if (typeof raw === 'string' && raw.startsWith('@')) {
    let nick: Nick;
    try {
      nick = parseNick(raw.slice(1));
    } catch {
      throw new ChorusError('bad_target', `"${raw.slice(0, 40)}" is not a valid @nick`);
    }
    const key = nickKey(nick);
    return { kind: 'private', nick, key, address: userAddress(key) };
  }
  if (typeof raw === 'string' && raw.startsWith('#')) {
    const room = parseRoom(raw);
    const key = roomKey(room);
    return { kind: 'room', room, key, address: roomAddress(key) };
  }
  throw new ChorusError('bad_target', 'a target is "*", "@nick" or "#room"');
}

/** The text of a target as written on the wire: `*`, `@Nick`, `#Room`. */
export function targetText(t: Target): string {
  if (t.kind === 'public') return '*';
  return t.kind === 'private' ? `@${t.nick}` : t.room;
}
