#!/usr/bin/env node
// Chorus load generator: the k6 scenarios of loadtest/k6/, in plain Node, for this machine.
//
//   node loadtest/run.mjs chat    --users 500 --duration 30 --rate 0.5 --rooms 5
//   node loadtest/run.mjs connect --users 2000 --batch 100
//
// Prints a summary table, then one JSON line (always the last line of stdout).
// Importable: bench.mjs uses runScenario() and the report helpers without the CLI.

import { pathToFileURL } from 'node:url';
import { defaults, runScenario, runChat, runConnect } from './lib/scenarios.mjs';
import { summaryTable, jsonLine } from './lib/report.mjs';
import { assertLoopback } from './lib/transport.mjs';

export { defaults, runScenario, runChat, runConnect, summaryTable, jsonLine };

const usage = `usage: node loadtest/run.mjs <chat|connect> [options]

  --url <ws://host:port>[,...]   WebSocket gateway(s); users take them round-robin
                                 (default: $CHORUS_WS_URL or ${defaults.urls[0]})
  --transport ws|tcp|mix         how users connect (mix alternates ws and tcp) (default ${defaults.transport})
  --tcp-host <host>              TCP gateway host (default ${defaults.tcpHost})
  --tcp-port <port>[,...]        TCP gateway port(s) (default ${defaults.tcpPorts[0]})
  --users <n>                    simulated users (default ${defaults.users}, at most 15000)
  --duration <s>                 chat: seconds of sending (default ${defaults.duration})
  --rate <msgs/user/s>           chat: each user's mean send rate (default ${defaults.rate})
  --senders <n>                  chat: only the first n users send (default: all)
  --rooms <n>                    chat: rooms; user i joins room i mod n (default ${defaults.rooms})
  --mix public=P,room=R,private=Q  chat: message kinds by weight (default public=0.1,room=0.6,private=0.3)
  --size <chars>                 chat: text length per message (default ${defaults.size})
  --batch <n>                    connections opened at once while ramping (default ${defaults.batch})
  --drain <s>                    chat: max wait for acks/deliveries after sending (default ${defaults.drain})
  --hold <s>                     connect: keep all connections open this long (default ${defaults.hold})
  --timeout <s>                  max wait for welcome / joined (default ${defaults.timeout})
  --quiet                        no progress lines on stderr
  --help

Only loopback targets are accepted. Exit status: 0 on success; 1 when nothing was acked
(chat) or nobody was welcomed (connect); 2 on bad arguments.`;

/** Parses argv (without node and the script) into [scenario, options]. Throws on bad input. */
export function parseArgs(argv, env = {}) {
  const o = {};
  if (env.CHORUS_WS_URL) o.urls = [env.CHORUS_WS_URL];
  let scenario;
  const numbers = ['users', 'duration', 'rate', 'senders', 'rooms', 'size', 'batch', 'drain', 'hold', 'timeout'];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      if (scenario !== undefined) throw new Error(`unexpected argument "${arg}"`);
      scenario = arg;
      continue;
    }
    let [name, value] = arg.slice(2).split(/=(.*)/s, 2);
    const flag = name === 'quiet' || name === 'help';
    if (!flag && value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new Error(`--${name} needs a value`);
    }
    if (numbers.includes(name)) {
      const n = Number(value);
      if (value === '' || !Number.isFinite(n)) throw new Error(`--${name} must be a number (got "${value}")`);
      o[name] = n;
    } else if (name === 'url') o.urls = list(value);
    else if (name === 'transport') o.transport = value;
    else if (name === 'tcp-host') o.tcpHost = value;
    else if (name === 'tcp-port') o.tcpPorts = list(value).map(port);
    else if (name === 'mix') o.mix = parseMix(value);
    else if (name === 'quiet') o.progress = false;
    else if (name === 'help') o.help = true;
    else throw new Error(`unknown option --${name}`);
  }
  if (o.help) return [scenario, o];
  if (scenario !== 'chat' && scenario !== 'connect') throw new Error('give a scenario: chat or connect');
  for (const url of o.urls ?? defaults.urls) {
    let u;
    try {
      u = new URL(url);
    } catch {
      throw new Error(`--url "${url}" is not a URL`);
    }
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new Error(`--url "${url}" must be ws:// or wss://`);
    assertLoopback(u.hostname);
  }
  assertLoopback(o.tcpHost ?? defaults.tcpHost);
  return [scenario, o];
}

/** "public=0.1,room=0.6,private=0.3" -> {public: 0.1, room: 0.6, private: 0.3}; missing kinds are 0. */
export function parseMix(text) {
  const mix = { public: 0, room: 0, private: 0 };
  for (const part of list(text)) {
    const [k, v] = part.split('=');
    const n = Number(v);
    if (!(k in mix) || v === undefined || !Number.isFinite(n) || n < 0) {
      throw new Error(`--mix "${part}": expected public|room|private=<weight >= 0>`);
    }
    mix[k] = n;
  }
  return mix;
}

function list(value) {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function port(value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`--tcp-port "${value}" is not a port`);
  return n;
}

async function main() {
  let scenario, options;
  try {
    [scenario, options] = parseArgs(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`${err.message}\n\n${usage}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(usage + '\n');
    return 0;
  }
  let result;
  try {
    result = await runScenario(scenario, options);
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    return 2;
  }
  process.stdout.write(summaryTable(result) + '\n' + jsonLine(result) + '\n');
  const ok = scenario === 'chat' ? result.acked > 0 : result.welcomed > 0;
  return ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // Set exitCode and let stdout flush; every socket and timer is closed by then.
  main().then((code) => {
    process.exitCode = code;
    // A bounded tool stops by itself, even if a socket lingers past its close deadline.
    setTimeout(() => process.exit(code), 5_000).unref();
  });
}
