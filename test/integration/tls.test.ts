// --tls-cert/--tls-key: TCP becomes TLS and WebSocket becomes WSS, on the same sessions.
import tls from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
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
