// --tls-cert/--tls-key: TCP becomes TLS and WebSocket becomes WSS, on the same sessions.
import tls from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RawClient } from '../support/client.js';
import { disconnects } from '../support/metrics.js';
import { selfSignedCertificate, type Certificate } from '../support/certificate.js';
import { startServer, type ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';

let certificate: Certificate;
let server: ServerHandle;
let cert: Buffer;
beforeAll(async () => {
  certificate = selfSignedCertificate();
  cert = certificate.cert;
  server = await startServer(['--tls-cert', certificate.certPath, '--tls-key', certificate.keyPath]);
});
afterAll(async () => {
  await server?.stop();
  certificate?.remove();
});

it('chats over TLS and WSS, trusting the server certificate', async () => {
  const socket = tls.connect({ host: '127.0.0.1', port: server.tcpPort, ca: cert });
  let tcpText = '';
  socket.on('data', (d) => (tcpText += d.toString()));
  await new Promise((r) => socket.once('secureConnect', r));
  expect(socket.authorized).toBe(true);
  socket.write('{"type":"hello","nick":"secure"}\n');
  await waitUntil(() => tcpText.includes('"welcome"'), 'a welcome over TLS');

  const ws = new WebSocket(`wss://127.0.0.1:${server.wsPort}`, { ca: cert });
  const frames: any[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(String(d))));
  await new Promise((r) => ws.once('open', r));
  ws.send('{"type":"hello","nick":"wss"}');
  await waitUntil(() => frames.some((f) => f.type === 'welcome'), 'a welcome over WSS');
  ws.send('{"type":"send","to":"@secure","text":"encrypted hello"}');
  await waitUntil(() => tcpText.includes('encrypted hello'), 'the private message over TLS');
  socket.destroy();
  ws.close();
});

it('refuses plain TCP on the TLS port without harming others', async () => {
  const plain = await import('node:net').then((net) => net.connect({ host: '127.0.0.1', port: server.tcpPort }));
  plain.write('{"type":"hello","nick":"plain"}\n');
  await new Promise((r) => plain.once('close', r));
  expect(await server.readyz()).toBe(200);
});

it('closes silent sockets and stalled handshakes on both TLS ports at the hello timeout, freeing the connection cap', async () => {
  const strict = await startServer(['--tls-cert', certificate.certPath, '--tls-key', certificate.keyPath, '--hello-timeout-ms', '500', '--max-connections', '2']);
  // More than the raw socket cap (2 + headroom 100) would lock everyone out if they stayed.
  const stalled = await Promise.all(Array.from({ length: 110 }, () => RawClient.connect(strict.tcpPort).catch(() => undefined)));
  const partial = await RawClient.connect(strict.tcpPort);
  partial.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01])); // a ClientHello's first bytes, then nothing
  const wsSilent = await RawClient.connect(strict.wsPort);
  await Promise.all([...stalled, partial, wsSilent].map((c) => c?.waitClosed(10_000)));
  expect(await disconnects(strict, 'hello_timeout')).toBeGreaterThanOrEqual(3);
  // And a real client gets in afterwards.
  const socket = tls.connect({ host: '127.0.0.1', port: strict.tcpPort, ca: cert });
  let text = '';
  socket.on('data', (d) => (text += d.toString()));
  await new Promise((r) => socket.once('secureConnect', r));
  socket.write('{"type":"hello","nick":"after"}\n');
  await waitUntil(() => text.includes('"welcome"'), 'a welcome once the stalled sockets are gone');
  socket.destroy();
  await strict.stop();
}, 30_000);

it('reads a PROXY header before the TLS handshake', async () => {
  const proxied = await startServer(['--tls-cert', certificate.certPath, '--tls-key', certificate.keyPath, '--proxy-protocol', '--trusted-proxies', '127.0.0.1']);
  const raw = (await import('node:net')).connect({ host: '127.0.0.1', port: proxied.tcpPort });
  raw.write('PROXY TCP4 203.0.113.44 127.0.0.1 6000 50445\r\n');
  const socket = tls.connect({ socket: raw, ca: cert, servername: 'localhost' });
  let text = '';
  socket.on('data', (d) => (text += d.toString()));
  await new Promise((r) => socket.once('secureConnect', r));
  socket.write('{"type":"hello","nick":"proxied"}\n');
  await waitUntil(() => text.includes('"welcome"'), 'a welcome over TLS behind PROXY');
  await proxied.waitForLog((l) => l.msg === 'connection' && l.remote === '203.0.113.44:6000', 'the named client in the log');
  socket.destroy();
  await proxied.stop();
});
