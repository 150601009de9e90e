// The real `chorus` binary, driven through piped stdin, against a real chorus-server.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as join_ } from 'node:path';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Chorus, killAllChorus } from '../support/chorus.js';
import { startServer, type ServerHandle } from '../support/server.js';

let server: ServerHandle;

beforeAll(async () => {
  server = await startServer();
});

afterEach(() => {
  killAllChorus();
});

afterAll(async () => {
  await server?.stop();
});

/** Starts `chorus --nick <nick>` and waits for its welcome. */
async function join(nick: string, extra: string[] = []): Promise<Chorus> {
  const c = new Chorus(['--port', String(server.tcpPort), '--nick', nick, ...extra]);
  await c.waitFor(`Welcome, ${nick}!`);
  return c;
}

describe('chorus, the console client (piped)', () => {
  it('delivers a public message from one client to another, and both exit 0 at end of input', async () => {
    const bob = await join('bob1');
    const ann = await join('ann1');
    await bob.waitFor(/ann1 joined the chat|joined: .*ann1/);
    ann.type('hello everyone');
    await bob.waitFor('[ann1]: hello everyone');
    expect(await ann.end()).toBe(0);
    await bob.waitFor(/ann1 left the chat|left: .*ann1/);
    expect(await bob.end()).toBe(0);
    expect(ann.out).toContain('Welcome, ann1! 2 online. Type !help for commands.');
    // The sender's own line is not printed back: it is already in the script (or on screen).
    expect(ann.out).not.toContain('hello everyone');
    expect(ann.out).not.toContain('\x1b['); // no colours on a pipe
    expect(ann.out.trimEnd().split('\n').at(-1)).toBe('[SERVER]: goodbye');
  });

  it('delivers a private message only to its recipient', async () => {
    const bob = await join('bob2');
    const carol = await join('carol2');
    const ann = await join('ann2');
    ann.type('!private bob2 meet at 5', '@carol2 you too');
    await bob.waitFor('[PRIVATE MESSAGE from ann2]: meet at 5');
    await carol.waitFor('[PRIVATE MESSAGE from ann2]: you too');
    expect(await ann.end()).toBe(0);
    expect(bob.out).not.toContain('you too');
    expect(carol.out).not.toContain('meet at 5');
    await Promise.all([bob.end(), carol.end()]);
  });

  it('joins a room and talks in it with !group and the #room shortcut', async () => {
    const bob = await join('bob3');
    const carol = await join('carol3');
    bob.type('!join #dev3');
    await bob.waitFor('[SERVER]: you joined #dev3 (1 in the room: bob3)');
    const ann = await join('ann3');
    ann.type('!join #dev3', '!group #dev3 build is green', '#dev3 ship it');
    await ann.waitFor(/\[SERVER\]: you joined #dev3 \(2 in the room: (ann3, bob3|bob3, ann3)\)/);
    await bob.waitFor('* ann3 joined #dev3');
    await bob.waitFor('[#dev3 ann3]: build is green');
    await bob.waitFor('[#dev3 ann3]: ship it');
    ann.type('!history #dev3 5');
    await ann.waitFor('[SERVER]: the last 2 messages in #dev3:');
    expect(ann.out).toMatch(/\d\d:\d\d \[#dev3 ann3\]: build is green\n\d\d:\d\d \[#dev3 ann3\]: ship it\n/);
    ann.type('!leave #dev3', '#dev3 anyone?');
    await ann.waitFor('[SERVER]: you left #dev3');
    await ann.waitFor(/\[ERROR\] your message to #dev3 was not sent: .+ \(not_in_room\)/);
    await bob.waitFor('* ann3 left #dev3');
    expect(carol.out).not.toContain('build is green');
    await Promise.all([ann.end(), bob.end(), carol.end()]);
  });

  it('lists who is online with !online', async () => {
    const bob = await join('bob4');
    const ann = await join('ann4');
    ann.type('!online');
    await ann.waitFor(/Online \(2\): (ann4, bob4|bob4, ann4)\n/);
    await Promise.all([ann.end(), bob.end()]);
  });

  it('watches a nick with !watch and stops with !unwatch', async () => {
    const ann = await join('ann20');
    ann.type('!watch bob20');
    await ann.waitFor('[SERVER]: watching bob20\n');
    const bob = await join('bob20');
    await ann.waitFor(/bob20 joined the chat|joined: .*bob20/);
    ann.type('!watch cat20', '!unwatch bob20');
    await ann.waitFor('[SERVER]: watching bob20 (online), cat20\n');
    await ann.waitFor('[SERVER]: watching cat20\n');
    await Promise.all([ann.end(), bob.end()]);
  });

  it('shows this session\'s conversation with !history, sent and received, in order', async () => {
    const bob = await join('bob5');
    const ann = await join('ann5');
    ann.type('!join #r5');
    await ann.waitFor('you joined #r5');
    bob.type('hi ann5');
    await ann.waitFor('[bob5]: hi ann5');
    ann.type('hi bob5', '!private bob5 a secret', '#r5 room talk', '!history');
    await ann.waitFor("[SERVER]: this session's conversation (4 messages):");
    await ann.waitFor('room talk', 1);
    const shown = ann.lines().slice(ann.lines().findIndex((l) => l.includes("this session's conversation")) + 1, -1);
    expect(shown.slice(0, 4).map((l) => l.replace(/^\d\d:\d\d /, ''))).toEqual([
      '[bob5]: hi ann5',
      '[ann5]: hi bob5',
      '[PRIVATE MESSAGE to bob5]: a secret',
      '[#r5 ann5]: room talk',
    ]);
    await Promise.all([ann.end(), bob.end()]);
  });

  it('asks "Enter username: " again when the nick is refused', async () => {
    const ann = await join('ann6');
    const c = new Chorus(['--port', String(server.tcpPort)]);
    c.type('ANN6', 'not a nick', 'carol6', '!online');
    await c.waitFor('Welcome, carol6!');
    await c.waitFor(/Online \(2\)/);
    expect(await c.end()).toBe(0);
    expect(c.count('Enter username: ')).toBe(3);
    expect(c.out).toMatch(/Enter username: ANN6\n\[ERROR\] .*ANN6.* \(nick_taken\)\n/);
    expect(c.out).toMatch(/Enter username: not a nick\n\[ERROR\] .* \(bad_nick\)\nEnter username: carol6\nWelcome, carol6!/);
    await ann.end();
  });

  it('explains an unknown command and a failed message, and carries on', async () => {
    const ann = await join('ann7');
    ann.type('!foo', '!private nobody7 hello?', '!history #x7 500', '!help', 'still here');
    await ann.waitFor('  !bye ');
    expect(await ann.end()).toBe(0);
    expect(ann.out).toContain('[ERROR] unknown command !foo; type !help for the list\n');
    expect(ann.out).toMatch(/\[ERROR\] your message to nobody7 was not sent: .*nobody7.* \(no_such_user\)\n/);
    expect(ann.out).toContain('[ERROR] !history shows 1 to 100 messages\n');
    expect(ann.out).toContain('Commands:\n  <text>');
    expect(ann.out).not.toContain('[WARNING]');
  });

  it('says bye on !bye and ignores the rest of the input', async () => {
    const bob = await join('bob8');
    const ann = await join('ann8');
    // Presence comes in batches, and a flap inside one tick reaches nobody: be seen first.
    await bob.waitFor(/ann8 joined the chat|joined: .*ann8/);
    ann.type('!bye', 'never sent');
    expect(await ann.exited).toBe(0);
    await bob.waitFor(/ann8 left the chat|left: .*ann8/);
    expect(bob.out).not.toContain('never sent');
    await bob.end();
  });

  it('exits 1 at end of input when no nick was accepted', async () => {
    const ann = await join('ann9');
    const c = new Chorus(['--port', String(server.tcpPort)]);
    c.type('ann9');
    expect(await c.end()).toBe(1);
    expect(c.out).toContain('(nick_taken)');
    expect(c.out).toContain('[ERROR] end of input before a username was accepted');
    await ann.end();
  });

  it('talks over WebSocket with --ws', async () => {
    const bob = await join('bob10');
    const ann = await join('ann10', ['--ws', '--port', String(server.wsPort)]);
    ann.type('over websocket', '!online');
    await bob.waitFor('[ann10]: over websocket');
    await ann.waitFor(/Online \(2\)/);
    expect(await ann.end()).toBe(0);
    await bob.end();
  });

  it('prints "[SERVER]: connection lost" and exits 1 when the server goes away', async () => {
    const own = await startServer();
    const now = new Chorus(['--port', String(own.tcpPort), '--nick', 'ann11', '--reconnect', '0']);
    const soon = new Chorus(['--port', String(own.tcpPort), '--nick', 'bob11', '--reconnect', '1']);
    await now.waitFor('Welcome, ann11!');
    await soon.waitFor('Welcome, bob11!');
    await own.kill();
    expect(await now.exited).toBe(1);
    expect(now.out).toContain('[SERVER]: connection lost\n');
    expect(now.out).not.toContain('reconnecting');
    // With a resume window, it tries (and fails: nothing listens) before giving up.
    expect(await soon.exited).toBe(1);
    expect(soon.out).toMatch(/\[SERVER\]: connection lost.*; reconnecting\.\.\.\n(.*\n)*\[SERVER\]: connection lost\n$/);
  });

  it('resumes a dropped connection without losing or repeating a message', async () => {
    const proxy = await Proxy.to(server.tcpPort);
    try {
      const bob = await join('bob12');
      bob.type('!join #r12');
      await bob.waitFor('you joined #r12');
      const ann = new Chorus(['--port', String(proxy.port), '--nick', 'ann12']);
      await ann.waitFor('Welcome, ann12!');
      ann.type('!join #r12', 'before the drop');
      await ann.waitFor('you joined #r12');
      await bob.waitFor('[ann12]: before the drop');
      bob.type('first');
      await ann.waitFor('[bob12]: first');

      proxy.cut();
      await ann.waitFor('[SERVER]: connection lost');
      // Typed while away: it waits for the resume, then goes out once.
      ann.type('typed while away');
      bob.type('public while away', '#r12 room while away', '!private ann12 private while away', '!online');
      await bob.waitFor(/Online \(\d\)/);

      await ann.waitFor('[SERVER]: reconnected');
      await ann.waitFor('[bob12]: public while away');
      await ann.waitFor('[#r12 bob12]: room while away');
      await ann.waitFor('[PRIVATE MESSAGE from bob12]: private while away');
      await bob.waitFor('[ann12]: typed while away');
      // Still in the room after the resume.
      ann.type('#r12 back in the room');
      await bob.waitFor('[#r12 ann12]: back in the room');
      // A second drop: the token of the first welcome resumes only once, so this takes the
      // one the resume's welcome brought.
      proxy.cut();
      await ann.waitFor('[SERVER]: reconnected', 2);
      ann.type('#r12 after the second drop');
      await bob.waitFor('[#r12 ann12]: after the second drop');
      expect(ann.out).not.toContain('resume_failed');
      expect(await ann.end()).toBe(0);

      for (const line of ['[bob12]: first', '[bob12]: public while away', '[#r12 bob12]: room while away', '[PRIVATE MESSAGE from bob12]: private while away']) {
        expect(ann.count(line), line).toBe(1);
      }
      expect(bob.count('[ann12]: typed while away')).toBe(1);
      expect(bob.count('[ann12]: before the drop')).toBe(1);
      // Its own messages replayed by the resume are not shown back to it.
      expect(ann.out).not.toContain('[ann12]:');
      await bob.end();
    } finally {
      proxy.close();
    }
  });
});

/** A TCP relay in front of the server whose connections can all be cut at once: a network blip. */
class Proxy {
  private readonly pairs = new Set<net.Socket>();

  private constructor(private readonly server: net.Server) {}

  static async to(port: number): Promise<Proxy> {
    const server = net.createServer();
    const proxy = new Proxy(server);
    server.on('connection', (client) => {
      const upstream = net.connect({ port, host: '127.0.0.1' });
      for (const s of [client, upstream]) {
        proxy.pairs.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          proxy.pairs.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  cut(): void {
    for (const s of this.pairs) s.destroy();
  }

  close(): void {
    this.cut();
    this.server.close();
  }
}

describe('chorus startup', () => {
  it('says so on stderr and exits 1 when nothing listens', async () => {
    const c = new Chorus(['--port', '1', '--nick', 'ann']);
    expect(await c.end()).toBe(1);
    expect(c.err).toMatch(/^chorus: cannot connect to tcp:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
    expect(c.out).toBe('');
  });

  it('prints --help and exits 0; a bad flag exits 2 with a hint', async () => {
    const help = new Chorus(['--help']);
    expect(await help.end()).toBe(0);
    expect(help.out).toContain('Usage: chorus [options]');
    const bad = new Chorus(['--port', 'abc']);
    expect(await bad.end()).toBe(2);
    expect(bad.err).toBe('chorus: --port must be a number from 1 to 65535, not "abc"\nTry "chorus --help".\n');
  });
});

describe('chorus with a registered nick', () => {
  it('registers with !register (the password on the next line when piped) and logs in with --password-file or CHORUS_PASSWORD', async () => {
    const secret = 'piped secret phrase';
    const ann = await join('annpw');
    ann.type('!register', secret);
    // Each of these costs a scrypt hash: seconds on a loaded machine.
    await ann.waitFor('[SERVER]: annpw is registered: logging in as annpw takes the password from now on', 1, 30_000);
    expect(await ann.end()).toBe(0);
    expect(ann.out).not.toContain(secret);

    const bare = new Chorus(['--port', String(server.tcpPort), '--nick', 'annpw']);
    expect(await bare.end()).toBe(1);
    expect(bare.out).toContain('(auth_failed)');

    const dir = mkdtempSync(join_(tmpdir(), 'chorus-pw-'));
    const file = join_(dir, 'password');
    writeFileSync(file, `${secret}\n`, { mode: 0o600 });
    const fromFile = new Chorus(['--port', String(server.tcpPort), '--nick', 'annpw', '--password-file', file]);
    await fromFile.waitFor('Welcome, annpw!', 1, 30_000);
    expect(await fromFile.end()).toBe(0);
    rmSync(dir, { recursive: true });

    const fromEnv = new Chorus(['--port', String(server.tcpPort), '--nick', 'annpw'], { CHORUS_PASSWORD: secret });
    await fromEnv.waitFor('Welcome, annpw!', 1, 30_000);
    fromEnv.type('!unregister', secret);
    await fromEnv.waitFor('[SERVER]: annpw is no longer registered', 1, 30_000);
    expect(await fromEnv.end()).toBe(0);
    expect(fromEnv.out).not.toContain(secret);
  }, 120_000);
});
