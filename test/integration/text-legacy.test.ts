// netcat-style text sessions and the original course client's framed mode, beside JSON users.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, legacyBodies, legacyFrame, RawClient, wentOffline, wentOnline } from '../support/client.js';
import { startServer, type ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.stop());

let seq = 0;
const nick = (base: string) => `${base}${++seq}`;

/** Writes a legacy frame as the old client does: the header and the body in separate writes, split further. */
async function sendLegacy(c: RawClient, body: string): Promise<void> {
  const { header, body: bytes } = legacyFrame(body);
  for (const part of [header.subarray(0, 3), header.subarray(3, 700), header.subarray(700), bytes.subarray(0, 1), bytes.subarray(1)]) {
    if (part.length > 0) c.write(part);
    await new Promise((r) => setImmediate(r));
  }
}

const bodiesOf = (c: RawClient) => legacyBodies(c.bytes);

describe('text mode (netcat)', () => {
  it('takes the first line as the nick and chats with commands', async () => {
    const [t, j] = [nick('cat'), nick('json')];
    const cat = await RawClient.connect(server.tcpPort);
    cat.write(`${t}\n`);
    await cat.waitFor(`Welcome, ${t}!`);
    const json = await connect(server.tcpPort, j);
    // cat's own arrival may share json's presence tick, and then the two read as one batch line.
    await cat.waitFor(new RegExp(`${j} joined the chat|joined: .*${j}`));
    cat.write('hello from netcat\n');
    expect(await json.next('msg')).toMatchObject({ from: t, to: '*', text: 'hello from netcat' });
    await json.request({ type: 'send', to: '*', text: 'hi cat' });
    await cat.waitFor(`[${j}]: hi cat`);
    await json.request({ type: 'send', to: `@${t}`, text: 'secret' });
    await cat.waitFor(`[PRIVATE MESSAGE from ${j}]: secret`);
    cat.write(`!private ${j} back at you\n`);
    expect(await json.next('msg')).toMatchObject({ from: t, text: 'back at you' });
    cat.write('!online\n');
    await cat.waitFor(/Online users \(\d+\): .*/);
    cat.write('!join #nc\n#nc in the room\n');
    await cat.waitFor('You joined #nc');
    await json.request({ type: 'join', room: '#nc' });
    await json.request({ type: 'send', to: '#nc', text: 'room reply' });
    await cat.waitFor(`[#nc ${j}]: room reply`);
    cat.write('!history #nc 5\n');
    await cat.waitFor(`[#nc ${t}]: in the room`);
    cat.write('!frobnicate\n');
    await cat.waitFor('Error (unknown_type): unknown command !frobnicate');
    cat.write('!help\n');
    await cat.waitFor('!private <nick> <text>');
    cat.write('!bye\n');
    await cat.waitFor('Goodbye!');
    await cat.waitClosed();
    json.close();
  });

  it('asks again when the nick is taken', async () => {
    const taken = nick('dup');
    const first = await connect(server.tcpPort, taken);
    const cat = await RawClient.connect(server.tcpPort);
    cat.write(`${taken.toUpperCase()}\n`);
    await cat.waitFor('Error (nick_taken)');
    cat.write(`${taken}_too\n`);
    await cat.waitFor(`Welcome, ${taken}_too!`);
    cat.close();
    first.close();
  });
});

describe('legacy framed mode (the original course client)', () => {
  it('chats with JSON, text and WebSocket users using the old framing and wording', async () => {
    const [o, j, w] = [nick('old'), nick('json'), nick('web')];
    const json = await connect(server.tcpPort, j);
    const old = await RawClient.connect(server.tcpPort);
    await sendLegacy(old, o);
    await waitUntil(() => bodiesOf(old).some((b) => b.includes(`Welcome, ${o}!`)), 'the legacy welcome');
    // Past the presence tick of old's own arrival: the next one is alone in its tick, and one
    // arrival reads as it always did.
    await json.next('presence', wentOnline(o));
    const web = await connect(server.wsPort, w, 'ws');
    await waitUntil(() => bodiesOf(old).includes(`[NEW CONNECTION] User ${w} connected.`), 'the old wording for arrivals');
    await sendLegacy(old, 'hello from 2019');
    expect(await json.next('msg')).toMatchObject({ from: o, to: '*', text: 'hello from 2019' });
    expect(await web.next('msg')).toMatchObject({ from: o, text: 'hello from 2019' });
    await web.request({ type: 'send', to: '*', text: 'hi old timer' });
    await waitUntil(() => bodiesOf(old).includes(`[${w}] said: hi old timer`), 'a public message in the old wording');
    await json.request({ type: 'send', to: `@${o}`, text: 'psst' });
    await waitUntil(() => bodiesOf(old).includes(`[PRIVATE MESSAGE from ${j}]: psst`), 'a private message');
    await sendLegacy(old, `!private ${w} hi web`);
    expect(await web.next('msg')).toMatchObject({ from: o, to: `@${w}`, text: 'hi web' });
    await sendLegacy(old, '!online');
    await waitUntil(() => bodiesOf(old).some((b) => /^Online users \(\d+\): /.test(b) && b.includes(o) && b.includes(w)), 'the online list');
    // Every frame is whole: the header's length matches its body exactly.
    expect(legacyBodies(old.bytes).join('')).not.toContain('\u0000');
    await sendLegacy(old, '!bye');
    await old.waitClosed();
    expect(await web.next('presence', wentOffline(o))).toBeDefined();
    json.close();
    web.close();
  });

  it('gives a taken or empty nick a free variant, since the old client cannot answer', async () => {
    const taken = nick('quang');
    const holder = await connect(server.tcpPort, taken);
    const old = await RawClient.connect(server.tcpPort);
    await sendLegacy(old, taken);
    await waitUntil(() => bodiesOf(old).some((b) => b.includes(`Welcome, ${taken}_2!`)), 'a variant nick');
    expect(bodiesOf(old).some((b) => b.includes(`${taken} is taken; you are ${taken}_2`))).toBe(true);
    const nameless = await RawClient.connect(server.tcpPort);
    await sendLegacy(nameless, '');
    await waitUntil(() => bodiesOf(nameless).some((b) => /Welcome, guest(_\d+)?!/.test(b)), 'a guest nick');
    [holder, old, nameless].forEach((c) => c.close());
  });

  it('ends a connection whose header is not a number, with a notice', async () => {
    const bad = await RawClient.connect(server.tcpPort);
    bad.write(Buffer.from('12 '.padEnd(1024, 'x')));
    await bad.waitClosed();
    expect(bodiesOf(bad).join('\n')).toContain('Error (bad_frame)');
    const fine = await connect(server.tcpPort, nick('after'));
    expect(await fine.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    fine.close();
  });
});
