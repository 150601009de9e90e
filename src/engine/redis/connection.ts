import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

export type Client = Redis | Cluster;

/**
 * The two connections of one gateway: commands, and the subscriber (which can do nothing
 * else). Behind Sentinel they are standalone connections to whichever node is master now.
 */
export type Connections =
  | { readonly kind: 'standalone'; readonly cmd: Redis; readonly sub: Redis }
  | { readonly kind: 'cluster'; readonly cmd: Cluster; readonly sub: Cluster };

export interface ConnectOptions {
  url?: string;
  cluster?: string[];
  /** Sentinel nodes "host:port" and the name of the master they monitor. */
  sentinel?: { nodes: string[]; master: string };
  /** This gateway's id: connections are named `chorus:<id>:cmd` and `chorus:<id>:sub` in CLIENT LIST. */
  gatewayId: string;
}

/** Reconnect forever: fast at first, then every 2 s; a gateway outlives any Redis outage. */
const maxBackoffMs = 2_000;
export function backoffMs(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 10), maxBackoffMs);
}

/** For every connection, standalone or to a cluster node. */
const perConnection: RedisOptions = {
  // A command in flight when the connection drops fails at once and is never sent twice: a
  // post script might have run already, and the client's retry (with its ref) is the one
  // place that decides to send again.
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  // A Redis that stops answering (paused, overloaded, half-open socket) fails operations
  // too, instead of leaving sessions waiting on a reply that may never come.
  commandTimeout: 3_000,
  connectTimeout: 5_000,
};

const standalone: RedisOptions = {
  ...perConnection,
  lazyConnect: true,
  // Redis down means `unavailable` now, not a queue that grows until it comes back.
  enableOfflineQueue: false,
  retryStrategy: backoffMs,
};

export function connect(opts: ConnectOptions): Connections {
  // Named, so that an operator (or a test) can tell a gateway's connections apart.
  const name = (role: 'cmd' | 'sub') => `chorus:${opts.gatewayId}:${role}`;
  if (opts.cluster && opts.cluster.length > 0) {
    const seeds = opts.cluster.map(parseNode);
    const clusterOptions = (role: 'cmd' | 'sub'): ClusterOptions => ({
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: backoffMs,
      // ioredis puts its own prefix in front, e.g. "ioredis-cluster(ssubscriber):chorus:<id>:sub".
      redisOptions: { ...perConnection, connectionName: name(role) },
    });
    return {
      kind: 'cluster',
      cmd: new Cluster(seeds, { ...clusterOptions('cmd'), enableAutoPipelining: true }),
      // Without it, SSUBSCRIBE on a real multi-master 7.0 cluster hangs or loops on MOVED.
      sub: new Cluster(seeds, { ...clusterOptions('sub'), shardedSubscribers: true }),
    };
  }
  const server = opts.sentinel && opts.sentinel.nodes.length > 0 ? sentinelOptions(opts.sentinel) : undefined;
  if (!server && !opts.url) throw new Error('the Redis engine needs a url, cluster seed nodes or sentinels');
  const standaloneClient = (options: RedisOptions) => (server ? new Redis({ ...server, ...options }) : new Redis(opts.url!, options));
  return {
    kind: 'standalone',
    cmd: standaloneClient({ ...standalone, connectionName: name('cmd'), enableAutoPipelining: true }),
    // The bus resubscribes itself after a reconnect, and reports ready only once it has.
    sub: standaloneClient({ ...standalone, connectionName: name('sub'), autoResubscribe: false }),
  };
}

/**
 * Where a Sentinel-managed master is: ioredis asks the sentinels on every (re)connect and
 * checks that the node it reaches is master, and the failover detector drops the
 * connection as soon as the sentinels announce a new one. The engine's usual outage path
 * does the rest: `unavailable` while it reconnects, then this gateway's claims and
 * subscriptions written back to the new master, which may lack the last writes.
 */
function sentinelOptions(sentinel: { nodes: string[]; master: string }): RedisOptions {
  return {
    sentinels: sentinel.nodes.map(parseNode),
    name: sentinel.master,
    role: 'master',
    failoverDetector: true,
    sentinelRetryStrategy: backoffMs,
  };
}

function parseNode(node: string): { host: string; port: number } {
  const colon = node.lastIndexOf(':');
  const port = Number(node.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port)) throw new Error(`a cluster or sentinel node is host:port, not "${node}"`);
  return { host: node.slice(0, colon).replace(/^\[|\]$/g, ''), port };
}
