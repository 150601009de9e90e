import type { Address, Nick, NickKey, RoomKey } from '../protocol/names.js';

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

export interface Presence {
  /**
   * Takes the nick cluster-wide, atomically: of many concurrent claims exactly one wins.
   * With `resume`, succeeds only while the nick is still reserved for `claim.session`, and
   * moves it to `claim.conn`: the connection that held it before loses it, and is sent a
   * takeover notice (Envelope.conn) on the user's address, wherever it is.
   * A successful claim also puts the user in the online list and, on resume, back in the
   * rooms it had. Throws ChorusError `unavailable` once the engine has begun to stop.
   */
  claim(claim: Claim, mode: 'new' | 'resume'): Promise<boolean>;
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
  /** Display nicks online now, cluster-wide. */
  online(): Promise<Nick[]>;
  count(): Promise<number>;
  /**
   * Adds the user to the room and returns its members, the user included. Throws a fatal
   * ChorusError `resume_failed` (and changes nothing) when this connection no longer holds
   * the nick (its session resumed elsewhere, or it detached or released it), as leave does.
   */
  join(room: RoomKey, claim: Claim): Promise<Nick[]>;
  /** False when the user was not in the room. */
  leave(room: RoomKey, claim: Claim): Promise<boolean>;
  members(room: RoomKey): Promise<Nick[]>;
  /** The rooms a user is in (restored by a resume claim). */
  rooms(key: NickKey): Promise<RoomKey[]>;
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
  after(address: Address, id: string, limit: number): Promise<StoredMessage[]>;
  /** Whether `a` sorts after `b` in this engine's id order. */
  isAfter(a: string, b: string): boolean;
}

export interface Engine {
  readonly kind: 'memory' | 'redis';
  /** This gateway's id, unique in the cluster (shown in `welcome.gateway`). */
  readonly gateway: string;
  readonly bus: Bus;
  readonly presence: Presence;
  readonly history: History;
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

