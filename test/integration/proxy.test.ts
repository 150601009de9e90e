// Real client addresses behind a balancer: PROXY protocol v1/v2 headers on both client
// ports and X-Forwarded-For on WebSocket upgrades, believed only from --trusted-proxies.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RawClient, TestClient } from '../support/client.js';
import { disconnects } from '../support/metrics.js';
import { startServer, type ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';

const v2Signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** A v2 PROXY header for TCP over IPv6 from [2001:db8::<last>]:port. */
function v2Tcp6(last: number, port: number): Buffer {
  const header = Buffer.alloc(16 + 36);
  v2Signature.copy(header);
  header[12] = 0x21;
  header[13] = 0x21;
  header.writeUInt16BE(36, 14);
  header.writeUInt16BE(0x2001, 16);
  header.writeUInt16BE(0x0db8, 18);
  header.writeUInt16BE(last, 30);
  header.writeUInt16BE(port, 48);
  return header;
}

/** A JSON client on a socket that starts with `preamble` (a PROXY header). */
async function tcpAs(port: number, preamble: string | Buffer, nick: string): Promise<RawClient> {
  const raw = await RawClient.connect(port);
  raw.write(Buffer.concat([Buffer.from(preamble), Buffer.from(`{"type":"hello","nick":"${nick}"}\n`)]));
  return raw;
}

/** A WebSocket whose TCP connection starts with `preamble`, sending `headers` on the upgrade. */
function wsAs(port: number, preamble: Buffer | undefined, headers: Record<string, string> = {}): Promise<TestClient> {
  const createConnection = () => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    if (preamble) socket.write(preamble);
    return socket;
  };
  return TestClient.ws(port, '127.0.0.1', { headers, createConnection: createConnection as WebSocket.ClientOptions['createConnection'] });
}

const connectionFrom = (server: ServerHandle, remote: string) =>
  server.waitForLog((l) => l.msg === 'connection' && l.remote === remote, `a connection log from ${remote}`);

describe('behind a trusted proxy', () => {
  let server: ServerHandle;
  beforeAll(async () => {
    server = await startServer(['--proxy-protocol', '--trusted-proxies', '10.1.0.0/16,127.0.0.1', '--max-connections-per-ip', '1']);
  });
  afterAll(() => server.stop());

  it('reads a v1 header on the TCP port: logs and per-address limits see the client it names', async () => {
    const ann = await tcpAs(server.tcpPort, 'PROXY TCP4 203.0.113.7 127.0.0.1 5555 50445\r\n', 'ann');
    await ann.waitFor('"welcome"');
    await connectionFrom(server, '203.0.113.7:5555');
    // One connection per address: a second from the same client is refused, another client is not.
    const again = await tcpAs(server.tcpPort, 'PROXY TCP4 203.0.113.7 127.0.0.1 5556 50445\r\n', 'ann2');
    await again.waitFor('"code":"too_many_connections"');
    const bob = await tcpAs(server.tcpPort, 'PROXY TCP4 203.0.113.8 127.0.0.1 5557 50445\r\n', 'bob');
    await bob.waitFor('"welcome"');
    [ann, again, bob].forEach((c) => c.close());
  });

  it('reads a v2 header on the WebSocket port', async () => {
    const ws = await wsAs(server.wsPort, v2Tcp6(7, 40_000));
    expect(await ws.hello('cyd')).toMatchObject({ type: 'welcome' });
    await connectionFrom(server, '2001:db8::7:40000');
    ws.close();
  });

  it('takes a LOCAL header (a health check) as the proxy itself', async () => {
    const local = Buffer.concat([v2Signature, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
    const c = await tcpAs(server.tcpPort, local, 'dan');
    await c.waitFor('"welcome"');
    await server.waitForLog((l) => l.msg === 'connection' && /^127\.0\.0\.1:\d+$/.test(String(l.remote)), 'a connection log from the proxy');
    c.close();
  });

  it('closes a connection from a trusted proxy whose header is malformed', async () => {
    const before = await disconnects(server, 'proxy_protocol');
    const bad = await tcpAs(server.tcpPort, 'PROXY TCP4 999.0.0.1 127.0.0.1 1 2\r\n', 'eve');
    const badV2 = await tcpAs(server.tcpPort, Buffer.concat([v2Signature, Buffer.from([0x21, 0x11, 0x00, 0x04, 1, 2, 3, 4])]), 'eve');
    await Promise.all([bad.waitClosed(), badV2.waitClosed()]);
    expect(bad.text + badV2.text).toBe('');
    expect(await disconnects(server, 'proxy_protocol')).toBe(before + 2);
  });

  it('takes a connection from a trusted proxy without a header as the proxy\'s own', async () => {
    const own = await tcpAs(server.tcpPort, '', 'fin');
    await own.waitFor('"welcome"');
    own.close();
  });
});

describe('proxies not trusted', () => {
  let server: ServerHandle;
  beforeAll(async () => {
    server = await startServer(['--proxy-protocol', '--trusted-proxies', '10.9.9.9']);
  });
  afterAll(() => server.stop());

  it('treats a PROXY line from anyone else as the client\'s own bytes, and ignores its X-Forwarded-For', async () => {
    const c = await tcpAs(server.tcpPort, 'PROXY TCP4 203.0.113.9 127.0.0.1 5555 50445\r\n', 'fay');
    await c.waitFor(/bad_nick|nick/i);
    const ws = await wsAs(server.wsPort, undefined, { 'x-forwarded-for': '198.51.100.30' });
    expect(await ws.hello('gus')).toMatchObject({ type: 'welcome' });
    await waitUntil(() => server.logs.filter((l) => l.msg === 'connection').length >= 2, 'both connection logs');
    const remotes = server.logs.filter((l) => l.msg === 'connection').map((l) => String(l.remote));
    expect(remotes.every((r) => r.startsWith('127.0.0.1:'))).toBe(true);
    c.close();
    ws.close();
  });
});

describe('X-Forwarded-For', () => {
  it('names the client of a WebSocket upgrade from a trusted proxy, skipping trusted hops', async () => {
    const server = await startServer(['--trusted-proxies', '127.0.0.1,10.1.0.0/16']);
    const ws = await wsAs(server.wsPort, undefined, { 'x-forwarded-for': '192.0.2.1, 198.51.100.20, 10.1.2.3' });
    expect(await ws.hello('hal')).toMatchObject({ type: 'welcome' });
    await server.waitForLog((l) => l.msg === 'connection' && l.remote === '198.51.100.20', 'the forwarded client in the log');
    ws.close();
    await server.stop();
  });
});
