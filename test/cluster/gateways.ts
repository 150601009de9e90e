// N real gateway processes sharing one Redis (standalone or Cluster), for the scale-out tests.
import { randomBytes } from 'node:crypto';
import { startServer, type ServerHandle } from '../support/server.js';

export type Store = { redis: string } | { cluster: string[] };

export function storeArgs(store: Store): string[] {
  return 'redis' in store ? ['--redis', store.redis] : ['--redis-cluster', store.cluster.join(',')];
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
