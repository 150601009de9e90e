import type { Logger } from 'pino';
import type { Address } from '../../protocol/names.js';
import { decodeEnvelope, encodeEnvelope } from '../envelope.js';
import type { Bus, Envelope } from '../types.js';
import { Backfill } from './backfill.js';
import type { Connections } from './connection.js';
import type { Keys } from './keys.js';
import type { Operations } from './operations.js';
import { Shards } from './shards.js';

/**
 * Standalone Redis: PUBLISH/SUBSCRIBE for every address. Redis Cluster: sharded
 * SPUBLISH/SSUBSCRIBE for every address, the public one included, so a message crosses only
 * the shard that owns its slot (the same shard that filed it in its stream) instead of the
 * cluster bus to every node; every gateway subscribes to `*` on that shard. What a
 * subscriber connection misses while it reconnects is read back from the streams
 * (backfill.ts).
 */
export class RedisBus implements Bus {
  /** channel → address, for every address this gateway subscribes to. */
  private readonly subscribed = new Map<string, Address>();
  /**
   * Channels no longer wanted that the subscriber may still hold: unsubscribed while the
   * engine was down, or a subscribe that failed (ioredis tracks a shard channel from the
   * moment it routes the SSUBSCRIBE, and subscribes it again after every reconnect).
   */
  private readonly stranded = new Set<string>();
  private readonly backfill: Backfill;
  private handler: (address: Address, env: Envelope) => void = () => {};
  /** The standalone subscriber dropped since it last subscribed everything. */
  private stale = false;
  /** On a cluster (where every channel is a shard channel): which channels missed messages. */
  private readonly shards: Shards | undefined;

  constructor(
    private readonly conns: Connections,
    private readonly keys: Keys,
    private readonly ops: Operations,
    history: boolean,
    private readonly log: Logger,
  ) {
    this.backfill = new Backfill(conns.cmd, keys, history);
    const onMessage = (channel: Buffer, message: Buffer) => this.deliver(channel, message);
    conns.sub.on('messageBuffer', onMessage);
    conns.sub.on('smessageBuffer', onMessage);
    if (conns.kind === 'standalone') {
      conns.sub.on('close', () => {
        this.stale = true;
        this.stranded.clear(); // a new connection holds nothing it was not given
      });
    } else {
      this.shards = new Shards(conns.sub);
      conns.sub.on('subscribersReady', () => {
        this.catchUpShards().catch((err) => this.log.warn({ err }, 'a shard\'s subscriber came back, but what it missed could not be read back yet'));
      });
    }
  }

  /** The command the post script publishes with (it must match what subscribe used). */
  publishCommand(): 'PUBLISH' | 'SPUBLISH' {
    return this.shards ? 'SPUBLISH' : 'PUBLISH';
  }

  publish(address: Address, env: Envelope): Promise<void> {
    return this.ops.guarded('publish', () => this.send(address, env));
  }

  /** Publishes whether or not the engine is up (its own presence announcements while it recovers). */
  async send(address: Address, env: Envelope): Promise<void> {
    const channel = this.keys.channel(address);
    const bytes = encodeEnvelope(env);
    if (this.shards) await this.conns.cmd.spublish(channel, bytes);
    else await this.conns.cmd.publish(channel, bytes);
  }

  subscribe(address: Address): Promise<void> {
    return this.ops.guarded('subscribe', async () => {
      const channel = this.keys.channel(address);
      const known = this.subscribed.has(channel);
      if (!known) await this.backfill.mark(channel, address);
      // Recorded before Redis confirms: the first message can arrive in the same read as the
      // confirmation, before this function resumes. A subscribe that failed is forgotten, so
      // a reconnect does not renew it.
      this.subscribed.set(channel, address);
      this.stranded.delete(channel);
      try {
        if (this.shards) await this.conns.sub.ssubscribe(channel);
        else await this.conns.sub.subscribe(channel);
        this.shards?.confirmed(channel);
      } catch (err) {
        if (!known) this.drop(channel);
        throw err;
      }
    });
  }

  unsubscribe(address: Address): Promise<void> {
    const channel = this.keys.channel(address);
    // Forgotten first, even when the engine is down: the reconnect must not bring it back.
    this.drop(channel);
    return this.ops.guarded('unsubscribe', () => this.unsubscribeOne(channel));
  }

  onEnvelope(handler: (address: Address, env: Envelope) => void): void {
    this.handler = handler;
  }

  /**
   * After the engine's connections came back: lets go of the channels stranded meanwhile;
   * on a standalone Redis (whose subscriber does not resubscribe by itself, so that the engine
   * knows when that is done) subscribes everything again and catches up on what it missed;
   * on a cluster catches up the shards still behind (see catchUpShards).
   */
  async resubscribe(): Promise<void> {
    if (this.shards) return this.catchUpShards();
    await this.reconcile();
    if (!this.stale) return;
    this.stale = false;
    try {
      await this.backfill.run(
        () => new Map(this.subscribed),
        (channels) => this.conns.sub.subscribe(...channels.keys()),
        (channel, env) => this.hand(channel, env),
      );
    } catch (err) {
      this.stale = true; // the engine's recovery tries again
      throw err;
    }
  }

  /**
   * When ioredis says a shard's subscriber is back it has sent its SSUBSCRIBEs, but not had
   * them answered. Subscribing again through it would add each channel to its list once more
   * (a copy per reconnect); instead a SUNSUBSCRIBE of a channel nobody holds, in the same
   * slot, goes down the same connection and is answered after them. Then each channel that
   * is behind is read back from its stream. Started at once, so that live traffic is held
   * from the first envelope on.
   */
  private catchUpShards(): Promise<void> {
    const shards = this.shards!;
    const behind = shards.take();
    const caughtUp = this.backfill
      .run(
        () => new Map(behind.flatMap((channel) => this.addressOf(channel))),
        (channels) => Promise.all([...channels].map(async ([channel, address]) => {
          await this.conns.sub.sunsubscribe(this.keys.probe(address));
          shards.confirmed(channel);
        })),
        (channel, env) => this.hand(channel, env),
      )
      .catch((err: unknown) => {
        shards.giveBack(behind);
        throw err;
      });
    return Promise.all([this.reconcile(), caughtUp]).then(() => {});
  }

  /** Unsubscribes what is stranded; what fails stays so for the next reconnect. */
  private async reconcile(): Promise<void> {
    await Promise.all([...this.stranded].map((channel) => this.unsubscribeOne(channel).catch((err) => {
      this.log.debug({ err, channel }, 'could not unsubscribe a channel no longer wanted yet');
    })));
  }

  private async unsubscribeOne(channel: string): Promise<void> {
    if (this.shards) await this.conns.sub.sunsubscribe(channel);
    else await this.conns.sub.unsubscribe(channel);
    this.stranded.delete(channel);
  }

  /** No longer wanted: forgotten here, and stranded until Redis confirms the unsubscribe. */
  private drop(channel: string): void {
    this.subscribed.delete(channel);
    this.backfill.forget(channel);
    this.shards?.forget(channel);
    this.stranded.add(channel);
  }

  private addressOf(channel: string): Array<[string, Address]> {
    const address = this.subscribed.get(channel);
    return address === undefined ? [] : [[channel, address]];
  }

  private deliver(channel: Buffer, message: Buffer): void {
    const name = channel.toString();
    if (!this.subscribed.has(name)) return; // in flight while we unsubscribed
    const env = decodeEnvelope(message);
    if (env && this.backfill.admit(name, env)) this.hand(name, env);
  }

  private hand(channel: string, env: Envelope): void {
    const address = this.subscribed.get(channel);
    if (address !== undefined) this.handler(address, env);
  }
}
