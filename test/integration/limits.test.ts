// Every limit triggers its error, bad input of every kind is refused, and the server carries on.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect, TestClient } from '../support/client.js';
import { startServer, type ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer([
    '--max-frame-bytes', '16384', '--rate', '5', '--burst', '10', '--max-outbound-bytes', '65536',
    '--idle-timeout-ms', '600', '--max-connections', '40',
  ]);
});
afterAll(() => server.stop());

let seq = 0;
const nick = (base: string) => `${base}${++seq}`;

describe('refusals', () => {
  it('asks for hello first, and checks nicks', async () => {
    const c = await TestClient.tcp(server.tcpPort);
    expect(await c.request({ type: 'who' })).toMatchObject({ type: 'error', code: 'hello_first' });
    for (const bad of ['', 'has space', '@ann', '#ann', '*ann', 'x'.repeat(33), 42]) {
      expect(await c.request({ type: 'hello', nick: bad })).toMatchObject({ type: 'error', code: 'bad_nick' });
    }
    expect(await c.hello(nick('ok'))).toMatchObject({ type: 'welcome' });
    expect(await c.request({ type: 'hello', nick: 'again' })).toMatchObject({ type: 'error', code: 'bad_frame' });
    c.close();
  });

  it('checks targets and text', async () => {
    const c = await connect(server.tcpPort, nick('ann'));
    expect(await c.request({ type: 'send', to: 'everyone', text: 'x' })).toMatchObject({ code: 'bad_target' });
    expect(await c.request({ type: 'send', to: '#', text: 'x' })).toMatchObject({ code: 'bad_target' });
    expect(await c.request({ type: 'send', to: '@bad nick', text: 'x' })).toMatchObject({ code: 'bad_target' });
    expect(await c.request({ type: 'send', to: '*', text: 'x'.repeat(4001) })).toMatchObject({ code: 'text_too_long' });
    expect(await c.request({ type: 'send', to: '*', text: '☃'.repeat(4000) })).toMatchObject({ type: 'ack' });
    expect(await c.request({ type: 'send', to: '*', text: '' })).toMatchObject({ code: 'bad_frame' });
    expect(await c.request({ type: 'teleport' })).toMatchObject({ code: 'unknown_type' });
    expect(await c.request({ type: 'register', password: 'secret123' })).toMatchObject({ code: 'unknown_type' });
    c.close();
  });
});

describe('a flood of garbage', () => {
  it('gets an error per bad frame while another client keeps chatting unharmed', async () => {
    const [a, b] = [nick('ann'), nick('bob')];
    const ann = await connect(server.tcpPort, a);
    const bob = await connect(server.wsPort, b, 'ws');
    const vandal = await connect(server.tcpPort, nick('vandal'));
    const garbage = ['not json', '[1,2]', '{"type":5}', '{"type":"send","to":"*","text":7}', 'null', '{"type":"send"'];
    vandal.send(garbage.join('\n') + '\n');
    vandal.send(Buffer.from([0xff, 0xfe, 0x0a]).toString('latin1'));
    for (let i = 0; i < garbage.length; i++) expect(await vandal.next('error')).toMatchObject({ code: expect.stringMatching(/bad_frame|unknown_type/) });
    const ack = await ann.request({ type: 'send', to: `@${b}`, text: 'still here' });
    expect(await bob.next('msg')).toMatchObject({ id: ack.id, text: 'still here' });
    expect(vandal.closed).toBe(false);
    [ann, bob, vandal].forEach((x) => x.close());
  });

  it('refuses invalid UTF-8 and keeps the connection', async () => {
    const raw = net.connect({ port: server.tcpPort, host: '127.0.0.1' });
    let got = '';
    raw.on('data', (d) => (got += d.toString()));
    raw.write(`{"type":"hello","nick":"${nick('utf')}"}\n`);
    raw.write(Buffer.from([0x7b, 0xc3, 0x28, 0x7d, 0x0a]));
    raw.write('{"type":"ping","ref":"p"}\n');
    await waitUntil(() => got.includes('"pong"'), 'pong after bad UTF-8');
    expect(got).toContain('"code":"bad_frame"');
    raw.destroy();
  });

  it('refuses binary and invalid WebSocket frames and keeps the connection', async () => {
    const c = await connect(server.wsPort, nick('bin'), 'ws');
    const ws = new WebSocket(`ws://127.0.0.1:${server.wsPort}`);
    const frames: any[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(String(d))));
    await new Promise((r) => ws.once('open', r));
    ws.send(Buffer.from([1, 2, 3]), { binary: true });
    ws.send(Buffer.from([0xff, 0xfe]), { binary: false });
    ws.send('{"type":"ping","ref":"p"}');
    await waitUntil(() => frames.some((f) => f.ref === 'p'), 'an answer after binary frames');
    expect(frames.find((f) => f.ref === 'p')).toMatchObject({ code: 'hello_first' });
    expect(frames.filter((f) => f.code === 'bad_frame')).toHaveLength(2);
    ws.close();
    c.close();
  });

  it('closes a connection whose line passes the frame limit, after saying why', async () => {
    const c = await connect(server.tcpPort, nick('big'));
    c.send('{"type":"send","to":"*","text":"' + 'x'.repeat(20_000));
    expect(await c.next('error')).toMatchObject({ code: 'frame_too_large' });
    await c.waitClosed();
    const ws = await connect(server.wsPort, nick('bigws'), 'ws');
    ws.send(JSON.stringify({ type: 'send', to: '*', text: 'y'.repeat(20_000) }));
    await ws.waitClosed();
    const other = await connect(server.tcpPort, nick('fine'));
    expect(await other.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    other.close();
  });
});

describe('limits', () => {
  it('delays a sender over the rate (fakelag) instead of refusing its frames, and keeps the connection', async () => {
    const c = await connect(server.tcpPort, nick('fast'));
    const lagged = () => server.metrics().then((m) => Number(/^chorus_lagged_frames_total (\d+)/m.exec(m)?.[1] ?? 0));
    const before = await lagged();
    // Burst 10, then 5 a second: 20 past the burst wait their turn, under --flood-frames.
    for (let i = 0; i < 30; i++) c.send({ type: 'ping', ref: `p${i}` });
    for (let i = 0; i < 30; i++) expect(await c.next('pong', (f) => f.ref === `p${i}`, 10_000)).toBeDefined();
    expect(c.pending('error')).toEqual([]);
    expect(await lagged()).toBeGreaterThanOrEqual(before + 20);
    expect(c.closed).toBe(false);
    c.close();
  });

  it('cuts off a client that does not read, with slow_consumer', async () => {
    // Its own server: senders must outrun the kernel's socket buffers, so no rate limit here.
    const fast = await startServer(['--rate', '100000', '--burst', '100000', '--max-outbound-bytes', '65536']);
    const [a, s] = [nick('talker'), nick('sleepy')];
    const room = `#${nick('flood')}`;
    // The sleepy client is a raw socket that stops reading after it joined.
    const sleepy = net.connect({ port: fast.tcpPort, host: '127.0.0.1' });
    let got = '';
    let closed = false;
    sleepy.on('data', (d) => (got += d.toString()));
    sleepy.on('close', () => (closed = true));
    sleepy.write(`{"type":"hello","nick":"${s}"}\n{"type":"join","room":"${room}"}\n`);
    await waitUntil(() => got.includes('"joined"'), 'sleepy to join');
    sleepy.pause();
    const talkers = await Promise.all([0, 1].map((i) => connect(fast.tcpPort, `${a}x${i}`)));
    await Promise.all(talkers.map((t) => t.request({ type: 'join', room })));
    const text = '😀'.repeat(4000);
    await waitUntil(async () => {
      await Promise.all(talkers.flatMap((t) => Array.from({ length: 20 }, () => t.request({ type: 'send', to: room, text }))));
      return fast.metrics().then((m) => /chorus_slow_consumer_disconnects_total [1-9]/.test(m));
    }, 'the slow consumer to be cut off', 30_000, 1);
    sleepy.resume();
    await waitUntil(() => closed, 'the slow consumer connection to close');
    expect(got).toContain('"code":"slow_consumer"');
    expect(await talkers[0]!.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    talkers.forEach((t) => t.close());
    await fast.stop();
  });

  it('closes a silent JSON client after the idle timeout but pings WebSocket clients that answer', async () => {
    const quiet = await connect(server.tcpPort, nick('quiet'));
    const ws = await connect(server.wsPort, nick('wsquiet'), 'ws');
    await quiet.waitClosed(5_000);
    expect(ws.closed).toBe(false);
    expect(await ws.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    ws.close();
  });

  it('refuses connections past the limit with too_many_connections', async () => {
    const clients = await Promise.all(Array.from({ length: 45 }, () => TestClient.tcp(server.tcpPort)));
    clients.forEach((c) => c.send({ type: 'ping' }));
    const refused = await waitUntil(() => clients.filter((c) => c.received.some((f) => f.code === 'too_many_connections')).length >= 5 && clients, 'refusals');
    expect(refused.filter((c) => c.received.some((f) => f.code === 'too_many_connections')).length).toBeGreaterThanOrEqual(5);
    clients.forEach((c) => c.close());
  });
});
