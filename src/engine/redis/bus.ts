import type { Logger } from 'pino';
import type { Address } from '../../protocol/names.js';
import { decodeEnvelope, encodeEnvelope } from '../envelope.js';
import type { Bus, Envelope } from '../types.js';
import { Backfill } from './backfill.js';
import type { Connections } from './connection.js';
import type { Keys } from './keys.js';
import type { Operations } from './operations.js';

/**
 * Standalone Redis: PUBLISH/SUBSCRIBE for every address. Redis Cluster: sharded
 * SPUBLISH/SSUBSCRIBE for every address, the public one included, so a message crosses only
 * the shard that owns its slot (the same shard that filed it in its stream) instead of the
 * cluster bus to every node; every gateway subscribes to `*` on that shard. What a
 * subscriber connection misses while it reconnects is read back from the streams
 * (backfill.ts).
 */
export class RedisBus implements Bus {
  /** channel name → address, for every address this gateway subscribes to. */
  private readonly subscribed = new Map<string, Address>();
  private readonly backfill: Backfill;
  private handler: (address: Address, env: Envelope) => void = () => {};
  /** The standalone subscriber dropped since it last subscribed everything. */
  private stale = false;
  /** On a cluster every channel is a shard channel. */
  private readonly sharded: boolean;

  constructor(
    private readonly conns: Connections,
    private readonly keys: Keys,
    private readonly ops: Operations,
    history: boolean,
    private readonly log: Logger,
  ) {
    this.sharded = conns.kind === 'cluster';
    this.backfill = new Backfill(conns.cmd, keys, history);
    const onMessage = (channel: Buffer, message: Buffer) => this.deliver(channel, message);
    conns.sub.on('messageBuffer', onMessage);
    conns.sub.on('smessageBuffer', onMessage);
    if (conns.kind === 'standalone') {
      conns.sub.on('close', () => (this.stale = true));
    } else {
      // ioredis resubscribes a shard's channels itself once the shard's subscriber is back,
      // without saying when that is done, then emits this: subscribe again (which waits for
      // it) and catch up on what the shard missed.
      conns.sub.on('subscribersReady', () => void this.catchUpShards());
    }
  }

  /** The command the post script publishes with (it must match what subscribe used). */
  publishCommand(): 'PUBLISH' | 'SPUBLISH' {
    return this.sharded ? 'SPUBLISH' : 'PUBLISH';
  }

  publish(address: Address, env: Envelope): Promise<void> {
    return this.ops.guarded('publish', () => this.send(address, env));
  }

  /** Publishes whether or not the engine is up (its own presence announcements while it recovers). */
  async send(address: Address, env: Envelope): Promise<void> {
    const channel = this.keys.channel(address);
    const bytes = encodeEnvelope(env);
    if (this.sharded) await this.conns.cmd.spublish(channel, bytes);
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
      try {
        await this.subscribeOne(channel);
      } catch (err) {
        if (!known) this.forget(channel);
        throw err;
      }
    });
  }

  unsubscribe(address: Address): Promise<void> {
    const channel = this.keys.channel(address);
    // Forgotten first, even when the engine is down: the reconnect must not bring it back.
    this.forget(channel);
    return this.ops.guarded('unsubscribe', async () => {
      if (this.sharded) await this.conns.sub.sunsubscribe(channel);
      else await this.conns.sub.unsubscribe(channel);
    });
  }

  onEnvelope(handler: (address: Address, env: Envelope) => void): void {
    this.handler = handler;
  }

  /**
   * After the standalone subscriber reconnected (its autoResubscribe is off so that the engine
   * knows when this is done), subscribes everything again and catches up on what it missed.
   * On a cluster, ioredis resubscribes each shard itself (see the constructor).
   */
  async resubscribe(): Promise<void> {
    if (this.conns.kind === 'cluster' || !this.stale) return;
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

  private async catchUpShards(): Promise<void> {
    try {
      await this.backfill.run(
        () => new Map(this.subscribed),
        (channels) => Promise.all([...channels.keys()].map((channel) => this.subscribeOne(channel))),
        (channel, env) => this.hand(channel, env),
      );
    } catch (err) {
      this.log.warn({ err }, 'a shard\'s subscriber came back, but what it missed could not be read back');
    }
  }

  private async subscribeOne(channel: string): Promise<void> {
    if (this.sharded) await this.conns.sub.ssubscribe(channel);
    else await this.conns.sub.subscribe(channel);
  }

  private forget(channel: string): void {
    this.subscribed.delete(channel);
    this.backfill.forget(channel);
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
