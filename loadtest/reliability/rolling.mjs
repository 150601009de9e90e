// rolling restart: under load, each gateway in turn gets SIGTERM, drains (its clients get
// bye{reason:"restart"} and resume on the other), and is started again on the same ports,
// as `kubectl rollout restart` does; the next one goes once HAProxy has this one UP again.

import { performance } from 'node:perf_hooks';
import { settle, setup, startChurn, startTraffic, teardown, verdict } from '../lib/reliability.mjs';
import { delay } from '../lib/processes.mjs';

export async function rolling(o, log) {
  const ctx = await setup(o, log);
  try {
    const traffic = startTraffic(ctx, o);
    const drops = o.churn ? startChurn(ctx, o) : null;
    const restarts = [];
    const started = performance.now();
    await delay(o.warm * 1000);
    for (const g of ctx.fleet.gateways) {
      const on = ctx.users.filter((u) => u.online && u.gateway.startsWith(`${g.id}-`)).length;
      const t0 = performance.now();
      const exit = await g.stop();
      const stoppedMs = performance.now() - t0;
      await g.start();
      await ctx.fleet.lb.waitStatus(g, 'UP');
      const upMs = performance.now() - t0;
      restarts.push({ gateway: g.id, clients: on, exit_code: exit?.code ?? null, drained_ms: Math.round(stoppedMs), back_up_ms: Math.round(upMs) });
      log(`${g.id}: ${on} clients, drained and exited (code ${exit?.code}) in ${Math.round(stoppedMs)} ms, UP again after ${Math.round(upMs)} ms`);
      await delay(o.pause * 1000);
    }
    drops?.stop();
    traffic.stop();
    await settle(ctx, o, log);
    return verdict(ctx, o, traffic, { duration_s: Math.round((performance.now() - started) / 1000), restarts, longest_gap_ms: ctx.stats.gapMs.summary().max });
  } finally {
    await teardown(ctx);
  }
}
