import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Registry } from 'prom-client';
import { usesRedis, type Config } from '../config.js';
import { createMemoryEngine } from '../engine/memory/index.js';
import type { Engine } from '../engine/types.js';
import { Gateway } from '../gateway/gateway.js';
import { createMetrics } from '../gateway/metrics.js';
import type { Logger } from '../log.js';

/**
 * The only place that picks an engine: Redis when the config names one, memory otherwise
 * (which then never loads ioredis).
 */
async function createEngine(config: Config, gatewayId: string, log: Logger): Promise<Engine> {
  if (!usesRedis(config)) return createMemoryEngine({ historyLimit: config.history });
  const { createRedisEngine } = await import('../engine/redis/index.js');
  return createRedisEngine({
    url: config.redis,
    cluster: config.redisCluster,
    sentinel: { nodes: config.redisSentinel, master: config.redisMaster },
    ackReplicas: config.ackReplicas,
    prefix: config.keyPrefix,
    historyLimit: config.history,
    gatewayId,
    leaseMs: config.leaseMs,
    graceMs: config.resumeGraceMs,
    log: log.child({ component: 'engine' }),
  });
}

/** A gateway's id: given (plus the worker number), or this host and process. */
export function gatewayIdOf(config: Config, worker?: number): string {
  if (config.gatewayId === '') return `${hostname()}-${process.pid}`;
  return worker === undefined ? config.gatewayId : `${config.gatewayId}-${worker}`;
}

export interface GatewayProcess {
  gateway: Gateway;
  registry: Registry;
  ports: { tcpPort: number; wsPort: number };
}

/** Builds and starts one gateway with its engine and metrics, as a worker or as the whole server. */
export async function startGateway(config: Config, log: Logger, worker?: number): Promise<GatewayProcess> {
  const gatewayId = gatewayIdOf(config, worker);
  const registry = new Registry();
  const metrics = createMetrics(registry, String(worker ?? 0));
  const engine = await createEngine(config, gatewayId, log);
  const tls = config.tlsCert === '' ? undefined : { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) };
  const gateway = new Gateway(engine, metrics, log, {
    host: config.host,
    tcpPort: config.tcpPort,
    wsPort: config.wsPort,
    maxFrameBytes: config.maxFrameBytes,
    maxConnections: config.maxConnections,
    idleTimeoutMs: config.idleTimeoutMs,
    helloTimeoutMs: config.helloTimeoutMs,
    partialLineTimeoutMs: config.partialLineTimeoutMs,
    writeDeadlineMs: config.writeDeadlineMs,
    maxConnectionsPerIp: config.maxConnectionsPerIp,
    connectRatePerIp: config.connectRatePerIp,
    proxyProtocol: config.proxyProtocol,
    trustedProxies: config.trustedProxies,
    drainMs: config.drainMs,
    writeDelayMs: config.writeDelayMs,
    tls,
    presence: { tickMs: config.presenceTickMs, maxUsers: config.presenceMaxUsers, roomMax: config.roomPresenceMax },
    limits: {
      rate: config.rate,
      burst: config.burst,
      floodFrames: config.floodFrames,
      maxRoomsPerUser: config.maxRoomsPerUser,
      maxRoomMembers: config.maxRoomMembers,
      joinRate: config.joinRate,
      maxOutboundBytes: config.maxOutboundBytes,
      resumeGraceMs: config.resumeGraceMs,
      files: {
        maxFileBytes: config.maxFileBytes,
        quotas: { perSender: config.fileQuotaBytes, total: config.fileStoreBytes },
        ttlMs: config.fileTtlMs,
        bytesPerSecond: config.fileBytesPerSecond,
      },
    },
  });
  const ports = await gateway.start();
  return { gateway, registry, ports };
}
