// The primary restarts dying workers with back-off, reports a crash loop, and gives up
// (exit 1, for systemd or Kubernetes to see) when no worker stays alive.
import { expect, it, onTestFinished } from 'vitest';
import { freePorts } from '../support/ports.js';
import { Child } from '../support/process.js';
import { serverBin } from '../support/server.js';
import { waitUntil } from '../support/wait.js';

it('reports workers that keep crashing, then exits 1 when none stays up', async () => {
  const [tcpPort, wsPort, metricsPort] = await freePorts(3);
  // Every worker dies as it starts: its TLS certificate cannot be read. The Redis address is
  // never reached (the workers die before they connect), so none runs for this test.
  const primary = new Child('chorus-server', process.execPath, [
    serverBin, '--host', '127.0.0.1', '--tcp-port', String(tcpPort), '--ws-port', String(wsPort),
    '--metrics-port', String(metricsPort), '--redis', 'redis://127.0.0.1:1', '--workers', '2',
    '--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem',
  ]);
  onTestFinished(async () => {
    await primary.kill();
  });
  const base = `http://127.0.0.1:${metricsPort}`;
  await waitUntil(async () => {
    primary.assertRunning();
    const metrics = await fetch(`${base}/metrics`).then((r) => r.text(), () => '');
    return /^chorus_worker_crash_loop 1$/m.test(metrics);
  }, 'chorus_worker_crash_loop 1', 20_000, 50);
  expect((await fetch(`${base}/readyz`)).status).toBe(503);
  expect(primary.tail).toContain('gateway workers are crash-looping: restarts back off');
  expect(await primary.exited).toBe(1);
  expect(primary.tail).toContain('no gateway worker stays alive: giving up');
}, 60_000);
