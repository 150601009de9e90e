// File transfer across gateways, store and forward through Redis (standalone and Cluster):
// real gateway processes, real sockets on both ends.
import net from 'node:net';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient, connect } from '../support/client.js';
import { chunkBytes, collect, offer, randomFile, sendChunks, sha256, upload } from '../support/files.js';
import { stopAll, type ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';
import { startGateways, storesForThisFile } from './gateways.js';

const stores = storesForThisFile();

describe.each(stores.each)('file transfer across three gateways on %s', (_name, store) => {
  let gw: ServerHandle[] = [];
  const open: TestClient[] = [];
  const on = async (g: number, nick: string, transport: 'tcp' | 'ws' = 'tcp') => {
    const c = await connect(transport === 'tcp' ? gw[g]!.tcpPort : gw[g]!.wsPort, nick, transport);
    open.push(c);
    return c;
  };
  beforeAll(async () => {
    gw = await startGateways(3, store());
  });
  afterAll(async () => {
    open.forEach((c) => c.close());
    await stopAll(gw);
  });

  it('carries 10 MiB from a TCP client on gateway 1 to a WebSocket client on gateway 2, byte for byte', async () => {
    const ann = await on(0, 'ann');
    const bob = await on(1, 'bob', 'ws');
    const file = randomFile(10 * 1024 * 1024);
    const offered = await offer(ann, '@bob', file, 'big.bin');
    const id = offered.file as string;
    expect(await bob.next('file_offer')).toMatchObject({ file: id, from: 'ann', to: '@bob', name: 'big.bin', size: file.bytes.length, sha256: file.sha256 });
    sendChunks(ann, id, file);
    ann.send({ type: 'file_end', file: id });
    const since = bob.received.length;
    bob.send({ type: 'file_accept', file: id });
    expect(await ann.next('file_accepted', (f) => f.file === id)).toMatchObject({ by: 'bob' });
    await ann.next('file_uploaded', (f) => f.file === id, 30_000);
    const got = await collect(bob, id, { since });
    expect(got.end).toMatchObject({ type: 'file_end', size: file.bytes.length, sha256: file.sha256 });
    expect(got.bytes.length).toBe(file.bytes.length);
    expect(sha256(got.bytes)).toBe(file.sha256);
    const metrics = await gw[1]!.metrics();
    expect(metrics).toMatch(new RegExp(`chorus_file_bytes_delivered_total ${file.bytes.length}\\b`));
    expect(await gw[0]!.metrics()).toMatch(/chorus_files_offered_total 1\b/);
  });

  it('offers to a room: one member accepts, one rejects, the sender hears both; an outsider gets no_such_file', async () => {
    const [sam, mia, max, out] = await Promise.all([on(0, 'sam'), on(1, 'mia'), on(2, 'max'), on(1, 'out')]);
    for (const c of [sam, mia, max]) expect(await c.request({ type: 'join', room: '#share' })).toMatchObject({ type: 'joined' });
    const file = randomFile(3 * chunkBytes + 7);
    const id = await upload(sam, '#share', file);
    for (const c of [mia, max]) expect(await c.next('file_offer')).toMatchObject({ file: id, from: 'sam', to: '#share' });
    const since = mia.received.length;
    mia.send({ type: 'file_accept', file: id });
    max.send({ type: 'file_reject', file: id });
    expect(await sam.next('file_accepted')).toMatchObject({ file: id, by: 'mia' });
    expect(await sam.next('file_rejected')).toMatchObject({ file: id, by: 'max' });
    expect((await collect(mia, id, { since })).bytes.equals(file.bytes)).toBe(true);
    expect(await out.request({ type: 'file_accept', file: id })).toMatchObject({ type: 'error', code: 'no_such_file' });
    expect(await out.request({ type: 'file_reject', file: id })).toMatchObject({ type: 'error', code: 'no_such_file' });
  });

  it('streams to a receiver who accepts during the upload, drops, and resumes with from_seq on another gateway', async () => {
    const ann = await on(0, 'ann2');
    const bob = await on(1, 'bob2');
    const file = randomFile(40 * chunkBytes);
    const id = (await offer(ann, '@bob2', file)).file as string;
    sendChunks(ann, id, file, 0, 10);
    bob.send({ type: 'file_accept', file: id });
    await bob.next('file_chunk', (f) => f.seq === 9);
    const first = Buffer.concat(bob.received.filter((f) => f.type === 'file_chunk').map((f) => Buffer.from(f.data as string, 'base64')));
    const session = bob.welcome!.session as string;
    bob.close();
    await bob.waitClosed();
    // The rest of the upload goes on while the receiver is away.
    sendChunks(ann, id, file, 10);
    ann.send({ type: 'file_end', file: id });
    const back = await TestClient.tcp(gw[2]!.tcpPort);
    open.push(back);
    expect(await waitUntil(async () => {
      const reply = await back.hello('bob2', { resume: { session, last: {} } });
      return reply.type === 'welcome' ? reply : undefined;
    }, 'the resume to be taken')).toMatchObject({ nick: 'bob2' });
    back.send({ type: 'file_accept', file: id, from_seq: 10 });
    const rest = await collect(back, id, { fromSeq: 10 });
    expect(Buffer.concat([first, rest.bytes]).equals(file.bytes)).toBe(true);
    expect(ann.pending('file_accepted')).toHaveLength(1); // one answer, however many times it resumes
  });

  it('keeps a file for its receiver after the sender has uploaded and left', async () => {
    const ann = await on(0, 'ann3');
    const cat = await on(2, 'cat3');
    const file = randomFile(5 * chunkBytes + 1);
    const id = await upload(ann, '*', file);
    await ann.request({ type: 'bye' });
    // Gone from who, wherever cat asks: presence alone is no barrier, since a stay shorter
    // than one presence tick is never announced.
    await waitUntil(async () => !(await cat.request({ type: 'who' })).users.includes('ann3'), 'ann3 to be gone');
    const since = cat.received.length;
    cat.send({ type: 'file_accept', file: id });
    expect((await collect(cat, id, { since })).bytes.equals(file.bytes)).toBe(true);
  });

  it('fails the file when its sender drops mid-upload: the receiver gets file_failed', async () => {
    const ann = await on(0, 'ann4');
    const dan = await on(1, 'dan4');
    const file = randomFile(6 * chunkBytes);
    const id = (await offer(ann, '@dan4', file)).file as string;
    const since = dan.received.length;
    dan.send({ type: 'file_accept', file: id });
    sendChunks(ann, id, file, 0, 2);
    await dan.next('file_chunk', (f) => f.seq === 1);
    ann.close();
    expect((await collect(dan, id, { since })).end).toMatchObject({ type: 'file_failed', file: id });
  });
});

describe('gateway memory with a slow receiver', () => {
  let gw: ServerHandle[] = [];
  beforeAll(async () => {
    gw = await startGateways(2, stores.each[0]![1]());
  });
  afterAll(() => stopAll(gw));

  it('stays bounded while a slow receiver takes a 50 MiB file', async () => {
    const rss = async (g: ServerHandle) => Number(/^process_resident_memory_bytes (\d+)/m.exec(await g.metrics())![1]);
    const ann = await connect(gw[0]!.tcpPort, 'ann');
    // A warm-up transfer first: V8 grows its young generation to tens of MB under any heavy
    // allocation, whatever is kept; the baseline is taken once it has.
    const warm = await connect(gw[1]!.tcpPort, 'warm');
    const small = randomFile(10 * 1024 * 1024);
    const warmId = await upload(ann, '@warm', small);
    warm.send({ type: 'file_accept', file: warmId });
    expect((await collect(warm, warmId)).bytes.length).toBe(small.bytes.length);
    warm.close();

    const file = randomFile(50 * 1024 * 1024);
    const slow = await SlowReader.open(gw[1]!.tcpPort, 'slow');
    const before = Math.max(...(await Promise.all(gw.map(rss))));
    const offered = await offer(ann, '@slow', file);
    const id = offered.file as string;
    slow.accept(id);
    sendChunks(ann, id, file);
    ann.send({ type: 'file_end', file: id });
    let peak = before;
    const sampler = setInterval(() => {
      void Promise.all(gw.map(rss)).then((values) => (peak = Math.max(peak, ...values)), () => {});
    }, 100);
    try {
      // Generous deadlines: on a loaded 2-core box 50 MiB through Redis can take a minute.
      await ann.next('file_uploaded', (f) => f.file === id, 120_000);
      const end = await slow.done(120_000);
      expect(end).toMatchObject({ type: 'file_end', sha256: file.sha256 });
      expect(slow.bytes).toBe(file.bytes.length);
      expect(slow.sha256()).toBe(file.sha256);
    } finally {
      clearInterval(sampler);
      ann.close();
      slow.close();
    }
    // The file is 67 MB of base64, and the reader at 8 MiB/s falls tens of MB behind the upload:
    // a gateway that held what its reader has not taken yet would pass this.
    expect(peak - before).toBeLessThan(48 * 1024 * 1024);
  }, 300_000);
});

const readerBytesPerSecond = 8 * 1024 * 1024;

/** A raw JSON-lines receiver that reads in small sips, hashing the chunks as they come. */
class SlowReader {
  bytes = 0;
  private readonly hash = createHash('sha256');
  private partial = '';
  private end: Record<string, unknown> | undefined;
  private welcomed = () => {};

  private readonly started = Date.now();
  private read = 0;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      const lines = (this.partial + text).split('\n');
      this.partial = lines.pop()!;
      for (const line of lines) this.take(JSON.parse(line) as Record<string, unknown>);
      // Sips at readerBytesPerSecond: far slower than the gateway can read the store.
      this.read += text.length;
      const aheadMs = (this.read / readerBytesPerSecond) * 1000 - (Date.now() - this.started);
      if (aheadMs > 1) {
        socket.pause();
        setTimeout(() => socket.resume(), aheadMs);
      }
    });
  }

  static open(port: number, nick: string): Promise<SlowReader> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      const reader = new SlowReader(socket);
      socket.once('error', reject);
      socket.once('connect', () => socket.write(`{"type":"hello","nick":"${nick}"}\n`));
      reader.welcomed = () => resolve(reader);
    });
  }

  accept(file: string): void {
    this.socket.write(`{"type":"file_accept","file":"${file}"}\n`);
  }

  done(timeoutMs: number): Promise<Record<string, unknown>> {
    return waitUntil(() => this.end, 'the slow receiver to get file_end', timeoutMs, 50);
  }

  sha256(): string {
    return this.hash.digest('hex');
  }

  close(): void {
    this.socket.destroy();
  }

  private take(frame: Record<string, unknown>): void {
    if (frame.type === 'file_chunk') {
      const data = Buffer.from(frame.data as string, 'base64');
      this.bytes += data.length;
      this.hash.update(data);
    } else if (frame.type === 'welcome') {
      this.welcomed();
    } else if (frame.type === 'file_end' || frame.type === 'file_failed') {
      this.end = frame;
    }
  }
}
