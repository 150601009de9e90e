// Users on different gateways chat as if on one server: on standalone Redis and on a
// 3-master Redis Cluster, with real gateway processes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimWhenFree, connect, helloAndHangUp, TestClient, wentOffline, wentOnline } from '../support/client.js';
import { stopAll, type ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';
import { startGateways, storesForThisFile } from './gateways.js';

const stores = storesForThisFile();

describe.each(stores.each)('three gateways on %s', (_name, store) => {
  let gw: ServerHandle[] = [];
  beforeAll(async () => {
    gw = await startGateways(3, store(), ['--resume-grace-ms', '500']);
  });
  afterAll(() => stopAll(gw));

  it('carries public, private and group messages, who, history and presence across gateways', async () => {
    const ann = await connect(gw[0]!.tcpPort, 'ann');
    const bob = await connect(gw[1]!.wsPort, 'bob', 'ws');
    const cat = await connect(gw[2]!.tcpPort, 'cat');
    expect(new Set([ann, bob, cat].map((c) => c.welcome!.gateway)).size).toBe(3);
    expect(await ann.next('presence', wentOnline('cat'))).toBeDefined();

    const pub = await ann.request({ type: 'send', to: '*', text: 'hello, cluster' });
    for (const c of [bob, cat]) expect(await c.next('msg', (m) => m.id === pub.id)).toMatchObject({ from: 'ann', text: 'hello, cluster', ts: pub.ts });

    const priv = await cat.request({ type: 'send', to: '@Ann', text: 'psst' });
    expect(await ann.next('msg', (m) => m.id === priv.id)).toMatchObject({ from: 'cat', text: 'psst' });

    await ann.request({ type: 'join', room: '#ops' });
    await bob.request({ type: 'join', room: '#ops' });
    expect(await ann.next('joined', (j) => j.nick === 'bob')).toMatchObject({ room: '#ops' });
    const grp = await bob.request({ type: 'send', to: '#ops', text: 'deploying' });
    expect(await ann.next('msg', (m) => m.id === grp.id)).toMatchObject({ from: 'bob', to: '#ops' });
    expect(await cat.request({ type: 'send', to: '#ops', text: 'me too' })).toMatchObject({ code: 'not_in_room' });

    expect((await cat.request({ type: 'who' })).users.sort()).toEqual(['ann', 'bob', 'cat']);
    expect((await cat.request({ type: 'who', room: '#ops' })).users.sort()).toEqual(['ann', 'bob']);
    expect((await cat.request({ type: 'history', with: '#ops' })).messages.map((m: any) => m.id)).toEqual([grp.id]);
    expect((await ann.request({ type: 'history', with: '@cat' })).messages.map((m: any) => m.text)).toEqual(['psst']);
    expect((await bob.request({ type: 'history', with: '*' })).messages.map((m: any) => m.id)).toContain(pub.id);

    await bob.request({ type: 'bye' });
    expect(await cat.next('presence', wentOffline('bob'))).toBeDefined();
    expect((await ann.request({ type: 'who' })).users.sort()).toEqual(['ann', 'cat']);
    [ann, cat].forEach((c) => c.close());
  });

  it('forwards the accepting gateway\'s bytes: every receiver sees the same message and id', async () => {
    const clients = await Promise.all(gw.map((g, i) => connect(g.tcpPort, `same${i}`)));
    const ack = await clients[0]!.request({ type: 'send', to: '*', text: '"quotes", \\backslashes\\ and ☃' });
    const got = await Promise.all(clients.slice(1).map((c) => c.next('msg', (m) => m.id === ack.id)));
    expect(new Set(got.map((m) => JSON.stringify(m))).size).toBe(1);
    expect(got[0]!.text).toBe('"quotes", \\backslashes\\ and ☃');
    clients.forEach((c) => c.close());
  });

  it('lets exactly one of 50 clients across 3 gateways claim the same nick', async () => {
    const clients = await Promise.all(Array.from({ length: 50 }, (_, i) => TestClient.tcp(gw[i % 3]!.tcpPort)));
    const replies = await Promise.all(clients.map((c, i) => c.hello(i % 2 ? 'Highlander' : 'highlander')));
    expect(replies.filter((r) => r.type === 'welcome')).toHaveLength(1);
    expect(replies.filter((r) => r.code === 'nick_taken')).toHaveLength(49);
    clients.forEach((c) => c.close());
  });

  it('moves a session resumed on another gateway: the old connection is told and closed', async () => {
    const old = await connect(gw[0]!.tcpPort, 'mover');
    const bob = await connect(gw[2]!.tcpPort, 'moverfriend');
    const fresh = await TestClient.tcp(gw[1]!.tcpPort);
    expect(await fresh.hello('mover', { resume: { session: old.welcome!.session, last: {} } })).toMatchObject({ type: 'welcome' });
    expect(await old.next('bye')).toMatchObject({ reason: 'moved' });
    await old.waitClosed();
    const ack = await bob.request({ type: 'send', to: '@mover', text: 'where are you?' });
    expect(await fresh.next('msg', (m) => m.id === ack.id)).toMatchObject({ text: 'where are you?' });
    expect((await bob.request({ type: 'who' })).users).toContain('mover');
    [fresh, bob].forEach((c) => c.close());
  });

  it('frees a nick on every gateway by the time bye is answered', async () => {
    let dee = await connect(gw[0]!.tcpPort, 'dee');
    for (let round = 1; round <= 6; round++) {
      // Connected before the bye, so that its hello follows the answer at once.
      const next = await TestClient.tcp(gw[round % 3]!.tcpPort);
      expect(await dee.request({ type: 'bye' })).toMatchObject({ type: 'bye' });
      expect(await next.hello('dee')).toMatchObject({ type: 'welcome', nick: 'dee' });
      dee.close();
      dee = next;
    }
    expect(await dee.request({ type: 'bye' })).toMatchObject({ type: 'bye' });
    dee.close();
  });

  it('leaves no ghost behind connections that close in the middle of their hello', async () => {
    const nicks = Array.from({ length: 20 }, (_, i) => `hasty${i}`);
    await Promise.all(nicks.map((nick, i) => helloAndHangUp(gw[i % 3]!.tcpPort, nick)));
    const watcher = await connect(gw[1]!.tcpPort, 'ghostwatcher');
    await waitUntil(async () => {
      const who = await watcher.request({ type: 'who' });
      return nicks.every((n) => !who.users.includes(n));
    }, 'the hasty users to be gone from who');
    for (const [i, nick] of nicks.entries()) (await claimWhenFree(gw[(i + 1) % 3]!.tcpPort, nick)).close();
    watcher.close();
  });

  it('keeps each target\'s messages in id order for every receiver', async () => {
    const senders = await Promise.all(gw.map((g, i) => connect(g.tcpPort, `order${i}`)));
    const reader = await connect(gw[0]!.tcpPort, 'orderreader');
    await Promise.all(senders.map((s) => Promise.all(Array.from({ length: 20 }, (_, k) => s.request({ type: 'send', to: '*', text: `k${k}` })))));
    const ids = await waitUntil(() => {
      const got = reader.received.filter((f) => f.type === 'msg' && f.from.startsWith('order')).map((f) => f.id as string);
      return got.length === 60 && got;
    }, 'all 60 messages');
    const sorted = [...ids].sort((a, b) => {
      const [am, as] = a.split('-').map(Number);
      const [bm, bs] = b.split('-').map(Number);
      return am! - bm! || as! - bs!;
    });
    expect(ids).toEqual(sorted);
    [...senders, reader].forEach((c) => c.close());
  });
});
