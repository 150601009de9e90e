// Property-based fuzzing of a live gateway over real sockets, in every dialect: hostile input
// interleaved with a valid conversation, all cut at random points across TCP writes.
// Invariants: the gateway never crashes and its memory stays bounded; every valid message is
// delivered once and in order; every bad line gets an error (JSON: exactly one reply per line)
// or a clean close. CI runs a fixed seed and few runs; `npm run fuzz -- --runs 5000` runs long.
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, TestClient } from '../support/client.js';
import { startServer, type ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';
import { cuts, helloFor, items, validFor, validText, type Item } from './traffic.js';
import { jsonFrames, peopleLines, splitAt, Wire, wsMessages, wsUpgrade, type Dialect } from './wire.js';

const numRuns = Number(process.env.FUZZ_RUNS ?? 12);
const seed = Number(process.env.FUZZ_SEED ?? 20261201);
/** Generous for a gateway of a few connections; what a leak would pass in a long run. */
const maxRssBytes = 400 * 1024 * 1024;

let server: ServerHandle;
let listener: TestClient;
/** A conversation between two others that must not notice the fuzzing. */
let alice: TestClient, bob: TestClient;
let run = 0;
/** Runs per dialect that carried the whole conversation, and that ended in a close: both must happen for the test to mean much. */
const outcomes = new Map<Dialect, { whole: number; closed: number }>();

beforeAll(async () => {
  // Rate limits off: a refusal for speed is not what these properties are about.
  server = await startServer(['--rate', '1000000', '--burst', '1000000']);
  listener = await connect(server.tcpPort, 'lis');
  alice = await connect(server.tcpPort, 'alice');
  bob = await connect(server.wsPort, 'bob', 'ws');
});
afterAll(async () => {
  [listener, alice, bob].forEach((c) => c?.close());
  await server?.stop();
});

/** Types of frames that answer a request (the rest are fan-out: presence, messages, others' room changes). */
function isReply(f: Record<string, any>, self: string): boolean {
  if (f.type === 'joined') return Array.isArray(f.members);
  if (f.type === 'left') return f.nick === self;
  return ['welcome', 'error', 'ack', 'pong', 'who', 'history', 'registered', 'unregistered', 'bye', '?'].includes(f.type);
}

/**
 * The lines of a JSON-lines stream the gateway answers: all but blank ones (a person at
 * netcat pressing Enter gets no error), counted as lines.ts splits them.
 */
function answeredLines(bytes: Buffer): number {
  let n = 0;
  let from = 0;
  for (let eol = bytes.indexOf(10); eol >= 0; eol = bytes.indexOf(10, from)) {
    const line = bytes.subarray(from, eol);
    from = eol + 1;
    if (!isUtf8(line) || line.toString('utf8').trim() !== '') n++;
  }
  return n;
}

/** The texts the fuzzed connection's valid messages reached the listener with, in arrival order. */
function deliveredTo(client: TestClient, from: string, r: number): string[] {
  const prefix = `valid:${r}:`;
  return client.received.filter((f) => f.type === 'msg' && f.from === from && String(f.text).startsWith(prefix)).map((f) => f.text as string);
}

/** What the server said to the fuzzed connection, as frames (JSON dialects) or lines. */
function said(dialect: Dialect, wire: Wire): { frames: Array<Record<string, any>>; lines: string[] } {
  if (dialect === 'json') return { frames: jsonFrames(wire.bytes), lines: [] };
  if (dialect === 'ws') return { frames: wsMessages(wire.bytes).texts.map((t) => JSON.parse(t) as Record<string, any>), lines: [] };
  return { frames: [], lines: peopleLines(dialect, wire.bytes) };
}

async function conversation(dialect: Dialect, stream: Item[], cutAt: number[]): Promise<void> {
  const r = ++run;
  const nick = `fz${r}`;
  const valid = stream.filter((it) => it.kind === 'valid').map((it) => validText(r, it.i));
  const body = stream.map((it) => (it.kind === 'valid' ? validFor(dialect, r, it.i, 'lis') : it.bytes));
  const bytes = Buffer.concat([dialect === 'ws' ? wsUpgrade() : Buffer.alloc(0), helloFor(dialect, nick), ...body, validFor(dialect, r, 'end', 'lis')]);
  const wire = await Wire.open(dialect === 'ws' ? server.wsPort : server.tcpPort);
  try {
    const chat = alice.request({ type: 'send', to: '@bob', text: `during ${r}` });
    await wire.writeSplit(splitAt(bytes, cutAt));
    const end = validText(r, 'end');
    await waitUntil(() => deliveredTo(listener, nick, r).includes(end) || wire.closed, `run ${r} (${dialect}) to finish or close`, 20_000);
    const got = deliveredTo(listener, nick, r);
    const tally = outcomes.get(dialect) ?? { whole: 0, closed: 0 };
    outcomes.set(dialect, tally);
    if (got.includes(end)) tally.whole++;
    else tally.closed++;
    if (got.includes(end)) {
      // Every valid message, once, in order.
      expect(got).toEqual([...valid, end]);
    } else {
      // Closed early (some input was fatal): what did arrive is in order and never twice.
      expect(new Set(got).size).toBe(got.length);
      expect(got).toEqual(valid.filter((t) => got.includes(t)));
      const { frames, lines } = said(dialect, wire);
      const told = frames.some((f) => f.type === 'error' || f.type === 'bye') || lines.some((l) => /Error \(|Goodbye|restarting/.test(l)) || wsMessages(wire.bytes).closeCode !== undefined;
      expect(told, `closed without a word: ${wire.bytes.toString('utf8').slice(-300)}`).toBe(true);
    }
    if (dialect === 'json' && !wire.closed) {
      // Requests are answered in order: once the last is acked, every line before it has its answer.
      await wire.waitFor(() => jsonFrames(wire.bytes).some((f) => f.type === 'ack' && f.ref === 'vend'), `run ${r}: the last ack`);
      const lines = answeredLines(bytes);
      const replies = jsonFrames(wire.bytes).filter((f) => isReply(f, nick));
      expect(replies.length, 'one reply per line').toBe(lines);
    }
    // The conversation beside the fuzzing went on, intact.
    expect(await chat).toMatchObject({ type: 'ack' });
    expect(await bob.next('msg', (m) => m.text === `during ${r}`)).toMatchObject({ from: 'alice' });
  } finally {
    wire.close();
  }
  expect(server.proc.exitCode).toBeNull();
}

describe.each<Dialect>(['json', 'text', 'legacy', 'ws'])('fuzzing the %s dialect over real sockets', (dialect) => {
  it('carries the valid conversation intact through hostile input cut at random points', async () => {
    await fc.assert(
      fc.asyncProperty(items(dialect), cuts, (stream, cutAt) => conversation(dialect, stream, cutAt)),
      { seed, numRuns, endOnFailure: true },
    );
    expect(outcomes.get(dialect)!.whole, 'runs that carried the whole conversation').toBeGreaterThan(0);
    expect(await listener.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
  }, 60_000 + numRuns * 2_000);
});

describe('fuzzing the transports with raw bytes', () => {
  it('answers random bytes on either port, before or after hello, with errors or a clean close, and goes on', async () => {
    const raw = fc.record({
      ws: fc.boolean(),
      hello: fc.boolean(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 3_000 }).map((a) => Buffer.from(a)),
      cutAt: cuts,
    });
    await fc.assert(
      fc.asyncProperty(raw, async ({ ws, hello, bytes, cutAt }) => {
        const r = ++run;
        const wire = await Wire.open(ws ? server.wsPort : server.tcpPort);
        const head = ws ? Buffer.concat([wsUpgrade(), ...(hello ? [helloFor('ws', `raw${r}`)] : [])]) : hello ? helloFor('json', `raw${r}`) : Buffer.alloc(0);
        await wire.writeSplit(splitAt(Buffer.concat([head, bytes]), cutAt));
        // The gateway still serves everyone else, whatever that did to its own connection.
        expect(await listener.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
        wire.close();
      }),
      { seed, numRuns, endOnFailure: true },
    );
    expect(server.proc.exitCode).toBeNull();
  }, 60_000 + numRuns * 2_000);

  it('closes a connection whose line passes the frame limit, saying why', async () => {
    const wire = await Wire.open(server.tcpPort);
    await wire.writeSplit([helloFor('json', 'huge'), Buffer.alloc(140_000, 'x'), Buffer.from('\n')]);
    await wire.waitFor(() => wire.closed, 'the close');
    expect(jsonFrames(wire.bytes).map((f) => f.code ?? f.type)).toEqual(['welcome', 'frame_too_large']);
  });
});

describe('after the fuzzing', () => {
  it('still answers, holds only the connections still open, and stays within its memory bound', async () => {
    expect(await listener.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    const metrics = await waitUntil(async () => {
      const text = await server.metrics();
      const open = text.split('\n').filter((l) => l.startsWith('chorus_connections{')).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
      return open === 3 ? text : undefined;
    }, 'the fuzzed connections to be gone');
    const rss = Number(metrics.split('\n').find((l) => l.startsWith('process_resident_memory_bytes'))!.split(' ').pop());
    expect(rss).toBeLessThan(maxRssBytes);
  });
});
