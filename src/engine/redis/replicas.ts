import type { Cluster, Redis } from 'ioredis';
import { ChorusError } from '../../protocol/errors.js';
import type { Connections } from './connection.js';
import { slotOf } from './slot.js';

/**
 * How long a post waits for its replicas. Below the connections' command timeout (3 s), so
 * that a slow replica is a clear `unavailable`, not a timed-out command.
 */
export const replicaWaitMs = 1_000;

/**
 * `--ack-replicas N`: a post counts as done once N replicas of the master that filed it
 * have it too (Redis WAIT), so that a failover cannot lose an acked message. WAIT counts
 * the writes of the connection it is sent on, so it goes on the connection that wrote: the
 * one command connection standalone (or behind Sentinel), the connection to the master of
 * the key's slot on a cluster. Fewer replicas in time is `unavailable`: the message is
 * filed and may still be delivered, and the client's retry with the same ref is deduped.
 */
export class ReplicaAcks {
  constructor(
    private readonly conns: Connections,
    private readonly replicas: number,
  ) {}

  /** Waits until every master that holds one of `keys` has copied it to enough replicas. */
  async confirm(keys: string[]): Promise<void> {
    if (this.replicas === 0) return;
    const nodes = this.conns.kind === 'cluster' ? mastersOf(this.conns.cmd, keys) : [this.conns.cmd];
    const acked = await Promise.all(nodes.map((node) => node.call('WAIT', this.replicas, replicaWaitMs) as Promise<number>));
    const fewest = Math.min(...acked);
    if (fewest < this.replicas) {
      throw new ChorusError(
        'unavailable',
        `stored, but only ${fewest} of ${this.replicas} replicas confirmed it in time; it may still be delivered: send again with the same ref`,
      );
    }
  }
}

/** The connections to the masters serving `keys`' slots, each once. */
function mastersOf(cluster: Cluster, keys: string[]): Redis[] {
  const masters = new Map(cluster.nodes('master').map((node) => [`${node.options.host}:${node.options.port}`, node]));
  const found = new Set<Redis>();
  for (const key of keys) {
    const node = masters.get(cluster.slots[slotOf(key)]?.[0] ?? '');
    // The slot map is being refreshed (a failover): nothing to wait on that can be trusted.
    if (!node) throw new ChorusError('unavailable', 'the cluster is changing masters; send again with the same ref');
    found.add(node);
  }
  return [...found];
}
