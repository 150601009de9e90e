import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { startGateway } from './gateway-process.js';
import { startHealthServer } from './http.js';
import type { WorkerMessage } from './primary.js';
import { onShutdownSignal, stopMarginMs } from './shutdown.js';

/** The whole server in one process: the memory engine, no workers. */
export async function runSingle(config: Config, log: Logger): Promise<void> {
  log.info({ engine: 'memory' }, 'starting');
  const { gateway, registry, ports } = await startGateway(config, log);
  const health = await startHealthServer(config.metricsHost, config.metricsPort, {
    ready: () => gateway.ready,
    metrics: async () => ({ body: await registry.metrics(), contentType: registry.contentType }),
  });
  log.info({ ...ports, metricsHost: config.metricsHost, metricsPort: health.port, engine: 'memory', workers: 1 }, 'listening');
  onShutdownSignal(log, config.drainMs + stopMarginMs, async () => {
    await gateway.stop();
    health.server.close();
    log.info('stopped');
  });
}

/** One gateway worker under the cluster primary, which serves health and aggregated metrics. */
export async function runWorker(config: Config, log: Logger): Promise<void> {
  const id = cluster.worker!.id;
  const tell = (msg: WorkerMessage) => process.send?.(msg);
  const { gateway, registry, ports } = await startGateway(config, log, id);
  // The primary's AggregatorRegistry asks each worker for these over IPC; constructing one
  // here is what installs the worker's side of that exchange.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  gateway.engine.onStatus(() => tell({ chorus: 'ready', ready: gateway.ready }));
  tell({ chorus: 'listening', ...ports });
  tell({ chorus: 'ready', ready: gateway.ready });
  const stop = async () => {
    tell({ chorus: 'ready', ready: false });
    await gateway.stop();
    log.info('worker stopped');
  };
  const begin = onShutdownSignal(log, config.drainMs + stopMarginMs, stop);
  process.on('message', (msg: unknown) => {
    if ((msg as { chorus?: string }).chorus === 'stop') begin('primary');
  });
}
