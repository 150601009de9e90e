import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { startHealthServer } from './http.js';
import { RestartPolicy, stableAfterMs } from './restarts.js';
import { onShutdownSignal, stopMarginMs } from './shutdown.js';

/** What a worker tells the primary over IPC. */
export type WorkerMessage =
  | { chorus: 'listening'; tcpPort: number; wsPort: number }
  | { chorus: 'ready'; ready: boolean };

/**
 * The node:cluster primary: forks the gateway workers that share the client ports,
 * restarts one that dies (with back-off, reporting a crash loop, giving up when none stays
 * alive), serves /metrics aggregated over them plus /healthz and /readyz, and drains them
 * all on SIGTERM.
 */
export async function runPrimary(config: Config, log: Logger): Promise<void> {
  const ready = new Map<number, boolean>();
  const listening = new Map<number, { tcpPort: number; wsPort: number }>();
  const startedAt = new Map<number, number>();
  const policy = new RestartPolicy();
  let draining = false;
  let announced = false;
  /** Set once a worker did not stop cleanly during the drain: the primary then exits 1. */
  let unclean = false;
  /** Workers the drain's deadline had to kill. */
  const overdue = new Set<number>();

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
  new Gauge({
    name: 'chorus_worker_crash_loop',
    help: '1 while gateway workers keep dying within seconds of starting (restarts back off; /readyz is 503)',
    registers: [own],
    collect() {
      this.set(policy.crashLooping ? 1 : 0);
    },
  });

  // Round-robin hands every accepted socket from here to a worker over IPC, a cost per
  // connection in both processes (6 % of a worker's time in a 10,000-user connect storm).
  // With one worker there is nothing to balance: it accepts on the shared socket itself.
  // Several keep round-robin, since the kernel's own spread over them is known to be uneven.
  if (config.workers === 1) cluster.schedulingPolicy = cluster.SCHED_NONE;

  const fork = () => {
    const worker = cluster.fork();
    startedAt.set(worker.id, Date.now());
    worker.on('message', (msg: WorkerMessage) => onMessage(worker, msg));
    // Alive long enough to count as started: a crash loop, if there was one, is over.
    const stable = setTimeout(() => {
      if (!worker.isDead() && policy.crashLooping) log.info({ worker: worker.id }, 'a worker stays up again: no longer crash-looping');
      if (!worker.isDead()) policy.stable();
    }, stableAfterMs);
    stable.unref();
    worker.once('exit', () => clearTimeout(stable));
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
    const lived = Date.now() - (startedAt.get(worker.id) ?? 0);
    startedAt.delete(worker.id);
    if (draining) {
      if (!stoppedCleanly(code, signal, overdue.has(worker.id))) unclean = true;
      return;
    }
    const wasLooping = policy.crashLooping;
    const delayMs = policy.died(lived);
    // Only workers that got as far as listening count as kept alive.
    if (policy.hopeless(listening.size)) {
      log.fatal({ worker: worker.id, code, signal }, 'no gateway worker stays alive: giving up');
      process.exit(1);
    }
    if (policy.crashLooping && !wasLooping) log.error({ restartInMs: delayMs }, 'gateway workers are crash-looping: restarts back off');
    log.error({ worker: worker.id, code, signal, livedMs: lived, restartInMs: delayMs }, 'worker died; restarting it');
    restarts.inc();
    setTimeout(() => draining || fork(), delayMs);
  });

  const aggregator = new AggregatorRegistry();
  // A worker still starting (or crash-looping) never answers, and the aggregation then fails
  // after 5 s: the primary's own series, the crash loop among them, are served regardless.
  const workerMetrics = () =>
    aggregator.clusterMetrics().catch((err: Error) => `# worker metrics unavailable: ${err.message}\n`);
  const health = await startHealthServer(config.metricsHost, config.metricsPort, {
    ready: () => !draining && !policy.crashLooping && ready.size === config.workers && [...ready.values()].every(Boolean),
    metrics: async () => ({ body: (await workerMetrics()) + '\n' + (await own.metrics()), contentType: aggregator.contentType }),
  });

  const redis = config.redis || config.redisCluster.join(',') || `sentinel ${config.redisSentinel.join(',')} master ${config.redisMaster}`;
  log.info({ workers: config.workers, redis }, 'starting');
  for (let i = 0; i < config.workers; i++) fork();

  // Workers give up on their own after drain + margin; the primary kills what is left a
  // second later, and gives up itself a second after that.
  const killWorkersAfterMs = config.drainMs + stopMarginMs + 1_000;
  onShutdownSignal(log, killWorkersAfterMs + 1_000, async () => {
    draining = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const exits = workers.map((w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once('exit', () => resolve()))));
    // A worker still starting (a restart after a crash) has no clients and no stop handler
    // yet: SIGTERM ends it. The others drain on the message, not a signal, so that one sent
    // to the whole group (Ctrl-C, KillMode=control-group) is not taken for a second signal.
    for (const w of workers) {
      if (w.isDead()) continue;
      if (listening.has(w.id) && w.isConnected()) w.send({ chorus: 'stop' });
      else w.process.kill('SIGTERM');
    }
    const deadline = setTimeout(() => {
      for (const w of workers) {
        if (w.isDead()) continue;
        overdue.add(w.id);
        w.process.kill('SIGKILL');
      }
    }, killWorkersAfterMs);
    await Promise.all(exits);
    clearTimeout(deadline);
    health.server.close();
    if (unclean) throw new Error('a worker did not stop cleanly');
    log.info('stopped');
  });
}

/**
 * How a worker's exit during the drain counts. Exit 0 is a drain done; SIGTERM ends one still
 * starting, which had nothing to drain. A SIGKILL counts against it only when the drain's own
 * deadline sent it: one killed from outside just before the drain (its exit seen only now)
 * is no failure of the drain. Any other code or signal is a crash.
 */
function stoppedCleanly(code: number | null, signal: string | null, overdue: boolean): boolean {
  if (code === 0 || signal === 'SIGTERM') return true;
  return signal === 'SIGKILL' && !overdue;
}
