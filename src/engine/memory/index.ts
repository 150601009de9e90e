import { hostname } from 'node:os';
import { ChorusError } from '../../protocol/errors.js';
import { messageJson } from '../../protocol/encode.js';
import { userAddress, type Address, type Nick, type NickKey, type RoomKey } from '../../protocol/names.js';
import { IdClock, compareIds, conversationOf, dedupeWindowMs } from '../ids.js';
import { notHolder, shuttingDown } from '../refusals.js';
import { takeoverNotice } from '../takeover.js';
import { MemoryFiles } from './files.js';
import { MemoryAccounts } from './accounts.js';
import type {
  Bus, Claim, Draft, Engine, Envelope, History, OnlinePage, Online, Posted, Claims, Replayable, RoomJoin, Rooms, StoredMessage,
} from '../types.js';

/** The embedded engine: one process, no store to lose, every operation immediate. */
export function createMemoryEngine(opts: { historyLimit: number }): Engine {
  const bus = new MemoryBus();
  const presence = new MemoryPresence(bus);
  const history = new MemoryHistory(opts.historyLimit, bus, presence);
  const files = new MemoryFiles();
  const startedAt = Date.now();
  return {
    kind: 'memory',
    gateway: `${hostname()}-${process.pid}`,
    bus,
    // One process keeps claims, the online list and rooms in one place, seen through three interfaces.
    claims: presence,
    online: presence,
    rooms: presence,
    history,
    files,
    accounts: new MemoryAccounts(),
    up: true,
    onStatus: () => {},
    onOperation: () => {},
    // Nothing outlives the process: its start is when the data began.
    dataSince: async () => startedAt,
    start: async () => {},
    stop: async () => {
      presence.close();
      files.close();
    },
  };
}

class MemoryBus implements Bus {
  private readonly subscribed = new Set<Address>();
  private handler: (address: Address, env: Envelope) => void = () => {};

  async publish(address: Address, env: Envelope): Promise<void> {
    this.deliver(address, env);
  }

  /** Synchronous, so that a post is on every socket before its ack is written. */
  deliver(address: Address, env: Envelope): void {
    if (this.subscribed.has(address)) this.handler(address, env);
  }

  async subscribe(address: Address): Promise<void> {
    this.subscribed.add(address);
  }

  async unsubscribe(address: Address): Promise<void> {
    this.subscribed.delete(address);
  }

  onEnvelope(handler: (address: Address, env: Envelope) => void): void {
    this.handler = handler;
  }
}

interface Holder {
  session: string;
  /** The one connection that may release, detach, join or leave; a resume moves it. */
  conn: string;
  nick: Nick;
  /** Rooms kept while the user is away, so a resume gets them back. */
  rooms: Set<RoomKey>;
  /** Set while the user is away (detached): the nick is kept for a resume until it fires. */
  expiry?: NodeJS.Timeout;
}

/** What starts a `who` cursor of this engine, so one it did not make is told apart. */
const cursorMark = 'after:';

/** Pages in nick key order; the cursor names the last key of the page before, so a departure cannot shift it. */
function pageOf(nicks: ReadonlyMap<NickKey, Nick>, cursor: string | undefined, limit: number): OnlinePage {
  if (cursor !== undefined && !cursor.startsWith(cursorMark)) throw new ChorusError('bad_frame', 'that is not a cursor from an earlier who');
  const after = cursor?.slice(cursorMark.length);
  const keys = [...nicks.keys()].filter((k) => after === undefined || k > after).sort();
  const page = keys.slice(0, limit).map((k) => nicks.get(k)!);
  return keys.length > limit ? { nicks: page, next: cursorMark + keys[limit - 1]! } : { nicks: page };
}

class MemoryPresence implements Claims, Online, Rooms {
  private readonly holders = new Map<NickKey, Holder>();
  private readonly onlineNow = new Map<NickKey, Nick>();
  private readonly roomMembers = new Map<RoomKey, Map<NickKey, Nick>>();
  private closed = false;

  constructor(private readonly bus: MemoryBus) {}

  async claim(claim: Claim, mode: 'new' | 'resume', from = claim.session): Promise<boolean> {
    if (this.closed) throw shuttingDown();
    const held = this.holders.get(claim.key);
    const previous = held?.conn;
    if (mode === 'new') {
      if (held) return false;
      this.holders.set(claim.key, { session: claim.session, conn: claim.conn, nick: claim.nick, rooms: new Set() });
    } else {
      if (held?.session !== from) return false;
      held.session = claim.session;
      held.conn = claim.conn;
      clearTimeout(held.expiry);
      held.expiry = undefined;
      for (const room of held.rooms) this.membersOf(room).set(claim.key, held.nick);
    }
    this.onlineNow.set(claim.key, claim.nick);
    // Last: the bus hands it over at once, and whoever acts on it sees the claim complete.
    if (previous !== undefined && previous !== claim.conn) {
      this.bus.deliver(userAddress(claim.key), takeoverNotice(previous, Date.now()));
    }
    return true;
  }

  async release(claim: Claim): Promise<boolean> {
    const held = this.owned(claim);
    if (!held) return false;
    clearTimeout(held.expiry);
    this.goOffline(claim.key, held);
    this.holders.delete(claim.key);
    return true;
  }

  async detach(claim: Claim, graceMs: number): Promise<boolean> {
    const held = this.owned(claim);
    if (!held) return false;
    this.goOffline(claim.key, held);
    held.expiry = setTimeout(() => this.holders.delete(claim.key), graceMs);
    held.expiry.unref();
    return true;
  }

  async shownAs(key: NickKey): Promise<Nick | undefined> {
    return this.holders.get(key)?.nick;
  }

  /** One process has no other gateway to reap: every change here is a session's own. */
  onChange(): void {}

  async list(): Promise<Nick[]> {
    return [...this.onlineNow.values()];
  }

  async page(cursor: string | undefined, limit: number): Promise<OnlinePage> {
    return pageOf(this.onlineNow, cursor, limit);
  }

  async among(keys: readonly NickKey[]): Promise<NickKey[]> {
    return keys.filter((k) => this.onlineNow.has(k));
  }

  async count(): Promise<number> {
    return this.onlineNow.size;
  }

  async join(room: RoomKey, claim: Claim, listUpTo: number): Promise<RoomJoin> {
    if (this.closed) throw shuttingDown();
    const held = this.attached(claim);
    if (!held) throw notHolder();
    held.rooms.add(room);
    const members = this.membersOf(room);
    members.set(claim.key, claim.nick);
    return members.size > listUpTo ? { count: members.size } : { count: members.size, members: [...members.values()] };
  }

  async leave(room: RoomKey, claim: Claim): Promise<boolean> {
    const held = this.attached(claim);
    if (!held) throw notHolder();
    held.rooms.delete(room);
    const members = this.roomMembers.get(room);
    const was = members?.delete(claim.key) ?? false;
    if (members?.size === 0) this.roomMembers.delete(room);
    return was;
  }

  async members(room: RoomKey): Promise<Nick[]> {
    return [...(this.roomMembers.get(room)?.values() ?? [])];
  }

  async membersPage(room: RoomKey, cursor: string | undefined, limit: number): Promise<OnlinePage> {
    return pageOf(this.roomMembers.get(room) ?? new Map(), cursor, limit);
  }

  async size(room: RoomKey): Promise<number> {
    return this.roomMembers.get(room)?.size ?? 0;
  }

  async of(key: NickKey): Promise<RoomKey[]> {
    return [...(this.holders.get(key)?.rooms ?? [])];
  }

  isHeld(key: NickKey): boolean {
    return this.holders.has(key);
  }

  /** Whether this connection is in the room (one its session has left is not). */
  isMember(room: RoomKey, claim: Claim): boolean {
    return this.owned(claim) !== undefined && (this.roomMembers.get(room)?.has(claim.key) ?? false);
  }

  /** Refuses claims and joins from now on: the process ends with this engine, and every hold with it. */
  close(): void {
    this.closed = true;
    for (const held of this.holders.values()) clearTimeout(held.expiry);
  }

  private owned(claim: Claim): Holder | undefined {
    const held = this.holders.get(claim.key);
    return held?.session === claim.session && held.conn === claim.conn ? held : undefined;
  }

  /** Held by this connection and not away: a detached connection keeps the nick only for a resume elsewhere. */
  private attached(claim: Claim): Holder | undefined {
    const held = this.owned(claim);
    return held?.expiry === undefined ? held : undefined;
  }

  private membersOf(room: RoomKey): Map<NickKey, Nick> {
    let members = this.roomMembers.get(room);
    if (!members) this.roomMembers.set(room, (members = new Map()));
    return members;
  }

  private goOffline(key: NickKey, held: Holder): void {
    this.onlineNow.delete(key);
    for (const room of held.rooms) {
      const members = this.roomMembers.get(room);
      members?.delete(key);
      if (members?.size === 0) this.roomMembers.delete(room);
    }
  }
}

class MemoryHistory implements History {
  private readonly logs = new Map<string, Replayable[]>();
  private readonly ids = new IdClock();
  /**
   * Refs seen in the last minute, by target and ref (per target as the Redis engine must),
   * in arrival order: all expire after the same window.
   */
  private readonly refs = new Map<string, { posted: Posted; at: number }>();

  constructor(
    private readonly limit: number,
    private readonly bus: MemoryBus,
    private readonly presence: MemoryPresence,
  ) {}

  async post(draft: Draft): Promise<Posted> {
    const ref = draft.dedupe === undefined ? undefined : `${draft.to} ${draft.dedupe}`;
    const earlier = ref === undefined ? undefined : this.recall(ref, draft.ts);
    if (earlier) return { ...earlier, duplicate: true };
    const target = draft.to.slice(1) as NickKey & RoomKey;
    if (draft.to.startsWith('@') && !this.presence.isHeld(target)) {
      throw new ChorusError('no_such_user', `${draft.to} is not online`);
    }
    if (draft.to.startsWith('#') && !this.presence.isMember(draft.to as RoomKey, draft.from)) {
      throw new ChorusError('not_in_room', `join ${draft.to} before writing to it`);
    }
    const id = this.ids.next(draft.ts);
    const stored = { id, json: messageJson(id, draft.tail), from: draft.from.key };
    this.file(draft.to, stored);
    if (draft.to.startsWith('@')) this.file(conversationOf(draft.from.key, target), stored);
    const posted = { id, ts: draft.ts, duplicate: false };
    if (ref !== undefined) this.refs.set(ref, { posted, at: draft.ts });
    this.bus.deliver(draft.to, { id, ts: draft.ts, from: draft.from.key, line: Buffer.from(stored.json + '\n') });
    return posted;
  }

  async range(address: Address, viewer: NickKey, before: string | undefined, limit: number): Promise<StoredMessage[]> {
    const key = address.startsWith('@') ? conversationOf(viewer, address.slice(1)) : address;
    const log = this.logs.get(key) ?? [];
    const end = before === undefined ? log.length : log.findIndex((m) => compareIds(m.id, before) >= 0);
    const stop = end === -1 ? log.length : end;
    return log.slice(Math.max(0, stop - limit), stop);
  }

  async after(address: Address, id: string, limit: number): Promise<Replayable[]> {
    const log = this.logs.get(address) ?? [];
    const start = log.findIndex((m) => compareIds(m.id, id) > 0);
    return start === -1 ? [] : log.slice(start, start + limit);
  }

  isAfter(a: string, b: string): boolean {
    return compareIds(a, b) > 0;
  }

  private file(key: string, message: Replayable): void {
    if (this.limit === 0) return;
    let log = this.logs.get(key);
    if (!log) this.logs.set(key, (log = []));
    log.push(message);
    if (log.length > this.limit) log.splice(0, log.length - this.limit);
  }

  private recall(ref: string, now: number): Posted | undefined {
    for (const [key, seen] of this.refs) {
      if (now - seen.at < dedupeWindowMs) break;
      this.refs.delete(key);
    }
    return this.refs.get(ref)?.posted;
  }
}
