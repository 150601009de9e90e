// A gateway stops on SIGTERM within --drain-ms plus a margin whatever state it is in, and
// leaves no process behind: Redis gone or hung, its primary killed, stdout closed or full.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterEach, expect, it, onTestFinished } from 'vitest';
import { connect } from '../support/client.js';
import { freePorts } from '../support/ports.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { serverBin, startServer, type ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';

let redis: RedisServer | undefined;
let server: ServerHandle | undefined;
afterEach(async () => {
  await server?.kill();
  await redis?.stop();
  server = redis = undefined;
});

const engineDown = 'redis unreachable: engine down, operations fail until it is back';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pids of the gateway's workers, from their log lines. */
function workerPids(handle: ServerHandle): number[] {
  return [...new Set(handle.logs.filter((l) => l.worker !== undefined).map((l) => l.pid as number))];
}

it('stops on SIGTERM with Redis gone and a client half way through its hello', async () => {
  redis = await startRedis();
  server = await startServer(['--redis', redis.url, '--workers', '2', '--drain-ms', '1000']);
  const ann = await connect(server.tcpPort, 'ann');
  // Frames are answered in order: the pong says ann's hello has finished (announced, in).
  await ann.request({ type: 'ping' });
  await redis.kill();
  await server.waitForLog((l) => l.msg === engineDown, 'the engine to go down');
  const mid = net.connect({ port: server.tcpPort, host: '127.0.0.1' });
  mid.on('error', () => {});
  await new Promise((r) => mid.once('connect', r));
  mid.write('{"type":"hello","nick":"bob"}\n');
  const workers = workerPids(server);
  expect(await server.stop()).toBe(0);
  expect(workers.filter(alive)).toEqual([]);
  expect(await ann.next('bye')).toMatchObject({ reason: 'restart' });
  mid.destroy();
});

it('gives up at its deadline, exiting 1, when a hung Redis never answers', async () => {
  redis = await startRedis();
  server = await startServer(['--redis', redis.url, '--workers', '1', '--drain-ms', '500']);
  await Promise.all(['ann', 'bob', 'cat'].map((n) => connect(server!.tcpPort, n)));
  // Every command now waits out its timeout, so letting the users go takes far longer than the margin.
  redis.pause();
  const workers = workerPids(server);
  try {
    expect(await server.stop()).toBe(1);
    expect(server.logs.some((l) => l.msg === 'stop did not finish in time: exiting anyway')).toBe(true);
    expect(workers.filter(alive)).toEqual([]);
  } finally {
    redis.resume();
  }
});

it('exits at once on a second signal while the stop is still waiting', async () => {
  redis = await startRedis();
  server = await startServer(['--redis', redis.url, '--workers', '1', '--drain-ms', '60000']);
  await connect(server.tcpPort, 'ann');
  redis.pause();
  const workers = workerPids(server);
  try {
    server.proc.kill('SIGTERM');
    await server.waitForLog((l) => l.msg === 'stopping' && l.role === 'primary', 'the primary to start stopping');
    server.proc.kill('SIGTERM');
    expect(await server.exited).toBe(1);
    expect(server.logs.some((l) => l.msg === 'second signal while stopping: exiting now')).toBe(true);
    // Its workers lose their IPC channel to it, and exit too.
    await waitUntil(() => workers.every((p) => !alive(p)), 'the orphaned worker to exit', 10_000, 50);
  } finally {
    redis.resume();
  }
});

it('leaves no worker behind when the primary and Redis are killed with -9', async () => {
  redis = await startRedis();
  server = await startServer(['--redis', redis.url, '--workers', '2']);
  await connect(server.tcpPort, 'ann');
  const workers = workerPids(server);
  expect(workers).toHaveLength(2);
  await redis.kill();
  await server.kill();
  await waitUntil(() => workers.every((p) => !alive(p)), 'the orphaned workers to exit', 10_000, 50);
});

it('keeps serving, and stops cleanly, once nobody reads its stdout any more (EPIPE)', async () => {
  server = await startServer(['--drain-ms', '1000']);
  server.proc.stdout!.destroy();
  // Each connection logs a line into the closed pipe.
  for (const nick of ['ann', 'bob', 'cat']) await connect(server.tcpPort, nick);
  const dan = await connect(server.tcpPort, 'dan');
  expect(await dan.request({ type: 'who' })).toMatchObject({ type: 'who' });
  expect(await server.stop()).toBe(0);
});

it('stops on SIGTERM while its stdout pipe is full and never read', async () => {
  const [tcpPort, wsPort, metricsPort] = await freePorts(3);
  // stdout is a pipe this test never reads: once its buffer is full, every write would block.
  const child = spawn(process.execPath, [
    serverBin, '--host', '127.0.0.1', '--tcp-port', String(tcpPort), '--ws-port', String(wsPort),
    '--metrics-port', String(metricsPort), '--log-level', 'trace', '--drain-ms', '1000',
  ], { stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  onTestFinished(() => {
    child.kill('SIGKILL');
  });
  child.stdout.pause();
  await waitUntil(async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`).catch(() => undefined))?.status === 200, 'the server to be ready');
  // Far more log output than a pipe holds (64 KiB): connections and their lines.
  for (let round = 0; round < 10; round++) {
    const clients = await Promise.all(Array.from({ length: 30 }, (_, i) => connect(tcpPort!, `u${round}_${i}`)));
    await Promise.all(clients.map((c) => c.request({ type: 'send', to: '*', text: 'x'.repeat(500) })));
    clients.forEach((c) => c.close());
  }
  // Still answering: logging did not freeze the event loop.
  expect((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status).toBe(200);
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
});
