import type { Logger } from 'pino';
import type { Nick, NickKey, RoomKey } from '../../protocol/names.js';
import type { PresenceChange } from '../types.js';
import type { Client } from './connection.js';
import { holderOf, parseGatewayUser, type Keys } from './keys.js';
import { heartbeatScript, reapDoneScript, reapLockScript } from './lease-scripts.js';
import { inBatches, type Operations } from './operations.js';
import { detachScript } from './presence-scripts.js';
import type { RedisPresence } from './presence.js';

export interface LeaseOptions {
  readonly cmd: Client;
  readonly keys: Keys;
  readonly gateway: string;
  /** Lease time; the heartbeat runs every third of it: two lost beats are a hiccup, three a dead gateway. */
  readonly leaseMs: number;
  /** How long a dead gateway's users keep their nicks and rooms for a resume elsewhere. */
  readonly graceMs: number;
  readonly presence: RedisPresence;
  /** Where the users it reaps (and its own, written back after a reap) are reported: the gateway announces them. */
  readonly changed: (change: PresenceChange) => void;
  readonly log: Logger;
  readonly ops: Operations;
  /** Whether the engine is up: the heartbeat stands aside while it recovers. */
  readonly isUp: () => boolean;
}

/** Long enough for any reap; short enough that a reaper that died too is replaced soon. */
const reapLockMs = 30_000;
const recoverPollMs = 100;
/** A gateway cut off for longer than this comes back without announcing its users again. */
const reapedMarkMs = 3_600_000;

/**
 * This gateway's lease, and the reaper of other gateways' users. Every gateway keeps
 * `{gw:<id>}:lease` alive and is listed in `{gateways}`; every heartbeat it also looks for
 * listed gateways whose lease is gone, and one of the living (whoever takes the lock) marks
 * their users away as detach() would, announces them offline and forgets the gateway.
 */
export class Lease {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /** The lease ran out: this gateway's claims go back once no one is reaping it. */
  private lost = false;
  /** Someone reaped this gateway: its users were announced offline, so announce them back. */
  private reaped = false;
  /** Until the first restore is done: users in this gateway id's set are a previous run's. */
  private fresh = true;

  constructor(private readonly o: LeaseOptions) {}

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), Math.max(1, Math.floor(this.o.leaseMs / 3)));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * After a reconnect: renews the lease, waits until no one is reaping this gateway (it may
   * have been cut off), then writes its claims back, so they are not reaped again after.
   * The first time, it reaps what a previous run under the same id left instead.
   */
  async restore(): Promise<void> {
    const deadline = Date.now() + reapLockMs;
    while ((await this.beat()).reaping && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, recoverPollMs));
    }
    if (this.fresh) {
      await this.reapPreviousRun();
      this.fresh = false;
    }
    await this.writeBack();
  }

  /** A gateway that stops: its lease goes; with no users left, so does its entry. */
  async retire(holdsUsers: boolean): Promise<void> {
    const { cmd, keys, gateway } = this.o;
    if (holdsUsers) {
      // Leave the entry: the next heartbeat of any other gateway reaps the users, as routine.
      await cmd.multi().set(keys.retired(gateway), '1', 'PX', reapLockMs).del(keys.lease(gateway)).exec();
      return;
    }
    await cmd.del(keys.lease(gateway), keys.gatewayUsers(gateway));
    await cmd.srem(keys.gateways, gateway);
  }

  private async beat(): Promise<{ reaping: boolean }> {
    const { cmd, keys, gateway, leaseMs } = this.o;
    const [[had, reaping, reaped]] = await Promise.all([
      heartbeatScript.run(
        cmd,
        [keys.lease(gateway), keys.reaping(gateway), keys.reaped(gateway)],
        [leaseMs],
      ) as Promise<[number, number, number]>,
      cmd.sadd(keys.gateways, gateway),
    ]);
    if (had === 0) this.lost = true;
    if (reaped === 1) this.reaped = true;
    return { reaping: reaping === 1 };
  }

  private async writeBack(): Promise<void> {
    const announce = this.reaped;
    await this.o.presence.recover(announce ? async (claim) => this.announce('online', claim.key, claim.nick) : undefined);
    this.lost = false;
    if (announce) this.reaped = false;
  }

  private async tick(): Promise<void> {
    if (this.busy || !this.o.isUp()) return;
    this.busy = true;
    try {
      await this.o.ops.time('heartbeat', async () => {
        const { reaping } = await this.beat();
        if (this.lost && !reaping) {
          this.o.log.warn('this gateway\'s lease had run out: writing its users back');
          await this.writeBack();
        }
      });
      await this.reapDead();
    } catch (err) {
      // Redis is down or slow: the engine's status reports that; try again next beat.
      this.o.log.debug({ err }, 'heartbeat failed');
    } finally {
      this.busy = false;
    }
  }

  private async reapDead(): Promise<void> {
    const { cmd, keys, gateway } = this.o;
    const others = (await cmd.smembers(keys.gateways)).filter((id) => id !== gateway);
    const alive = await Promise.all(others.map((id) => cmd.exists(keys.lease(id))));
    for (const [i, id] of others.entries()) {
      if (alive[i] === 0) await this.o.ops.time('reap', () => this.reap(id));
    }
  }

  private async reap(dead: string): Promise<void> {
    const { cmd, keys, gateway, log } = this.o;
    const locked = await reapLockScript.run(cmd, [keys.lease(dead), keys.reaping(dead), keys.retired(dead)], [gateway, reapLockMs]);
    if (locked === 0) return;
    const users = await cmd.smembers(keys.gatewayUsers(dead));
    if (locked === 2) log.info({ gateway: dead, users: users.length }, 'a gateway that stopped left users that did not resume elsewhere: they are offline');
    else log.warn({ gateway: dead, users: users.length }, 'a gateway stopped renewing its lease: its users are offline');
    await inBatches(users, (member) => this.reapUser(dead, member));
    await reapDoneScript.run(cmd, [keys.gatewayUsers(dead), keys.reaping(dead), keys.reaped(dead), keys.retired(dead)], [gateway, reapedMarkMs]);
    await cmd.srem(keys.gateways, dead);
  }

  /**
   * A gateway restarted under the same id (a quick restart of a fixed id) renewed the lease
   * of its previous run before anyone took that run for dead, so no reaper will clean up
   * after it: the users it had are reaped here, as any reaper would. The lease is already
   * this run's, which keeps other reapers out meanwhile; no claims are taken before this ends.
   */
  private async reapPreviousRun(): Promise<void> {
    const { cmd, keys, gateway, log } = this.o;
    const users = await cmd.smembers(keys.gatewayUsers(gateway));
    if (users.length === 0) return;
    log.warn({ users: users.length }, 'a previous run of this gateway id left users behind: they are offline');
    await inBatches(users, (member) => this.reapUser(gateway, member));
    await cmd.srem(keys.gatewayUsers(gateway), ...users);
  }

  private async reapUser(dead: string, member: string): Promise<void> {
    const { cmd, keys, graceMs, presence } = this.o;
    const user = parseGatewayUser(member);
    if (!user) return;
    const [held, rooms] = (await detachScript.run(
      cmd,
      [keys.nick(user.key), keys.userRooms(user.key)],
      [holderOf(user.session, user.conn, dead), graceMs],
    )) as [number, RoomKey[]];
    await presence.dropEntries(user.nick, user.conn, rooms);
    // Not held there any more: it resumed on another connection or it is already away.
    if (held === 1) this.announce('offline', user.key, user.nick);
  }

  /** Handed to this gateway's announcer, which publishes it as it does its own sessions' changes. */
  private announce(event: 'online' | 'offline', key: string, nick: string): void {
    this.o.changed({ event, key: key as NickKey, nick: nick as Nick });
  }
}
