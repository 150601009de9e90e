// The two scenarios, shared by the CLI (run.mjs) and the bench (bench.mjs):
//   chat    - N users connect in batches, join rooms, then send at a fixed rate with a mix of
//             public, room and private messages; ack and delivery latency, fan-out, errors.
//   connect - a connection storm: N users connect + hello + welcome in batches; timings.

import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { Stats, kinds } from './stats.mjs';
import { Histogram } from './histogram.mjs';
import { User } from './user.mjs';
import { describeTarget } from './transport.mjs';

export const defaults = Object.freeze({
  urls: ['ws://127.0.0.1:50446'],
  transport: 'ws', // ws | tcp | mix (users alternate) | sio (Socket.IO, the bench's peer)
  tcpHost: '127.0.0.1',
  tcpPorts: [50445],
  users: 500,
  duration: 30, // seconds of sending (chat) or of holding the connections (connect --hold)
  rate: 0.5, // messages per user per second: well under the server's ~20 frames/s bucket
  senders: 0, // chat: how many users send (the first ones); 0 = every user
  rooms: 5,
  mix: { public: 0.1, room: 0.6, private: 0.3 },
  size: 64, // characters of text per message (a header + padding)
  batch: 50, // connections opened at once while ramping: no SYN flood, no accept backlog overflow
  drain: 5, // seconds to wait after the send phase for acks and deliveries in flight
  hold: 0, // connect: seconds to keep every connection open before saying bye
  timeout: 10, // seconds a hello or a join may take
  deadline: 0, // seconds after which no new batch is started while ramping (0 = none); the rest count as not_started
  localAddresses: [], // source addresses users take round-robin (127.0.0.x), to spread ephemeral ports
  onPhase: () => {}, // called with 'sending', 'drained' (chat) or 'ramped', 'held' (connect): the bench samples the servers there
  progress: true, // a line on stderr every 5 s
  log: (line) => process.stderr.write(line + '\n'),
});

const closeWaitMs = 3_000;
// The lag histogram samples a timer this often; its readings include this period, which we subtract.
const lagResolutionMs = 5;
const progressEveryMs = 5_000;

/** Runs the named scenario; resolves with its result object (see report.mjs for the shape). */
export function runScenario(name, options = {}) {
  if (name === 'chat') return runChat(options);
  if (name === 'connect') return runConnect(options);
  throw new Error(`unknown scenario "${name}" (chat | connect)`);
}

export async function runChat(options = {}) {
  const o = { ...defaults, ...options };
  validate(o);
  const run = setupRun(o);
  const { stats, users } = run;
  const t0 = performance.now();

  await ramp(o, users, async (u, i) => {
    await u.connect();
    if (o.rooms > 0) await u.join(roomName(run.id, i % o.rooms));
    u.ready = true;
  });
  const rampS = (performance.now() - t0) / 1000;
  const ready = users.filter((u) => u.ready);
  o.log(`ramp: ${ready.length}/${users.length} users ready in ${rampS.toFixed(1)} s`);
  await o.onPhase('sending');

  const lag = monitorEventLoopDelay({ resolution: lagResolutionMs });
  lag.enable();
  const cpu0 = process.cpuUsage();
  const phase0 = performance.now();
  const phaseEnd = phase0 + o.duration * 1000;
  // text = marker + send time (17 chars) + ':' + padding, about `size` characters in all
  const padding = 'x'.repeat(Math.max(1, o.size - run.marker.length - 18));
  const byRoom = new Map();
  for (const u of ready) {
    if (!u.room) continue;
    if (!byRoom.has(u.room)) byRoom.set(u.room, []);
    byRoom.get(u.room).push(u);
  }
  const alive = (list) => list.reduce((n, u) => n + (u.alive ? 1 : 0), 0);
  const pickKind = kindPicker(o.mix);
  const intervalMs = 1000 / o.rate;

  const sendOne = (u) => {
    let kind = pickKind();
    if (kind === 'room' && !u.room) kind = 'public';
    if (kind === 'private' && ready.length < 2) kind = u.room ? 'room' : 'public';
    if (kind === 'public') return u.sendMessage(kind, '*', alive(ready) - 1, padding);
    if (kind === 'room') return u.sendMessage(kind, u.room, alive(byRoom.get(u.room)) - 1, padding);
    const peer = otherThan(ready, u);
    return u.sendMessage(kind, `@${peer.nick}`, peer.alive ? 1 : 0, padding);
  };
  // Each user sends on its own timer; the gap is the mean interval with +-50% jitter, so
  // sends stay spread out rather than arriving in lockstep waves.
  const schedule = (u, delay) => {
    u.timer = setTimeout(() => {
      if (!u.alive || performance.now() >= phaseEnd) return;
      sendOne(u);
      schedule(u, intervalMs * (0.5 + Math.random()));
    }, delay);
  };
  const senders = o.senders > 0 ? ready.slice(0, o.senders) : ready;
  for (const u of senders) schedule(u, Math.random() * intervalMs);

  const progress = o.progress ? setInterval(() => o.log(progressLine(stats, phase0)), progressEveryMs) : null;
  await sleep(o.duration * 1000);
  for (const u of ready) clearTimeout(u.timer);
  const sendS = (performance.now() - phase0) / 1000;

  // Drain: acks and deliveries still in flight get up to `drain` seconds.
  const drainEnd = performance.now() + o.drain * 1000;
  while (performance.now() < drainEnd) {
    const unacked = ready.reduce((n, u) => n + (u.alive ? u.pending.size : 0), 0);
    if (unacked === 0 && stats.received >= stats.expected) break;
    await sleep(50);
  }
  const activeS = (performance.now() - phase0) / 1000;
  clearInterval(progress);
  lag.disable();
  const cpu = process.cpuUsage(cpu0);
  await o.onPhase('drained');

  const unacked = users.reduce((n, u) => n + u.pending.size, 0);
  await closeAll(users);
  return chatResult(o, run, { rampS, sendS, activeS, unacked, lag, cpu, ready: ready.length });
}

export async function runConnect(options = {}) {
  const o = { ...defaults, ...options };
  validate(o);
  const run = setupRun(o);
  const { users } = run;
  const total = new Histogram(); // open + hello + welcome, per user
  const lag = monitorEventLoopDelay({ resolution: lagResolutionMs });
  lag.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await ramp(o, users, async (u) => {
    const t = await u.connect();
    total.record(t.totalMs);
    u.ready = true;
  });
  const rampS = (performance.now() - t0) / 1000;
  lag.disable();
  const cpu = process.cpuUsage(cpu0);
  const ready = users.filter((u) => u.ready).length;
  o.log(`connect: ${ready}/${users.length} users welcomed in ${rampS.toFixed(2)} s`);
  await o.onPhase('ramped');
  if (o.hold > 0) await sleep(o.hold * 1000);
  await o.onPhase('held');
  const alive = users.filter((u) => u.ready && u.alive).length; // welcomed and still connected
  await closeAll(users);
  return connectResult(o, run, { rampS, ready, alive, total, lag, cpu, activeS: rampS });
}

function validate(o) {
  const positive = (name, v) => {
    if (!(Number.isFinite(v) && v > 0)) throw new Error(`--${name} must be a positive number (got ${v})`);
  };
  positive('users', o.users);
  positive('batch', o.batch);
  positive('timeout', o.timeout);
  if (!Number.isInteger(o.users) || o.users > 15_000) {
    throw new Error('--users must be an integer up to 15000 (one process, one port range)');
  }
  if (!['ws', 'tcp', 'mix', 'sio'].includes(o.transport)) throw new Error('--transport is ws, tcp, mix or sio');
  if (!Number.isInteger(o.senders) || o.senders < 0) throw new Error('--senders must be an integer >= 0');
  if (!(o.duration >= 0) || !(o.drain >= 0) || !(o.hold >= 0)) throw new Error('durations must be >= 0');
  if (o.duration > 3600 || o.hold > 3600) throw new Error('a run is bounded: at most 3600 s');
  positive('rate', o.rate);
  if (!Number.isInteger(o.rooms) || o.rooms < 0) throw new Error('--rooms must be an integer >= 0');
  const sum = kinds.reduce((n, k) => n + (o.mix[k] ?? 0), 0);
  if (!(sum > 0)) throw new Error('--mix needs at least one positive weight');
  if ((o.mix.room ?? 0) > 0 && o.rooms === 0) throw new Error('--mix has room messages but --rooms is 0');
}

function setupRun(o) {
  const id = randomBytes(3).toString('hex'); // 6 hex chars: nicks and rooms unique per run
  const stats = new Stats();
  const targets = buildTargets(o);
  const marker = `lt:${id}:`;
  const users = Array.from(
    { length: o.users },
    (_, i) =>
      new User({
        nick: `lt${id}_${i}`,
        target: targets[i % targets.length],
        stats,
        marker,
        timeoutMs: o.timeout * 1000,
        localAddress: o.localAddresses.length ? o.localAddresses[i % o.localAddresses.length] : undefined,
      }),
  );
  return { id, stats, users, marker, targets };
}

/** Users take targets round-robin: over gateways, and over transports with `mix`. */
export function buildTargets(o) {
  const ws = o.urls.map((url) => ({ transport: 'ws', url }));
  const tcp = o.tcpPorts.map((port) => ({ transport: 'tcp', host: o.tcpHost, port }));
  if (o.transport === 'ws') return ws;
  if (o.transport === 'sio') return o.urls.map((url) => ({ transport: 'sio', url }));
  if (o.transport === 'tcp') return tcp;
  const out = [];
  for (let i = 0; i < Math.max(ws.length, tcp.length); i++) out.push(ws[i % ws.length], tcp[i % tcp.length]);
  return out;
}

/** Opens users `batch` at a time; each batch settles before the next starts. */
async function ramp(o, users, start) {
  const end = o.deadline > 0 ? performance.now() + o.deadline * 1000 : Infinity;
  for (let i = 0; i < users.length; i += o.batch) {
    if (performance.now() >= end) {
      // Past the deadline the rest are never tried: counted, so a collapse reads as one.
      for (const u of users.slice(i)) u.stats.error('not_started');
      return;
    }
    const batch = users.slice(i, i + o.batch);
    const results = await Promise.allSettled(batch.map((u, j) => start(u, i + j)));
    results.forEach((r, j) => {
      // Error frames were counted as they arrived; local failures (refused, timeout) here.
      if (r.status === 'rejected' && !r.reason?.counted) batch[j].stats.error(r.reason?.code ?? 'failed');
    });
  }
}

async function closeAll(users) {
  await Promise.all(users.map((u) => u.close(closeWaitMs)));
}

function roomName(id, k) {
  return `#lt-${id}-${k}`;
}

function otherThan(list, u) {
  if (list.length < 2) return u;
  const i = Math.floor(Math.random() * list.length);
  return list[i] === u ? list[(i + 1) % list.length] : list[i];
}

/** A function returning 'public' | 'room' | 'private' with the mix's weights. */
export function kindPicker(mix) {
  const weights = kinds.map((k) => Math.max(0, mix[k] ?? 0));
  const sum = weights.reduce((a, b) => a + b, 0);
  return () => {
    let r = Math.random() * sum;
    for (let i = 0; i < kinds.length; i++) {
      r -= weights[i];
      if (r < 0 && weights[i] > 0) return kinds[i];
    }
    return kinds[weights.findLastIndex((w) => w > 0)];
  };
}

function progressLine(s, phase0) {
  const t = ((performance.now() - phase0) / 1000).toFixed(0);
  const errs = [...s.errors.values()].reduce((a, b) => a + b, 0);
  const p99 = s.ackMs.quantile(0.99);
  return (
    `t=${t}s sent=${s.sent} acked=${s.acked} received=${s.received}/${s.expected} ` +
    `errors=${errs} ack_p99=${p99 === null ? '-' : p99.toFixed(1)}ms`
  );
}

function chatResult(o, run, m) {
  const s = run.stats;
  const perS = (n) => (m.sendS > 0 ? Math.round((n / m.sendS) * 10) / 10 : 0);
  return {
    scenario: 'chat',
    transport: o.transport,
    targets: run.targets.map(describeTarget),
    users: o.users,
    ready: m.ready,
    rooms: o.rooms,
    rate: o.rate,
    mix: o.mix,
    duration_s: round2(m.sendS),
    ramp_s: round2(m.rampS),
    sent: s.sent,
    acked: s.acked,
    unacked: m.unacked,
    received: s.received,
    expected: s.expected,
    delivery_ratio: s.expected > 0 ? Math.round((s.received / s.expected) * 10000) / 10000 : null,
    echoes: s.echoes,
    sent_per_s: perS(s.sent),
    acked_per_s: perS(s.acked),
    received_per_s: m.activeS > 0 ? Math.round((s.received / m.activeS) * 10) / 10 : 0,
    by_kind: s.byKind,
    ack_ms: s.ackMs.summary(),
    delivery_ms: s.deliveryMs.summary(),
    e2e_ms: s.e2eMs.summary(),
    connect_ms: s.connectMs.summary(),
    welcome_ms: s.welcomeMs.summary(),
    join_ms: s.joinMs.summary(),
    errors: s.errorsObject(),
    rate_limited: s.errors.get('rate_limited') ?? 0,
    disconnects: s.disconnects,
    foreign: s.foreign,
    loadgen: loadgenUse(m),
  };
}

/** How busy this process was: if it saturates a core, the latencies above are partly its own. */
function loadgenUse(m) {
  return {
    cpu_pct: m.activeS > 0 ? Math.round(((m.cpu.user + m.cpu.system) / 1000 / (m.activeS * 1000)) * 1000) / 10 : 0,
    lag_p99_ms: lagMs(m.lag.percentile(99)),
    lag_max_ms: lagMs(m.lag.max),
  };
}

function connectResult(o, run, m) {
  const s = run.stats;
  return {
    scenario: 'connect',
    transport: o.transport,
    targets: run.targets.map(describeTarget),
    users: o.users,
    batch: o.batch,
    connected: s.connected,
    welcomed: s.welcomed,
    alive_after_hold: m.alive,
    failed: o.users - m.ready,
    ramp_s: round2(m.rampS),
    welcomed_per_s: m.rampS > 0 ? Math.round((s.welcomed / m.rampS) * 10) / 10 : 0,
    sent: 0,
    acked: 0,
    received: 0,
    ack_ms: s.ackMs.summary(),
    delivery_ms: s.deliveryMs.summary(),
    connect_ms: s.connectMs.summary(),
    welcome_ms: s.welcomeMs.summary(),
    total_ms: m.total.summary(),
    errors: s.errorsObject(),
    disconnects: s.disconnects,
    frames_in: s.framesIn,
    loadgen: loadgenUse(m),
  };
}

const round2 = (v) => Math.round(v * 100) / 100;
const lagMs = (ns) => round2(Math.max(0, ns / 1e6 - lagResolutionMs));

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
