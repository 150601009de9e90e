// The edges of a session's life: closing mid-hello, resuming over a live connection,
// silent sockets at shutdown, big replies, and what WebSocket clients see at the frame limit.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { claimWhenFree, connect, helloAndHangUp, RawClient, TestClient } from '../support/client.js';
import { startServer, type ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer(['--resume-grace-ms', '300', '--max-frame-bytes', '65536', '--rate', '1000', '--burst', '1000']);
});
afterAll(() => server.stop());

describe('session edges', () => {
  it('leaves no ghost behind a connection that closes right after its hello', async () => {
    const nicks = Array.from({ length: 20 }, (_, i) => `hasty${i}`);
    await Promise.all(nicks.map((nick) => helloAndHangUp(server.tcpPort, nick)));
    const watcher = await connect(server.tcpPort, 'watcher');
    await waitUntil(async () => {
      const who = await watcher.request({ type: 'who' });
      return nicks.every((n) => !who.users.includes(n));
    }, 'the hasty users to be gone from who');
    for (const nick of nicks) (await claimWhenFree(server.tcpPort, nick)).close();
    watcher.close();
  });

  it('moves a session to a resuming connection: the old one is told and closed, and takes nothing with it', async () => {
    const first = await connect(server.tcpPort, 'Ann');
    const bob = await connect(server.tcpPort, 'bob');
    const second = await TestClient.tcp(server.tcpPort);
    expect(await second.hello('ann', { resume: { session: first.welcome!.session, last: {} } })).toMatchObject({ type: 'welcome', nick: 'ann' });
    expect(await first.next('bye')).toMatchObject({ reason: 'moved' });
    await first.waitClosed();
    // The old connection's departure must not free the nick or take ann offline.
    await bob.request({ type: 'ping' });
    const stranger = await TestClient.tcp(server.tcpPort);
    expect(await stranger.hello('ann')).toMatchObject({ type: 'error', code: 'nick_taken' });
    expect((await bob.request({ type: 'who' })).users).toContain('ann');
    const ack = await bob.request({ type: 'send', to: '@ann', text: 'still you?' });
    expect(await second.next('msg', (m) => m.id === ack.id)).toMatchObject({ text: 'still you?' });
    [second, bob, stranger].forEach((c) => c.close());
  });

  it('answers a full history page of long messages without taking the reader for a slow consumer', async () => {
    const server2 = await startServer(['--rate', '1000', '--burst', '1000', '--max-outbound-bytes', '262144']);
    const writer = await connect(server2.tcpPort, 'writer');
    const text = '語'.repeat(4000);
    for (let i = 0; i < 100; i++) await writer.request({ type: 'send', to: '*', text });
    const reader = await connect(server2.tcpPort, 'reader');
    const history = await reader.request({ type: 'history', with: '*', limit: 100 }, 10_000);
    expect(history.messages).toHaveLength(100);
    expect(await reader.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    [writer, reader].forEach((c) => c.close());
    await server2.stop();
  });

  it('closes a WebSocket whose frame is over the limit with code 1009', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.wsPort}`);
    await new Promise((r) => ws.once('open', r));
    const code = new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
    ws.send('x'.repeat(70_000));
    expect(await code).toBe(1009);
  });

  it('renders text-mode notices about the user by the nick as typed', async () => {
    const cat = await RawClient.connect(server.tcpPort);
    cat.write('Catherine\n!join #knit\n!leave #knit\n');
    await cat.waitFor('You left #knit.');
    cat.close();
  });
});

it('stops promptly on SIGTERM even with a connection that never said a word', async () => {
  const own = await startServer();
  const silent = net.connect({ port: own.tcpPort, host: '127.0.0.1' });
  await new Promise((r) => silent.once('connect', r));
  const ann = await connect(own.tcpPort, 'ann');
  expect(await own.stop()).toBe(0);
  expect(await ann.next('bye')).toMatchObject({ reason: 'restart' });
  silent.destroy();
});
