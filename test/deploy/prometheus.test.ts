import { access } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertQueries, dashboardQueries, startPrometheus, type Prometheus } from './prometheus.js';
import { canConnect } from '../support/ports.js';

/** The throwaway Prometheus itself, before any gateway exists: it starts, loads the shipped rules, and stops clean. */
describe('startPrometheus', () => {
  let prometheus: Prometheus;
  beforeAll(async () => {
    prometheus = await startPrometheus({ targets: [] });
  }, 30_000);
  afterAll(() => prometheus?.stop());

  it('answers instant queries and reports bad PromQL as an error', async () => {
    expect(await prometheus.evaluate('vector(1)')).toHaveLength(1);
    await expect(prometheus.evaluate('sum(')).rejects.toThrow(/parse error/);
  });

  it('loads every alert of deploy/prometheus/alerts.yml', async () => {
    const loaded = (await prometheus.rules()).flatMap((g) => g.rules.map((r) => r.name));
    expect(loaded.map((name) => `alert ${name}`).sort()).toEqual((await alertQueries()).map((q) => q.source).sort());
  });

  it('runs every alert and dashboard expression without error, even with no data', async () => {
    for (const q of [...(await alertQueries()), ...(await dashboardQueries())]) {
      await expect(prometheus.evaluate(q.expr), q.source).resolves.toBeInstanceOf(Array);
    }
  });
});

describe('stop()', () => {
  it('ends Prometheus and removes its data directory', async () => {
    const prometheus = await startPrometheus({ targets: [] });
    const port = Number(new URL(prometheus.url).port);
    await access(path.join(prometheus.dir, 'prometheus.yml'));
    await prometheus.stop();
    expect(await canConnect(port)).toBe(false);
    await expect(access(prometheus.dir)).rejects.toThrow(/ENOENT/);
  }, 30_000);
});
