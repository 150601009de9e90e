// Hostile traffic at the edge, over real sockets: every connection must be welcomed in
// time, every partial line finished in time, floods stopped, rooms bounded, and each
// departure counted by reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect, legacyFrame, RawClient, TestClient } from '../support/client.js';
import { disconnects, metric } from '../support/metrics.js';
import { startServer, type ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer([
    '--hello-timeout-ms', '1000', '--partial-line-timeout-ms', '1000', '--idle-timeout-ms', '1500',
    '--rate', '5', '--burst', '10', '--flood-frames', '50', '--join-rate', '2',
  ]);
});
afterAll(() => server.stop());

let seq = 0;
const nick = (base: string) => `${base}${++seq}`;

/** A WebSocket that never says hello; resolves with its close code once the server closes it. */
function wsClosed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

describe('the hello timeout', () => {
  it('closes a WebSocket that answers pings and sends garbage but never says hello, with 1008', async () => {
    const before = await disconnects(server, 'hello_timeout');
    const ws = new WebSocket(`ws://127.0.0.1:${server.wsPort}`);
    const closed = wsClosed(ws);
    const errors: string[] = [];
    ws.on('message', (d) => errors.push(JSON.parse(String(d)).code));
    await new Promise((r) => ws.once('open', r));
    // The idle sweep pings every 250 ms and ws answers: under the old rule those pongs kept it open.
    const chatter = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('{"type":"ping"}'), 150);
    const code = await closed;
    clearInterval(chatter);
    expect(code).toBe(1008);
    expect(errors).toContain('hello_first');
    expect(await disconnects(server, 'hello_timeout')).toBeGreaterThan(before);
  });

  it('closes TCP connections that are silent, undecided, or chatting without a hello', async () => {
    const silent = await RawClient.connect(server.tcpPort);
    const undecided = await RawClient.connect(server.tcpPort);
    undecided.write('12'); // digits without a space yet: legacy or text, still undecided
    const json = await TestClient.tcp(server.tcpPort);
    const chatter = setInterval(() => json.send({ type: 'ping' }), 150);
    await Promise.all([silent.waitClosed(), undecided.waitClosed(), json.waitClosed()]);
    clearInterval(chatter);
    expect(json.received.some((f) => f.code === 'hello_first')).toBe(true);
  });

  it('closes an HTTP upgrade sent a byte at a time (slowloris)', async () => {
    const raw = await RawClient.connect(server.wsPort);
    const request = `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${'X-Slow: y\r\n'.repeat(50)}`;
    let at = 0;
    const drip = setInterval(() => !raw.closed && at < request.length && raw.write(request[at++]!), 50);
    await raw.waitClosed();
    clearInterval(drip);
    expect(at).toBeLessThan(request.length);
  });

  it('lets a welcomed session stay past it', async () => {
    const c = await connect(server.tcpPort, nick('stays'));
    const ws = await connect(server.wsPort, nick('stayws'), 'ws');
    // Opened with them: once the hello timeout has closed it, it has passed for them too.
    const witness = await RawClient.connect(server.tcpPort);
    await waitUntil(async () => {
      await Promise.all([c.request({ type: 'ping' }), ws.request({ type: 'ping' })]);
      return witness.closed;
    }, 'the hello timeout to pass, pinging within the idle timeout', 10_000, 100);
    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    expect(await ws.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    c.close();
    ws.close();
  });
});

describe('partial lines', () => {
  it('closes a welcomed text session whose line never ends, saying why', async () => {
    const raw = await RawClient.connect(server.tcpPort);
    raw.write(`${nick('txt')}\n`);
    await raw.waitFor('Welcome');
    raw.write('x'.repeat(60_000));
    await raw.waitClosed();
    expect(raw.text).toMatch(/Error \(bad_frame\): a line must be finished/);
  });

  it('closes a legacy session whose frame header came but whose body never does', async () => {
    const raw = await RawClient.connect(server.tcpPort);
    const hello = legacyFrame(nick('old'));
    raw.write(Buffer.concat([hello.header, hello.body]));
    await raw.waitFor('Welcome');
    raw.write(legacyFrame('x'.repeat(60_000)).header);
    await raw.waitClosed();
  });

  it('keeps a session whose lines each end, however many reads they take', async () => {
    const c = await connect(server.tcpPort, nick('split'));
    const witness = await RawClient.connect(server.tcpPort);
    let sent = 0;
    // Each ping split over two writes; the partial-line clock restarts with every line.
    await waitUntil(async () => {
      const ref = `s${++sent}`;
      c.send('{"type":"ping",');
      await new Promise((r) => setTimeout(r, 50));
      c.send(`"ref":"${ref}"}\n`);
      await c.next('pong', (f) => f.ref === ref);
      return witness.closed;
    }, 'a hello timeout (as long as the partial-line timeout) to pass', 10_000, 100);
    expect(c.closed).toBe(false);
    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    c.close();
  });
});

describe('floods', () => {
  it('disconnects a client far over its rate with one rate_limited, and others chat on', async () => {
    const before = await disconnects(server, 'flood');
    const vandal = await connect(server.tcpPort, nick('flood'));
    const [a, b] = [nick('ann'), nick('bob')];
    const ann = await connect(server.tcpPort, a);
    const bob = await connect(server.wsPort, b, 'ws');
    vandal.send(Array.from({ length: 5_000 }, (_, i) => `{"type":"ping","ref":"f${i}"}`).join('\n') + '\n');
    await vandal.waitClosed();
    expect(vandal.received.filter((f) => f.code === 'rate_limited')).toHaveLength(1);
    // Burst 10 and --flood-frames 50: far fewer than the 5,000 sent were ever answered.
    expect(vandal.received.filter((f) => f.type === 'pong').length).toBeLessThan(100);
    expect(await disconnects(server, 'flood')).toBe(before + 1);
    const ack = await ann.request({ type: 'send', to: `@${b}`, text: 'still here' });
    expect(await bob.next('msg')).toMatchObject({ id: ack.id });
    ann.close();
    bob.close();
  });

  it('disconnects a flood of garbage too', async () => {
    const vandal = await connect(server.wsPort, nick('junk'), 'ws');
    for (let i = 0; i < 500; i++) vandal.send('not json');
    await vandal.waitClosed();
    expect(vandal.received.filter((f) => f.code === 'rate_limited')).toHaveLength(1);
  });

  it('rate-limits a join storm', async () => {
    const c = await connect(server.tcpPort, nick('joiner'));
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => c.request({ type: 'join', room: `#storm${seq}x${i}` }, 15_000)));
    expect(replies.filter((r) => r.type === 'joined').length).toBeGreaterThanOrEqual(4);
    expect(replies.filter((r) => r.code === 'rate_limited').length).toBeGreaterThan(0);
    expect(c.closed).toBe(false);
    c.close();
  });
});

describe('room caps', () => {
  let capped: ServerHandle;
  beforeAll(async () => {
    capped = await startServer(['--max-rooms-per-user', '3', '--max-room-members', '2']);
  });
  afterAll(() => capped.stop());

  it('caps the rooms a user is in and the members of a room, with limit_reached', async () => {
    const ann = await connect(capped.tcpPort, 'ann');
    for (const room of ['#a', '#b', '#c']) expect(await ann.request({ type: 'join', room })).toMatchObject({ type: 'joined' });
    expect(await ann.request({ type: 'join', room: '#d' })).toMatchObject({ type: 'error', code: 'limit_reached' });
    // Joining a room again is no new room.
    expect(await ann.request({ type: 'join', room: '#a' })).toMatchObject({ type: 'joined' });
    expect(await ann.request({ type: 'leave', room: '#c' })).toMatchObject({ type: 'left' });
    expect(await ann.request({ type: 'join', room: '#d' })).toMatchObject({ type: 'joined' });

    const bob = await connect(capped.wsPort, 'bob', 'ws');
    const cyd = await connect(capped.tcpPort, 'cyd');
    expect(await bob.request({ type: 'join', room: '#a' })).toMatchObject({ type: 'joined' });
    expect(await cyd.request({ type: 'join', room: '#a' })).toMatchObject({ type: 'error', code: 'limit_reached' });
    // The refused joiner is not left in the room.
    expect(await ann.request({ type: 'who', room: '#a' })).toMatchObject({ count: 2 });
    expect(await cyd.request({ type: 'send', to: '#a', text: 'hi' })).toMatchObject({ type: 'error' });
    expect(await metric(capped, 'chorus_frames_rejected_total', { reason: 'limit_reached' })).toBe(2);
    [ann, bob, cyd].forEach((c) => c.close());
  });
});

describe('per-address limits', () => {
  it('refuses connections past --max-connections-per-ip with too_many_connections (WebSocket: 1013)', async () => {
    const s = await startServer(['--max-connections-per-ip', '3']);
    const held = await Promise.all([connect(s.tcpPort, 'a1'), connect(s.wsPort, 'a2', 'ws'), connect(s.tcpPort, 'a3')]);
    const tcp = await TestClient.tcp(s.tcpPort);
    tcp.send({ type: 'hello', nick: 'a4' });
    expect(await tcp.next('error')).toMatchObject({ code: 'too_many_connections' });
    await tcp.waitClosed();
    const ws = new WebSocket(`ws://127.0.0.1:${s.wsPort}`);
    expect(await wsClosed(ws)).toBe(1013);
    // A refused socket that stays silent is not held until the hello timeout (10 s here).
    const silent = await RawClient.connect(s.tcpPort);
    await silent.waitClosed(5_000);
    held[0]!.close();
    // A refusal at the door answers no ref: wait for whichever frame comes.
    await waitUntil(async () => {
      const c = await TestClient.tcp(s.tcpPort);
      c.send({ type: 'hello', nick: 'a5' });
      const first = await waitUntil(() => c.received[0], 'an answer to hello');
      c.close();
      return first.type === 'welcome';
    }, 'room for one more once one left');
    expect(await disconnects(s, 'ip_limit')).toBeGreaterThanOrEqual(2);
    held.forEach((c) => c.close());
    await s.stop();
  });

  it('refuses new connections past --connect-rate-per-ip', async () => {
    const s = await startServer(['--connect-rate-per-ip', '5']);
    const clients = await Promise.all(Array.from({ length: 20 }, () => TestClient.tcp(s.tcpPort)));
    clients.forEach((c) => c.send({ type: 'ping' }));
    await waitUntil(() => clients.every((c) => c.received.length > 0), 'an answer on every connection');
    const refused = clients.filter((c) => c.received.some((f) => f.code === 'too_many_connections'));
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length).toBeLessThan(20);
    expect(await disconnects(s, 'connect_rate')).toBe(refused.length);
    clients.forEach((c) => c.close());
    await s.stop();
  });
});

describe('write deadline', () => {
  it('cuts off a client whose socket takes nothing for --write-deadline-ms, under the byte bound', async () => {
    const s = await startServer(['--rate', '100000', '--burst', '100000', '--max-outbound-bytes', String(512 * 1024 * 1024), '--write-deadline-ms', '500']);
    const room = '#firehose';
    // A raw socket that stops reading once it has joined.
    const sleepy = await RawClient.connect(s.tcpPort);
    sleepy.write(`{"type":"hello","nick":"sleepy"}\n{"type":"join","room":"${room}"}\n`);
    await sleepy.waitFor('"joined"');
    sleepy.socket.pause();
    const talker = await connect(s.tcpPort, 'talker');
    await talker.request({ type: 'join', room });
    const text = '😀'.repeat(4000);
    // The byte bound is far off: only the write deadline can end it.
    await waitUntil(async () => {
      await Promise.all(Array.from({ length: 20 }, () => talker.request({ type: 'send', to: room, text })));
      return (await disconnects(s, 'slow_consumer')) > 0;
    }, 'the stalled reader to be cut off', 60_000, 1);
    sleepy.socket.resume();
    await sleepy.waitClosed();
    expect(sleepy.text).toContain('"code":"slow_consumer"');
    expect(await talker.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    talker.close();
    await s.stop();
  });
});

describe('draining', () => {
  it('refuses a client that speaks while the gateway drains with unavailable, and says bye with 1012', async () => {
    const s = await startServer();
    const ws = await connect(s.wsPort, 'leaving', 'ws');
    const raw = await RawClient.connect(s.tcpPort);
    const wsCode = new Promise<number>((resolve) => {
      const sock = new WebSocket(`ws://127.0.0.1:${s.wsPort}`);
      sock.on('open', () => sock.send('{"type":"hello","nick":"second"}'));
      sock.on('message', (d) => {
        if (JSON.parse(String(d)).type === 'welcome') void s.stop();
      });
      sock.on('close', (code) => resolve(code));
    });
    expect(await wsCode).toBe(1012);
    await s.waitForLog((l) => l.msg === 'stopping', 'the stopping log');
    raw.write('{"type":"hello","nick":"late"}\n');
    await raw.waitFor('"code":"unavailable"');
    expect(raw.text).not.toContain('too_many_connections');
    expect(ws.received.some((f) => f.type === 'bye' && f.reason === 'restart')).toBe(true);
    await s.exited;
  });
});

describe('the metrics port', () => {
  it('listens on --metrics-host, loopback by default, not on the client address', async () => {
    const plain = await startServer();
    const listening = await plain.waitForLog((l) => l.msg === 'listening', 'the listening log');
    expect(listening.metricsHost).toBe('127.0.0.1');
    await plain.stop();
    // Another loopback address for the metrics: the client address (127.0.0.1) must not serve them.
    const apart = await startServer(['--metrics-host', '127.0.0.2']);
    const res = await fetch(`http://127.0.0.2:${apart.metricsPort}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('chorus_disconnects_total');
    await expect(fetch(`http://127.0.0.1:${apart.metricsPort}/metrics`)).rejects.toThrow();
    await apart.stop();
  });
});
