// soak (a benchmark, not CI): the churn load for --minutes, plus passers-by that connect,
// say hello, stay a few seconds and say bye, and misbehaving clients (garbage frames,
// oversize frames, readers that stop reading). Reports each gateway's memory, file
// descriptors and event-loop delay from its /metrics, and lost = 0 for the regular users.

import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { scrapeProcess } from '../lib/fleet.mjs';
import { delay } from '../lib/processes.mjs';
import { settle, setup, startChurn, startTraffic, teardown, verdict } from '../lib/reliability.mjs';

const sampleEveryMs = 10_000;
const visitorEveryMs = 500; // a passer-by or a misbehaving client twice a second
const slowReaderMs = 30_000; // how long a reader that stopped reading hangs on before leaving
const oversizeBytes = 70 * 1024; // over the default 64 KiB frame limit

export async function soak(o, log) {
  const ctx = await setup(o, log);
  const visitors = new Set();
  const tally = { passers: 0, garbage: 0, oversize: 0, slow: 0, errors: {} };
  try {
    const traffic = startTraffic(ctx, o);
    const drops = startChurn(ctx, o);
    const samples = new Map(ctx.fleet.gateways.map((g) => [g.id, []]));
    const sample = async () => {
      for (const g of ctx.fleet.gateways) {
        const m = await scrapeProcess(g);
        if (m) samples.get(g.id).push({ t: Date.now(), ...m });
      }
    };
    await sample();
    const end = Date.now() + o.minutes * 60_000;
    let nextSample = Date.now() + sampleEveryMs;
    let n = 0;
    log(`soak for ${o.minutes} min`);
    while (Date.now() < end) {
      const kind = ['passer', 'passer', 'garbage', 'oversize', 'slow'][n++ % 5];
      const v = visit(kind, ctx.fleet.lb.tcpPort, `v${ctx.run}_${n}`, tally);
      visitors.add(v);
      v.finally(() => visitors.delete(v));
      if (Date.now() >= nextSample) {
        nextSample += sampleEveryMs;
        await sample();
        const last = ctx.fleet.gateways.map((g) => samples.get(g.id).at(-1)).filter(Boolean);
        log(`${Math.round((end - Date.now()) / 1000)} s left; rss ${last.map((s) => mb(s.rss)).join(' / ')} MB, fds ${last.map((s) => s.fds).join(' / ')}, ledger ${ctx.ledger.kind.length} msgs`);
      }
      await delay(visitorEveryMs);
    }
    drops.stop();
    traffic.stop();
    await Promise.allSettled([...visitors]);
    await settle(ctx, o, log);
    await sample();
    return verdict(ctx, o, traffic, { duration_s: o.minutes * 60, visitors: tally, gateways: growth(samples) });
  } finally {
    await teardown(ctx);
  }
}

function growth(samples) {
  const out = {};
  for (const [id, s] of samples) {
    if (s.length < 2) continue;
    const first = s[0];
    const lastS = s.at(-1);
    out[id] = {
      samples: s.length,
      rss_mb: { start: mb(first.rss), end: mb(lastS.rss), max: mb(Math.max(...s.map((x) => x.rss))), growth: mb(lastS.rss - first.rss) },
      heap_mb: { start: mb(first.heap), end: mb(lastS.heap), max: mb(Math.max(...s.map((x) => x.heap))), growth: mb(lastS.heap - first.heap) },
      fds: { start: first.fds, end: lastS.fds, max: Math.max(...s.map((x) => x.fds)) },
      eventloop_lag_p99_ms: { max: Math.round(Math.max(...s.map((x) => x.lagP99)) * 1e4) / 10, end: Math.round(lastS.lagP99 * 1e4) / 10 },
    };
  }
  return out;
}

const mb = (b) => Math.round((b / 1048576) * 10) / 10;

/**
 * One short-lived TCP client through the balancer: `passer` says hello, waits a few seconds
 * and says bye; `garbage` sends lines that are not frames and expects bad_frame each time;
 * `oversize` sends one line past the frame limit and expects frame_too_large and a close;
 * `slow` says hello and then never reads, until the server cuts it off or it gives up.
 */
function visit(kind, port, nick, tally) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const count = (code) => (tally.errors[code] = (tally.errors[code] ?? 0) + 1);
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    };
    const timer = setTimeout(done, slowReaderMs + 5_000);
    s.on('error', () => {});
    s.on('close', done);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(JSON.stringify({ type: 'hello', nick }) + '\n'));
    s.on('data', (chunk) => {
      buf = (buf + chunk).slice(-65536);
      let nl;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('{"type":"error"')) count(JSON.parse(line).code);
        if (!line.startsWith('{"type":"welcome"')) continue;
        tally[kind === 'passer' ? 'passers' : kind]++;
        if (kind === 'passer') setTimeout(() => s.end(JSON.stringify({ type: 'bye' }) + '\n'), 2_000 + Math.random() * 6_000);
        else if (kind === 'garbage') {
          s.write('{not json\n' + JSON.stringify({ type: 'nope' }) + '\n' + randomBytes(200).toString('latin1').replace(/\n/g, '') + '\n');
          setTimeout(() => s.end(JSON.stringify({ type: 'bye' }) + '\n'), 1_000);
        } else if (kind === 'oversize') s.write('{"type":"send","to":"*","text":"' + 'x'.repeat(oversizeBytes) + '"}\n');
        else {
          s.pause(); // never read again: the server must bound what it queues for us
          setTimeout(done, slowReaderMs);
        }
      }
    });
  });
}
