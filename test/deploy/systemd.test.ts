import { execFile, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { deployDir } from './paths.js';

const unitFile = path.join(deployDir, 'chorus.service');
/** The server's defaults: --drain-ms, and how much longer the primary's stop may run (shutdown.ts). */
const drainMs = 5_000;
const primaryStopMarginMs = 5_000;

/** `systemd-analyze --version`'s number, or undefined where systemd-analyze is not installed. */
function systemdVersion(): number | undefined {
  const run = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  if (run.error || run.status !== 0) return undefined;
  return Number(/systemd (\d+)/.exec(run.stdout)?.[1]);
}
const version = systemdVersion();

/** Keys by section, each with every value it was given. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) sections.set(header[1]!, (current = new Map()));
    else {
      const eq = line.indexOf('=');
      const values = current!.get(line.slice(0, eq)) ?? [];
      current!.set(line.slice(0, eq), [...values, line.slice(eq + 1)]);
    }
  }
  return sections;
}

const seconds = (value: string) => Number(/^(\d+)s$/.exec(value)?.[1]);

describe('deploy/chorus.service', () => {
  let service: Map<string, string[]>;
  const one = (key: string) => {
    const values = service.get(key);
    expect(values, key).toHaveLength(1);
    return values![0]!;
  };

  beforeAll(async () => {
    service = parseUnit(await readFile(unitFile, 'utf8')).get('Service')!;
  });

  it('restarts a failed gateway with a back-off, as a non-root user', () => {
    expect(one('Restart')).toBe('on-failure');
    expect(seconds(one('RestartSec'))).toBeGreaterThan(0);
    expect(seconds(one('RestartMaxDelaySec'))).toBeGreaterThan(seconds(one('RestartSec')));
    expect(one('DynamicUser') === 'yes' || (service.get('User')?.[0] ?? 'root') !== 'root').toBe(true);
  });

  it('allows a socket per client and stops with SIGTERM, waiting longer than the server\'s own deadline', () => {
    expect(Number(one('LimitNOFILE'))).toBeGreaterThanOrEqual(1_048_576);
    expect(one('KillSignal')).toBe('SIGTERM');
    // The primary alone gets SIGTERM (it stops its workers); SIGKILL reaches them all only at the timeout.
    expect(one('KillMode')).toBe('mixed');
    expect(seconds(one('TimeoutStopSec')) * 1000).toBeGreaterThan(drainMs + primaryStopMarginMs);
  });

  const verifyTitle = `passes systemd-analyze verify${version === undefined ? ' (skipped: systemd-analyze is not installed here)' : ''}`;
  it.skipIf(version === undefined)(verifyTitle, async () => {
    const { stderr } = await promisify(execFile)('systemd-analyze', ['verify', unitFile]);
    // Before systemd 254 the back-off keys are unknown: warned about and ignored, nothing else.
    const newer = ['RestartSteps', 'RestartMaxDelaySec'];
    const complaints = stderr.split('\n').filter((l) => l !== '' && !(version! < 254 && newer.some((k) => l.includes(`Unknown key '${k}'`))));
    expect(complaints).toEqual([]);
  });
});
