// What the reliability scenarios share: the fleet and its users, the message flow, the
// periodic drops, the wait for everything in flight, and the verdict with its figures.

import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { startFleet } from './fleet.mjs';
import { Histogram } from './histogram.mjs';
import { Ledger } from './ledger.mjs';
import { delay } from './processes.mjs';
import { table } from './report.mjs';
import { Resumer } from './resumer.mjs';

const nowMs = () => performance.now();
/** A resume must land inside the server's grace (30 s by default); leave it a margin. */
const resumeWithinMs = 25_000;
/** After the last expected delivery, how long late copies may still turn up as duplicates. */
const duplicateWindowMs = 1_000;

export const defaults = {
  clients: 300, // what this shared 2-core box holds with the drops below; the issue names 2,000
  senders: 30,
  rate: 2, // messages per second per sender
  rooms: 20,
  mix: { public: 0.1, room: 0.6, private: 0.3 },
  duration: 60, // seconds of traffic
  dropEvery: 15, // seconds between a socket's drops, jittered ±1/3
  dropFor: 2, // seconds a dropped socket stays away, jittered ±1/4
  batch: 50,
  drain: 20, // seconds to wait for deliveries once the traffic stops
  gateways: 2,
  transport: 'mix',
};

export function newStats() {
  return {
    resumeMs: new Histogram(), // resume hello -> welcome
    gapMs: new Histogram(), // connection lost -> welcomed again
    replayMs: new Histogram(), // resume hello -> each message replayed
    errors: new Map(),
    replayed: 0,
    echoes: 0,
    drops: 0,
    resumeFailures: 0,
    restartByes: 0,
    movedByes: 0,
    skipped: 0, // sends not made because the sender was offline at that moment
  };
}

/**
 * Starts the fleet and connects `o.clients` users through the balancer, alternating
 * WebSocket and TCP, each joining room i mod rooms. Lost connections resume on their own.
 */
export async function setup(o, log) {
  const fleet = await startFleet({ gateways: o.gateways, gatewayArgs: o.gatewayArgs ?? [] });
  const run = randomBytes(3).toString('hex');
  const ledger = new Ledger();
  const stats = newStats();
  const lb = fleet.lb;
  const targets = {
    ws: { transport: 'ws', url: `ws://127.0.0.1:${lb.wsPort}` },
    tcp: { transport: 'tcp', host: '127.0.0.1', port: lb.tcpPort },
  };
  const users = [];
  for (let i = 0; i < o.clients; i++) {
    const transport = o.transport === 'mix' ? (i % 2 ? 'tcp' : 'ws') : o.transport;
    users.push(
      new Resumer({
        index: i,
        nick: `r${run}_${i}`,
        room: `#r${run}-${i % o.rooms}`,
        target: targets[transport],
        ledger,
        marker: `rl:${run}:`,
        stats,
        timeoutMs: 20_000,
        onLost: (u) => u.resume(nowMs() + resumeWithinMs),
      }),
    );
  }
  const t0 = nowMs();
  try {
    for (let i = 0; i < users.length; i += o.batch) {
      await Promise.all(users.slice(i, i + o.batch).map((u) => u.start()));
    }
  } catch (err) {
    await teardown({ fleet, users });
    throw err;
  }
  log(`${users.length} users connected and joined in ${((nowMs() - t0) / 1000).toFixed(1)} s`);
  return { fleet, users, ledger, stats, run, targets, lag: startLagMonitor(), cpu0: process.cpuUsage(), startedAt: nowMs() };
}

/** Every `senders`-th user sends (spread over rooms, gateways and transports), at `rate`/s each, jittered ±50 %. */
export function startTraffic(ctx, o) {
  const { users, ledger, stats } = ctx;
  const step = Math.max(1, Math.floor(users.length / o.senders));
  const senders = users.filter((_, i) => i % step === 0).slice(0, o.senders);
  const mean = 1000 / o.rate;
  const weights = Object.entries(o.mix);
  const total = weights.reduce((s, [, w]) => s + w, 0);
  const pickKind = () => {
    let x = Math.random() * total;
    for (const [k, w] of weights) if ((x -= w) < 0) return k;
    return weights[weights.length - 1][0];
  };
  let stopped = false;
  const timers = new Set();
  const tick = (u) => {
    if (stopped) return;
    if (u.counted && !u.stopped) {
      if (!u.online) stats.skipped++;
      else {
        const kind = pickKind();
        if (kind === 'public') u.send(ledger.open('public', u.index, null), '*');
        else if (kind === 'room') u.send(ledger.open('room', u.index, u.room), u.room);
        else {
          let peer;
          do peer = users[Math.floor(Math.random() * users.length)];
          while (peer === u && users.length > 1);
          u.send(ledger.open('private', u.index, peer.index), `@${peer.nick}`);
        }
      }
    }
    const t = setTimeout(() => {
      timers.delete(t);
      tick(u);
    }, mean * (0.5 + Math.random()));
    timers.add(t);
  };
  for (const u of senders) {
    const t = setTimeout(() => {
      timers.delete(t);
      tick(u);
    }, Math.random() * mean);
    timers.add(t);
  }
  return {
    senders: senders.length,
    stop() {
      stopped = true;
      timers.forEach(clearTimeout);
    },
  };
}

/** Drops every user's socket every ~`dropEvery` s for ~`dropFor` s, then resumes it. */
export function startChurn(ctx, o) {
  const { users, stats } = ctx;
  let stopped = false;
  const timers = new Set();
  const later = (ms, fn) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    timers.add(t);
  };
  const cycle = (u) => {
    if (u.online && u.counted) {
      stats.drops++;
      u.drop();
      later(o.dropFor * 1000 * (0.75 + Math.random() / 2), () => u.resume(nowMs() + resumeWithinMs));
    }
    later(o.dropEvery * 1000 * (2 / 3 + (Math.random() * 2) / 3), () => cycle(u));
  };
  for (const u of users) later(Math.random() * o.dropEvery * 1000, () => cycle(u));
  return {
    stop() {
      stopped = true;
      timers.forEach(clearTimeout);
    },
  };
}

/**
 * Waits until every counted user is back online with nothing unacked, then until every
 * expected delivery arrived (at most `drainS`), then a short window for late duplicates.
 */
export async function settle(ctx, o, log) {
  const counted = ctx.users.filter((u) => u.counted);
  for (const u of counted) if (!u.online) u.resume(nowMs() + resumeWithinMs);
  await Promise.all(counted.map((u) => u.resuming));
  const end = nowMs() + o.drain * 1000;
  while (nowMs() < end && counted.some((u) => u.online && u.pending.size > 0)) await delay(100);
  let p = ctx.ledger.progress(ctx.users);
  while (nowMs() < end && p.delivered < p.expected) {
    await delay(250);
    p = ctx.ledger.progress(ctx.users);
  }
  log(`settled: ${p.delivered}/${p.expected} delivered`);
  await delay(duplicateWindowMs);
}

export async function teardown(ctx) {
  ctx.lag?.disable();
  await Promise.allSettled((ctx.users ?? []).map((u) => u.close(2_000)));
  await ctx.fleet?.stop();
}

/** The figures every scenario prints; `extra` adds the scenario's own. */
export function verdict(ctx, o, traffic, extra = {}) {
  const c = ctx.ledger.check(ctx.users);
  const s = ctx.stats;
  const cpu = process.cpuUsage(ctx.cpu0);
  const activeS = (nowMs() - ctx.startedAt) / 1000;
  const unacked = ctx.users.reduce((n, u) => n + u.pending.size, 0);
  return {
    clients: ctx.users.length,
    counted: ctx.users.filter((u) => u.counted).length,
    senders: traffic.senders,
    rate: o.rate,
    duration_s: o.duration,
    ...c,
    delivered_ratio: c.expected ? c.delivered / c.expected : null,
    unacked,
    echoes: s.echoes,
    drops: s.drops,
    resumes: ctx.users.reduce((n, u) => n + u.resumes, 0),
    resume_failures: s.resumeFailures,
    restart_byes: s.restartByes,
    moved_byes: s.movedByes,
    skipped_offline: s.skipped,
    replayed: s.replayed,
    replay_ms: s.replayMs.summary(),
    resume_ms: s.resumeMs.summary(),
    gap_ms: s.gapMs.summary(),
    errors: Object.fromEntries(s.errors),
    gateway_warnings: Object.fromEntries(ctx.fleet.gateways.map((g) => [g.id, Object.fromEntries(g.warnings)])),
    loadgen: { cpu_pct: Math.round(((cpu.user + cpu.system) / 1e6 / activeS) * 1000) / 10, lag_p99_ms: Math.round(ctx.lag.percentile(99) / 1e4) / 100 },
    ...extra,
  };
}

/**
 * Lost or duplicated acked messages fail the run; so do copies to users a message was not
 * for (an echo to its sender is a second copy there), and a user that could not resume.
 */
export function passed(r) {
  return r.lost === 0 && r.duplicates === 0 && r.unexpected === 0 && r.resume_failures === 0 && r.acked > 0;
}

export function summary(name, r) {
  const pct = r.delivered_ratio === null ? '-' : `${(r.delivered_ratio * 100).toFixed(3)} %`;
  const ms = (h) => [h.count, h.p50, h.p99, h.max].map((v) => (v === null ? '-' : String(v)));
  const lines = [
    `chorus reliability: ${name}, ${r.clients} clients (${r.counted} counted), ${r.senders} senders × ${r.rate} msg/s, ${r.duration_s} s`,
    `delivered ${r.delivered} / ${r.expected} expected (${pct})   lost ${r.lost}   duplicates ${r.duplicates}   unexpected ${r.unexpected}`,
    `messages  sent ${r.sent}  acked ${r.acked}  unacked ${r.unacked}  refused ${JSON.stringify(r.refused)}  skipped (sender offline) ${r.skipped_offline}`,
    `sessions  drops ${r.drops}  resumes ${r.resumes}  resume failures ${r.resume_failures}  bye restart ${r.restart_byes}  bye moved ${r.moved_byes}`,
    '',
    table([['latency (ms)', 'count', 'p50', 'p99', 'max'], ['replay (resume hello → replayed msg)', ...ms(r.replay_ms)], ['resume (hello → welcome)', ...ms(r.resume_ms)], ['gap (lost → welcomed again)', ...ms(r.gap_ms)]]),
    '',
  ];
  for (const [k, b] of Object.entries(r.by_kind)) lines.push(`  ${k.padEnd(8)} acked ${b.acked}  delivered ${b.delivered}/${b.expected}  lost ${b.lost}  duplicates ${b.duplicates}`);
  if (r.restarts) for (const x of r.restarts) lines.push(`restart   ${x.gateway}: ${x.clients} clients, drained and exited (code ${x.exit_code}) in ${x.drained_ms} ms, UP in HAProxy again after ${x.back_up_ms} ms`);
  if (r.longest_gap_ms !== undefined) lines.push(`longest gap a client saw (lost → welcomed again): ${r.longest_gap_ms} ms`);
  if (r.ghost_ms) {
    lines.push(`crash     ${r.victims} users on the killed gateway; resume after the kill p50 ${r.crash_resume_ms.p50} ms, p99 ${r.crash_resume_ms.p99} ms (${r.crash_resume_ms.count} resumed)`);
    lines.push(`ghosts    ${r.ghosts_seen_offline}/${r.ghosts} that never came back seen offline by others after p50 ${r.ghost_ms.p50} ms, max ${r.ghost_ms.max} ms: dropped by ${r.ghost_dropped_by}; resumed users announced offline meanwhile: ${r.resumed_victims_announced_offline}`);
  }
  if (r.gateways) {
    const rows = [['gateway', 'rss MB start→end (max)', 'heap MB start→end (max)', 'fds start→end (max)', 'loop lag p99 ms max']];
    for (const [id, g] of Object.entries(r.gateways)) {
      rows.push([id, `${g.rss_mb.start}→${g.rss_mb.end} (${g.rss_mb.max})`, `${g.heap_mb.start}→${g.heap_mb.end} (${g.heap_mb.max})`, `${g.fds.start}→${g.fds.end} (${g.fds.max})`, String(g.eventloop_lag_p99_ms.max)]);
    }
    lines.push(table(rows));
    lines.push(`visitors  ${JSON.stringify(r.visitors)}`);
  }
  if (r.lost_samples.length) lines.push(`lost, first ones: ${JSON.stringify(r.lost_samples)}`);
  if (r.duplicate_samples.length) lines.push(`duplicates, first ones: ${JSON.stringify(r.duplicate_samples)}`);
  lines.push(`errors    ${Object.keys(r.errors).length ? JSON.stringify(r.errors) : 'none'}`);
  lines.push(`gateways  warnings logged: ${JSON.stringify(r.gateway_warnings)}`);
  lines.push(`loadgen   cpu ${r.loadgen.cpu_pct} % of one core, event-loop lag p99 ${r.loadgen.lag_p99_ms} ms`);
  const also = [r.unexpected ? `${r.unexpected} to users they were not for` : '', r.resume_failures ? `${r.resume_failures} could not resume` : ''].filter(Boolean);
  if (r.lost_to_refused_resumes) lines.push(`of the lost: ${r.lost_to_refused_resumes} owed to users whose resume failed (timed out or refused: the grace period ran out)`);
  lines.push(`result    ${passed(r) ? 'PASS' : 'FAIL'}: ${r.lost} lost, ${r.duplicates} duplicated${also.map((a) => `, ${a}`).join('')}`);
  return lines.join('\n');
}

function startLagMonitor() {
  const h = monitorEventLoopDelay({ resolution: 20 });
  h.enable();
  return h;
}
