import type { Address, Nick, NickKey, RoomKey } from '../protocol/names.js';
import type { FileStore } from './file-store.js';

/**
 * What travels on the bus: a frame encoded once by the gateway that made it, plus the
 * few facts local fan-out needs without parsing it again.
 */
export interface Envelope {
  /** The message id for `msg` frames (resume skips what it already replayed); '' otherwise. */
  readonly id: string;
  /** When the accepting gateway stamped it, ms since epoch: delivery latency starts here. */
  readonly ts: number;
  /** Case-folded nick the frame is about (sender, or subject of a presence change): not echoed to it. */
  readonly from: string;
  /** The encoded JSON frame, ending in '\n'. */
  readonly line: Buffer;
  /**
   * Set on a takeover notice only: the one connection it is for (the connection a resume
   * took the nick from), which must say `line` (a bye) and close. Everyone else ignores it.
   */
  readonly conn?: string;
}

/** Publish/subscribe between gateways. Subscriptions are per gateway, not per session. */
export interface Bus {
  publish(address: Address, env: Envelope): Promise<void>;
  subscribe(address: Address): Promise<void>;
  unsubscribe(address: Address): Promise<void>;
  /** The one handler every envelope on a subscribed address goes to. */
  onEnvelope(handler: (address: Address, env: Envelope) => void): void;
}

/**
 * A user's hold on a nick: the session token proves it on resume; `conn` names the one
 * connection that holds it now, so a late detach from a connection the session has since
 * left (resumed elsewhere) changes nothing.
 */
export interface Claim {
  readonly key: NickKey;
  readonly nick: Nick;
  readonly session: string;
  readonly conn: string;
}

/**
 * A user going online or offline by the engine's own doing, not a session's: a dead gateway's
 * users reaped (offline), or this gateway's users written back after it was reaped (online).
 * The gateway's announcer publishes these with its sessions' own changes: one owner.
 */
export interface PresenceChange {
  readonly event: 'online' | 'offline';
  readonly nick: Nick;
  readonly key: NickKey;
}

export interface OnlinePage {
  readonly nicks: Nick[];
  readonly next?: string;
}

/**
 * Nick claims: who holds a nick, cluster-wide, and which connection. Only the holding
 * connection may let it go, or join and leave rooms (Rooms).
 */
export interface Claims {
  /**
   * Takes the nick cluster-wide, atomically: of many concurrent claims exactly one wins.
   * With `resume`, succeeds only while the nick is still reserved for the session `from`
   * (default `claim.session`), and moves it to `claim.session` (the rotated token) and
   * `claim.conn` in the same step, so the old token resumes nothing any more: the connection that held it before loses it, and is sent a
   * takeover notice (Envelope.conn) on the user's address, wherever it is.
   * A successful claim also puts the user in the online list and, on resume, back in the
   * rooms it had. Throws ChorusError `unavailable` once the engine has begun to stop.
   */
  claim(claim: Claim, mode: 'new' | 'resume', from?: string): Promise<boolean>;
  /**
   * The user said bye: nick, online entry and room memberships go now. False (and nothing
   * changes) when this connection no longer holds the nick.
   */
  release(claim: Claim): Promise<boolean>;
  /**
   * The connection dropped: offline now, but nick and rooms stay reserved for `graceMs`.
   * False (and nothing changes) when this connection no longer holds the nick.
   */
  detach(claim: Claim, graceMs: number): Promise<boolean>;
  /**
   * The nick as the user who holds `key` typed it, if anyone does: a look-alike (same key,
   * another spelling) is told whom it looks like.
   */
  shownAs(key: NickKey): Promise<Nick | undefined>;
}

/** The online list, cluster-wide: who is connected now (a claim puts them there, a detach or release takes them off). */
export interface Online {
  /** Display nicks online now. */
  list(): Promise<Nick[]>;
  /**
   * One page of the online list: about `limit` nicks (an engine may return a few more), and
   * the cursor of the next page, absent on the last. Every nick online throughout the paging
   * is on some page; one that came or went meanwhile may or may not be. Throws ChorusError
   * `bad_frame` for a cursor this engine did not make.
   */
  page(cursor: string | undefined, limit: number): Promise<OnlinePage>;
  /** Of these users, the ones online now (not away in a grace period): what a watch list starts from. */
  among(keys: readonly NickKey[]): Promise<NickKey[]>;
  count(): Promise<number>;
  /** The one handler of the changes the engine makes on its own (see PresenceChange). */
  onChange(handler: (change: PresenceChange) => void): void;
}

export interface RoomJoin {
  readonly count: number;
  /** Absent when the room holds more than the join's `listUpTo`. */
  readonly members?: Nick[];
}

/** Room membership: kept through a grace period with the nick, given back by a resume claim. */
export interface Rooms {
  /**
   * Adds the user to the room; answers how many are in it now, the user included, and who,
   * when they are at most `listUpTo` (a big room's list is never fetched). Throws a fatal
   * ChorusError `resume_failed` (and changes nothing) when this connection no longer holds
   * the nick (its session resumed elsewhere, or it detached or released it), as leave does.
   */
  join(room: RoomKey, claim: Claim, listUpTo: number): Promise<RoomJoin>;
  /** False when the user was not in the room. */
  leave(room: RoomKey, claim: Claim): Promise<boolean>;
  members(room: RoomKey): Promise<Nick[]>;
  /** One page of the room's members, as Online.page pages the online list. */
  membersPage(room: RoomKey, cursor: string | undefined, limit: number): Promise<OnlinePage>;
  /** How many are in the room (connections: for the moment a resume replaces one, a user counts twice). */
  size(room: RoomKey): Promise<number>;
  /** The rooms a user is in (restored by a resume claim). */
  of(key: NickKey): Promise<RoomKey[]>;
}

/** A message about to be posted; `tail` is from protocol/encode messageTail. */
export interface Draft {
  /** Where it is delivered and filed: `*`, `@recipient` or `#room`. */
  readonly to: Address;
  readonly from: Claim;
  readonly ts: number;
  readonly tail: string;
  /**
   * Session-scoped ref: a repeat to the same target within a minute gets the first post back
   * instead of a second one. Per target because the Redis engine keeps the ref in the
   * target's slot, where the post script checks and sets it in the same atomic step; the
   * same ref to another target is another message.
   */
  readonly dedupe?: string;
}

export interface Posted {
  readonly id: string;
  readonly ts: number;
  /** True when `dedupe` matched an earlier post: nothing was delivered this time. */
  readonly duplicate: boolean;
}

/** A stored `msg` frame as JSON (no newline). */
export interface StoredMessage {
  readonly id: string;
  readonly json: string;
}

/** A message a resume may replay: who sent it too, since a sender is not sent its own. */
export interface Replayable extends StoredMessage {
  /** Case-folded nick of the sender (Envelope.from). */
  readonly from: string;
}

export interface History {
  /**
   * Assigns the id, files the message (unless history is off) and publishes it on the
   * channel of `to`, in one step: subscribers see each target's messages in id order.
   * Resolves once filed, which is when the sender may be acked. Throws ChorusError
   * `no_such_user` (private, nobody holds the nick) or `not_in_room` (room, the sender's
   * connection is not a member: nor is one its session has left).
   * Private messages are also filed in the sender's and recipient's conversation.
   */
  post(draft: Draft): Promise<Posted>;
  /** History to show, oldest first, `limit` messages before `before`. For `@peer`, `viewer`'s conversation with peer. */
  range(address: Address, viewer: NickKey, before: string | undefined, limit: number): Promise<StoredMessage[]>;
  /** What was delivered on `address` after `id`, oldest first, at most `limit`: what a resume replays. */
  after(address: Address, id: string, limit: number): Promise<Replayable[]>;
  /** Whether `a` sorts after `b` in this engine's id order. */
  isAfter(a: string, b: string): boolean;
}

/** A registered nick: what it takes to say hello with it. */
export interface Account {
  /** The password hash, self-describing (gateway/password.ts), so parameters can change later. */
  readonly hash: string;
  /** Changes whenever the password is set or dropped: a session token names the epoch it was identified in. */
  readonly epoch: string;
  /** Failed logins in a row, and when the last one was (ms since epoch): the back-off. */
  readonly failures: number;
  readonly failedAt: number;
  /** The nick as it was registered (accounts from before this field have none). */
  readonly nick?: Nick;
}

/** Registered nicks, cluster-wide, by case-folded nick key. */
export interface Accounts {
  get(key: NickKey): Promise<Account | undefined>;
  /** Sets (or changes) the password of `nick`: a new epoch, and the failure count starts over. */
  set(key: NickKey, hash: string, epoch: string, nick: Nick): Promise<void>;
  /** Replaces the hash (stronger parameters) unless the password changed meanwhile (another epoch). */
  rehash(key: NickKey, epoch: string, hash: string): Promise<boolean>;
  /** Drops the account, unless its password changed meanwhile (another epoch). */
  delete(key: NickKey, epoch: string): Promise<boolean>;
  /** Counts a failed login at `at`; resolves with the failures in a row (0: no such account). */
  failed(key: NickKey, at: number): Promise<number>;
  /** A good login: the back-off starts over. */
  succeeded(key: NickKey): Promise<void>;
}

export interface Engine {
  readonly kind: 'memory' | 'redis';
  /** This gateway's id, unique in the cluster (shown in `welcome.gateway`). */
  readonly gateway: string;
  readonly bus: Bus;
  readonly claims: Claims;
  readonly online: Online;
  readonly rooms: Rooms;
  readonly history: History;
  /** Offered files and their bytes (file transfer). */
  readonly files: FileStore;
  readonly accounts: Accounts;
  /** Whether the store is reachable now; while false every write fails `unavailable`. */
  readonly up: boolean;
  onStatus(handler: (up: boolean) => void): void;
  /** Records how long one store operation took (the gateway wires this to its metrics). */
  onOperation(handler: (op: string, seconds: number) => void): void;
  /**
   * When the store's data began (ms since 1970): first start, or the last time it came back
   * empty (a Redis restarted without persistence, the memory engine's process start). A
   * session older than this had its history and presence wiped.
   */
  dataSince(): Promise<number>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

