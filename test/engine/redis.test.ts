// The shared engine contract, run by the Redis engine on a standalone Redis and on a
// three-master Redis Cluster: real redis-server processes, one of each for this file.
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe } from 'vitest';
import { createRedisEngine, type RedisEngineOptions } from '../../src/engine/redis/index.js';
import { startRedis, startRedisCluster, type RedisClusterHandle, type RedisServer } from '../support/redis.js';
import { engineContract } from './contract.js';

const log = pino({ level: 'silent' });

/**
 * Engines made within one test share a prefix (one store); each test gets a new one, so
 * tests never see each other's keys.
 */
function redisFactory(where: () => Pick<RedisEngineOptions, 'url' | 'cluster'>) {
  let prefix = '';
  beforeEach(() => {
    prefix = `t-${randomUUID().slice(0, 8)}:`;
  });
  return () => ({
    make: async ({ historyLimit }: { historyLimit: number }) => {
      const engine = createRedisEngine({
        ...where(),
        prefix,
        historyLimit,
        gatewayId: `gw-${randomUUID().slice(0, 8)}`,
        log,
      });
      await engine.start();
      return engine;
    },
  });
}

describe('standalone Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  engineContract('redis', redisFactory(() => ({ url: redis.url })));
});

describe('Redis Cluster, 3 masters', () => {
  let cluster: RedisClusterHandle;
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  engineContract('redis cluster', redisFactory(() => ({ cluster: cluster.nodes })));
});
