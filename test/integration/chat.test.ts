// Users chatting on one server over real TCP and WebSocket connections.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimWhenFree, connect, TestClient, wentOffline, wentOnline } from '../support/client.js';
import { startServer, type ServerHandle } from '../support/server.js';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer(['--resume-grace-ms', '200']);
});
afterAll(() => server.stop());

let seq = 0;
const nick = (base: string) => `${base}${++seq}`;

describe.each(['tcp', 'ws'] as const)('chat over %s', (transport) => {
  const join = (n: string) => connect(transport === 'tcp' ? server.tcpPort : server.wsPort, n, transport);

  it('welcomes a user with a session token, the gateway and the online count', async () => {
    const ann = await join(nick('ann'));
    expect(ann.welcome).toMatchObject({ type: 'welcome', version: 2, gateway: expect.any(String) });
    expect(ann.welcome!.session).toMatch(/^\S{16,}$/);
    expect(ann.welcome!.online).toBeGreaterThanOrEqual(1);
    ann.close();
  });

  it('broadcasts a public message to everyone but the sender, and acks the sender', async () => {
    const [a, b, c] = [nick('ann'), nick('bob'), nick('cat')];
    const ann = await join(a);
    const bob = await join(b);
    const cat = await TestClient.ws(server.wsPort);
    await cat.hello(c);
    const ack = await ann.request({ type: 'send', to: '*', text: 'hello, all ☃' });
    expect(ack).toMatchObject({ type: 'ack', id: expect.any(String), ts: expect.any(Number) });
    for (const other of [bob, cat]) {
      expect(await other.next('msg', (m) => m.from === a)).toEqual({
        type: 'msg', id: ack.id, from: a, to: '*', text: 'hello, all ☃', ts: ack.ts,
      });
    }
    await bob.request({ type: 'ping' });
    expect(ann.pending('msg').filter((m) => m.from === a)).toEqual([]);
    [ann, bob, cat].forEach((x) => x.close());
  });

  it('delivers a private message to its recipient only', async () => {
    const [a, b, c] = [nick('ann'), nick('Bob'), nick('cat')];
    const ann = await join(a);
    const bob = await join(b);
    const cat = await join(c);
    const ack = await ann.request({ type: 'send', to: `@${b.toLowerCase()}`, text: 'psst' });
    expect(ack.type).toBe('ack');
    expect(await bob.next('msg')).toMatchObject({ id: ack.id, from: a, text: 'psst' });
    await cat.request({ type: 'ping' });
    expect(cat.pending('msg').filter((m) => m.id === ack.id)).toEqual([]);
    expect(await ann.request({ type: 'send', to: '@nobody-here', text: 'hi' })).toMatchObject({ type: 'error', code: 'no_such_user' });
    [ann, bob, cat].forEach((x) => x.close());
  });

  it('runs rooms: join with members, group messages to members only, leave', async () => {
    const [a, b, c] = [nick('ann'), nick('bob'), nick('cat')];
    const room = `#${nick('Dev')}`;
    const ann = await join(a);
    const bob = await join(b);
    const cat = await join(c);
    expect(await ann.request({ type: 'join', room })).toMatchObject({ type: 'joined', room: room.toLowerCase(), members: [a] });
    const joined = await bob.request({ type: 'join', room });
    expect([...joined.members].sort()).toEqual([a, b].sort());
    expect(await ann.next('joined', (f) => f.nick === b)).toMatchObject({ room: room.toLowerCase() });
    expect(await cat.request({ type: 'send', to: room, text: 'let me in' })).toMatchObject({ type: 'error', code: 'not_in_room' });
    const ack = await bob.request({ type: 'send', to: room, text: 'standup?' });
    expect(await ann.next('msg')).toMatchObject({ id: ack.id, from: b, to: room.toLowerCase(), text: 'standup?' });
    expect(await ann.request({ type: 'who', room })).toMatchObject({ type: 'who', room: room.toLowerCase(), count: 2 });
    expect(await bob.request({ type: 'leave', room })).toMatchObject({ type: 'left', room: room.toLowerCase() });
    expect(await ann.next('left', (f) => f.nick === b)).toBeDefined();
    expect(await bob.request({ type: 'leave', room })).toMatchObject({ type: 'error', code: 'not_in_room' });
    await cat.request({ type: 'ping' });
    expect(cat.pending('msg')).toEqual([]);
    [ann, bob, cat].forEach((x) => x.close());
  });

  it('lists who is online and announces arrivals and departures', async () => {
    const [a, b] = [nick('ann'), nick('bob')];
    const ann = await join(a);
    const bob = await join(b);
    expect(await ann.next('presence', wentOnline(b))).toBeDefined();
    const who = await ann.request({ type: 'who' });
    expect(who.users).toEqual(expect.arrayContaining([a, b]));
    expect(who.count).toBe(who.users.length);
    expect(await bob.request({ type: 'bye' })).toMatchObject({ type: 'bye' });
    await bob.waitClosed();
    expect(await ann.next('presence', wentOffline(b))).toBeDefined();
    expect((await ann.request({ type: 'who' })).users).not.toContain(b);
    ann.close();
  });

  it('refuses a nick already online, compared case-folded and NFC-normalised', async () => {
    const a = nick('Quang');
    const first = await join(a);
    const second = transport === 'tcp' ? await TestClient.tcp(server.tcpPort) : await TestClient.ws(server.wsPort);
    expect(await second.hello(a.toLowerCase())).toMatchObject({ type: 'error', code: 'nick_taken' });
    expect(await second.hello(a.toUpperCase())).toMatchObject({ type: 'error', code: 'nick_taken' });
    const cafe = nick('cafe\u0301');
    expect(await second.hello(cafe)).toMatchObject({ type: 'welcome' });
    const third = await TestClient.tcp(server.tcpPort);
    expect(await third.hello(cafe.normalize('NFC'))).toMatchObject({ type: 'error', code: 'nick_taken' });
    [first, second, third].forEach((x) => x.close());
  });

  it('refuses a look-alike of a nick online with bad_nick, naming whom it looks like', async () => {
    const a = nick('ann');
    const first = await join(a);
    const other = transport === 'tcp' ? await TestClient.tcp(server.tcpPort) : await TestClient.ws(server.wsPort);
    // Cyrillic а, fullwidth and math bold letters: one nick with the Latin one, spelled otherwise.
    for (const lookAlike of [`\u0430${a.slice(1)}`, [...a].map((c) => (/[a-z]/.test(c) ? String.fromCodePoint(c.codePointAt(0)! + 0xfee0) : c)).join('')]) {
      const refusal = await other.hello(lookAlike);
      expect(refusal).toMatchObject({ type: 'error', code: 'bad_nick' });
      expect(refusal.message).toContain(a);
    }
    expect(await other.hello(a.toUpperCase())).toMatchObject({ type: 'error', code: 'nick_taken' });
    first.close();
    other.close();
  });

  it('answers history per target, oldest first, paged with before', async () => {
    const [a, b] = [nick('ann'), nick('bob')];
    const room = `#${nick('hist')}`;
    const ann = await join(a);
    const bob = await join(b);
    await ann.request({ type: 'join', room });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await ann.request({ type: 'send', to: room, text: `m${i}` })).id);
    await ann.request({ type: 'send', to: `@${b}`, text: 'to bob' });
    await bob.request({ type: 'send', to: `@${a}`, text: 'to ann' });
    const last3 = await ann.request({ type: 'history', with: room, limit: 3 });
    expect(last3.messages.map((m: any) => m.text)).toEqual(['m2', 'm3', 'm4']);
    const before = await ann.request({ type: 'history', with: room, before: ids[2], limit: 3 });
    expect(before.messages.map((m: any) => m.id)).toEqual(ids.slice(0, 2));
    const dm = await bob.request({ type: 'history', with: `@${a}` });
    expect(dm.messages.map((m: any) => m.text)).toEqual(['to bob', 'to ann']);
    expect(await ann.request({ type: 'history', with: room, limit: 500 })).toMatchObject({ type: 'error', code: 'bad_frame' });
    [ann, bob].forEach((x) => x.close());
  });

  it('removes a client that vanishes without bye and frees its nick after the grace period', async () => {
    const [a, b] = [nick('ann'), nick('ghost')];
    const ann = await join(a);
    const ghost = await join(b);
    // Seen online first: a connection that came and went inside one presence tick is never announced.
    await ann.next('presence', wentOnline(b));
    ghost.close();
    expect(await ann.next('presence', wentOffline(b))).toBeDefined();
    expect((await ann.request({ type: 'who' })).users).not.toContain(b);
    const again = await claimWhenFree(server.tcpPort, b);
    [ann, again].forEach((x) => x.close());
  });
});

it('puts JSON, WebSocket users in one chat', async () => {
  const [a, b] = [nick('tcp'), nick('ws')];
  const t = await connect(server.tcpPort, a, 'tcp');
  const w = await connect(server.wsPort, b, 'ws');
  const ack = await w.request({ type: 'send', to: `@${a}`, text: 'from ws' });
  expect(await t.next('msg')).toMatchObject({ id: ack.id, from: b });
  const ack2 = await t.request({ type: 'send', to: '*', text: 'from tcp' });
  expect(await w.next('msg', (m) => m.id === ack2.id)).toMatchObject({ from: a, text: 'from tcp' });
  [t, w].forEach((x) => x.close());
});
