import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Registry } from 'prom-client';
import type { Config } from '../config.js';
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
  if (config.redis === '' && config.redisCluster.length === 0) {
    return createMemoryEngine({ historyLimit: config.history });
  }
  const { createRedisEngine } = await import('../engine/redis/index.js');
  return createRedisEngine({
    ...(config.redis === '' ? { cluster: config.redisCluster } : { url: config.redis }),
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
    drainMs: config.drainMs,
    writeDelayMs: config.writeDelayMs,
    tls,
    limits: {
      rate: config.rate,
      burst: config.burst,
      maxOutboundBytes: config.maxOutboundBytes,
      resumeGraceMs: config.resumeGraceMs,
    },
  });
  const ports = await gateway.start();
  return { gateway, registry, ports };
}
