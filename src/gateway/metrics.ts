import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { departures } from './departure.js';

export const transports = ['tcp', 'ws', 'text', 'legacy'] as const;
export type Transport = (typeof transports)[number];

/** Chat latencies: from well under a millisecond on one host to seconds under overload. */
const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * The metrics of ARCHITECTURE.md: names and labels are a contract with the dashboard and
 * alerts. Labels stay low-cardinality: never a nick, room or address. `aggregator` says how
 * the cluster primary combines its workers' values.
 */
export function createMetrics(registry: Registry, worker: string) {
  collectDefaultMetrics({ register: registry });
  const metrics = {
    registry,
    /** The worker view: with node:cluster, each worker's series stays apart under the primary's aggregation. */
    workerConnections: new Gauge({
      name: 'chorus_worker_connections',
      help: 'Open client connections of each gateway worker',
      labelNames: ['worker'] as const,
      registers: [registry],
    }).labels(worker),
    connections: new Gauge({
      name: 'chorus_connections',
      help: 'Open client connections by transport',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
    onlineUsers: new Gauge({
      name: 'chorus_online_users',
      help: 'Users online across the whole cluster',
      registers: [registry],
      // Every worker reads the same cluster-wide number: summing would multiply it.
      aggregator: 'max',
    }),
    received: new Counter({
      name: 'chorus_messages_received_total',
      help: 'Messages accepted from clients, by kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    delivered: new Counter({
      name: 'chorus_messages_delivered_total',
      help: 'Messages written to client sockets, by transport',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
    deliveryLatency: new Histogram({
      name: 'chorus_delivery_latency_seconds',
      help: 'From the accepting gateway stamping a message to its write to the recipients\' sockets',
      buckets: latencyBuckets,
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'chorus_frames_rejected_total',
      help: 'Client frames refused with an error, by error code',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    slowConsumers: new Counter({
      name: 'chorus_slow_consumer_disconnects_total',
      help: 'Clients cut off because their unsent output passed the limit',
      registers: [registry],
    }),
    disconnects: new Counter({
      name: 'chorus_disconnects_total',
      help: 'Connections ended, by why: client bye or close, a limit, a refusal, a restart',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    laggedFrames: new Counter({
      name: 'chorus_lagged_frames_total',
      help: 'Client frames over the rate limit that were delayed (fakelag) rather than handled at once',
      registers: [registry],
    }),
    presenceFrames: new Counter({
      name: 'chorus_presence_frames_total',
      help: 'Presence frames handed to clients: at most one per client per presence tick',
      registers: [registry],
    }),
    presenceBatches: new Counter({
      name: 'chorus_presence_batches_total',
      help: 'Presence batches this gateway published to the others: at most one per presence tick',
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'chorus_auth_failures_total',
      help: 'Logins to registered nicks refused: wrong or missing password',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    authThrottled: new Counter({
      name: 'chorus_auth_throttled_total',
      help: 'Logins refused unchecked: the account or the address is backing off, or too many hashes are waiting',
      labelNames: ['by'] as const,
      registers: [registry],
    }),
    engineUp: new Gauge({
      name: 'chorus_engine_up',
      help: '1 while the engine (Redis) is reachable',
      registers: [registry],
      // One worker that cannot reach Redis makes the gateway not fully up.
      aggregator: 'min',
    }),
    engineOp: new Histogram({
      name: 'chorus_engine_op_seconds',
      help: 'Duration of engine (Redis) operations, by operation',
      labelNames: ['op'] as const,
      buckets: latencyBuckets,
      registers: [registry],
    }),
    ...fileMetrics(registry),
  };
  // Series that exist from the start, at zero, so dashboards and alerts see them before traffic.
  for (const t of transports) metrics.connections.labels(t).set(0);
  for (const d of departures) metrics.disconnects.labels(d).inc(0);
  // Also what a guessing alert needs: rate() cannot see the first failure of a series born at 1.
  for (const reason of ['wrong_password', 'no_password']) metrics.authFailures.labels(reason).inc(0);
  for (const by of ['account', 'address', 'hashing']) metrics.authThrottled.labels(by).inc(0);
  metrics.workerConnections.set(0);
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** File transfer: counted by the gateway that does the work (the sender's stores, the receiver's delivers). */
function fileMetrics(registry: Registry) {
  const metrics = {
    filesOffered: new Counter({ name: 'chorus_files_offered_total', help: 'Files offered by clients', registers: [registry] }),
    fileBytesStored: new Counter({ name: 'chorus_file_bytes_stored_total', help: 'File bytes uploaded into the store', registers: [registry] }),
    fileBytesDelivered: new Counter({ name: 'chorus_file_bytes_delivered_total', help: 'File bytes written to receivers\' sockets', registers: [registry] }),
    fileTransfersFailed: new Counter({
      name: 'chorus_file_transfers_failed_total',
      help: 'Uploads that failed (bad size or sha256, sender gone) and deliveries cut by a failed file, by side',
      labelNames: ['side'] as const,
      registers: [registry],
    }),
  };
  for (const side of ['upload', 'download']) metrics.fileTransfersFailed.labels(side).inc(0);
  return metrics;
}
