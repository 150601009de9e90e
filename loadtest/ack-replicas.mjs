#!/usr/bin/env node
// What --ack-replicas costs per message: a redis-server master with one replica, one gateway
// (one worker) with --ack-replicas 0 and then 1, and one client that sends private messages
// and times each send → ack, first one at a time (latency), then --in-flight at once
// (throughput). Everything it starts is stopped; loopback only.
//
//   npm run build && node loadtest/ack-replicas.mjs [--messages N] [--in-flight N]

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { delay, freePort, startGateway } from './lib/processes.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mainJs = path.join(repoRoot, 'dist/server/main.js');

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}
const messages = option('--messages', 2000);
const inFlight = option('--in-flight', 50);

async function redisServer(port, extra) {
  // Its own directory: a replica's first sync writes an RDB file there.
  const dir = mkdtempSync(path.join(tmpdir(), 'chorus-bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], { stdio: 'ignore' });
  child.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  for (let i = 0; i < 100; i++) {
    if (await answers(port, 'PING', '+PONG')) return child;
    await delay(50);
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on ${port} did not start`);
}

function answers(port, command, expected) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let out = '';
    s.on('error', () => resolve(false));
    s.on('connect', () => s.write(`${command}\r\n`));
    s.on('data', (d) => {
      out += d;
      if (out.includes(expected)) {
        s.destroy();
        resolve(true);
      }
    });
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** A JSON-lines client: send() resolves with the reply carrying its ref. */
async function client(port, nick) {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise((resolve) => socket.once('connect', resolve));
  const waiting = new Map();
  let partial = '';
  let refs = 0;
  socket.setEncoding('utf8').on('data', (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop();
    for (const line of lines) {
      const frame = JSON.parse(line);
      waiting.get(frame.ref)?.(frame);
      waiting.delete(frame.ref);
    }
  });
  const request = (frame) =>
    new Promise((resolve) => {
      const ref = `r${++refs}`;
      waiting.set(ref, resolve);
      socket.write(JSON.stringify({ ...frame, ref }) + '\n');
    });
  await request({ type: 'hello', nick });
  return { request, close: () => socket.destroy() };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(redisUrl, replicas) {
  const gateway = await startGateway(mainJs, ['--redis', redisUrl, '--workers', '1', '--rate', '100000', '--burst', '100000', '--ack-replicas', String(replicas), '--key-prefix', `bench${replicas}:`]);
  try {
    const port = gateway.tcpPort;
    const [ann, bob] = [await client(port, 'ann'), await client(port, 'bob')];
    const latencies = [];
    let failed = 0;
    for (let i = 0; i < messages; i++) {
      const t = process.hrtime.bigint();
      const reply = await ann.request({ type: 'send', to: '@bob', text: `m${i}` });
      latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (reply.type !== 'ack') failed++;
    }
    latencies.sort((a, b) => a - b);
    const started = process.hrtime.bigint();
    for (let i = 0; i < messages; i += inFlight) {
      const batch = Array.from({ length: Math.min(inFlight, messages - i) }, (_, j) => ann.request({ type: 'send', to: '@bob', text: `p${i + j}` }));
      failed += (await Promise.all(batch)).filter((r) => r.type !== 'ack').length;
    }
    const perSecond = messages / (Number(process.hrtime.bigint() - started) / 1e9);
    ann.close();
    bob.close();
    return { replicas, p50: percentile(latencies, 50), p99: percentile(latencies, 99), perSecond, failed };
  } finally {
    await gateway.stop();
  }
}

const [masterPort, replicaPort] = [await freePort(), await freePort()];
const master = await redisServer(masterPort, []);
const replica = await redisServer(replicaPort, ['--replicaof', '127.0.0.1', String(masterPort)]);
try {
  for (let i = 0; i < 100 && !(await answers(replicaPort, 'INFO replication', 'master_link_status:up')); i++) await delay(50);
  const url = `redis://127.0.0.1:${masterPort}`;
  const rows = [await measure(url, 0), await measure(url, 1)];
  console.log(`${messages} private messages, one gateway, master + 1 replica on loopback`);
  console.log('ack-replicas  ack p50 ms  ack p99 ms  acks/s (' + inFlight + ' in flight)  not acked');
  for (const r of rows) console.log(`${String(r.replicas).padEnd(14)}${r.p50.toFixed(2).padEnd(12)}${r.p99.toFixed(2).padEnd(12)}${r.perSecond.toFixed(0).padEnd(26)}${r.failed}`);
} finally {
  master.kill('SIGKILL');
  replica.kill('SIGKILL');
}
