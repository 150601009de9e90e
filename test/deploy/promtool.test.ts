import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { alertQueries, alertsFile, promtoolBin } from './prometheus.js';
import { deployDir } from './paths.js';

const run = promisify(execFile);

describe('the shipped Prometheus files', () => {
  it('deploy/prometheus.yml is valid and its rule_files resolve from its own directory', async () => {
    const { stdout } = await run(promtoolBin, ['check', 'config', path.join(deployDir, 'prometheus.yml')]);
    expect(stdout).toContain('SUCCESS: 1 rule files found');
  });

  it('deploy/prometheus/alerts.yml is valid', async () => {
    const { stdout } = await run(promtoolBin, ['check', 'rules', alertsFile]);
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('the alerts fire, and stay quiet, as their unit tests say', async () => {
    // promtool prints what it expected and what it got when a case fails: show that.
    const result = await run(promtoolBin, ['test', 'rules', path.join(import.meta.dirname, 'alerts.promtool.yml')]).catch(
      (err: { stdout: string; stderr: string }) => err,
    );
    expect(`${result.stdout}${result.stderr}`).toContain('SUCCESS');
  });

  it('has alerts on the gateways, the engine, latency, slow consumers, floods, logins and file transfers', async () => {
    const exprs = (await alertQueries()).map((q) => q.expr).join('\n');
    const watched = [
      'up',
      'chorus_engine_up',
      'chorus_delivery_latency_seconds_bucket',
      'chorus_slow_consumer_disconnects_total',
      'chorus_disconnects_total',
      'chorus_auth_failures_total',
      'chorus_auth_throttled_total',
      'chorus_file_transfers_failed_total',
    ];
    for (const metric of watched) {
      expect(exprs, metric).toMatch(new RegExp(`\\b${metric}\\b`));
    }
  });
});
