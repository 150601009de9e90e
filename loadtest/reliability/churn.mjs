// churn: every socket is dropped every ~15 s for ~2 s while senders post to public, rooms
// and private; each user resumes with its token through the balancer, wherever it lands.

import { settle, setup, startChurn, startTraffic, teardown, verdict } from '../lib/reliability.mjs';
import { delay } from '../lib/processes.mjs';

export async function churn(o, log) {
  const ctx = await setup(o, log);
  try {
    const traffic = startTraffic(ctx, o);
    const drops = startChurn(ctx, o);
    log(`traffic and drops for ${o.duration} s`);
    await delay(o.duration * 1000);
    drops.stop();
    traffic.stop();
    await settle(ctx, o, log);
    return verdict(ctx, o, traffic);
  } finally {
    await teardown(ctx);
  }
}
