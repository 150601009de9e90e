import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type TestClient } from '../support/client.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { startServer, type ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';
import { alertQueries, dashboardQueries, queriesWithoutSeries, startPrometheus, type Prometheus } from './prometheus.js';

/**
 * The shipped dashboard and alerts against the real thing: Redis, two gateways, real chat
 * traffic of every kind, and Prometheus scraping them with the shipped rules. A panel whose
 * query returns nothing (a misspelt metric, a label the server does not set) fails here.
 */
describe('dashboard and alerts on a live two-gateway cluster', () => {
  let redis: RedisServer | undefined;
  const gateways: ServerHandle[] = [];
  const clients: TestClient[] = [];
  let prometheus: Prometheus | undefined;

  beforeAll(async () => {
    redis = await startRedis();
    for (let i = 0; i < 2; i++) {
      gateways.push(await startServer(['--redis', redis.url, '--workers', '1']));
    }
    prometheus = await startPrometheus({ targets: gateways.map((g) => `127.0.0.1:${g.metricsPort}`), scrapeIntervalS: 1 });
  }, 60_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    await prometheus?.stop();
    for (const gateway of gateways) await gateway.stop();
    await redis?.stop();
  }, 60_000);

  it('runs public, private and group traffic and a bad frame through both gateways', async () => {
    const [g1, g2] = gateways as [ServerHandle, ServerHandle];
    const ann = await connect(g1.tcpPort, 'ann');
    const bob = await connect(g2.tcpPort, 'bob');
    clients.push(ann, bob);

    expect(await ann.request({ type: 'join', room: '#ops' })).toMatchObject({ type: 'joined' });
    expect(await bob.request({ type: 'join', room: '#ops' })).toMatchObject({ type: 'joined' });
    for (const to of ['*', '@bob', '#ops']) {
      expect(await ann.request({ type: 'send', to, text: `hi ${to}` }), to).toMatchObject({ type: 'ack' });
      // Received across gateways: the delivery-latency histogram sees it.
      await bob.next('msg', (f) => f.text === `hi ${to}`);
    }
    bob.send('{"type": "send", "to": "*"\n'); // cut short: bad_frame, counted as rejected
    await bob.next('error');
  }, 60_000);

  it('gets at least one series from every dashboard query', async () => {
    const queries = await dashboardQueries();
    let missing: string[] = [];
    await waitUntil(async () => {
      missing = await queriesWithoutSeries(prometheus!, queries);
      return missing.length === 0;
    }, 'every dashboard query to return a series', 45_000, 500).catch(() => undefined);
    // A scrape that fails (a /metrics that times out) explains every empty panel at once.
    const unhealthy = (await prometheus!.targets()).filter((t) => t.health !== 'up').map((t) => `${t.scrapeUrl}: ${t.lastError}`);
    expect(unhealthy, 'scrape targets that are not up').toEqual([]);
    expect(missing).toEqual([]);
  }, 60_000);

  it('would notice a panel on a metric that does not exist', async () => {
    const [first] = await dashboardQueries();
    const misspelt = { source: 'misspelt', expr: first!.expr.replace(/chorus_\w+/, 'chorus_conections') };
    expect(misspelt.expr).not.toBe(first!.expr);
    expect(await queriesWithoutSeries(prometheus!, [misspelt])).toHaveLength(1);
  });

  it('evaluates every alert rule without error', async () => {
    for (const q of await alertQueries()) await expect(prometheus!.evaluate(q.expr), q.source).resolves.toBeInstanceOf(Array);
    // And Prometheus's own rule evaluation agrees: each rule has run and is healthy.
    await waitUntil(async () => {
      const rules = (await prometheus!.rules().catch(() => [])).flatMap((g) => g.rules);
      return rules.length > 0 && rules.every((r) => r.health === 'ok');
    }, 'every rule to be evaluated and healthy', 20_000, 100);
  }, 60_000);
});
