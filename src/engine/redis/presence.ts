import type { Logger } from 'pino';
import { userAddress, type Nick, type NickKey, type RoomKey } from '../../protocol/names.js';
import { notHolder, shuttingDown } from '../refusals.js';
import { takeoverLine } from '../takeover.js';
import type { Claim, Claims, OnlinePage, RoomJoin, Rooms } from '../types.js';
import type { Client } from './connection.js';
import { gatewayUser, holderOf, nicksOf, presenceEntry, type Keys } from './keys.js';
import { scanPage } from './online.js';
import { inBatches, type Operations } from './operations.js';
import { OwedWork, type Owed } from './owed.js';
import { claimScript, detachScript, releaseScript, reclaimScript, userRoomScript } from './presence-scripts.js';

export interface PresenceOptions {
  readonly cmd: Client;
  readonly keys: Keys;
  readonly gateway: string;
  /** How long a claim whose bookkeeping failed keeps a resumed nick reserved. */
  readonly graceMs: number;
  readonly ops: Operations;
  readonly log: Logger;
  /** What the claim script publishes a takeover notice with (the bus's publish command). */
  readonly publishCommand: 'PUBLISH' | 'SPUBLISH';
}

const shownTtlMs = 86_400_000;

/** A claim this gateway holds for a connected session, and the rooms it is in. */
interface Live {
  readonly claim: Claim;
  readonly rooms: Set<RoomKey>;
}

/** What release and detach scripts answer: whether this connection held the nick, and the user's rooms. */
type Outcome = [held: number, rooms: RoomKey[]];

/**
 * Cluster-wide presence. The nick key (one slot per user) is the truth about who holds a nick,
 * and which connection: only that one may release, detach, join or leave. The online set and
 * the room member sets live in other slots, so they follow it in a second step; their entries
 * are per connection (keys.ts presenceEntry), so that step can never undo a resume that came
 * in between. A gateway rewrites them from what it holds in memory whenever Redis lost them.
 */
export class RedisPresence implements Claims, Rooms {
  private readonly live = new Map<NickKey, Live>();
  private readonly owed: OwedWork;
  /** Claims, releases and detaches not answered yet. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(private readonly o: PresenceOptions) {
    this.owed = new OwedWork((owed) => this.finish(owed), o.ops, o.log);
  }

  /** Whether anything here still needs this gateway's lease (or a reaper) to be cleaned up. */
  get holdsUsers(): boolean {
    return this.live.size > 0 || this.owed.size > 0 || this.inFlight.size > 0;
  }

  claim(claim: Claim, mode: 'new' | 'resume', from = claim.session): Promise<boolean> {
    if (this.closed) return Promise.reject(shuttingDown());
    return this.track(this.o.ops.guarded('claim', () => this.take(claim, mode, from)));
  }

  release(claim: Claim): Promise<boolean> {
    return this.letGo('release', claim, undefined);
  }

  detach(claim: Claim, graceMs: number): Promise<boolean> {
    return this.letGo('detach', claim, Date.now() + graceMs);
  }

  shownAs(key: NickKey): Promise<Nick | undefined> {
    return this.o.ops.guarded('shown', async () => ((await this.o.cmd.get(this.o.keys.shown(key))) ?? undefined) as Nick | undefined);
  }

  join(room: RoomKey, claim: Claim, listUpTo: number): Promise<RoomJoin> {
    if (this.closed) return Promise.reject(shuttingDown());
    return this.o.ops.guarded('join', async () => {
      const live = this.attached(claim);
      // Noted first: should the join fail half-way, the connection's cleanup still covers the room.
      live.rooms.add(room);
      const recorded = await userRoomScript.run(this.o.cmd, this.userKeys(claim), [this.holder(claim), 'SADD', room]);
      if (recorded === -1) throw notHolder();
      const members = this.o.keys.members(room);
      // One connection per node keeps SADD before SCARD: the count includes the user.
      const [, count] = await Promise.all([
        this.o.cmd.sadd(members, presenceEntry(claim.nick, claim.conn)),
        this.o.cmd.scard(members),
      ]);
      if (count > listUpTo) return { count };
      const now = nicksOf(await this.o.cmd.smembers(members));
      return { count: now.length, members: now };
    });
  }

  leave(room: RoomKey, claim: Claim): Promise<boolean> {
    return this.o.ops.guarded('leave', async () => {
      const live = this.attached(claim);
      const recorded = await userRoomScript.run(this.o.cmd, this.userKeys(claim), [this.holder(claim), 'SREM', room]);
      if (recorded === -1) throw notHolder();
      const removed = await this.o.cmd.srem(this.o.keys.members(room), presenceEntry(claim.nick, claim.conn));
      live.rooms.delete(room);
      return removed === 1;
    });
  }

  members(room: RoomKey): Promise<Nick[]> {
    return this.o.ops.guarded('members', async () => nicksOf(await this.o.cmd.smembers(this.o.keys.members(room))));
  }

  membersPage(room: RoomKey, cursor: string | undefined, limit: number): Promise<OnlinePage> {
    return scanPage(this.o.cmd, this.o.ops, this.o.keys.members(room), cursor, limit);
  }

  size(room: RoomKey): Promise<number> {
    return this.o.ops.guarded('size', () => this.o.cmd.scard(this.o.keys.members(room)));
  }

  of(key: NickKey): Promise<RoomKey[]> {
    return this.o.ops.guarded('rooms', async () => (await this.o.cmd.smembers(this.o.keys.userRooms(key))) as RoomKey[]);
  }

  /**
   * Takes one connection's entries off the online list and out of the rooms' member sets (a
   * reaper does this too). Safe whoever holds the nick now: no other connection's entry goes.
   */
  async dropEntries(nick: string, conn: string, rooms: Iterable<RoomKey>): Promise<void> {
    const entry = presenceEntry(nick, conn);
    await Promise.all([
      this.o.cmd.srem(this.o.keys.online, entry),
      ...[...rooms].map((room) => this.o.cmd.srem(this.o.keys.members(room), entry)),
    ]);
  }

  /**
   * After Redis came back (maybe empty) or this gateway's lease ran out: writes every live
   * claim back (nick key, rooms set, online set, member sets, this gateway's users set), then
   * finishes the releases and detaches still owed.
   */
  recover(reclaimed?: (claim: Claim) => Promise<void>): Promise<void> {
    return this.o.ops.time('recover', async () => {
      await inBatches([...this.live.values()], async (live) => {
        if ((await this.reclaim(live)) && reclaimed) await reclaimed(live.claim);
      });
      await this.owed.settleAll();
    });
  }

  /** Tries every owed release and detach once; throws the first failure (the rest stay owed). */
  finishOwed(): Promise<void> {
    return this.owed.settleAll();
  }

  /** The engine is stopping: no claim or join is taken from now on, and owed work is not retried. */
  close(): void {
    this.closed = true;
    this.owed.close();
  }

  /** Resolves once no claim, release or detach is in flight: then holdsUsers is the whole truth. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async take(claim: Claim, mode: 'new' | 'resume', from: string): Promise<boolean> {
    // What this very connection still owes from an earlier attempt names the same holder:
    // run later, it would undo this claim. It goes first.
    const earlier = this.owed.of(claim.conn);
    if (earlier) await this.owed.settle(earlier);
    const users = this.o.keys.gatewayUsers(this.o.gateway);
    const member = gatewayUser(claim);
    // Listed before the nick is taken: should this gateway die from here on, a reaper finds
    // the user (an entry for a nick held by someone else is harmless: reapers check the holder).
    await this.o.cmd.sadd(users, member);
    const giveUp: Owed = { claim, until: mode === 'new' ? undefined : Date.now() + this.o.graceMs, rooms: [] };
    let won: unknown;
    try {
      won = await claimScript.run(
        this.o.cmd,
        [...this.userKeys(claim), this.o.keys.channel(userAddress(claim.key))],
        [mode, from, this.holder(claim), Date.now(), this.o.publishCommand, takeoverLine.toString()],
      );
    } catch (err) {
      // No answer, yet the script may have run: give the nick up again, as after a drop.
      this.owe(giveUp);
      throw err;
    }
    if (!Array.isArray(won)) {
      await this.o.cmd.srem(users, member);
      return false;
    }
    const [previous, rooms] = won as [string, RoomKey[]];
    const live: Live = { claim, rooms: new Set(rooms) };
    this.live.set(claim.key, live);
    try {
      await Promise.all([
        this.goOnline(live, false),
        // The connection the session left may still be open, or its gateway dead: either
        // way its entries go now rather than whenever (if ever) it detaches.
        previous === '' || previous === claim.conn ? undefined : this.dropEntries(claim.nick, previous, rooms),
      ]);
    } catch (err) {
      // The nick is taken but the session will be told `unavailable`: give it up again (a
      // resume keeps its reservation, so the client can try again).
      if (this.live.get(claim.key) === live) this.live.delete(claim.key);
      this.owe({ ...giveUp, rooms });
      throw err;
    }
    return true;
  }

  /** True when the claim is this gateway's again. */
  private async reclaim(live: Live): Promise<boolean> {
    const { claim } = live;
    const ours = await reclaimScript.run(this.o.cmd, this.userKeys(claim), [this.holder(claim), ...live.rooms]);
    if (ours === 1) {
      await this.goOnline(live, true);
      return true;
    }
    // The session resumed on another connection, or this gateway was cut off longer than
    // the grace period and someone else took the nick.
    if (this.live.get(claim.key) === live) this.live.delete(claim.key);
    this.o.log.warn({ nick: claim.nick }, 'not writing back a claim: another connection holds the nick now');
    return false;
  }

  /** Lists the claim's connection online and in its rooms; `relist`: in this gateway's users set too (a claim took care of that first). */
  private async goOnline(live: Live, relist: boolean): Promise<void> {
    const { claim } = live;
    const entry = presenceEntry(claim.nick, claim.conn);
    await Promise.all([
      this.o.cmd.sadd(this.o.keys.online, entry),
      relist ? this.o.cmd.sadd(this.o.keys.gatewayUsers(this.o.gateway), gatewayUser(claim)) : undefined,
      // Only read while the nick is held, and written by every claim: a day bounds what a
      // nick nobody takes again leaves behind.
      this.o.cmd.set(this.o.keys.shown(claim.key), claim.nick, 'PX', shownTtlMs),
      ...[...live.rooms].map((room) => this.o.cmd.sadd(this.o.keys.members(room), entry)),
    ]);
  }

  /**
   * The session is done with the connection: whatever happens to this attempt, the release or
   * detach is owed from now until Redis confirms it.
   */
  private letGo(op: string, claim: Claim, until: number | undefined): Promise<boolean> {
    const live = this.liveOf(claim);
    if (live) this.live.delete(claim.key);
    const owed: Owed = { claim, until, rooms: live?.rooms ?? [] };
    this.owed.record(owed);
    const attempt = this.o.ops.guarded(op, () => this.owed.settle(owed));
    attempt.catch(() => this.owed.retrySoon());
    return this.track(attempt);
  }

  private owe(owed: Owed): void {
    this.owed.record(owed);
    this.owed.retrySoon();
  }

  /**
   * Release (until undefined) or detach until a deadline (at once if it passed). The
   * connection's own entries go whether or not it still held the nick: they are its own, and
   * nobody else removes them.
   */
  private async finish({ claim, until, rooms }: Owed): Promise<boolean> {
    const keys = this.userKeys(claim);
    const [held, current] = (
      until === undefined
        ? await releaseScript.run(this.o.cmd, keys, [this.holder(claim)])
        : await detachScript.run(this.o.cmd, keys, [this.holder(claim), Math.max(1, until - Date.now())])
    ) as Outcome;
    await this.dropEntries(claim.nick, claim.conn, new Set([...current, ...rooms]));
    // Unlisted last: until its entries are gone, a reaper must still find the user.
    await this.o.cmd.srem(this.o.keys.gatewayUsers(this.o.gateway), gatewayUser(claim));
    return held === 1;
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    const done = () => this.inFlight.delete(work);
    work.then(done, done);
    return work;
  }

  private holder(claim: Claim): string {
    return holderOf(claim.session, claim.conn, this.o.gateway);
  }

  private userKeys(claim: Claim): string[] {
    return [this.o.keys.nick(claim.key), this.o.keys.userRooms(claim.key)];
  }

  /** The live claim of this very connection (not of another one of the same session). */
  private liveOf(claim: Claim): Live | undefined {
    const live = this.live.get(claim.key);
    return live?.claim.session === claim.session && live.claim.conn === claim.conn ? live : undefined;
  }

  /**
   * Joins and leaves need a connection that holds the nick now: not one its session left, nor
   * one that detached or released it (the nick key names it while the nick is reserved).
   */
  private attached(claim: Claim): Live {
    const live = this.liveOf(claim);
    if (!live) throw notHolder();
    return live;
  }
}
