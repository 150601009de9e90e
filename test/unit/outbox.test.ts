import { describe, expect, it } from 'vitest';
import { Outbox, WriteScheduler } from '../../src/gateway/outbox.js';
import type { Peer } from '../../src/gateway/peer.js';

/** A socket that records each write and takes nothing into the kernel (buffered grows), like a client that stopped reading. */
class RecordingPeer implements Peer {
  readonly transport = 'tcp' as const;
  readonly remote = 'test';
  readonly openedAt = Date.now();
  readonly writes: string[] = [];
  unsent = 0;
  write(bytes: Buffer): void {
    this.writes.push(bytes.toString());
    this.unsent += bytes.length;
  }
  buffered(): number {
    return this.unsent;
  }
  stalledMs(): number {
    return 0;
  }
  drained(): Promise<void> {
    return Promise.resolve();
  }
  end(): void {}
  destroy(): void {}
  pause(): void {}
  resume(): void {}
}

const turn = () => new Promise((resolve) => setImmediate(resolve));
const env = (id: string) => ({ id, ts: 0, from: 'x', line: Buffer.from('') });

describe('the outbox', () => {
  it('writes every frame of one event-loop turn in one write, in order, and counts deliveries once', async () => {
    const counted: Array<[string, number]> = [];
    const scheduler = new WriteScheduler(0, (t, n) => counted.push([t, n]));
    const peer = new RecordingPeer();
    const box = new Outbox(peer, 1 << 20, scheduler, () => {});
    box.write(Buffer.from('a\n'), 'fanout', env('1'));
    box.write(Buffer.from('b\n'), 'reply');
    box.write(Buffer.from('c\n'), 'fanout', env('2'));
    expect(peer.writes).toEqual([]);
    await turn();
    expect(peer.writes).toEqual(['a\nb\nc\n']);
    expect(counted).toEqual([['tcp', 2]]);
  });

  it('holds fanned-out frames for the write delay, and a reply takes them along at once', async () => {
    const scheduler = new WriteScheduler(60_000, () => {});
    const peer = new RecordingPeer();
    const box = new Outbox(peer, 1 << 20, scheduler, () => {});
    box.write(Buffer.from('m1\n'), 'fanout', env('1'));
    await turn();
    expect(peer.writes).toEqual([]); // waiting for the delay
    box.write(Buffer.from('ack\n'), 'reply');
    await turn();
    expect(peer.writes).toEqual(['m1\nack\n']);
    box.write(Buffer.from('m2\n'), 'fanout', env('2'));
    scheduler.stop(); // a stopping gateway writes what waits
    expect(peer.writes).toEqual(['m1\nack\n', 'm2\n']);
  });

  it('cuts off a reader past the byte bound, counting what waits and what the socket holds', async () => {
    let overflows = 0;
    const peer = new RecordingPeer();
    const box = new Outbox(peer, 4096, new WriteScheduler(0, () => {}), () => overflows++);
    const frame = Buffer.alloc(1000, 'x');
    for (let i = 0; i < 4; i++) box.write(frame, 'fanout', env(String(i)));
    expect(overflows).toBe(0);
    box.write(frame, 'fanout', env('5'));
    expect(overflows).toBe(1);
    // A reply the client asked for is not refused by the bound.
    box.write(frame, 'reply');
    expect(overflows).toBe(1);
    box.writeLast(Buffer.from('bye\n'));
    expect(peer.writes.join('').endsWith('bye\n')).toBe(true);
    box.write(frame, 'reply');
    await turn();
    expect(peer.writes.join('')).not.toMatch(/bye\nx/); // nothing after the last words
  });
});
