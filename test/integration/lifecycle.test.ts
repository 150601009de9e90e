// Starting, health, logging and a graceful stop of a real server process.
import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { connect, RawClient } from '../support/client.js';
import { serverBin, startServer } from '../support/server.js';

it('serves health and readiness, logs connections, and stops gracefully on SIGTERM', async () => {
  const server = await startServer();
  expect(await server.readyz()).toBe(200);
  expect((await fetch(`http://127.0.0.1:${server.metricsPort}/healthz`)).status).toBe(200);
  const ann = await connect(server.tcpPort, 'ann');
  const bob = await connect(server.wsPort, 'bob', 'ws');
  const cat = await RawClient.connect(server.tcpPort);
  cat.write('cat\n');
  await cat.waitFor('Welcome, cat!');
  await ann.request({ type: 'send', to: '*', text: 'a secret only debug logs show' });
  await server.waitForLog((l) => l.msg === 'registered' && l.nick === 'cat' && l.transport === 'text', 'the registration log');
  expect(server.logs.some((l) => l.msg === 'connection' && typeof l.remote === 'string' && l.connections === 3)).toBe(true);
  expect(JSON.stringify(server.logs)).not.toContain('a secret only debug logs show');

  const exit = server.stop();
  for (const client of [ann, bob]) {
    expect(await client.next('bye')).toMatchObject({ reason: 'restart' });
    await client.waitClosed();
  }
  await cat.waitFor('The server is restarting');
  expect(await exit).toBe(0);
  expect(server.logs.some((l) => l.msg === 'disconnected' && l.nick === 'ann' && l.reason === 'restart')).toBe(true);
});

it('logs message text at debug level only', async () => {
  const server = await startServer(['--log-level', 'debug']);
  const ann = await connect(server.tcpPort, 'ann');
  await ann.request({ type: 'send', to: '*', text: 'now you see me' });
  await server.waitForLog((l) => l.msg === 'message' && l.text === 'now you see me', 'the debug message log');
  ann.close();
  await server.stop();
});

it('lists every option with its environment variable in --help, and rejects bad ones clearly', () => {
  const help = spawnSync(process.execPath, [serverBin, '--help'], { encoding: 'utf8' });
  expect(help.status).toBe(0);
  for (const flag of ['--host', '--tcp-port', '--ws-port', '--metrics-port', '--redis', '--redis-cluster', '--workers', '--history', '--tls-cert', '--tls-key', '--log-level']) {
    expect(help.stdout).toContain(flag);
  }
  expect(help.stdout).toContain('CHORUS_TCP_PORT');
  const bad = spawnSync(process.execPath, [serverBin, '--tcp-port', 'lots'], { encoding: 'utf8' });
  expect(bad.status).toBe(2);
  expect(bad.stderr).toContain('--tcp-port must be a port number');
  const unknown = spawnSync(process.execPath, [serverBin, '--colour', 'blue'], { encoding: 'utf8' });
  expect(unknown.stderr).toContain('unknown option --colour');
});

it('takes settings from CHORUS_* variables, with flags winning', async () => {
  const server = await startServer(['--history', '2'], { env: { CHORUS_HISTORY: '100', CHORUS_RATE: '1000', CHORUS_BURST: '1000' } });
  const ann = await connect(server.tcpPort, 'ann');
  for (let i = 0; i < 5; i++) await ann.request({ type: 'send', to: '*', text: `m${i}` });
  expect((await ann.request({ type: 'history', with: '*' })).messages.map((m: any) => m.text)).toEqual(['m3', 'm4']);
  ann.close();
  await server.stop();
});
