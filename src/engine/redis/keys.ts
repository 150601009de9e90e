import type { Address, Nick, NickKey, RoomKey } from '../../protocol/names.js';
import { conversationOf } from '../ids.js';

/*
 * Every Redis key and channel name of the engine, built here and nowhere else.
 *
 * Redis Cluster puts a key in the slot of its first `{...}` hash tag, and a script or an
 * SPUBLISH may only touch one slot. So everything a post or a claim touches at once shares
 * a tag:
 *
 *   <prefix>{u:<nickkey>}:nick      string   "<session> <conn> <gateway>": who holds the nick
 *   <prefix>{u:<nickkey>}:rooms     set      room keys the user is in (kept through a grace period)
 *   <prefix>{u:<nickkey>}:account   hash     a registered nick: h password hash, e epoch, f failed
 *                                            logins in a row, t when the last failed (accounts.ts)
 *   <prefix>{u:<nickkey>}:log       stream   messages to @nickkey (what a resume replays): fields
 *                                            t tail, f sender's nick key, s ts (see backfill.ts)
 *   <prefix>{u:<nickkey>}:bus       channel  @nickkey (sharded on a cluster)
 *   <prefix>{u:<nickkey>}:probe     channel  never subscribed: on a cluster, SUNSUBSCRIBE of it
 *                                            is answered on the connection that carries :bus,
 *                                            after whatever was sent there before (bus.ts)
 *   <prefix>{u:<nickkey>}:ref:<d>   string   "<id> <ts>" of the post that carried dedupe ref <d>
 *   <prefix>{r:<roomkey>}:members   set      "<nick> <conn>" of each connection in the room (the post guard)
 *   <prefix>{r:<roomkey>}:log|:bus|:probe|:ref:<d>   as for users
 *   <prefix>{pub}:log|:bus|:probe|:ref:<d>           the public target `*`
 *   <prefix>{c:<a>|<b>}:log         stream   the private conversation of a and b, both directions
 *   <prefix>{online}                set      "<nick> <conn>" of each connection online now
 *   <prefix>{gateways}              set      ids of gateways that may hold users
 *   <prefix>{epoch}                 string   ms when this store's data began (epoch.ts)
 *   <prefix>{gw:<id>}:lease         string   present while the gateway is alive (PX lease)
 *   <prefix>{gw:<id>}:users         set      "<nickkey> <session> <conn> <nick>" of its live users
 *   <prefix>{gw:<id>}:reaping       string   lock held by the gateway cleaning up after a dead one
 *   <prefix>{gw:<id>}:reaped        string   set once it was cleaned up, so that if it was only cut
 *                                            off, it announces its users online again
 *   <prefix>{gw:<id>}:retired       string   set when it stopped on purpose, handing its users to a
 *                                            reaper: their reap is routine, not a failure
 *   <prefix>{f:<id>}:meta           hash     an offered file: from, fromKey, to, address, name, size,
 *                                            sha256, expires, state (PEXPIREAT expires)
 *   <prefix>{f:<id>}:chunks         list     its chunks' file_chunk JSON, index = seq (same expiry)
 *   <prefix>{f:<id>}:to             set      nick keys that were recipients when it was offered
 *   <prefix>{f:<id>}:answers        hash     nick key → accept | reject
 *   <prefix>{fq}:expiry             zset     ids of files counted against the quotas, by expiry
 *   <prefix>{fq}:sizes              hash     id → "<size> <sender key>"
 *   <prefix>{fq}:used               hash     sender key → bytes counted; "*" → the store's total
 *
 * Nick and room keys hold only letters, digits, `_`, `-`, `.` (and the room's `#`), never
 * `{`, `}`, `|` or a space, so they cannot break out of their tags or fields. Connection ids
 * hold no spaces either (the session makes them random, base64url).
 */
export interface Keys {
  nick(key: NickKey): string;
  /** The nick as its holder typed it (look-alikes share the key, not the spelling). */
  shown(key: NickKey): string;
  userRooms(key: NickKey): string;
  account(key: NickKey): string;
  members(room: RoomKey): string;
  /** The stream a message to `address` is filed in (the recipient's inbox for `@nick`). */
  log(address: Address): string;
  conversation(a: NickKey, b: NickKey): string;
  /** Lives in the target's slot, so the post script checks and sets it atomically. */
  ref(address: Address, dedupe: string): string;
  channel(address: Address): string;
  /** A channel in the slot of `address`'s channel that nobody subscribes to. */
  probe(address: Address): string;
  readonly online: string;
  readonly gateways: string;
  /** When this store's data began: written once, gone only with everything else (epoch.ts). */
  readonly epoch: string;
  lease(gateway: string): string;
  gatewayUsers(gateway: string): string;
  reaping(gateway: string): string;
  reaped(gateway: string): string;
  retired(gateway: string): string;
  /** The keys of one file, all in its own slot. */
  file(id: string): { meta: string; chunks: string; recipients: string; answers: string };
  /** The quota ledger, all in one slot so that a reservation is one atomic step. */
  readonly fileQuota: { expiry: string; sizes: string; used: string };
}

export function makeKeys(prefix: string): Keys {
  if (/[{}]/.test(prefix)) throw new Error(`the Redis key prefix may not hold "{" or "}": ${prefix}`);
  const user = (key: string) => `${prefix}{u:${key}}`;
  const room = (key: string) => `${prefix}{r:${key}}`;
  const gateway = (id: string) => `${prefix}{gw:${id}}`;
  const tagOf = (address: Address): string => {
    if (address === '*') return `${prefix}{pub}`;
    return address.startsWith('@') ? user(address.slice(1)) : room(address);
  };
  return {
    nick: (key) => `${user(key)}:nick`,
    shown: (key) => `${user(key)}:shown`,
    userRooms: (key) => `${user(key)}:rooms`,
    account: (key) => `${user(key)}:account`,
    members: (key) => `${room(key)}:members`,
    log: (address) => `${tagOf(address)}:log`,
    conversation: (a, b) => `${prefix}{c:${conversationOf(a, b)}}:log`,
    ref: (address, dedupe) => `${tagOf(address)}:ref:${dedupe}`,
    channel: (address) => `${tagOf(address)}:bus`,
    probe: (address) => `${tagOf(address)}:probe`,
    online: `${prefix}{online}`,
    gateways: `${prefix}{gateways}`,
    epoch: `${prefix}{epoch}`,
    lease: (id) => `${gateway(id)}:lease`,
    gatewayUsers: (id) => `${gateway(id)}:users`,
    reaping: (id) => `${gateway(id)}:reaping`,
    reaped: (id) => `${gateway(id)}:reaped`,
    retired: (id) => `${gateway(id)}:retired`,
    file: (id) => {
      const tag = `${prefix}{f:${id}}`;
      return { meta: `${tag}:meta`, chunks: `${tag}:chunks`, recipients: `${tag}:to`, answers: `${tag}:answers` };
    },
    fileQuota: { expiry: `${prefix}{fq}:expiry`, sizes: `${prefix}{fq}:sizes`, used: `${prefix}{fq}:used` },
  };
}

/** What a nick key holds while a connection has the nick. */
export function holderOf(session: string, conn: string, gateway: string): string {
  return `${session} ${conn} ${gateway}`;
}

/**
 * An entry of the online set or of a room's member set. One per connection rather than per
 * nick: these sets live in other slots than the nick key, so they are written in a second,
 * separate step, and a connection's late removal of its own entry must never take out the
 * entry of the connection the user resumed on meanwhile.
 */
export function presenceEntry(nick: string, conn: string): string {
  return `${nick} ${conn}`;
}

/** The nicks of presence entries, each once (while a resume replaces a connection, a user has two). */
export function nicksOf(entries: string[]): Nick[] {
  return [...new Set(entries.map((entry) => entry.slice(0, entry.indexOf(' '))))] as Nick[];
}

/** A gateway's users set member: enough to find the nick key, prove the holder and announce the nick. */
export function gatewayUser(user: GatewayUser): string {
  return `${user.key} ${user.session} ${user.conn} ${user.nick}`;
}

export interface GatewayUser {
  readonly key: NickKey;
  readonly session: string;
  readonly conn: string;
  readonly nick: string;
}

export function parseGatewayUser(member: string): GatewayUser | undefined {
  const [key, session, conn, nick] = member.split(' ');
  if (!key || !session || !conn || !nick) return undefined;
  return { key: key as NickKey, session, conn, nick };
}
