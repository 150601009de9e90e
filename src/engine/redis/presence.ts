import type { Logger } from 'pino';
import type { Nick, NickKey, RoomKey } from '../../protocol/names.js';
import { sessionMoved } from '../takeover.js';
import type { Claim, Presence } from '../types.js';
import type { Client } from './connection.js';
import { gatewayUser, holderOf, nicksOf, presenceEntry, type Keys } from './keys.js';
import type { Operations } from './operations.js';
import { claimScript, detachScript, releaseScript, reclaimScript, userRoomScript } from './presence-scripts.js';

/** A claim this gateway holds for a connected session, and the rooms it is in. */
interface Live {
  readonly claim: Claim;
  readonly rooms: Set<RoomKey>;
}

/** A release or detach that Redis did not finish (it was down): done again on recovery. */
interface Unfinished {
  readonly claim: Claim;
  /** When the reservation ends for a detach; undefined for a release. */
  readonly until: number | undefined;
  /** The rooms the connection had entries in. */
  readonly rooms: Iterable<RoomKey>;
}

/** What release and detach scripts answer: whether this connection held the nick, and the user's rooms. */
type Outcome = [held: number, rooms: RoomKey[]];

/** Scripts per batch when many users are written at once (recovery, reaping). */
export const batchSize = 256;

/**
 * Cluster-wide presence. The nick key (one slot per user) is the truth about who holds a nick,
 * and which connection: only that one may release, detach, join or leave. The online set and
 * the room member sets live in other slots, so they follow it in a second step; their entries
 * are per connection (keys.ts presenceEntry), so that step can never undo a resume that came
 * in between. A gateway rewrites them from what it holds in memory whenever Redis lost them.
 */
export class RedisPresence implements Presence {
  private readonly live = new Map<NickKey, Live>();
  /** By connection id. */
  private readonly unfinished = new Map<string, Unfinished>();

  constructor(
    private readonly cmd: Client,
    private readonly keys: Keys,
    private readonly gateway: string,
    private readonly graceMs: number,
    private readonly ops: Operations,
    private readonly log: Logger,
  ) {}

  /** Whether anything here still needs this gateway's lease (or a reaper) to be cleaned up. */
  get holdsUsers(): boolean {
    return this.live.size > 0 || this.unfinished.size > 0;
  }

  claim(claim: Claim, mode: 'new' | 'resume'): Promise<boolean> {
    return this.ops.guarded('claim', async () => {
      const won = await claimScript.run(this.cmd, this.userKeys(claim), [mode, claim.session, this.holder(claim)]);
      if (!Array.isArray(won)) return false;
      const [previous, rooms] = won as [string, RoomKey[]];
      const live: Live = { claim, rooms: new Set(rooms) };
      this.live.set(claim.key, live);
      try {
        await Promise.all([
          this.goOnline(live),
          // The connection the session left may still be open, or its gateway dead: either
          // way its entries go now rather than whenever (if ever) it detaches.
          previous === '' || previous === claim.conn ? undefined : this.dropEntries(claim.nick, previous, rooms),
        ]);
      } catch (err) {
        // The nick is taken but the session will be told `unavailable`: give it up again
        // once Redis answers (a resume keeps its reservation, so the client can try again).
        this.live.delete(claim.key);
        this.remember({ claim, until: mode === 'new' ? undefined : Date.now() + this.graceMs, rooms });
        throw err;
      }
      return true;
    });
  }

  release(claim: Claim): Promise<boolean> {
    return this.finishOrRemember('release', claim, undefined);
  }

  detach(claim: Claim, graceMs: number): Promise<boolean> {
    return this.finishOrRemember('detach', claim, Date.now() + graceMs);
  }

  online(): Promise<Nick[]> {
    return this.ops.guarded('online', async () => nicksOf(await this.cmd.smembers(this.keys.online)));
  }

  /** Counts connections: for the moment a resume replaces one, a user counts twice. */
  count(): Promise<number> {
    return this.ops.guarded('count', () => this.cmd.scard(this.keys.online));
  }

  join(room: RoomKey, claim: Claim): Promise<Nick[]> {
    return this.ops.guarded('join', async () => {
      // Noted first: should the join fail half-way, the connection's cleanup still covers the room.
      this.liveOf(claim)?.rooms.add(room);
      const recorded = await userRoomScript.run(this.cmd, this.userKeys(claim), [this.holder(claim), 'SADD', room]);
      if (recorded === -1) throw sessionMoved();
      const members = this.keys.members(room);
      // One connection per node keeps SADD before SMEMBERS: the answer includes the user.
      const [, now] = await Promise.all([
        this.cmd.sadd(members, presenceEntry(claim.nick, claim.conn)),
        this.cmd.smembers(members),
      ]);
      return nicksOf(now);
    });
  }

  leave(room: RoomKey, claim: Claim): Promise<boolean> {
    return this.ops.guarded('leave', async () => {
      const recorded = await userRoomScript.run(this.cmd, this.userKeys(claim), [this.holder(claim), 'SREM', room]);
      if (recorded === -1) throw sessionMoved();
      const removed = await this.cmd.srem(this.keys.members(room), presenceEntry(claim.nick, claim.conn));
      this.liveOf(claim)?.rooms.delete(room);
      return removed === 1;
    });
  }

  members(room: RoomKey): Promise<Nick[]> {
    return this.ops.guarded('members', async () => nicksOf(await this.cmd.smembers(this.keys.members(room))));
  }

  rooms(key: NickKey): Promise<RoomKey[]> {
    return this.ops.guarded('rooms', async () => (await this.cmd.smembers(this.keys.userRooms(key))) as RoomKey[]);
  }

  /**
   * Takes one connection's entries off the online list and out of the rooms' member sets (a
   * reaper does this too). Safe whoever holds the nick now: no other connection's entry goes.
   */
  async dropEntries(nick: string, conn: string, rooms: Iterable<RoomKey>): Promise<void> {
    const entry = presenceEntry(nick, conn);
    await Promise.all([
      this.cmd.srem(this.keys.online, entry),
      ...[...rooms].map((room) => this.cmd.srem(this.keys.members(room), entry)),
    ]);
  }

  /**
   * After Redis came back (maybe empty) or this gateway's lease ran out: writes every live
   * claim back (nick key, rooms set, online set, member sets, this gateway's users set), then
   * finishes the releases and detaches that failed while Redis was away.
   */
  recover(reclaimed?: (claim: Claim) => Promise<void>): Promise<void> {
    return this.ops.time('recover', async () => {
      await inBatches([...this.live.values()], async (live) => {
        if ((await this.reclaim(live)) && reclaimed) await reclaimed(live.claim);
      });
      await inBatches([...this.unfinished.values()], async (owed) => {
        const until = owed.until === undefined ? undefined : Math.max(owed.until, Date.now() + 1);
        await this.finish(owed.claim, until, owed.rooms);
        if (this.unfinished.get(owed.claim.conn) === owed) this.unfinished.delete(owed.claim.conn);
      });
    });
  }

  /** True when the claim is this gateway's again. */
  private async reclaim(live: Live): Promise<boolean> {
    const { claim } = live;
    const ours = await reclaimScript.run(this.cmd, this.userKeys(claim), [this.holder(claim), ...live.rooms]);
    if (ours === 1) {
      await this.goOnline(live);
      return true;
    }
    // The session resumed on another connection, or this gateway was cut off longer than
    // the grace period and someone else took the nick.
    if (this.live.get(claim.key) === live) this.live.delete(claim.key);
    this.log.warn({ nick: claim.nick }, 'not writing back a claim: another connection holds the nick now');
    return false;
  }

  private async goOnline(live: Live): Promise<void> {
    const { claim } = live;
    const entry = presenceEntry(claim.nick, claim.conn);
    await Promise.all([
      this.cmd.sadd(this.keys.online, entry),
      this.cmd.sadd(this.keys.gatewayUsers(this.gateway), gatewayUser(claim)),
      ...[...live.rooms].map((room) => this.cmd.sadd(this.keys.members(room), entry)),
    ]);
  }

  /**
   * Release (until undefined) or detach until a deadline. The connection's own entries go
   * whether or not it still held the nick: they are its own, and nobody else removes them.
   */
  private async finish(claim: Claim, until: number | undefined, rooms: Iterable<RoomKey>): Promise<boolean> {
    const keys = this.userKeys(claim);
    const [held, current] = (
      until === undefined
        ? await releaseScript.run(this.cmd, keys, [this.holder(claim)])
        : await detachScript.run(this.cmd, keys, [this.holder(claim), Math.max(1, until - Date.now())])
    ) as Outcome;
    await Promise.all([
      this.dropEntries(claim.nick, claim.conn, new Set([...current, ...rooms])),
      this.cmd.srem(this.keys.gatewayUsers(this.gateway), gatewayUser(claim)),
    ]);
    return held === 1;
  }

  /**
   * A release or detach that fails (Redis down now, or mid-way) is still owed: the session is
   * gone, and without it the nick would stay held with nobody to let it go. Recovery does it.
   */
  private async finishOrRemember(op: string, claim: Claim, until: number | undefined): Promise<boolean> {
    const live = this.liveOf(claim);
    if (live) this.live.delete(claim.key);
    const rooms = live?.rooms ?? [];
    try {
      return await this.ops.guarded(op, () => this.finish(claim, until, rooms));
    } catch (err) {
      this.remember({ claim, until, rooms });
      throw err;
    }
  }

  private holder(claim: Claim): string {
    return holderOf(claim.session, claim.conn, this.gateway);
  }

  private userKeys(claim: Claim): string[] {
    return [this.keys.nick(claim.key), this.keys.userRooms(claim.key)];
  }

  /** The live claim of this very connection (not of another one of the same session). */
  private liveOf(claim: Claim): Live | undefined {
    const live = this.live.get(claim.key);
    return live?.claim.session === claim.session && live.claim.conn === claim.conn ? live : undefined;
  }

  private remember(owed: Unfinished): void {
    this.unfinished.set(owed.claim.conn, owed);
  }
}

export async function inBatches<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += batchSize) {
    await Promise.all(items.slice(i, i + batchSize).map(work));
  }
}
