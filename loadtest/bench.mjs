#!/usr/bin/env node
// `npm run bench`: starts its own chorus-server on free ports, runs short fixed scenarios with
// run.mjs's runner, prints a compact table, stops everything it started, and exits.
//
//   node loadtest/bench.mjs                  memory engine: chat over ws, chat over tcp, a connect storm
//   node loadtest/bench.mjs --redis          also: a redis-server and two gateways, users split across them
//   node loadtest/bench.mjs --users 100 --duration 5      smaller and shorter
//   node loadtest/bench.mjs --compare socketio           Chorus against Socket.IO 4 (lib/compare.mjs)
//
// Needs a build (dist/server/main.js). The whole run stays under ~90 s with the defaults.

import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { runScenario } from './run.mjs';
import { table } from './lib/report.mjs';
import { eachArg } from './lib/args.mjs';
import { startGateway, startRedis, scrapeDelivery, deliveryBetween } from './lib/processes.mjs';
import { compareUsage, parseCompareArgs, runCompare, finishReport, compareTable } from './lib/compare.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const benchDeadlineMs = 240_000; // a hard stop far beyond the normal ~60-90 s: the bench always ends

const usage = `usage: node loadtest/bench.mjs [--redis] [--users N] [--duration S] [--server PATH]

  --redis         also run a chat across two gateways sharing a throwaway redis-server
  --users N       users per chat scenario (default 200)
  --duration S    seconds of sending per chat scenario (default 15)
  --server PATH   the server entry point (default dist/server/main.js)`;

export function parseBenchArgs(argv) {
  const o = { redis: false, users: 200, duration: 15, server: path.join(repoRoot, 'dist/server/main.js') };
  eachArg(argv, (a, next) => {
    if (a === '--redis') o.redis = true;
    else if (a === '--users') o.users = Number(next());
    else if (a === '--duration') o.duration = Number(next());
    else if (a === '--server') o.server = path.resolve(next());
    else if (a === '--help' || a === '-h') o.help = true;
    else throw new Error(`unknown argument ${a}`);
  });
  if (!Number.isInteger(o.users) || o.users < 2 || o.users > 5000) throw new Error('--users: 2 to 5000');
  if (!(o.duration > 0 && o.duration <= 120)) throw new Error('--duration: up to 120 s');
  return o;
}

/** The fixed scenarios: [label, scenario name, runner options given the gateways]. */
function plan(o) {
  const chat = { users: o.users, duration: o.duration, rate: 0.5, rooms: 5, drain: 5 };
  const steps = [
    ['chat ws', 'chat', (g) => ({ ...chat, transport: 'ws', urls: [wsUrl(g[0])] })],
    ['chat tcp', 'chat', (g) => ({ ...chat, transport: 'tcp', tcpPorts: [g[0].tcpPort] })],
    ['connect ws', 'connect', (g) => ({ users: 500, batch: 100, transport: 'ws', urls: [wsUrl(g[0])] })],
  ];
  const redisSteps = [
    [
      'chat redis 2gw',
      'chat',
      (g) => ({ ...chat, transport: 'mix', urls: g.map(wsUrl), tcpPorts: g.map((x) => x.tcpPort) }),
    ],
  ];
  return { steps, redisSteps };
}

const wsUrl = (g) => `ws://127.0.0.1:${g.wsPort}`;

async function runSteps(steps, gateways, results, log) {
  for (const [label, scenario, options] of steps) {
    const before = await Promise.all(gateways.map((g) => scrapeDelivery(g.metricsPort)));
    log(`bench: ${label} ...`);
    const r = await runScenario(scenario, { ...options(gateways), progress: false, log: (l) => log(`  ${l}`) });
    const after = await Promise.all(gateways.map((g) => scrapeDelivery(g.metricsPort)));
    r.server = gateways.map((_, i) => deliveryBetween(before[i], after[i]));
    results.push({ label, ...r });
    log(`  ${oneLine(r)}`);
  }
}

function oneLine(r) {
  if (r.scenario === 'connect') {
    return `welcomed ${r.welcomed}/${r.users} at ${r.welcomed_per_s}/s, p99 ${r.total_ms.p99} ms, errors ${JSON.stringify(r.errors)}`;
  }
  return (
    `acked ${r.acked}/${r.sent}, received ${r.received}/${r.expected}, ack p99 ${r.ack_ms.p99} ms, ` +
    `delivery p99 ${r.delivery_ms.p99} ms, errors ${JSON.stringify(r.errors)}`
  );
}

export function benchTable(results) {
  const v = (x) => (x === null || x === undefined ? '-' : String(x));
  const head = ['scenario', 'users', 'msgs/s', 'deliv/s', 'ratio', 'ack p50/p95/p99 ms', 'delivery p50/p95/p99 ms', 'errors'];
  const rows = results.map((r) => {
    const errs = Object.values(r.errors).reduce((a, b) => a + b, 0);
    if (r.scenario === 'connect') {
      const t = r.total_ms;
      return [r.label, `${r.welcomed}/${r.users}`, `${r.welcomed_per_s} conn`, '-', '-', `welcome ${v(t.p50)}/${v(t.p95)}/${v(t.p99)}`, '-', String(errs)];
    }
    const a = r.ack_ms, d = r.delivery_ms;
    return [
      r.label,
      `${r.ready}/${r.users}`,
      v(r.acked_per_s),
      v(r.received_per_s),
      r.delivery_ratio === null ? '-' : `${(r.delivery_ratio * 100).toFixed(2)}%`,
      `${v(a.p50)}/${v(a.p95)}/${v(a.p99)}`,
      `${v(d.p50)}/${v(d.p95)}/${v(d.p99)}`,
      String(errs),
    ];
  });
  return table([head, ...rows]);
}

// The comparison holds 10,000 sockets in this process (and 5,000 in each server node).
const compareFdsNeeded = 12_000;
const compareDeadlineMs = 600_000; // the issue's bound on the whole comparison

/** The open-files limit of this process: [soft, hard]. */
function fileLimits() {
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  const n = (x) => (x === 'unlimited' ? Infinity : Number(x));
  return m ? [n(m[1]), n(m[2])] : [Infinity, Infinity];
}

async function compareMain(argv) {
  let o;
  try {
    o = parseCompareArgs(argv, repoRoot);
  } catch (err) {
    process.stderr.write(`${err.message}\n${compareUsage}\n`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(compareUsage + '\n');
    return 0;
  }
  const log = (line) => process.stderr.write(line + '\n');
  const [soft, hard] = fileLimits();
  const need = Math.ceil(compareFdsNeeded * o.scale) + 1000;
  if (soft < need) {
    // A soft limit can be raised up to the hard one by the process itself; node cannot, so
    // run again under a shell that does (children inherit the limit).
    if (hard < need || process.env.CHORUS_BENCH_ULIMIT_RAISED) {
      log(`bench: needs ${need} open files, the hard limit is ${hard}: raise it (ulimit -Hn) or use --scale`);
      return 2;
    }
    const cmd = `ulimit -n ${hard === Infinity ? need : hard} && exec "$0" "$@"`;
    const r = spawnSync('/bin/sh', ['-c', cmd, process.execPath, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, CHORUS_BENCH_ULIMIT_RAISED: '1' },
    });
    return r.status ?? 1;
  }
  const t0 = Date.now();
  const state = { rows: [], owned: [] };
  const print = (report) => {
    process.stdout.write(`\nchorus vs socket.io (${report.seconds} s; ${report.command}; server CPU = ${report.server_cpu})\n`);
    if (report.incomplete) process.stdout.write(`INCOMPLETE: ${report.incomplete}\n`);
    process.stdout.write(compareTable(report.rows, report.ratios) + '\n\n');
    for (const g of report.goals) process.stdout.write(`goal ${g.met ? 'met   ' : 'MISSED'} ${g.goal}: ${g.value} (limit ${g.limit})\n`);
    const bound = report.rows.filter((r) => r.generator_bound);
    if (bound.length) {
      process.stdout.write(`generator-bound runs (its latencies include its own delay): ${bound.map((r) => `${r.system} ${r.scenario}`).join(', ')}\n`);
    }
    process.stdout.write(`wrote ${report.files.json} and ${report.files.svg}\n`);
  };
  // Past the budget: kill what runs, report what finished, fail.
  const hardStop = setTimeout(() => {
    log(`bench: over ${compareDeadlineMs / 1000} s, stopping`);
    for (const c of state.owned) c.child.proc.kill('SIGKILL');
    print(finishReport(o, state.rows, argv, t0, `stopped after ${compareDeadlineMs / 1000} s`));
    process.exit(1);
  }, compareDeadlineMs);
  hardStop.unref();
  try {
    await runCompare(o, log, state);
    print(finishReport(o, state.rows, argv, t0));
    return 0;
  } catch (err) {
    log(`bench: ${err.message}`);
    if (state.rows.length) print(finishReport(o, state.rows, argv, t0, err.message.split('\n')[0]));
    return 1;
  } finally {
    clearTimeout(hardStop);
  }
}

async function main() {
  if (process.argv.includes('--compare')) return compareMain(process.argv.slice(2));
  let o;
  try {
    o = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err.message}\n${usage}\n`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(usage + '\n');
    return 0;
  }
  if (!existsSync(o.server)) {
    process.stderr.write(`bench: ${o.server} is missing: run \`npm run build\` first (npm run bench does)\n`);
    return 2;
  }
  const log = (line) => process.stderr.write(line + '\n');
  const owned = []; // every child we start, stopped in reverse order whatever happens
  const stopAll = async () => {
    for (const c of owned.reverse()) await c.stop().catch(() => {});
    owned.length = 0;
  };
  const hardStop = setTimeout(() => {
    log(`bench: over ${benchDeadlineMs / 1000} s, stopping`);
    for (const c of owned) c.child.proc.kill('SIGKILL');
    process.exit(1);
  }, benchDeadlineMs);
  hardStop.unref();
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => stopAll().finally(() => process.exit(130)));
  }

  const results = [];
  const t0 = Date.now();
  const { steps, redisSteps } = plan(o);
  let failed = null;
  try {
    log('bench: starting chorus-server (memory engine)');
    const g = await startGateway(o.server, ['--workers', '1'], 'chorus-server');
    owned.push(g);
    log(`bench: listening tcp ${g.tcpPort}, ws ${g.wsPort}, metrics ${g.metricsPort ?? '-'}`);
    await runSteps(steps, [g], results, log);
    await stopAll();

    if (o.redis) {
      log('bench: starting redis-server and two gateways');
      const redis = await startRedis();
      owned.push(redis);
      const gws = [];
      for (const name of ['gateway-1', 'gateway-2']) {
        const gw = await startGateway(o.server, ['--workers', '1', '--redis', redis.url], name);
        owned.push(gw);
        gws.push(gw);
      }
      await runSteps(redisSteps, gws, results, log);
    }
  } catch (err) {
    failed = err;
    log(`bench: ${err.message}`);
  } finally {
    await stopAll();
    clearTimeout(hardStop);
  }

  // Whatever ran is reported, even when a later step failed.
  if (results.length) {
    process.stdout.write(
      `\nchorus bench (${((Date.now() - t0) / 1000).toFixed(0)} s, ${o.users} users per chat, ${o.duration} s each, ` +
        'rate 0.5 msg/user/s, mix public 10% / room 60% / private 30%)\n',
    );
    process.stdout.write(benchTable(results) + '\n');
    for (const r of results) {
      const srv = (r.server ?? []).filter(Boolean);
      if (srv.length && r.scenario === 'chat') {
        const s = srv.map((x) => `delivered ${x.delivered}, p50<=${x.p50_le_ms ?? '-'} ms, p99<=${x.p99_le_ms ?? '-'} ms`);
        process.stdout.write(`  server view, ${r.label}: ${s.join(' | ')}\n`);
      }
    }
    process.stdout.write(JSON.stringify({ bench: results, ...(failed ? { failed: failed.message.split('\n')[0] } : {}) }) + '\n');
  }
  if (failed) return 1;
  const ok = results.every((r) => (r.scenario === 'chat' ? r.acked > 0 : r.welcomed > 0));
  return ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), 5_000).unref();
  });
}
