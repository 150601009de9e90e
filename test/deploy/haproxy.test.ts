import { execFile } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { RawClient, TestClient } from '../support/client.js';
import { canConnect } from '../support/ports.js';
import { startServer } from '../support/server.js';
import { haproxyBin, haproxyCfg, haproxyEnv, startHaproxy, waitForServerStatus, type Balancer } from './haproxy.js';

const run = promisify(execFile);

/**
 * A stand-in gateway: answers every TCP connection on both client ports with its name, and
 * /readyz with 200 or 503 as told. It lets these tests check the balancer's own behaviour
 * (health checks on the metrics port, leastconn, tracking, disabled slots) without Redis.
 */
async function stubGateway(name: string) {
  let ready = true;
  // The balancer resets the server side of a client that hung up first (the port probes do).
  // Reading (and dropping) what comes, the PROXY header included, lets the socket see its end.
  const greet = (socket: net.Socket) => socket.on('error', () => {}).end(`${name}\n`).resume();
  const tcp = net.createServer(greet).listen(0, '127.0.0.1');
  const ws = net.createServer(greet).listen(0, '127.0.0.1');
  const health = http.createServer((req, res) => res.writeHead(req.url === '/readyz' && ready ? 200 : 503).end()).listen(0, '127.0.0.1');
  await Promise.all([once(tcp, 'listening'), once(ws, 'listening'), once(health, 'listening')]);
  const port = (s: net.Server) => (s.address() as net.AddressInfo).port;
  return {
    address: { host: '127.0.0.1', tcpPort: port(tcp), wsPort: port(ws), metricsPort: port(health) },
    setReady(value: boolean) {
      ready = value;
    },
    async close() {
      await Promise.all([tcp, ws, health].map((s) => new Promise((resolve) => s.close(resolve))));
    },
  };
}

/** Connects through the balancer and returns the name of the gateway that answered. */
function whoAnswers(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.once('end', () => resolve(text.trim()));
    socket.once('error', reject);
  });
}

describe('deploy/haproxy.cfg', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    // Balancer first, then the gateways behind it.
    for (const fn of cleanup.reverse()) await fn();
    cleanup.length = 0;
  });

  it('passes haproxy -c with the environment the tests use', async () => {
    const address = { host: '127.0.0.1', tcpPort: 1, wsPort: 2, metricsPort: 3 };
    const env = { ...process.env, ...haproxyEnv([address, address], { host: '127.0.0.1', tcpPort: 4, wsPort: 5, statsPort: 6 }) };
    const { stdout } = await run(haproxyBin, ['-c', '-f', haproxyCfg], { env });
    expect(stdout).toContain('Configuration file is valid');
  });

  it('balances over ready gateways only and disables unused slots', async () => {
    const a = await stubGateway('a');
    cleanup.push(() => a.close());
    const b = await stubGateway('b');
    cleanup.push(() => b.close());
    const lb: Balancer = await startHaproxy({ gateways: [a.address, b.address] });
    cleanup.push(() => lb.stop());

    await waitForServerStatus(lb, 'gateway1', 'UP');
    await waitForServerStatus(lb, 'gateway2', 'UP');
    await waitForServerStatus(lb, 'gateway3', 'MAINT');
    // Both client ports reach a gateway: the WebSocket port is plain TCP passthrough.
    expect(['a', 'b']).toContain(await whoAnswers(lb.tcpPort));
    expect(['a', 'b']).toContain(await whoAnswers(lb.wsPort));

    // A draining gateway answers /readyz with 503: within two checks it takes no new
    // clients, on either port (the WebSocket servers track the TCP servers' checks).
    a.setReady(false);
    await waitForServerStatus(lb, 'gateway1', 'DOWN');
    for (let i = 0; i < 4; i++) {
      expect(await whoAnswers(lb.tcpPort)).toBe('b');
      expect(await whoAnswers(lb.wsPort)).toBe('b');
    }

    a.setReady(true);
    await waitForServerStatus(lb, 'gateway1', 'UP');
  }, 60_000);

  it('carries JSON-line and WebSocket chat to a real gateway, which sees each client\'s own address', async () => {
    // memory engine: no Redis needed for one gateway. The balancer connects from loopback too,
    // so the client's source port is what tells its address from the balancer's.
    const gateway = await startServer(['--proxy-protocol', '--trusted-proxies', '127.0.0.1']);
    cleanup.push(async () => {
      await gateway.stop();
    });
    const lb = await startHaproxy({ gateways: [gateway] });
    cleanup.push(() => lb.stop());
    await waitForServerStatus(lb, 'gateway1', 'UP');

    const ann = await RawClient.connect(lb.tcpPort);
    cleanup.push(async () => ann.close());
    ann.write('{"type":"hello","nick":"ann"}\n');
    await ann.waitFor('"welcome"');
    const annRemote = `127.0.0.1:${ann.socket.localPort}`;
    await gateway.waitForLog((l) => l.msg === 'connection' && l.remote === annRemote, `a connection log from ${annRemote}`);

    let wsSocket: net.Socket | undefined;
    const createConnection = () => (wsSocket = net.connect({ host: '127.0.0.1', port: lb.wsPort }));
    const bob = await TestClient.ws(lb.wsPort, '127.0.0.1', { createConnection: createConnection as WebSocket.ClientOptions['createConnection'] });
    cleanup.push(async () => bob.close());
    expect(await bob.hello('bob')).toMatchObject({ type: 'welcome', nick: 'bob' });
    const bobRemote = `127.0.0.1:${wsSocket!.localPort}`;
    await gateway.waitForLog((l) => l.msg === 'connection' && l.remote === bobRemote, `a connection log from ${bobRemote}`);
    // None of the gateway's clients shows up as the balancer (HAProxy's own ports differ from its clients').
    const remotes = gateway.logs.filter((l) => l.msg === 'connection').map((l) => l.remote);
    expect(remotes).toEqual([annRemote, bobRemote]);
  }, 30_000);

  it('stop() ends HAProxy and frees its ports', async () => {
    const a = await stubGateway('a');
    cleanup.push(() => a.close());
    const lb = await startHaproxy({ gateways: [a.address] });
    await lb.stop();
    expect(await canConnect(lb.tcpPort)).toBe(false);
    expect(await canConnect(lb.statsPort)).toBe(false);
  }, 30_000);
});
