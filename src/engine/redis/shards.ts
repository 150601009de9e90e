import type { Cluster } from 'ioredis';
import { slotOf } from './slot.js';

/**
 * Which shard channels may have missed messages, on Redis Cluster. ioredis (6.0) keeps one
 * subscriber connection per master; when it replaces one (the connection ended, or slots
 * moved to another master) it SSUBSCRIBEs that master's channels again by itself, then emits
 * `subscribersReady` without waiting for the replies. A channel is behind when the connection
 * that last confirmed it ended, or when its slot lives on another master now: what was
 * published to it meanwhile is in its stream only. Channels of the other masters missed
 * nothing and are left alone.
 */
export class Shards {
  /** channel → the master whose subscriber connection last confirmed it. */
  private readonly owners = new Map<string, string | undefined>();
  private readonly behind = new Set<string>();

  constructor(private readonly sub: Cluster) {
    // ioredis's subscriber group names the master whose connection ended; the cluster's
    // other connections emit the same event without one.
    sub.on('-node', (_redis: unknown, node?: string) => {
      if (node !== undefined) this.lost((owner) => owner === node);
    });
    // Every connection is gone (no master answered): every master's subscriber will be new.
    sub.on('close', () => this.lost(() => true));
  }

  /** The channel's subscription was confirmed (subscribed, or caught up) just now. */
  confirmed(channel: string): void {
    this.owners.set(channel, this.ownerOf(channel));
  }

  forget(channel: string): void {
    this.owners.delete(channel);
    this.behind.delete(channel);
  }

  /** The channels behind now; taken, so a caller that fails to catch some up gives them back. */
  take(): string[] {
    for (const [channel, owner] of this.owners) {
      if (this.ownerOf(channel) !== owner) this.behind.add(channel);
    }
    const taken = [...this.behind];
    this.behind.clear();
    return taken;
  }

  giveBack(channels: Iterable<string>): void {
    for (const channel of channels) if (this.owners.has(channel)) this.behind.add(channel);
  }

  private lost(ended: (owner: string | undefined) => boolean): void {
    for (const [channel, owner] of this.owners) if (ended(owner)) this.behind.add(channel);
  }

  private ownerOf(channel: string): string | undefined {
    return this.sub.slots[slotOf(channel)]?.[0];
  }
}
