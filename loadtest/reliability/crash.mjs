// crash: kill -9 one gateway (primary and worker) under load. Its users see their sockets
// close and resume through the balancer on the survivor; a few of them ("ghosts") never
// come back, to time how long the others keep seeing them online, until the survivor
// finds the dead gateway's lease expired and announces them offline.

import { performance } from 'node:perf_hooks';
import { Histogram } from '../lib/histogram.mjs';
import { delay } from '../lib/processes.mjs';
import { settle, setup, startChurn, startTraffic, teardown, verdict } from '../lib/reliability.mjs';

const observers = 5;

export async function crash(o, log) {
  const ctx = await setup(o, log);
  try {
    const traffic = startTraffic(ctx, o);
    const drops = o.churn ? startChurn(ctx, o) : null;
    const t0 = performance.now();
    await delay(o.warm * 1000);
    const victim = ctx.fleet.gateways[0];
    const on = (u, g) => u.online && u.gateway.startsWith(`${g.id}-`);
    const victims = ctx.users.filter((u) => on(u, victim));
    const survivors = ctx.users.filter((u) => ctx.fleet.gateways.slice(1).some((g) => on(u, g)));
    if (victims.length === 0 || survivors.length === 0) throw new Error('crash: the balancer put everyone on one gateway');
    // Ghosts: victims that are not senders, so no acked message of theirs is owed to anyone.
    const ghosts = victims.filter((u) => u.pending.size === 0).slice(0, Math.max(1, Math.round(victims.length * o.ghosts)));
    const ghostNicks = new Map(ghosts.map((u) => [u.nick, u]));
    const ghostMs = new Histogram();
    const seenOffline = new Set();
    const offlineOfResumed = new Set();
    let killedAt = 0;
    for (const w of survivors.slice(0, observers)) {
      w.onPresence = (f) => {
        if (f.event !== 'offline' || killedAt === 0) return;
        if (ghostNicks.has(f.nick) && !seenOffline.has(f.nick)) {
          seenOffline.add(f.nick);
          ghostMs.record(performance.now() - killedAt);
        } else if (!ghostNicks.has(f.nick) && victims.some((v) => v.nick === f.nick)) offlineOfResumed.add(f.nick);
      };
    }
    for (const g of ghosts) {
      g.counted = false;
      g.onLost = () => {};
    }
    const crashResumeMs = new Histogram();
    const resumedAt = new Map();
    for (const v of victims) {
      if (ghostNicks.has(v.nick)) continue;
      v.onLost = (u) => u.resume(performance.now() + 25_000).then((ok) => ok && resumedAt.set(u, performance.now()));
    }
    log(`kill -9 ${victim.id}: ${victims.length} users on it (${ghosts.length} will not come back), ${survivors.length} on the others`);
    killedAt = performance.now();
    await victim.kill();
    const end = performance.now() + 30_000;
    while (performance.now() < end && (victims.some((v) => v.counted && !v.online) || seenOffline.size < ghosts.length)) await delay(100);
    for (const [, t] of resumedAt) crashResumeMs.record(t - killedAt);
    await delay(o.after * 1000);
    drops?.stop();
    traffic.stop();
    await settle(ctx, o, log);
    return verdict(ctx, o, traffic, {
      duration_s: Math.round((performance.now() - t0) / 1000),
      victims: victims.length,
      ghosts: ghosts.length,
      ghosts_seen_offline: seenOffline.size,
      ghost_ms: ghostMs.summary(),
      // Who dropped them: with nobody resuming, only the survivor's lease check can.
      ghost_dropped_by: 'lease expiry on the surviving gateway (--lease-ms)',
      resumed_victims_announced_offline: offlineOfResumed.size,
      crash_resume_ms: crashResumeMs.summary(),
    });
  } finally {
    await teardown(ctx);
  }
}
