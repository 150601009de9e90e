import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { startHealthServer } from './http.js';
import { onShutdownSignal } from './roles.js';

/** What a worker tells the primary over IPC. */
export type WorkerMessage =
  | { chorus: 'listening'; tcpPort: number; wsPort: number }
  | { chorus: 'ready'; ready: boolean };

/** A worker that dies sooner than this after starting is crash-looping: wait before the next. */
const stableAfterMs = 10_000;
const maxRestartDelayMs = 10_000;

/**
 * The node:cluster primary: forks the gateway workers that share the client ports,
 * restarts one that dies, serves /metrics aggregated over them plus /healthz and /readyz,
 * and drains them all on SIGTERM.
 */
export async function runPrimary(config: Config, log: Logger): Promise<void> {
  const ready = new Map<number, boolean>();
  const listening = new Map<number, { tcpPort: number; wsPort: number }>();
  const startedAt = new Map<number, number>();
  let draining = false;
  let restartDelayMs = 250;
  let announced = false;

  // The primary's own series, beside its workers' aggregated ones.
  const own = new Registry();
  const restarts = new Counter({ name: 'chorus_worker_restarts_total', help: 'Gateway workers that died and were restarted', registers: [own] });
  new Gauge({
    name: 'chorus_workers_ready',
    help: 'Gateway workers that take clients now',
    registers: [own],
    collect() {
      this.set([...ready.values()].filter(Boolean).length);
    },
  });

  const fork = () => {
    const worker = cluster.fork();
    startedAt.set(worker.id, Date.now());
    worker.on('message', (msg: WorkerMessage) => onMessage(worker, msg));
  };

  const onMessage = (worker: Worker, msg: WorkerMessage) => {
    if (msg.chorus === 'ready') ready.set(worker.id, msg.ready);
    if (msg.chorus !== 'listening') return;
    listening.set(worker.id, { tcpPort: msg.tcpPort, wsPort: msg.wsPort });
    if (!announced && listening.size === config.workers) {
      announced = true;
      const { tcpPort, wsPort } = msg;
      log.info({ tcpPort, wsPort, metricsHost: config.metricsHost, metricsPort: health.port, workers: config.workers, engine: 'redis' }, 'listening');
    }
  };

  cluster.on('exit', (worker, code, signal) => {
    ready.delete(worker.id);
    listening.delete(worker.id);
    if (draining) return;
    const lived = Date.now() - (startedAt.get(worker.id) ?? 0);
    startedAt.delete(worker.id);
    restartDelayMs = lived > stableAfterMs ? 250 : Math.min(maxRestartDelayMs, restartDelayMs * 2);
    log.error({ worker: worker.id, code, signal, restartInMs: restartDelayMs }, 'worker died; restarting it');
    restarts.inc();
    setTimeout(() => draining || fork(), restartDelayMs);
  });

  const aggregator = new AggregatorRegistry();
  const health = await startHealthServer(config.metricsHost, config.metricsPort, {
    ready: () => !draining && ready.size === config.workers && [...ready.values()].every(Boolean),
    metrics: async () => ({ body: (await aggregator.clusterMetrics()) + '\n' + (await own.metrics()), contentType: aggregator.contentType }),
  });

  log.info({ workers: config.workers, redis: config.redis || config.redisCluster.join(',') }, 'starting');
  for (let i = 0; i < config.workers; i++) fork();

  onShutdownSignal(log, async () => {
    draining = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const exits = workers.map((w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once('exit', () => resolve()))));
    workers.forEach((w) => w.isConnected() && w.send({ chorus: 'stop' }));
    const deadline = setTimeout(() => workers.forEach((w) => w.process.kill('SIGKILL')), config.drainMs + 5_000);
    await Promise.all(exits);
    clearTimeout(deadline);
    health.server.close();
    log.info('stopped');
  });
}
