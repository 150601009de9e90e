import type { Address } from '../../protocol/names.js';
import { decodeEnvelope, encodeEnvelope } from '../envelope.js';
import type { Bus, Envelope } from '../types.js';
import type { Connections } from './connection.js';
import type { Keys } from './keys.js';
import type { Operations } from './operations.js';

/**
 * Standalone Redis: PUBLISH/SUBSCRIBE for every address. Redis Cluster: plain pub/sub for the
 * public channel (the cluster bus carries it to every node, which is what `*` needs), sharded
 * SPUBLISH/SSUBSCRIBE for users and rooms, so a message to one user or room crosses only the
 * shard that owns its slot.
 */
export class RedisBus implements Bus {
  /** channel name → address, for every address this gateway subscribes to. */
  private readonly subscribed = new Map<string, Address>();
  private handler: (address: Address, env: Envelope) => void = () => {};

  constructor(
    private readonly conns: Connections,
    private readonly keys: Keys,
    private readonly ops: Operations,
  ) {
    const onMessage = (channel: Buffer, message: Buffer) => this.deliver(channel, message);
    conns.sub.on('messageBuffer', onMessage);
    conns.sub.on('smessageBuffer', onMessage);
  }

  /** The command the post script publishes with (it must match what subscribe used). */
  publishCommand(address: Address): 'PUBLISH' | 'SPUBLISH' {
    return this.sharded(address) ? 'SPUBLISH' : 'PUBLISH';
  }

  publish(address: Address, env: Envelope): Promise<void> {
    return this.ops.guarded('publish', () => this.send(address, env));
  }

  /** Publishes whether or not the engine is up (its own presence announcements while it recovers). */
  async send(address: Address, env: Envelope): Promise<void> {
    const channel = this.keys.channel(address);
    const bytes = encodeEnvelope(env);
    if (this.sharded(address)) await this.conns.cmd.spublish(channel, bytes);
    else await this.conns.cmd.publish(channel, bytes);
  }

  subscribe(address: Address): Promise<void> {
    return this.ops.guarded('subscribe', async () => {
      const channel = this.keys.channel(address);
      // Recorded before Redis confirms: the first message can arrive in the same read as the
      // confirmation, before this function resumes. A subscribe that failed is forgotten, so
      // a reconnect does not renew it.
      const known = this.subscribed.has(channel);
      this.subscribed.set(channel, address);
      try {
        if (this.sharded(address)) await this.conns.sub.ssubscribe(channel);
        else await this.conns.sub.subscribe(channel);
      } catch (err) {
        if (!known) this.subscribed.delete(channel);
        throw err;
      }
    });
  }

  unsubscribe(address: Address): Promise<void> {
    const channel = this.keys.channel(address);
    // Forgotten first, even when the engine is down: the reconnect must not bring it back.
    this.subscribed.delete(channel);
    return this.ops.guarded('unsubscribe', async () => {
      if (this.sharded(address)) await this.conns.sub.sunsubscribe(channel);
      else await this.conns.sub.unsubscribe(channel);
    });
  }

  onEnvelope(handler: (address: Address, env: Envelope) => void): void {
    this.handler = handler;
  }

  /**
   * After the standalone subscriber reconnected (its autoResubscribe is off so that the engine
   * knows when this is done). On a cluster, ioredis resubscribes each shard itself.
   */
  async resubscribe(): Promise<void> {
    if (this.conns.kind === 'cluster' || this.subscribed.size === 0) return;
    await this.conns.sub.subscribe(...this.subscribed.keys());
  }

  private sharded(address: Address): boolean {
    return this.conns.kind === 'cluster' && address !== '*';
  }

  private deliver(channel: Buffer, message: Buffer): void {
    const address = this.subscribed.get(channel.toString());
    if (address === undefined) return; // in flight while we unsubscribed
    const env = decodeEnvelope(message);
    if (env) this.handler(address, env);
  }
}
