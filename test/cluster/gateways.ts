// N real gateway processes sharing one Redis (standalone or Cluster), for the scale-out tests.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { startRedis, startRedisCluster, type RedisClusterHandle, type RedisServer } from '../support/redis.js';
import { startServer, type ServerHandle } from '../support/server.js';

export type Store = { redis: string } | { cluster: string[] } | { sentinels: string[]; master: string };

export function storeArgs(store: Store): string[] {
  if ('redis' in store) return ['--redis', store.redis];
  if ('cluster' in store) return ['--redis-cluster', store.cluster.join(',')];
  return ['--redis-sentinel', store.sentinels.join(','), '--redis-master', store.master];
}

/** Starts `count` gateways (one worker each) on a fresh key prefix; ids g1, g2, ... */
export async function startGateways(count: number, store: Store, extra: string[] = []): Promise<ServerHandle[]> {
  const prefix = `t${randomBytes(4).toString('hex')}:`;
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      startServer([...storeArgs(store), '--key-prefix', prefix, '--workers', '1', '--gateway-id', `g${i + 1}`, '--lease-ms', '1000', '--rate', '1000', '--burst', '1000', ...extra]),
    ),
  );
}

export interface Stores {
  /** [name, store] pairs for describe.each: standalone Redis, then the Cluster. */
  each: Array<[string, () => Store]>;
  redis(): RedisServer;
  cluster(): RedisClusterHandle;
}

/** One standalone redis-server and one 3-master Redis Cluster for the calling test file. */
export function storesForThisFile(): Stores {
  let redis: RedisServer | undefined;
  let cluster: RedisClusterHandle | undefined;
  beforeAll(async () => {
    [redis, cluster] = await Promise.all([startRedis(), startRedisCluster(3)]);
  });
  afterAll(async () => {
    await Promise.all([redis?.stop(), cluster?.stop()]);
  });
  return {
    each: [
      ['standalone Redis', () => ({ redis: redis!.url })],
      ['Redis Cluster', () => ({ cluster: cluster!.nodes })],
    ],
    redis: () => redis!,
    cluster: () => cluster!,
  };
}
