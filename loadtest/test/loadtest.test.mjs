// Unit tests of the load generator's own arithmetic: percentiles, argument parsing, the
// message mix, and reading the server's metrics. No server, no sockets: fast.

import { describe, expect, it } from 'vitest';
import { Histogram } from '../lib/histogram.mjs';
import { kindPicker, buildTargets, defaults } from '../lib/scenarios.mjs';
import { parseDelivery, deliveryBetween } from '../lib/processes.mjs';
import { assertLoopback } from '../lib/transport.mjs';
import { parseArgs, parseMix } from '../run.mjs';

describe('Histogram', () => {
  it('gives percentiles within 1% of the exact ones', () => {
    const h = new Histogram();
    const values = [];
    for (let i = 1; i <= 100_000; i++) {
      const v = (i % 997) * 0.37 + (i % 13); // a spread of 0..~380 ms
      values.push(v);
      h.record(v);
    }
    values.sort((a, b) => a - b);
    for (const q of [0.5, 0.95, 0.99]) {
      const exact = values[Math.ceil(q * values.length) - 1];
      expect(Math.abs(h.quantile(q) - exact)).toBeLessThanOrEqual(exact * 0.01 + 0.01);
    }
    expect(h.summary().max).toBe(Math.round(values.at(-1) * 100) / 100);
    expect(h.count).toBe(100_000);
  });

  it('merges, and reports an empty histogram as nulls', () => {
    const a = new Histogram();
    const b = new Histogram();
    a.record(1);
    b.record(100);
    expect(new Histogram().summary()).toEqual({ count: 0, mean: null, p50: null, p95: null, p99: null, max: null });
    const m = a.merge(b).summary();
    expect(m.count).toBe(2);
    expect(m.max).toBe(100);
    expect(m.p50).toBeCloseTo(1, 1);
  });

  it('records negative samples (clock steps) as zero and counts them', () => {
    const h = new Histogram();
    h.record(-3);
    expect(h.negative).toBe(1);
    expect(h.quantile(0.5)).toBe(0);
  });
});

describe('run.mjs arguments', () => {
  it('parses the documented flags', () => {
    const [scenario, o] = parseArgs(
      ['chat', '--url', 'ws://127.0.0.1:1,ws://localhost:2', '--users', '20', '--duration=3', '--rate', '0.25',
        '--rooms', '2', '--transport', 'tcp', '--tcp-port', '10,11', '--mix', 'room=1', '--quiet'],
      {},
    );
    expect(scenario).toBe('chat');
    expect(o).toMatchObject({
      urls: ['ws://127.0.0.1:1', 'ws://localhost:2'],
      users: 20,
      duration: 3,
      rate: 0.25,
      rooms: 2,
      transport: 'tcp',
      tcpPorts: [10, 11],
      mix: { public: 0, room: 1, private: 0 },
      progress: false,
    });
  });

  it('takes CHORUS_WS_URL as the default URL', () => {
    expect(parseArgs(['connect'], { CHORUS_WS_URL: 'ws://127.0.0.1:9' })[1].urls).toEqual(['ws://127.0.0.1:9']);
  });

  it('refuses targets off this machine, unknown flags and bad numbers', () => {
    expect(() => parseArgs(['chat', '--url', 'ws://10.0.0.1:50446'], {})).toThrow(/loopback/);
    expect(() => parseArgs(['chat', '--tcp-host', 'example.com'], {})).toThrow(/loopback/);
    expect(() => parseArgs(['chat', '--frobnicate', '1'], {})).toThrow(/unknown option/);
    expect(() => parseArgs(['chat', '--users', 'many'], {})).toThrow(/number/);
    expect(() => parseArgs(['dance'], {})).toThrow(/scenario/);
    expect(() => parseMix('public=x')).toThrow();
    expect(() => assertLoopback('127.0.0.2')).not.toThrow();
    expect(() => assertLoopback('[::1]')).not.toThrow();
  });
});

describe('the message mix', () => {
  it('picks kinds in proportion to their weights', () => {
    const pick = kindPicker({ public: 0.1, room: 0.6, private: 0.3 });
    const n = { public: 0, room: 0, private: 0 };
    for (let i = 0; i < 20_000; i++) n[pick()]++;
    expect(n.public / 20_000).toBeCloseTo(0.1, 1);
    expect(n.room / 20_000).toBeCloseTo(0.6, 1);
    expect(n.private / 20_000).toBeCloseTo(0.3, 1);
  });

  it('never picks a kind of weight zero', () => {
    const pick = kindPicker({ public: 0, room: 1, private: 0 });
    for (let i = 0; i < 1000; i++) expect(pick()).toBe('room');
  });

  it('spreads users over gateways and, with mix, over transports', () => {
    const t = buildTargets({ ...defaults, transport: 'mix', urls: ['ws://127.0.0.1:1', 'ws://127.0.0.1:2'], tcpPorts: [3, 4] });
    expect(t.map((x) => x.url ?? x.port)).toEqual(['ws://127.0.0.1:1', 3, 'ws://127.0.0.1:2', 4]);
  });
});

describe('server metrics', () => {
  const scrape = (n, b1, b2, inf) => `# HELP chorus_messages_delivered_total x
chorus_messages_delivered_total{transport="ws"} ${n}
chorus_messages_delivered_total{transport="tcp"} 1
chorus_delivery_latency_seconds_bucket{le="0.001"} ${b1}
chorus_delivery_latency_seconds_bucket{le="0.01"} ${b2}
chorus_delivery_latency_seconds_bucket{le="+Inf"} ${inf}
chorus_delivery_latency_seconds_count ${inf}`;

  it('reads delivered counts and latency buckets, and diffs two scrapes', () => {
    const before = parseDelivery(scrape(10, 5, 10, 10));
    const after = parseDelivery(scrape(110, 55, 109, 110));
    expect(after.delivered).toBe(111);
    expect(deliveryBetween(before, after)).toEqual({ delivered: 100, observed: 100, p50_le_ms: 1, p99_le_ms: 10 });
  });
});
