#!/usr/bin/env node
// `npm run reliability -- <scenario>`: starts redis-server, two gateways (--workers 1) and the
// shipped deploy/haproxy.cfg on free loopback ports, runs one scenario through the balancer,
// prints delivered / expected, duplicates and replay latency, a JSON line last, and exits 1
// when an acked message was lost or delivered twice (2 for bad arguments).

import { fileURLToPath } from 'node:url';
import { defaults, passed, summary } from './lib/reliability.mjs';
import { churn } from './reliability/churn.mjs';
import { crash } from './reliability/crash.mjs';
import { rolling } from './reliability/rolling.mjs';
import { soak } from './reliability/soak.mjs';

export const scenarios = { churn, rolling, crash, soak };
const hardDeadlineMs = 60 * 60_000;

const usage = `usage: node loadtest/reliability.mjs <churn|rolling|crash|soak> [options]

  --clients N        users connected through HAProxy (default ${defaults.clients})
  --senders N        how many of them send (default ${defaults.senders})
  --rate R           messages per second per sender (default ${defaults.rate})
  --rooms N          rooms; user i joins room i mod N (default ${defaults.rooms})
  --mix public=P,room=R,private=Q   (default public=0.1,room=0.6,private=0.3)
  --duration S       churn: seconds of traffic (default ${defaults.duration})
  --drop-every S     churn, soak: mean seconds between a socket's drops (default ${defaults.dropEvery})
  --drop-for S       churn, soak: mean seconds a dropped socket stays away (default ${defaults.dropFor})
  --churn            rolling, crash: drop sockets as churn does, as well
  --warm S           rolling, crash: seconds of traffic before the first restart / the kill (default 10)
  --pause S          rolling: seconds of traffic after each gateway is back (default 5)
  --after S          crash: seconds of traffic after every victim resumed (default 5)
  --ghosts F         crash: share of the victim's users that never come back (default 0.1)
  --minutes M        soak: how long (default 10)
  --transport ws|tcp|mix   (default mix: alternate users)
  --drain S          max wait for deliveries once traffic stops (default ${defaults.drain})`;

export function parseArgs(argv) {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') return { help: true };
  if (!(name in scenarios)) throw new Error(`unknown scenario ${name}`);
  const o = { ...defaults, mix: { ...defaults.mix }, scenario: name, churn: false, warm: 10, pause: 5, after: 5, ghosts: 0.1, minutes: 10 };
  const numbers = {
    '--clients': 'clients', '--senders': 'senders', '--rate': 'rate', '--rooms': 'rooms', '--duration': 'duration',
    '--drop-every': 'dropEvery', '--drop-for': 'dropFor', '--warm': 'warm', '--pause': 'pause', '--after': 'after',
    '--ghosts': 'ghosts', '--minutes': 'minutes', '--drain': 'drain',
  };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    const next = () => {
      const v = rest[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a in numbers) {
      const v = Number(next());
      if (!Number.isFinite(v) || v < 0) throw new Error(`${a} needs a non-negative number`);
      o[numbers[a]] = v;
    } else if (a === '--churn') o.churn = true;
    else if (a === '--transport') {
      o.transport = next();
      if (!['ws', 'tcp', 'mix'].includes(o.transport)) throw new Error('--transport is ws, tcp or mix');
    } else if (a === '--mix') {
      o.mix = Object.fromEntries(next().split(',').map((kv) => {
        const [k, v] = kv.split('=');
        if (!(k in defaults.mix) || !(Number(v) >= 0)) throw new Error(`--mix: bad part ${kv}`);
        return [k, Number(v)];
      }));
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.clients) || o.clients < 2 || o.clients > 10_000) throw new Error('--clients: 2 to 10000');
  if (!Number.isInteger(o.rooms) || o.rooms < 1) throw new Error('--rooms: at least 1');
  o.senders = Math.min(Math.max(1, Math.round(o.senders)), o.clients);
  if (!(o.rate > 0 && o.rate <= 10)) throw new Error('--rate: above 0, at most 10 (the server allows 20 frames/s)');
  return o;
}

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err.message}\n${usage}\n`);
    process.exit(2);
  }
  if (o.help) {
    process.stdout.write(usage + '\n');
    return;
  }
  const log = (line) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  setTimeout(() => {
    log('hard deadline reached');
    process.exit(1);
  }, hardDeadlineMs).unref();
  const r = await scenarios[o.scenario](o, log);
  process.stdout.write(summary(o.scenario, r) + '\n' + JSON.stringify({ scenario: o.scenario, ...r }) + '\n');
  process.exitCode = passed(r) ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`reliability: ${err.stack ?? err}\n`);
    process.exit(1);
  });
}
