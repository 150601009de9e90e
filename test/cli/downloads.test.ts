import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Download, alternativeName, safeFileName } from '../../src/cli/downloads.js';
import { formatBytes, formatDuration, progressLine } from '../../src/cli/progress.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-dl-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('saving received files', () => {
  it('keeps safe names and replaces hostile ones', () => {
    expect(safeFileName('report.pdf', 'id1')).toBe('report.pdf');
    expect(safeFileName('.bashrc', 'id1')).toBe('bashrc');
    expect(safeFileName('..', 'id1')).toBe('file-id1');
    expect(safeFileName('a/../../etc/passwd', 'id1')).toBe('file-id1');
    expect(safeFileName('evil\u202egpj.exe', 'id1')).toBe('evilgpj.exe');
    expect(safeFileName('bell\u0007.txt', 'id1')).toBe('bell\ufffd.txt');
  });

  it('numbers the alternatives to a taken name before the extension', () => {
    expect(alternativeName('photo.jpg', 1)).toBe('photo (1).jpg');
    expect(alternativeName('archive.tar.gz', 2)).toBe('archive.tar (2).gz');
    expect(alternativeName('README', 3)).toBe('README (3)');
  });

  it('keeps a file only when size and sha256 match, never over an existing one', () => {
    const bytes = Buffer.from('hello, file');
    fs.writeFileSync(path.join(dir, 'note.txt'), 'mine');
    const good = new Download(dir, 'a1', 'note.txt');
    expect(good.write(0, bytes.subarray(0, 5))).toBe(true);
    expect(good.write(2, bytes.subarray(5))).toBe(false);
    expect(good.write(1, bytes.subarray(5))).toBe(true);
    expect(good.finish(bytes.length, sha(bytes))).toBe(path.join(dir, 'note (1).txt'));
    expect(fs.readFileSync(path.join(dir, 'note.txt'), 'utf8')).toBe('mine');
    expect(fs.readFileSync(path.join(dir, 'note (1).txt')).equals(bytes)).toBe(true);

    const bad = new Download(dir, 'a2', 'lie.txt');
    bad.write(0, bytes);
    expect(() => bad.finish(bytes.length, sha(Buffer.from('other')))).toThrow(/sha256/);
    const empty = new Download(dir, 'a3', 'empty.txt');
    expect(empty.finish(0, sha(Buffer.alloc(0)))).toBe(path.join(dir, 'empty.txt'));
    expect(fs.readdirSync(dir).sort()).toEqual(['empty.txt', 'note (1).txt', 'note.txt']);
  });
});

describe('the progress bar', () => {
  it('shows the bar, percentage, bytes, rate and ETA in the width it is given', () => {
    const line = progressLine({ label: 'big.bin', done: 5 * 1024 * 1024, total: 10 * 1024 * 1024, elapsedMs: 2_000 }, 80);
    expect(line).toBe(`big.bin [${'█'.repeat(15)}${'░'.repeat(15)}]  50% 5.0 MiB/10.0 MiB 2.5 MiB/s ETA 2s`);
    expect([...line].length).toBeLessThanOrEqual(80);
    expect(progressLine({ label: 'x', done: 10, total: 10, elapsedMs: 1 }, 60)).toMatch(/\[█+\] 100% 10 B\/10 B .* done$/);
    expect(progressLine({ label: 'x', done: 0, total: 10, elapsedMs: 0 }, 60)).toMatch(/\[░+\]   0% .* ETA --$/);
  });

  it('formats sizes and durations for people', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(48 * 1024)).toBe('48.0 KiB');
    expect(formatBytes(1.5 * 1024 ** 3)).toBe('1.50 GiB');
    expect(formatDuration(45_000)).toBe('45s');
    expect(formatDuration(185_000)).toBe('3m05s');
    expect(formatDuration(3_720_000)).toBe('1h02m');
  });
});
