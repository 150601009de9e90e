import type { Logger } from 'pino';
import type { Nick, NickKey, RoomKey } from '../../protocol/names.js';
import type { Claim, Presence } from '../types.js';
import type { Client } from './connection.js';
import { gatewayUser, type Keys } from './keys.js';
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
}

/** Scripts per batch when many users are written at once (recovery, reaping). */
export const batchSize = 256;

/**
 * Cluster-wide presence. The nick key (one slot per user) is the truth about who holds a nick;
 * the online set and the room member sets live in other slots, so they follow it in a second
 * step, and a gateway rewrites them from what it holds in memory whenever Redis lost them.
 */
export class RedisPresence implements Presence {
  private readonly live = new Map<NickKey, Live>();
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
      const rooms = await claimScript.run(this.cmd, this.userKeys(claim), [mode, claim.session, this.gateway]);
      if (!Array.isArray(rooms)) return false;
      // A resume that succeeds now supersedes what a failed attempt left to finish.
      this.unfinished.delete(claim.session);
      const live: Live = { claim, rooms: new Set(rooms as RoomKey[]) };
      this.live.set(claim.key, live);
      try {
        await this.goOnline(live);
      } catch (err) {
        // The nick is taken but the session will be told `unavailable`: give it up again
        // once Redis answers (a resume keeps its reservation, so the client can try again).
        this.live.delete(claim.key);
        this.remember(claim, mode === 'new' ? undefined : Date.now() + this.graceMs);
        throw err;
      }
      return true;
    });
  }

  release(claim: Claim): Promise<void> {
    return this.finishOrRemember('release', claim, undefined);
  }

  detach(claim: Claim, graceMs: number): Promise<void> {
    return this.finishOrRemember('detach', claim, Date.now() + graceMs);
  }

  online(): Promise<Nick[]> {
    return this.ops.guarded('online', async () => (await this.cmd.smembers(this.keys.online)) as Nick[]);
  }

  count(): Promise<number> {
    return this.ops.guarded('count', () => this.cmd.scard(this.keys.online));
  }

  join(room: RoomKey, claim: Claim): Promise<Nick[]> {
    return this.ops.guarded('join', async () => {
      const members = this.keys.members(room);
      // One connection per node keeps SADD before SMEMBERS: the answer includes the user.
      const [, , now] = await Promise.all([
        userRoomScript.run(this.cmd, this.userKeys(claim), [claim.session, this.gateway, 'SADD', room]),
        this.cmd.sadd(members, claim.nick),
        this.cmd.smembers(members),
      ]);
      this.liveOf(claim)?.rooms.add(room);
      return now as Nick[];
    });
  }

  leave(room: RoomKey, claim: Claim): Promise<boolean> {
    return this.ops.guarded('leave', async () => {
      const [, removed] = await Promise.all([
        userRoomScript.run(this.cmd, this.userKeys(claim), [claim.session, this.gateway, 'SREM', room]),
        this.cmd.srem(this.keys.members(room), claim.nick),
      ]);
      this.liveOf(claim)?.rooms.delete(room);
      return removed === 1;
    });
  }

  members(room: RoomKey): Promise<Nick[]> {
    return this.ops.guarded('members', async () => (await this.cmd.smembers(this.keys.members(room))) as Nick[]);
  }

  rooms(key: NickKey): Promise<RoomKey[]> {
    return this.ops.guarded('rooms', async () => (await this.cmd.smembers(this.keys.userRooms(key))) as RoomKey[]);
  }

  /** Takes a user off the online list and out of its rooms' member sets (a reaper does this too). */
  async goOffline(nick: string, rooms: string[]): Promise<void> {
    await Promise.all([
      this.cmd.srem(this.keys.online, nick),
      ...rooms.map((room) => this.cmd.srem(this.keys.members(room as RoomKey), nick)),
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
      await inBatches([...this.unfinished.entries()], async ([session, { claim, until }]) => {
        await this.finish(claim, until === undefined ? undefined : Math.max(until, Date.now() + 1));
        if (this.unfinished.get(session)?.until === until) this.unfinished.delete(session);
      });
    });
  }

  /** True when the claim is this gateway's again. */
  private async reclaim(live: Live): Promise<boolean> {
    const { claim } = live;
    const ours = await reclaimScript.run(this.cmd, this.userKeys(claim), [claim.session, this.gateway, ...live.rooms]);
    if (ours === 1) {
      await this.goOnline(live);
      return true;
    }
    // Only when this gateway was cut off longer than the grace period and someone else took the nick.
    if (this.live.get(claim.key) === live) this.live.delete(claim.key);
    this.log.warn({ nick: claim.nick }, 'lost a claim while the store was unreachable: the nick is held elsewhere now');
    return false;
  }

  private async goOnline(live: Live): Promise<void> {
    const { claim } = live;
    await Promise.all([
      this.cmd.sadd(this.keys.online, claim.nick),
      this.cmd.sadd(this.keys.gatewayUsers(this.gateway), gatewayUser(claim.key, claim.session, claim.nick)),
      ...[...live.rooms].map((room) => this.cmd.sadd(this.keys.members(room), claim.nick)),
    ]);
  }

  /** Release (until undefined) or detach until a deadline; nothing when the session no longer holds the nick here. */
  private async finish(claim: Claim, until: number | undefined): Promise<void> {
    const keys = this.userKeys(claim);
    const rooms =
      until === undefined
        ? await releaseScript.run(this.cmd, keys, [claim.session, this.gateway])
        : await detachScript.run(this.cmd, keys, [claim.session, this.gateway, Math.max(1, until - Date.now())]);
    if (!Array.isArray(rooms)) return;
    await Promise.all([
      this.goOffline(claim.nick, rooms as string[]),
      this.cmd.srem(this.keys.gatewayUsers(this.gateway), gatewayUser(claim.key, claim.session, claim.nick)),
    ]);
  }

  /**
   * A release or detach that fails (Redis down now, or mid-way) is still owed: the session is
   * gone, and without it the nick would stay held with nobody to let it go. Recovery does it.
   */
  private async finishOrRemember(op: string, claim: Claim, until: number | undefined): Promise<void> {
    this.forget(claim);
    try {
      await this.ops.guarded(op, () => this.finish(claim, until));
    } catch (err) {
      this.remember(claim, until);
      throw err;
    }
  }

  private userKeys(claim: Claim): string[] {
    return [this.keys.nick(claim.key), this.keys.userRooms(claim.key)];
  }

  private liveOf(claim: Claim): Live | undefined {
    const live = this.live.get(claim.key);
    return live?.claim.session === claim.session ? live : undefined;
  }

  private forget(claim: Claim): void {
    if (this.liveOf(claim)) this.live.delete(claim.key);
  }

  private remember(claim: Claim, until: number | undefined): void {
    this.unfinished.set(claim.session, { claim, until });
  }
}

export async function inBatches<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += batchSize) {
    await Promise.all(items.slice(i, i + batchSize).map(work));
  }
}
