// `npm run bench -- --compare socketio`: Chorus against an equivalent Socket.IO 4 cluster
// (loadtest/peers/socketio-server.mjs), on the same scenarios, one after the other, each on
// fresh servers: a redis-server and two nodes of the system under test. Server cost is the
// CPU time and resident memory of both nodes' process trees plus redis-server, from /proc.
//
// Every scenario reuses the generator of run.mjs (lib/scenarios.mjs); Socket.IO users are
// the same simulated users on the `sio` transport.

import { mkdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { runScenario } from './scenarios.mjs';
import { table } from './report.mjs';
import { eachArg } from './args.mjs';
import { ratioChart } from './chart.mjs';
import { sampleTrees } from './procstat.mjs';
import { startGateway, startRedis, startSocketIoNode } from './processes.mjs';

// Ephemeral ports are per source address: users spread over these, so 10,000+ connections
// plus the previous scenario's TIME_WAITs never run one address dry.
const sourceAddresses = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);
// A loaded generator inflates latencies: past this it says so on the row.
const generatorBoundCpuPct = 90;
const generatorBoundLagMs = 50;
// Before a chat's send phase the servers must have finished the ramp's work (presence fan-out
// above all): sending starts once they use under this much CPU, or after settleMaxMs anyway.
const settledCpuPct = 15;
const settleStepMs = 500;
const settleMaxMs = 15_000;

export const compareUsage = `usage: npm run bench -- --compare socketio [options]

  --scale F          multiply every scenario's user count by F (default 1; 0.02 is a CI smoke)
  --duration S       seconds of sending in broadcast and private (default 15)
  --hold S           seconds the storm's users are then held idle (default 30)
  --ramp-deadline S  no new connection batch after S seconds of a chat's ramp (default 40)
                     or of the storm (default 60)
  --only LIST        scenarios to run, comma separated (default: all of
                     broadcast,private,private-history-0,connect-storm; the storm's
                     hold gives the idle row)
  --write-delay-ms N passed to the Chorus gateways (--write-delay-ms)
  --cpu-prof DIR     run the Chorus gateways under node --cpu-prof, profiles into DIR
  --baseline PATH    also run this older Chorus entry point (system chorus-base), in the same
                     run, to measure a change against it (e.g. a copy of dist/ made before)
  --out DIR          where the JSON and SVG go (default loadtest/results)
  --server PATH      the Chorus entry point (default dist/server/main.js)`;

export function parseCompareArgs(argv, repoRoot) {
  const o = {
    compare: null,
    scale: 1,
    duration: 15,
    hold: 30,
    rampDeadline: null,
    only: null,
    writeDelayMs: null,
    cpuProf: null,
    baseline: null,
    out: path.join(repoRoot, 'loadtest/results'),
    server: path.join(repoRoot, 'dist/server/main.js'),
    peer: path.join(repoRoot, 'loadtest/peers/socketio-server.mjs'),
  };
  eachArg(argv, (a, next) => {
    const num = (name) => {
      const n = Number(next());
      if (!(Number.isFinite(n) && n >= 0)) throw new Error(`${name} must be a number >= 0`);
      return n;
    };
    if (a === '--compare') o.compare = next();
    else if (a === '--scale') o.scale = num(a);
    else if (a === '--duration') o.duration = num(a);
    else if (a === '--hold') o.hold = num(a);
    else if (a === '--ramp-deadline') o.rampDeadline = num(a);
    else if (a === '--write-delay-ms') o.writeDelayMs = num(a);
    else if (a === '--cpu-prof') o.cpuProf = path.resolve(next());
    else if (a === '--baseline') o.baseline = path.resolve(next());
    else if (a === '--only') o.only = next().split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--out') o.out = path.resolve(next());
    else if (a === '--server') o.server = path.resolve(next());
    else if (a === '--help' || a === '-h') o.help = true;
    else throw new Error(`unknown argument ${a}`);
  });
  if (!o.help && o.compare !== 'socketio') throw new Error('--compare takes one peer: socketio');
  if (!(o.scale > 0 && o.scale <= 2)) throw new Error('--scale: above 0, at most 2');
  if (!(o.duration > 0 && o.duration <= 120)) throw new Error('--duration: above 0, at most 120 s');
  if (o.hold > 120) throw new Error('--hold: at most 120 s');
  const names = scenarios(o).map((s) => s.name);
  for (const n of o.only ?? []) if (!names.includes(n)) throw new Error(`--only: unknown scenario ${n} (${names.join(', ')})`);
  return o;
}

/**
 * The issue's scenarios. `unit` is what server CPU is divided by; `history: 0` runs Chorus
 * with --history 0 only, to price history against the same run's history-on row.
 */
export function scenarios(o) {
  const n = (users) => Math.max(4, Math.round(users * o.scale));
  // Chat ramps are not what is measured: smaller batches and a patient welcome, so that a slow
  // ramp (presence fan-out grows as users²) still gets everyone in before sending starts.
  const chat = { rooms: 0, batch: 100, timeout: 30, drain: 5, duration: o.duration, deadline: o.rampDeadline ?? 40 };
  return [
    { name: 'broadcast', kind: 'chat', unit: 'delivery', options: { ...chat, users: n(1000), senders: 1, rate: 50, mix: { public: 1 } } },
    { name: 'private', kind: 'chat', unit: 'message', options: { ...chat, users: n(2000), rate: 2, mix: { private: 1 } } },
    { name: 'private-history-0', kind: 'chat', unit: 'message', chorusOnly: true, chorusArgs: ['--history', '0'], options: { ...chat, users: n(2000), rate: 2, mix: { private: 1 } } },
    // One session gives two rows: the storm (connecting 200 at a time) and idle (the same
    // users then held): an idle population has to connect first anyway, and the 10-minute
    // budget has no room for a second 10,000-user ramp per system.
    { name: 'connect-storm', kind: 'connect', unit: 'connection', options: { batch: 200, deadline: o.rampDeadline ?? 60, users: n(10_000), hold: o.hold } },
  ].filter((s) => !o.only || o.only.includes(s.name));
}

/** Starts a redis-server and two nodes of `system`; returns them with what the generator needs. */
async function startCluster(system, scenario, o, owned) {
  const redis = await startRedis();
  owned.push(redis);
  const nodes = [];
  for (const i of [1, 2]) {
    let node;
    if (system.startsWith('chorus')) {
      // --rate above the offered per-connection rate (the broadcast sender sends 50/s):
      // the bench measures cost, and Socket.IO has no rate limit.
      const args = ['--workers', '1', '--redis', redis.url, '--rate', '200', '--burst', '400', '--max-connections', '20000'];
      const base = system === 'chorus-base';
      if (o.writeDelayMs !== null && !base) args.push('--write-delay-ms', String(o.writeDelayMs));
      const nodeArgs = o.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', path.join(o.cpuProf, `${system}-${scenario.name}`)] : [];
      node = await startGateway(base ? o.baseline : o.server, [...args, ...(scenario.chorusArgs ?? [])], `${system}-${i}`, nodeArgs);
    } else {
      node = await startSocketIoNode(o.peer, redis.url, `socket.io-${i}`);
    }
    owned.push(node);
    nodes.push(node);
  }
  const urls = nodes.map((g) => `ws://127.0.0.1:${g.wsPort}`);
  return { redis, nodes, pids: [redis.pid, ...nodes.map((g) => g.pid)], transport: system === 'socket.io' ? 'sio' : 'ws', urls };
}

/** One scenario on one system, on servers started for it and stopped after it (its rows). */
async function runOne(system, scenario, o, log, owned) {
  try {
    const c = await startCluster(system, scenario, o, owned);
    const redisClient = new Redis(c.redis.url, { lazyConnect: true, enableOfflineQueue: false });
    await redisClient.connect();
    const sample = () => ({ ...sampleTrees(c.pids), t: Date.now() });
    const marks = { start: sample() };
    let commandStats = null;
    const onPhase = async (phase) => {
      if (phase === 'sending') marks.settleS = await settle(c.pids);
      marks[phase] = sample();
      if (phase === 'sending') await redisClient.config('RESETSTAT');
      if (phase === 'drained') commandStats = parseCommandStats(await redisClient.info('commandstats'));
    };
    const result = await runScenario(scenario.kind, {
      ...scenario.options,
      transport: c.transport,
      urls: c.urls,
      localAddresses: sourceAddresses,
      progress: false,
      onPhase,
      log: (l) => log(`  ${l}`),
    });
    redisClient.disconnect();
    return scenario.kind === 'chat' ? [chatRow(system, scenario, result, marks, commandStats)] : connectRows(system, scenario, result, marks);
  } finally {
    for (const c of owned.reverse()) await c.stop().catch(() => {});
    owned.length = 0;
  }
}

/** Waits until the servers are nearly idle (or settleMaxMs passed); returns the seconds waited. */
async function settle(pids) {
  const t0 = Date.now();
  let last = sampleTrees(pids);
  while (Date.now() - t0 < settleMaxMs) {
    await new Promise((resolve) => setTimeout(resolve, settleStepMs));
    const now = sampleTrees(pids);
    const pct = ((now.cpuUs - last.cpuUs) / 1e3 / settleStepMs) * 100;
    last = now;
    if (pct < settledCpuPct) break;
  }
  return Math.round((Date.now() - t0) / 100) / 10;
}

/** What every row has, from the generator's result. */
function baseRow(system, name, unit, r) {
  const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
  return {
    system,
    scenario: name,
    users: r.users,
    unit,
    errors,
    error_codes: r.errors,
    loadgen_cpu_pct: r.loadgen.cpu_pct,
    loadgen_lag_p99_ms: r.loadgen.lag_p99_ms,
    generator_bound: r.loadgen.cpu_pct >= generatorBoundCpuPct || r.loadgen.lag_p99_ms >= generatorBoundLagMs,
  };
}

const round = (v, d = 1) => (v === null || !Number.isFinite(v) ? null : Math.round(v * 10 ** d) / 10 ** d);

/** A chat's row: server CPU from the send phase only (after the ramp settled), per unit. */
function chatRow(system, scenario, r, marks, commandStats) {
  const { sending: a, drained: b } = marks;
  const cpuUs = b.cpuUs - a.cpuUs;
  const units = scenario.unit === 'delivery' ? r.received : r.acked;
  return {
    ...baseRow(system, scenario.name, scenario.unit, r),
      ready: r.ready,
      deliveries_per_s: r.received_per_s,
      messages_per_s: r.acked_per_s,
      p50_ms: r.e2e_ms.p50,
      p99_ms: r.e2e_ms.p99,
      lost: Math.max(0, r.expected - r.received) + r.unacked + (r.users - r.ready),
      cpu_us_per_unit: units > 0 ? round(cpuUs / units, 2) : null,
      server_cpu_pct: cpuPct(cpuUs, b.t - a.t),
      kib_per_conn: r.ready > 0 ? round((a.rssKiB - marks.start.rssKiB) / r.ready) : null,
      connect_s: r.ramp_s,
      settle_s: marks.settleS,
      redis_calls_per_msg: commandStats && r.acked > 0 ? round(commandStats.calls / r.acked, 2) : null,
      redis_commands: commandStats?.byCommand ?? null,
  };
}

/**
 * The storm's two rows. connect-storm: the ramp, CPU per connection welcomed; idle: the
 * users then held, memory per connection at the end of the hold and CPU per connection per
 * second of holding.
 */
function connectRows(system, scenario, r, marks) {
  const { start, ramped: a, held: b } = marks;
  const base = baseRow(system, scenario.name, scenario.unit, r);
  const common = { ready: r.welcomed, deliveries_per_s: null, p50_ms: r.total_ms.p50, p99_ms: r.total_ms.p99, connect_s: r.ramp_s, redis_calls_per_msg: null };
  const storm = {
    ...base,
    ...common,
    lost: r.users - r.welcomed,
    cpu_us_per_unit: r.welcomed > 0 ? round((a.cpuUs - start.cpuUs) / r.welcomed, 1) : null,
    server_cpu_pct: cpuPct(a.cpuUs - start.cpuUs, a.t - start.t),
    kib_per_conn: r.welcomed > 0 ? round((a.rssKiB - start.rssKiB) / r.welcomed) : null,
  };
  const holdS = (b.t - a.t) / 1000;
  const idle = {
    ...base,
    ...common,
    scenario: 'idle',
    hold_s: round(holdS),
    lost: r.welcomed - r.alive_after_hold,
    cpu_us_per_unit: r.welcomed > 0 && holdS > 0 ? round((b.cpuUs - a.cpuUs) / r.welcomed / holdS, 2) : null,
    unit: 'connection-second',
    server_cpu_pct: cpuPct(b.cpuUs - a.cpuUs, b.t - a.t),
    kib_per_conn: r.welcomed > 0 ? round((b.rssKiB - start.rssKiB) / r.welcomed) : null,
  };
  return [storm, idle];
}

/** CPU time as % of one core over a wall-clock span. */
const cpuPct = (cpuUs, ms) => (ms > 0 ? Math.round((cpuUs / 1e3 / ms) * 1000) / 10 : null);

/** `INFO commandstats` → {calls, byCommand: {get: n, …}}. */
export function parseCommandStats(text) {
  const byCommand = {};
  let calls = 0;
  for (const line of text.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (!m || m[1] === 'config' || m[1] === 'info') continue; // the bench's own two calls
    byCommand[m[1]] = Number(m[2]);
    calls += Number(m[2]);
  }
  return { calls, byCommand };
}

/** Chorus ÷ Socket.IO for each scenario both ran, and history on ÷ off. */
export function ratiosOf(rows) {
  const find = (system, scenario) => rows.find((r) => r.system === system && r.scenario === scenario);
  const div = (a, b) => (a === null || b === null || a === undefined || b === undefined || b === 0 ? null : Math.round((a / b) * 100) / 100);
  const out = [];
  for (const c of rows.filter((r) => r.system !== 'socket.io')) {
    const s = find('socket.io', c.scenario);
    if (!s) continue;
    out.push({
      system: c.system,
      scenario: c.scenario,
      deliveries_per_s: div(c.deliveries_per_s, s.deliveries_per_s),
      p99_ms: div(c.p99_ms, s.p99_ms),
      cpu_us_per_unit: div(c.cpu_us_per_unit, s.cpu_us_per_unit),
      kib_per_conn: div(c.kib_per_conn, s.kib_per_conn),
      connect_s: div(c.connect_s, s.connect_s),
    });
  }
  return out;
}

/** The issue's goals, each met or missed by how much, from this run's rows. */
export function goalsOf(rows, ratios) {
  const ratio = (scenario, key) => ratios.find((r) => r.system === 'chorus' && r.scenario === scenario)?.[key] ?? null;
  const row = (system, scenario) => rows.find((r) => r.system === system && r.scenario === scenario);
  const goals = [];
  const atMost = (name, value, limit) => {
    if (value === null) return;
    goals.push({ goal: name, value, limit, met: value <= limit });
  };
  const storm = row('chorus', 'connect-storm');
  if (storm) {
    goals.push({ goal: 'connect-storm: every user welcomed', value: storm.ready, limit: storm.users, met: storm.ready === storm.users && storm.lost === 0 });
  }
  atMost('connect-storm: connect time ÷ Socket.IO', ratio('connect-storm', 'connect_s'), 1);
  atMost('broadcast: CPU per delivery ÷ Socket.IO', ratio('broadcast', 'cpu_us_per_unit'), 0.5);
  atMost('broadcast: p99 ÷ Socket.IO', ratio('broadcast', 'p99_ms'), 1);
  atMost('private: CPU per message ÷ Socket.IO', ratio('private', 'cpu_us_per_unit'), 0.5);
  atMost('idle: KiB per connection ÷ Socket.IO', ratio('idle', 'kib_per_conn'), 0.5);
  const on = row('chorus', 'private');
  const off = row('chorus', 'private-history-0');
  if (on?.cpu_us_per_unit && off?.cpu_us_per_unit) {
    atMost('history on ÷ history 0: CPU per message', Math.round((on.cpu_us_per_unit / off.cpu_us_per_unit) * 100) / 100, 1.15);
  }
  return goals;
}

const unitAbbr = { delivery: 'dlv', message: 'msg', connection: 'conn', 'connection-second': 'conn·s' };

export function compareTable(rows, ratios) {
  const v = (x) => (x === null || x === undefined ? '-' : String(x));
  const head = ['system', 'scenario', 'users', 'deliv/s', 'p50 ms', 'p99 ms', 'lost', 'errors', 'cpu µs/unit', 'srv cpu %', 'KiB/conn', 'connect s', 'redis/msg', 'gen cpu %'];
  const body = rows.map((r) => [
    r.system,
    r.scenario,
    `${r.ready}/${r.users}`,
    v(r.deliveries_per_s),
    v(r.p50_ms),
    v(r.p99_ms),
    v(r.lost),
    v(r.errors),
    `${v(r.cpu_us_per_unit)} /${unitAbbr[r.unit]}`,
    v(r.server_cpu_pct),
    v(r.kib_per_conn),
    v(r.connect_s),
    v(r.redis_calls_per_msg),
    `${v(r.loadgen_cpu_pct)}${r.generator_bound ? ' (bound)' : ''}`,
  ]);
  const ratioRows = ratios.map((x) => [
    `${x.system}/sio`,
    x.scenario,
    '',
    v(x.deliveries_per_s),
    '',
    v(x.p99_ms),
    '',
    '',
    v(x.cpu_us_per_unit),
    '',
    v(x.kib_per_conn),
    v(x.connect_s),
    '',
    '',
  ]);
  return table([head, ...body, ...ratioRows]);
}

/**
 * Runs every scenario on Chorus then Socket.IO. `state` ({rows, owned}) is filled as it goes,
 * so that a caller's deadline can stop what runs and still report the rows so far.
 */
export async function runCompare(o, log, state) {
  for (const scenario of scenarios(o)) {
    const chorus = o.baseline ? ['chorus', 'chorus-base'] : ['chorus'];
    for (const system of scenario.chorusOnly ? chorus : [...chorus, 'socket.io']) {
      log(`compare: ${system} ${scenario.name} (${scenario.options.users} users) ...`);
      for (const row of await runOne(system, scenario, o, log, state.owned)) {
        log(`  ${row.scenario}: lost ${row.lost}, errors ${row.errors}, ${row.cpu_us_per_unit} µs/${row.unit}, ${row.kib_per_conn} KiB/conn, connect ${row.connect_s} s`);
        state.rows.push(row);
      }
    }
  }
}

/** The report of the rows so far: written to `o.out` as JSON and SVG, returned. */
export function finishReport(o, rows, argvForReport, t0, incomplete) {
  const ratios = ratiosOf(rows);
  const report = {
    when: new Date().toISOString(),
    command: `npm run bench -- ${argvForReport.join(' ')}`,
    seconds: Math.round((Date.now() - t0) / 1000),
    ...(incomplete ? { incomplete } : {}),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '', loadavg_1m: Math.round(loadavg()[0] * 100) / 100 },
    server_cpu: 'both nodes\' process trees + redis-server, /proc utime+stime',
    rows,
    ratios,
    goals: goalsOf(rows, ratios),
    version: packageVersion(o.server),
  };
  writeReport(report, o.out);
  return report;
}

function writeReport(report, dir) {
  mkdirSync(dir, { recursive: true });
  const stamp = report.when.replace(/[:.]/g, '-');
  const json = path.join(dir, `compare-${stamp}.json`);
  const svg = path.join(dir, `compare-${stamp}.svg`);
  writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
  const bars = [];
  for (const r of report.ratios) {
    for (const [key, label] of [['cpu_us_per_unit', 'server CPU'], ['p99_ms', 'p99'], ['kib_per_conn', 'KiB/conn'], ['connect_s', 'connect time']]) {
      bars.push({ label: `${r.system === 'chorus' ? '' : `${r.system} `}${r.scenario}: ${label}`, ratio: r[key] });
    }
  }
  writeFileSync(svg, ratioChart(bars, `chorus vs socket.io, ${report.when.slice(0, 16)} UTC, ${report.command}`));
  copyFileSync(json, path.join(dir, 'compare-latest.json'));
  copyFileSync(svg, path.join(dir, 'compare-latest.svg'));
  report.files = { json, svg };
}

function packageVersion(serverJs) {
  try {
    const pkg = JSON.parse(readFileSync(path.join(path.dirname(serverJs), '../../package.json'), 'utf8'));
    return pkg.version;
  } catch {
    return null;
  }
}
