// The bench's comparison, as a seconds-long smoke: real redis-servers, real Chorus gateways and
// Socket.IO nodes, real sockets. No timing asserts: every row is there and nothing was lost.

import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandStats, scenarios } from '../lib/compare.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function bench(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(repoRoot, 'loadtest/bench.mjs'), ...args], { timeout: 240_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('npm run bench -- --compare socketio', () => {
  it('runs every scenario on both systems, loses nothing, and writes the JSON and the chart', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'chorus-compare-'));
    try {
      const r = await bench(['--compare', 'socketio', '--scale', '0.01', '--duration', '1', '--hold', '0', '--out', out]);
      expect(r.code, r.stderr.slice(-3000)).toBe(0);
      const report = JSON.parse(readFileSync(path.join(out, 'compare-latest.json'), 'utf8'));
      const want = scenarios({ scale: 0.01, duration: 1, hold: 0, rampDeadline: null })
        .flatMap((s) => (s.kind === 'connect' ? [s.name, 'idle'] : [s.name]).map((name) => ({ ...s, name })))
        .flatMap((s) => (s.chorusOnly ? ['chorus'] : ['chorus', 'socket.io']).map((system) => `${system} ${s.name}`));
      expect(report.rows.map((row) => `${row.system} ${row.scenario}`).sort()).toEqual(want.sort());
      for (const row of report.rows) {
        expect(row.lost, `${row.system} ${row.scenario}`).toBe(0);
        expect(row.ready).toBe(row.users);
        if (row.scenario !== 'idle') expect(row.cpu_us_per_unit).toBeGreaterThan(0);
      }
      for (const line of want) expect(r.stdout).toMatch(new RegExp(line.replace(' ', '\\s+')));
      expect(report.ratios.map((x) => x.scenario).sort()).toEqual(['broadcast', 'connect-storm', 'idle', 'private']);
      expect(readFileSync(path.join(out, 'compare-latest.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 240_000);

  it('reads Redis command counts, leaving out its own CONFIG and INFO', () => {
    const stats = parseCommandStats('# Commandstats\r\ncmdstat_evalsha:calls=40,usec=9\r\ncmdstat_publish:calls=2,usec=1\r\ncmdstat_config:calls=1,usec=1\r\n');
    expect(stats).toEqual({ calls: 42, byCommand: { evalsha: 40, publish: 2 } });
  });
});
