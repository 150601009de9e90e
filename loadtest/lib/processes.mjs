// Child processes the bench owns: chorus-server gateways and a throwaway redis-server.
// Each one is started on free ports, waited for with a deadline, and stopped by stop().

import { spawn } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';

const startTimeoutMs = 20_000;
const stopTimeoutMs = 8_000;
const tailLines = 40; // kept for the error message when a child fails
const scrapeTimeoutMs = 2_000; // /metrics is a side view: never let it stretch the bench

/** A child process whose output is always drained (a full pipe would stall it) and tailed. */
class Child {
  constructor(name, command, args) {
    this.name = name;
    this.tail = [];
    this.proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => resolve({ code, signal }));
      this.proc.on('error', (err) => resolve({ code: null, signal: null, error: err }));
    });
    this.lines = [];
    for (const stream of [this.proc.stdout, this.proc.stderr]) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => this.onLine(line));
    }
    this.onLineHook = () => {};
  }

  onLine(line) {
    this.tail.push(line);
    if (this.tail.length > tailLines) this.tail.shift();
    this.onLineHook(line);
  }

  describeFailure(why) {
    return `${this.name}: ${why}\n--- last output of ${this.name} ---\n${this.tail.join('\n')}`;
  }

  /** SIGTERM, then SIGKILL if it has not exited in time. Idempotent. */
  async stop() {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.exited;
    this.proc.kill('SIGTERM');
    let timer;
    const late = new Promise((resolve) => (timer = setTimeout(resolve, stopTimeoutMs, 'late')));
    const r = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (r === 'late') {
      this.proc.kill('SIGKILL');
      return this.exited;
    }
    return r;
  }
}

/** A free TCP port on loopback (there is a small race until the child binds it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `node [...nodeArgs] <main> --tcp-port 0 --ws-port 0 --metrics-port 0 --log-level info ...extra` and
 * resolves once its "listening" log line(s) gave the TCP and WebSocket ports (and, where
 * a metrics port is known, /readyz answered 200).
 */
export async function startGateway(mainJs, extraArgs = [], name = 'gateway', nodeArgs = []) {
  const args = [...nodeArgs, mainJs, '--host', '127.0.0.1', '--tcp-port', '0', '--ws-port', '0', '--metrics-port', '0', '--log-level', 'info', ...extraArgs];
  const { child, ports } = await startListening(name, args, ['tcpPort', 'wsPort']);
  if (ports.metricsPort) await waitReady(ports.metricsPort, child);
  return { child, pid: child.proc.pid, ...ports, stop: () => child.stop() };
}

/**
 * Starts one node of the Socket.IO peer (loadtest/peers/socketio-server.mjs) on a free port,
 * sharing `redisUrl` with the other nodes through @socket.io/redis-adapter.
 */
export async function startSocketIoNode(peerJs, redisUrl, name = 'socket.io') {
  const args = [peerJs, '--host', '127.0.0.1', '--port', '0', '--redis', redisUrl];
  const { child, ports } = await startListening(name, args, ['wsPort']);
  return { child, pid: child.proc.pid, ...ports, stop: () => child.stop() };
}

/** Runs `node ...args` and waits for its "listening" JSON log line(s) to give every `required` port. */
async function startListening(name, args, required) {
  const child = new Child(name, process.execPath, args);
  const ports = {};
  const listening = new Promise((resolve, reject) => {
    child.onLineHook = (line) => {
      const entry = parseJson(line);
      // An error logged before "listening" (a worker that died, a bad flag) fails fast,
      // instead of waiting out the deadline while a cluster primary restarts workers.
      if (entry && typeof entry.level === 'number' && entry.level >= 50) {
        reject(new Error(`logged an error while starting: ${entry.msg}`));
        return;
      }
      if (!entry || entry.msg !== 'listening') return;
      // The ports may come on one line or several (primary and workers); take them as they come.
      for (const key of ['tcpPort', 'wsPort', 'metricsPort']) {
        const v = findNumber(entry, key);
        if (v !== undefined && v > 0) ports[key] = v;
      }
      if (required.every((key) => ports[key])) resolve();
    };
  });
  const outcome = await Promise.race([
    listening.then(() => 'ok', (err) => err.message),
    child.exited.then((r) => `exited early (code ${r.code}, signal ${r.signal}${r.error ? `, ${r.error.message}` : ''})`),
    unrefDelay(startTimeoutMs).then(() => `no "listening" log line with ${required.join(' and ')} within ${startTimeoutMs / 1000} s`),
  ]);
  if (outcome !== 'ok') {
    await child.stop();
    throw new Error(child.describeFailure(outcome));
  }
  child.onLineHook = () => {};
  return { child, ports };
}

async function waitReady(metricsPort, child) {
  const end = Date.now() + startTimeoutMs;
  while (Date.now() < end) {
    try {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/readyz`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      /* not up yet */
    }
    await delay(100);
  }
  await child.stop();
  throw new Error(child.describeFailure(`/readyz on port ${metricsPort} never answered 200`));
}

/** Starts a throwaway redis-server on a free loopback port, with no persistence. */
export async function startRedis() {
  const port = await freePort();
  const child = new Child('redis-server', 'redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
  ]);
  const end = Date.now() + startTimeoutMs;
  while (Date.now() < end) {
    if (child.proc.exitCode !== null) break;
    if (await ping(port)) {
      return { child, pid: child.proc.pid, port, url: `redis://127.0.0.1:${port}`, stop: () => child.stop() };
    }
    await delay(100);
  }
  await child.stop();
  throw new Error(child.describeFailure('redis-server did not answer PING'));
}

function ping(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let out = '';
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      out += d;
      if (out.includes('\r\n')) done(out.startsWith('+PONG'));
    });
  });
}

/** Fetches /metrics and returns the delivery counters (see parseDelivery); null if unreachable. */
export async function scrapeDelivery(metricsPort) {
  if (!metricsPort) return null;
  try {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(scrapeTimeoutMs) });
    if (!res.ok) return null;
    return parseDelivery(await res.text());
  } catch {
    return null;
  }
}

/**
 * Sums chorus_messages_delivered_total over its labels, and the cumulative buckets of the
 * chorus_delivery_latency_seconds histogram over its label sets: {delivered, buckets: [[le, n]]}.
 */
export function parseDelivery(text) {
  let delivered = 0;
  const buckets = new Map(); // le -> cumulative count
  for (const line of text.split('\n')) {
    const value = () => Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
    if (line.startsWith('chorus_messages_delivered_total')) delivered += value();
    else if (line.startsWith('chorus_delivery_latency_seconds_bucket')) {
      const le = /le="([^"]+)"/.exec(line)?.[1];
      if (le !== undefined) buckets.set(le, (buckets.get(le) ?? 0) + value());
    }
  }
  const sorted = [...buckets.entries()]
    .map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), n])
    .sort((a, b) => a[0] - b[0]);
  return { delivered, buckets: sorted };
}

/**
 * What the server saw between two scrapes: messages delivered and the delivery-latency
 * quantiles, each given as the upper bound (ms) of the bucket that holds it: coarse, but
 * the server's own view, to set beside the client's.
 */
export function deliveryBetween(before, after) {
  if (!after) return null;
  const b = new Map((before?.buckets ?? []).map(([le, n]) => [le, n]));
  const diff = after.buckets.map(([le, n]) => [le, n - (b.get(le) ?? 0)]);
  const total = diff.length ? diff[diff.length - 1][1] : 0;
  const q = (p) => {
    if (total <= 0) return null;
    const hit = diff.find(([, n]) => n >= p * total);
    return hit && Number.isFinite(hit[0]) ? Math.round(hit[0] * 1e6) / 1e3 : null;
  };
  return {
    delivered: after.delivered - (before?.delivered ?? 0),
    observed: total,
    p50_le_ms: q(0.5),
    p99_le_ms: q(0.99),
  };
}

function findNumber(obj, key) {
  if (typeof obj[key] === 'number') return obj[key];
  for (const v of Object.values(obj)) {
    if (v && typeof v === 'object' && typeof v[key] === 'number') return v[key];
  }
  return undefined;
}

function parseJson(line) {
  if (!line.startsWith('{')) return null;
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}

export function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A deadline that does not keep the process alive once everything else is done. */
function unrefDelay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
