// `chorus` sending and receiving files end to end, piped and on a terminal (a pty from script(1)).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Chorus, killAllChorus } from '../support/chorus.js';
import { clientBin, startServer, type ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';

let server: ServerHandle;
let dir: string;

beforeAll(async () => {
  server = await startServer();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-files-'));
});

afterEach(() => killAllChorus());

afterAll(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function join(nick: string, extra: string[] = []): Promise<Chorus> {
  const c = new Chorus(['--port', String(server.tcpPort), '--nick', nick, ...extra]);
  await c.waitFor(`Welcome, ${nick}!`);
  return c;
}

function offeredId(c: Chorus, name: string, times = 1): string {
  const ids = [...c.out.matchAll(new RegExp(`the file "${name.replace(/[.()]/g, '\\$&')}" \\(.+?\\): !accept (\\S+)`, 'g'))].map((m) => m[1]!);
  return ids[times - 1]!;
}

describe('chorus file transfer (piped)', () => {
  it('sends a file with !send, waits for the upload, and the receiver keeps it after !accept; never overwriting', async () => {
    const source = path.join(dir, 'photo.jpg');
    const bytes = randomBytes(300 * 1024 + 5);
    fs.writeFileSync(source, bytes);
    const downloads = path.join(dir, 'bob-downloads');
    const bob = await join('bobf', ['--downloads', downloads]);
    const ann = await join('annf');
    ann.type(`!send bobf ${source}`);
    // Piped, !send returns only once the server has the whole file.
    await ann.waitFor(/uploaded photo\.jpg \(300\.0 KiB in \d+s\)/);
    await bob.waitFor('annf offers you the file "photo.jpg" (300.0 KiB): !accept ');
    const id = offeredId(bob, 'photo.jpg');
    bob.type('!files');
    await bob.waitFor(`${id}  from annf to @bobf: photo.jpg (300.0 KiB), expires in`);
    bob.type(`!accept ${id}`);
    await bob.waitFor(`saved ${path.join(downloads, 'photo.jpg')} (300.0 KiB, sha256 checked)`);
    await ann.waitFor('bobf accepted photo.jpg');
    expect(fs.readFileSync(path.join(downloads, 'photo.jpg')).equals(bytes)).toBe(true);

    ann.type(`!send @bobf ${source}`);
    await bob.waitFor('annf offers you the file "photo.jpg"', 2);
    bob.type(`!accept ${offeredId(bob, 'photo.jpg', 2)}`);
    await bob.waitFor(`saved ${path.join(downloads, 'photo (1).jpg')}`);
    expect(fs.readdirSync(downloads).sort()).toEqual(['photo (1).jpg', 'photo.jpg']);

    ann.type(`!send bobf ${source}`);
    await bob.waitFor('annf offers you the file "photo.jpg"', 3);
    bob.type(`!reject ${offeredId(bob, 'photo.jpg', 3)}`);
    await ann.waitFor('bobf rejected photo.jpg');
    expect(await ann.end()).toBe(0);
    expect(await bob.end()).toBe(0);
    expect(fs.readdirSync(downloads).sort()).toEqual(['photo (1).jpg', 'photo.jpg']);
  });

  it('says why it cannot send, and that an unknown file cannot be accepted', async () => {
    const ann = await join('anng');
    ann.type(`!send * ${path.join(dir, 'missing.bin')}`, '!accept AAAAAAAAAAAAAAAAAAAAAA', '!files');
    await ann.waitFor(/\[ERROR\] cannot send .*missing\.bin: ENOENT/);
    await ann.waitFor(/\[ERROR\] AAAAAAAAAAAAAAAAAAAAAA was not received: .+ \(no_such_file\)/);
    expect(fs.existsSync('downloads')).toBe(false); // nothing is written before a byte comes
    await ann.waitFor('[SERVER]: no files waiting or in flight');
    expect(await ann.end()).toBe(0);
  });
});

const hasScript = spawnSync('script', ['--version']).status === 0;

describe.skipIf(!hasScript)('chorus file transfer on a terminal', () => {
  it('draws a progress bar with bytes, rate and ETA while it uploads', async () => {
    const source = path.join(dir, 'big.bin');
    fs.writeFileSync(source, randomBytes(4 * 1024 * 1024));
    const bob = await join('bobt');
    // script(1) gives the client a pty on both ends: it is interactive, as for a person.
    const command = `${process.execPath} ${clientBin} --port ${server.tcpPort} --nick annt`;
    const pty = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, COLUMNS: '100', LINES: '30', TERM: 'xterm' } });
    let out = '';
    pty.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    try {
      await waitUntil(() => /Welcome, \S*annt/.test(out), 'the welcome on the pty'); // the nick is in bold
      pty.stdin.write(`!send bobt ${source}\r`);
      await waitUntil(() => out.includes('uploaded big.bin'), `the upload to finish; got:\n${out.slice(-500)}`, 20_000);
      expect(out).toMatch(/big\.bin \[█+░*\] +\d+% [\d.]+ (KiB|MiB)\/4\.0 MiB [\d.]+ (B|KiB|MiB)\/s (ETA \d+s|done)/);
      expect(out).toContain('\x1b['); // redrawn in place, not printed line after line
      await bob.waitFor('annt offers you the file "big.bin" (4.0 MiB)');
      pty.stdin.write('!bye\r');
      await new Promise((resolve) => pty.once('exit', resolve));
    } finally {
      pty.kill('SIGKILL');
    }
    expect(await bob.end()).toBe(0);
  });
});
