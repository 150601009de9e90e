// CI-sized runs of the reliability scenarios (npm run reliability): a real redis-server, two
// gateway processes and the shipped HAProxy config, a few dozen users for seconds. No timing
// is asserted; every acked message must reach every recipient it is for, exactly once.
// Needs a build (dist/server/main.js), as every test of the server does.

import { describe, expect, it } from 'vitest';
import { parseArgs, scenarios } from '../reliability.mjs';
import { Ledger } from '../lib/ledger.mjs';

const quiet = () => {};
const run = (argv) => {
  const o = parseArgs(argv);
  return scenarios[o.scenario](o, quiet);
};

function expectNothingLost(r) {
  expect(r.acked).toBeGreaterThan(0);
  expect(r.resume_failures).toBe(0);
  expect({ lost: r.lost, duplicates: r.duplicates, unexpected: r.unexpected }).toEqual({ lost: 0, duplicates: 0, unexpected: 0 });
  expect(r.delivered).toBe(r.expected);
}

describe('reliability scenarios, CI-sized', () => {
  it('churn: sockets dropped and resumed through HAProxy lose nothing and duplicate nothing', async () => {
    const r = await run(['churn', '--clients', '40', '--senders', '10', '--duration', '6', '--drop-every', '2', '--drop-for', '0.5', '--drain', '10']);
    expectNothingLost(r);
    expect(r.resumes).toBeGreaterThanOrEqual(40);
    expect(r.replayed).toBeGreaterThan(0);
  }, 40_000);

  it('rolling restart: each gateway drained and started again loses nothing', async () => {
    const r = await run(['rolling', '--clients', '40', '--senders', '10', '--warm', '2', '--pause', '1', '--drain', '10']);
    expectNothingLost(r);
    expect(r.restarts.map((x) => x.exit_code)).toEqual([0, 0]);
    // Everyone was on a drained gateway at some point: told bye{reason:"restart"}, then resumed.
    expect(r.restart_byes).toBeGreaterThanOrEqual(40);
  }, 45_000);

  it('crash: users of a gateway killed with -9 resume on the other and get every acked message once', async () => {
    const r = await run(['crash', '--clients', '40', '--senders', '10', '--warm', '2', '--after', '1', '--drain', '10']);
    expectNothingLost(r);
    expect(r.victims).toBeGreaterThan(0);
    expect(r.crash_resume_ms.count).toBe(r.victims - r.ghosts);
    expect(r.ghosts_seen_offline).toBe(r.ghosts);
  }, 45_000);
});

describe('the ledger', () => {
  const users = [
    { index: 0, room: '#a', counted: true },
    { index: 1, room: '#a', counted: true },
    { index: 2, room: '#b', counted: true },
    { index: 3, room: '#a', counted: false },
  ];

  it('expects public for every counted user but the sender, room for its counted members, private for the peer', () => {
    const l = new Ledger();
    const pub = l.open('public', 0, null);
    const room = l.open('room', 0, '#a');
    const priv = l.open('private', 0, 2);
    const unacked = l.open('public', 1, null);
    for (const no of [pub, room, priv]) l.ack(no, `${no}-0`);
    l.receive(1, pub);
    l.receive(2, pub);
    l.receive(2, pub);
    l.receive(1, room);
    l.receive(0, room); // an echo to its sender
    l.receive(0, unacked);
    const c = l.check(users);
    expect(c).toMatchObject({ acked: 3, expected: 4, delivered: 3, lost: 1, duplicates: 1, unexpected: 1, unacked_delivered: 1 });
    expect(c.lost_samples).toEqual([{ no: priv, kind: 'private', id: `${priv}-0`, sender: 0, recipient: 2 }]);
    expect(c.duplicate_samples).toMatchObject([{ no: pub, user: 2 }]);
  });

  it('keeps a repeated ack\'s first id and counts a different one as foreign', () => {
    const l = new Ledger();
    const no = l.open('public', 0, null);
    l.ack(no, '1-0');
    l.ack(no, '1-0');
    expect(l.check(users).foreign).toBe(0);
    l.ack(no, '2-0');
    expect(l.check(users).foreign).toBe(1);
  });
});
