// Password-protected nicks: register, hello with the password, text-mode !identify, the legacy
// client's variant, throttling, and session tokens that rotate at every welcome.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connect, legacyBodies, legacyFrame, RawClient, TestClient, type Frame } from '../support/client.js';
import { startGateways } from '../cluster/gateways.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { startServer, stopAll, type ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';

// Each login or registration costs a scrypt hash (0.4 s idle, seconds on a loaded 2-core box).
vi.setConfig({ testTimeout: 120_000 });
const hashMs = 30_000;

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer(['--rate', '1000', '--burst', '1000']);
});
afterAll(() => server.stop());

let seq = 0;
const nick = (base: string) => `${base}${++seq}`;
const pw = 'correct horse battery';

/** Welcomes `name`, registers it with `password`, and says bye: the nick is free but registered. */
async function registered(name: string, password = pw): Promise<void> {
  const c = await connect(server.tcpPort, name);
  expect(await c.request({ type: 'register', password }, hashMs)).toMatchObject({ type: 'registered', nick: name });
  await c.request({ type: 'bye' });
  c.close();
}

async function hello(name: string, extra: Frame = {}): Promise<{ client: TestClient; reply: Frame }> {
  const client = await TestClient.tcp(server.tcpPort);
  return { client, reply: await client.hello(name, extra, hashMs) };
}

/** Says hello with the password until the account's back-off after a failure has run out. */
function helloOnceAllowed(name: string, password: string): Promise<TestClient> {
  return waitUntil(async () => {
    const { client, reply } = await hello(name, { password });
    if (reply.type === 'welcome') return client;
    client.close();
    expect(reply).toMatchObject({ code: 'auth_failed', message: expect.stringMatching(/try again/) });
    return undefined;
  }, `${name} to be let in with its password`, 60_000, 200);
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('registered nicks over JSON', () => {
  it('refuses a look-alike of a registered nick with bad_nick, naming it', async () => {
    const name = nick('ann');
    await registered(name);
    const { client, reply } = await hello(`\u0430${name.slice(1)}`);
    expect(reply).toMatchObject({ type: 'error', code: 'bad_nick' });
    expect(reply.message).toContain(name);
    // The nick itself still asks for its password.
    expect(await client.hello(name, {}, hashMs)).toMatchObject({ type: 'error', code: 'auth_failed' });
    client.close();
  });

  it('needs the password in every hello once registered, case-folded, until unregistered', async () => {
    const name = nick('Quang');
    const owner = await connect(server.tcpPort, name);
    expect(await owner.request({ type: 'register', password: 'short' })).toMatchObject({ type: 'error', code: 'bad_frame' });
    expect(await owner.request({ type: 'register', password: 'x'.repeat(129) })).toMatchObject({ code: 'bad_frame' });
    expect(await owner.request({ type: 'register', password: pw }, hashMs)).toMatchObject({ type: 'registered', nick: name });
    await owner.request({ type: 'bye' });

    const bare = await hello(name.toUpperCase());
    expect(bare.reply).toMatchObject({ type: 'error', code: 'auth_failed' });
    const wrong = await hello(name, { password: 'not the password' });
    expect(wrong.reply).toMatchObject({ type: 'error', code: 'auth_failed', message: 'wrong password for this nick' });
    // Straight after a failure the account backs off: even the right password waits its turn.
    const early = await hello(name, { password: pw });
    expect(early.reply).toMatchObject({ code: 'auth_failed', message: expect.stringMatching(/too many failed logins; try again in \d+ s/) });
    const back = await helloOnceAllowed(name.toLowerCase().normalize('NFC'), pw);
    expect(back.welcome).toMatchObject({ type: 'welcome', nick: name.toLowerCase() });

    // Identified: register again changes the password.
    const next = 'a new password, longer';
    expect(await back.request({ type: 'register', password: next }, hashMs)).toMatchObject({ type: 'registered' });
    expect(await back.request({ type: 'unregister', password: pw }, hashMs)).toMatchObject({ code: 'auth_failed' });
    await back.request({ type: 'bye' });
    const old = await hello(name, { password: pw });
    expect(old.reply).toMatchObject({ code: 'auth_failed' });
    const now = await helloOnceAllowed(name, next);
    expect(await now.request({ type: 'unregister', password: next }, hashMs)).toMatchObject({ type: 'unregistered', nick: name });
    expect(await now.request({ type: 'unregister', password: next }, hashMs)).toMatchObject({ code: 'auth_failed' });
    await now.request({ type: 'bye' });
    const free = await hello(name);
    expect(free.reply).toMatchObject({ type: 'welcome' });
    const metrics = await server.metrics();
    expect(metric(metrics, 'chorus_auth_failures_total{reason="wrong_password"}')).toBeGreaterThanOrEqual(2);
    expect(metric(metrics, 'chorus_auth_failures_total{reason="no_password"}')).toBeGreaterThanOrEqual(1);
    expect(metric(metrics, 'chorus_auth_throttled_total{by="account"}')).toBeGreaterThanOrEqual(1);
    [owner, bare.client, wrong.client, early.client, old.client, free.client].forEach((c) => c.close());
  });

  it('lets the session that was identified resume without the password, but not one from before the password', async () => {
    const name = nick('rin');
    const c = await connect(server.tcpPort, name);
    expect(await c.request({ type: 'register', password: pw }, hashMs)).toMatchObject({ type: 'registered' });
    const before = c.welcome!.session as string;
    c.close(); // dropped: the nick stays reserved for the session
    // The token was issued before the password was set: it is not the password.
    const stale = await hello(name, { resume: { session: before, last: {} } });
    expect(stale.reply).toMatchObject({ code: 'auth_failed' });
    const proved = await hello(name, { password: pw, resume: { session: before, last: {} } });
    expect(proved.reply).toMatchObject({ type: 'welcome', nick: name });
    const identified = proved.reply.session as string;
    expect(identified).not.toBe(before);
    proved.client.close();
    // This token belongs to a session that proved the password: it resumes on its own, once.
    const resumed = await hello(name, { resume: { session: identified, last: {} } });
    expect(resumed.reply).toMatchObject({ type: 'welcome', nick: name });
    const again = await hello(name, { resume: { session: identified, last: {} } });
    expect(again.reply).toMatchObject({ code: 'resume_failed' });
    [c, stale.client, resumed.client, again.client].forEach((x) => x.close());
  });

  it('refuses logins from an address that keeps failing, across accounts', async () => {
    const own = await startServer();
    try {
      const names = Array.from({ length: 7 }, () => nick('ip'));
      for (const name of names) {
        const c = await connect(own.tcpPort, name);
        await c.request({ type: 'register', password: pw }, hashMs);
        await c.request({ type: 'bye' });
        c.close();
      }
      const replies: Frame[] = [];
      for (const name of names) {
        const c = await TestClient.tcp(own.tcpPort);
        replies.push(await c.hello(name, { password: 'wrong password' }, hashMs));
        c.close();
      }
      // Five free failures, one more backs the address off: the seventh is not even checked.
      expect(replies.slice(0, 6).every((r) => r.message === 'wrong password for this nick')).toBe(true);
      expect(replies[6]).toMatchObject({ code: 'auth_failed', message: expect.stringMatching(/too many failed logins/) });
      expect(metric(await own.metrics(), 'chorus_auth_throttled_total{by="address"}')).toBe(1);
    } finally {
      await own.stop();
    }
  });
});

describe('registered nicks in text and legacy mode', () => {
  it('lets a text-mode user identify with !identify as the next line', async () => {
    const name = nick('cat');
    await registered(name);
    const cat = await RawClient.connect(server.tcpPort);
    cat.write(`${name}\n`);
    await cat.waitFor(`[SERVER]: ${name} is registered; send !identify <password> as your next line`);
    cat.write(`!identify ${pw}\n`);
    await cat.waitFor(`Welcome, ${name}!`, hashMs);
    cat.close();

    const typo = await RawClient.connect(server.tcpPort);
    typo.write(`${name}\n`);
    await typo.waitFor('!identify <password>');
    typo.write('!identify not the password\n');
    await typo.waitFor('Error (auth_failed): wrong password for this nick', hashMs);
    expect(typo.text).not.toContain('Welcome');
    typo.close();
  });

  it('gives a text-mode user who does not identify a free variant, and sends the line as typed', async () => {
    const name = nick('dog');
    await registered(name);
    const listener = await connect(server.tcpPort, nick('ear'));
    const dog = await RawClient.connect(server.tcpPort);
    dog.write(`${name}\n`);
    await dog.waitFor('!identify <password>');
    dog.write('hello everyone\n');
    await dog.waitFor(`Welcome, ${name}_2!`);
    expect(await listener.next('msg')).toMatchObject({ from: `${name}_2`, text: 'hello everyone' });
    [dog, listener].forEach((c) => c.close());
  });

  it('never gives a registered nick to the legacy client, which cannot send a password', async () => {
    const name = nick('old');
    await registered(name);
    const old = await RawClient.connect(server.tcpPort);
    const { header, body } = legacyFrame(name);
    old.write(Buffer.concat([header, body]));
    await waitUntil(() => legacyBodies(old.bytes).some((b) => b.includes(`Welcome, ${name}_2!`)), 'a variant nick');
    expect(legacyBodies(old.bytes).some((b) => b.includes(`${name} is registered; you are ${name}_2`))).toBe(true);
    old.close();
  });
});

describe('session tokens', () => {
  it('rotate at every welcome: a stolen old token resumes nothing, from anywhere, and reads nothing', async () => {
    const [a, b] = [nick('ann'), nick('bob')];
    const bob = await connect(server.tcpPort, b);
    const ann1 = await connect(server.tcpPort, a);
    const first = ann1.welcome!.session as string;
    await bob.request({ type: 'send', to: `@${a}`, text: 'before the drop' });
    await ann1.next('msg');
    ann1.close();
    // The owner resumes with the token of its welcome, and gets a new one.
    const ann2 = await TestClient.tcp(server.tcpPort);
    const resumed = await ann2.hello(a, { resume: { session: first, last: {} } });
    expect(resumed).toMatchObject({ type: 'welcome', nick: a });
    expect(resumed.session).not.toBe(first);
    // The first token, stolen, used from another address while its owner is online.
    const thief = await TestClient.tcp(server.tcpPort, '127.0.0.1', '127.0.0.2');
    expect(await thief.hello(a, { resume: { session: first, last: {} } })).toMatchObject({ type: 'error', code: 'resume_failed' });
    await bob.request({ type: 'send', to: `@${a}`, text: 'while the thief tried' });
    // Barrier: the owner got it, so the thief would have by now.
    expect(await ann2.next('msg', (m) => m.text === 'while the thief tried')).toBeDefined();
    expect(thief.received.filter((f) => f.type === 'msg')).toEqual([]);
    expect(ann2.pending('bye')).toEqual([]);
    expect(await ann2.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    [bob, ann2, thief].forEach((c) => c.close());
  });
});

describe('registered nicks across gateways (Redis)', () => {
  let redis: RedisServer;
  let gateways: ServerHandle[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    gateways = await startGateways(2, { redis: redis.url });
  });
  afterAll(async () => {
    await stopAll(gateways);
    await redis?.stop();
  });

  it('asks for the password on every gateway, and a token resumes on another gateway only once', async () => {
    const [g1, g2] = gateways as [ServerHandle, ServerHandle];
    const name = nick('Zoe');
    const owner = await connect(g1.tcpPort, name);
    expect(await owner.request({ type: 'register', password: pw }, hashMs)).toMatchObject({ type: 'registered' });
    await owner.request({ type: 'bye' });
    const elsewhere = await TestClient.tcp(g2.tcpPort);
    expect(await elsewhere.hello(name.toLowerCase())).toMatchObject({ code: 'auth_failed' });
    const identified = await TestClient.tcp(g2.tcpPort);
    const welcome = await identified.hello(name, { password: pw }, hashMs);
    expect(welcome).toMatchObject({ type: 'welcome', gateway: 'g2-1' });
    identified.close();
    const back = await TestClient.tcp(g1.tcpPort);
    const resumed = await back.hello(name, { resume: { session: welcome.session, last: {} } });
    expect(resumed).toMatchObject({ type: 'welcome', gateway: 'g1-1' });
    const replayed = await TestClient.tcp(g2.tcpPort);
    expect(await replayed.hello(name, { resume: { session: welcome.session, last: {} } })).toMatchObject({ code: 'resume_failed' });
    [owner, elsewhere, back, replayed].forEach((c) => c.close());
  });
});
