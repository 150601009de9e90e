// The processes a reliability scenario runs against, as production would: a throwaway
// redis-server, N gateways (each a primary with --workers 1) on fixed ports so that a
// restarted one comes back where the balancer expects it, and the shipped
// deploy/haproxy.cfg in front of them on free loopback ports.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { delay, freePort, startGateway, startRedis } from './processes.mjs';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const haproxyBin = '/usr/sbin/haproxy';
const haproxyCfg = path.join(repoRoot, 'deploy/haproxy.cfg');
/** deploy/haproxy.cfg has exactly three server slots (the compose stack's gateway1..3). */
const haproxySlots = 3;
const waitMs = 20_000;

/** One gateway that can be stopped, killed and started again on the same ports and id. */
class Gateway {
  constructor(n, mainJs, redisUrl, ports, extraArgs) {
    this.n = n;
    this.id = `g${n}`;
    this.mainJs = mainJs;
    this.redisUrl = redisUrl;
    this.ports = ports; // {tcpPort, wsPort, metricsPort}
    this.extraArgs = extraArgs;
    this.running = null; // what startGateway returned, while it runs
    this.warnings = new Map(); // log message of every warn/error line -> count, over all its runs
  }

  get metricsUrl() {
    return `http://127.0.0.1:${this.ports.metricsPort}/metrics`;
  }

  async start() {
    const { tcpPort, wsPort, metricsPort } = this.ports;
    this.running = await startGateway(this.mainJs, [
      '--tcp-port', String(tcpPort), '--ws-port', String(wsPort), '--metrics-port', String(metricsPort),
      '--redis', this.redisUrl, '--workers', '1', '--gateway-id', this.id, ...this.extraArgs,
    ], this.id);
    // What went wrong inside the gateway explains what the clients saw: keep a count.
    this.running.child.onLineHook = (line) => {
      if (!line.includes('"level":4') && !line.includes('"level":5') && !line.includes('"level":6')) return;
      try {
        const entry = JSON.parse(line);
        if (entry.level >= 40) this.warnings.set(entry.msg, (this.warnings.get(entry.msg) ?? 0) + 1);
      } catch {
        /* not a log line */
      }
    };
  }

  /** SIGTERM: the gateway drains (bye{reason:"restart"}) and exits; resolves with its exit. */
  async stop() {
    const r = this.running;
    this.running = null;
    return r ? r.stop() : null;
  }

  /** kill -9 of the primary and its worker at once, as a host or pod dying would. */
  async kill() {
    const r = this.running;
    this.running = null;
    if (!r) return;
    const pids = [...childPids(r.child.proc.pid), r.child.proc.pid];
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await r.child.exited;
  }
}

/** The worker processes of a primary, from /proc (Linux: this tool runs on the dev box). */
function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Starts redis-server, `gateways` gateways and HAProxy; resolves once HAProxy has every
 * gateway UP. `stop()` ends all of it, whatever state it is in.
 */
export async function startFleet({ gateways = 2, mainJs = path.join(repoRoot, 'dist/server/main.js'), gatewayArgs = [] } = {}) {
  if (gateways < 1 || gateways > haproxySlots) throw new Error(`deploy/haproxy.cfg has ${haproxySlots} gateway slots`);
  const owned = [];
  const fleet = {
    redis: null,
    gateways: [],
    lb: null,
    async stop() {
      await Promise.allSettled([...owned].reverse().map((o) => o.stop()));
    },
  };
  try {
    fleet.redis = await startRedis();
    owned.push(fleet.redis);
    for (let n = 1; n <= gateways; n++) {
      const [tcpPort, wsPort, metricsPort] = await distinctFreePorts(3);
      const g = new Gateway(n, mainJs, fleet.redis.url, { tcpPort, wsPort, metricsPort }, gatewayArgs);
      fleet.gateways.push(g);
      owned.push(g);
    }
    await Promise.all(fleet.gateways.map((g) => g.start()));
    fleet.lb = await startHaproxy(fleet.gateways);
    owned.push(fleet.lb);
    for (const g of fleet.gateways) await fleet.lb.waitStatus(g, 'UP');
    return fleet;
  } catch (err) {
    await fleet.stop();
    throw err;
  }
}

async function distinctFreePorts(count) {
  const ports = new Set();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/** The cfg's variables (see its header) pointing it at `gateways`; unused slots are disabled. */
function haproxyEnv(gateways, listen) {
  const env = {
    CHORUS_LB_HOST: '127.0.0.1',
    CHORUS_LB_TCP_PORT: String(listen.tcpPort),
    CHORUS_LB_WS_PORT: String(listen.wsPort),
    CHORUS_LB_STATS_PORT: String(listen.statsPort),
    CHORUS_LB_DNS: '127.0.0.1:53', // never asked (addresses are IPs), but kept on loopback
  };
  for (let n = 1; n <= haproxySlots; n++) {
    const g = gateways[n - 1] ?? gateways[0];
    env[`CHORUS_GATEWAY${n}_HOST`] = '127.0.0.1';
    env[`CHORUS_GATEWAY${n}_TCP_PORT`] = String(g.ports.tcpPort);
    env[`CHORUS_GATEWAY${n}_WS_PORT`] = String(g.ports.wsPort);
    env[`CHORUS_GATEWAY${n}_METRICS_PORT`] = String(g.ports.metricsPort);
    env[`CHORUS_GATEWAY${n}_OPTS`] = n <= gateways.length ? '' : 'disabled';
  }
  return env;
}

async function startHaproxy(gateways) {
  const [tcpPort, wsPort, statsPort] = await distinctFreePorts(3);
  const env = { ...process.env, ...haproxyEnv(gateways, { tcpPort, wsPort, statsPort }) };
  // -db: foreground, so the process we hold is HAProxy itself. Its per-connection log lines
  // are not needed: stdout is drained and dropped.
  const proc = spawn(haproxyBin, ['-db', '-f', haproxyCfg], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const lb = {
    tcpPort,
    wsPort,
    statsPort,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
    /** Waits until HAProxy reports gateway `g` as `status` (UP, DOWN, MAINT) in both backends. */
    async waitStatus(g, status) {
      const end = Date.now() + waitMs;
      while (Date.now() < end) {
        const rows = await serverRows(statsPort).catch(() => []);
        const mine = rows.filter((r) => r.server === `gateway${g.n}`);
        if (mine.length > 0 && mine.every((r) => r.status.replace(/ \(via .*\)$/, '') === status)) return;
        await delay(100);
      }
      throw new Error(`HAProxy never reported gateway${g.n} ${status}`);
    },
  };
  const end = Date.now() + waitMs;
  for (const port of [tcpPort, wsPort, statsPort]) {
    while (!(await canConnect(port))) {
      if (proc.exitCode !== null || Date.now() > end) {
        await lb.stop();
        throw new Error(`haproxy did not listen on ${port}: ${stderr}`);
      }
      await delay(100);
    }
  }
  return lb;
}

async function serverRows(statsPort) {
  const res = await fetch(`http://127.0.0.1:${statsPort}/stats;csv`, { signal: AbortSignal.timeout(2000) });
  const [header, ...rows] = (await res.text()).trim().split('\n');
  const cols = header.replace(/^# /, '').split(',');
  const at = (cells, name) => cells[cols.indexOf(name)];
  return rows.map((r) => r.split(',')).map((c) => ({ server: at(c, 'svname'), status: at(c, 'status') }));
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Reads the gauges the soak reports from one gateway's /metrics (the primary aggregates its worker). */
export async function scrapeProcess(g) {
  try {
    const res = await fetch(g.metricsUrl, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) return null;
    const text = await res.text();
    const pick = (name) => {
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
      return m ? Number(m[1]) : null;
    };
    return {
      rss: pick('process_resident_memory_bytes'),
      heap: pick('nodejs_heap_size_used_bytes'),
      fds: pick('process_open_fds'),
      lagP99: pick('nodejs_eventloop_lag_p99_seconds'),
    };
  } catch {
    return null;
  }
}
