// File transfer on one gateway (memory engine): the frames, the refusals and the limits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, connect, type TestClient } from '../support/client.js';
import { chunkBytes, collect, offer, randomFile, sendChunks, sha256, upload } from '../support/files.js';
import { startServer, type ServerHandle } from '../support/server.js';

let server: ServerHandle;
const clients: TestClient[] = [];
let nicks = 0;

async function user(prefix: string, transport: 'tcp' | 'ws' = 'tcp'): Promise<TestClient> {
  const c = await connect(transport === 'tcp' ? server.tcpPort : server.wsPort, `${prefix}${++nicks}`, transport);
  clients.push(c);
  return c;
}

const nickOf = (c: TestClient) => c.welcome!.nick as string;

beforeAll(async () => {
  server = await startServer([
    '--rate', '50', '--burst', '50', '--max-file-bytes', '4000000', '--file-quota-bytes', '4500000', '--file-ttl-ms', '60000',
  ]);
});

afterAll(async () => {
  clients.forEach((c) => c.close());
  await server?.stop();
});

describe('file transfer on one gateway', () => {
  it('offers privately, streams to the receiver who accepts during the upload, and tells the sender', async () => {
    const ann = await user('ann');
    const bob = await user('bob', 'ws');
    const file = randomFile(5 * chunkBytes + 123);
    const offered = await offer(ann, `@${nickOf(bob)}`, file, 'report.pdf');
    expect(offered).toMatchObject({ type: 'file_offered', file: expect.any(String), expires: expect.any(Number) });
    const id = offered.file as string;
    const seen = await bob.next('file_offer');
    expect(seen).toMatchObject({ file: id, from: nickOf(ann), to: `@${nickOf(bob)}`, name: 'report.pdf', size: file.bytes.length, sha256: file.sha256, expires: offered.expires });
    sendChunks(ann, id, file, 0, 2);
    const since = bob.received.length;
    bob.send({ type: 'file_accept', file: id });
    expect(await ann.next('file_accepted')).toMatchObject({ file: id, by: nickOf(bob) });
    await bob.next('file_chunk', (f) => f.seq === 1);
    sendChunks(ann, id, file, 2);
    ann.send({ type: 'file_end', file: id });
    await ann.next('file_uploaded', (f) => f.file === id);
    const got = await collect(bob, id, { since });
    expect(got.end).toMatchObject({ type: 'file_end', size: file.bytes.length, sha256: file.sha256 });
    expect(sha256(got.bytes)).toBe(file.sha256);
    expect(got.bytes.equals(file.bytes)).toBe(true);
  });

  it('sends chunks past the frame rate limit: they are paced by bytes instead', async () => {
    const ann = await user('ann');
    const bob = await user('bob');
    const file = randomFile(70 * chunkBytes); // 70 chunks, past --burst 50
    const id = await upload(ann, `@${nickOf(bob)}`, file);
    bob.send({ type: 'file_accept', file: id });
    const got = await collect(bob, id);
    expect(got.bytes.equals(file.bytes)).toBe(true);
    expect(ann.received.filter((f) => f.type === 'error')).toEqual([]);
  });

  it('refuses hostile names with bad_file', async () => {
    const ann = await user('ann');
    const file = randomFile(10);
    for (const name of ['', '.', '..', '../etc/passwd', 'a/b', 'a\\b', 'nul\u0000x', 'bell\u0007', 'esc\u001b[31m', 'x'.repeat(256), 'é'.repeat(128)]) {
      expect(await offer(ann, '*', file, name), JSON.stringify(name)).toMatchObject({ type: 'error', code: 'bad_file' });
    }
    expect(await offer(ann, '*', file, 'é'.repeat(127))).toMatchObject({ type: 'file_offered' });
  });

  it('drops a file whose sha256 lies, and the receiver that accepted gets file_failed', async () => {
    const ann = await user('ann');
    const bob = await user('bob');
    const file = randomFile(3 * chunkBytes);
    const offered = await offer(ann, `@${nickOf(bob)}`, { bytes: file.bytes, sha256: sha256(Buffer.from('something else')) });
    const id = offered.file as string;
    bob.send({ type: 'file_accept', file: id });
    await ann.next('file_accepted');
    sendChunks(ann, id, file);
    expect(await ann.request({ type: 'file_end', file: id })).toMatchObject({ type: 'error', code: 'bad_file' });
    const got = await collect(bob, id);
    expect(got.end).toMatchObject({ type: 'file_failed', file: id });
    expect(await bob.request({ type: 'file_accept', file: id })).toMatchObject({ type: 'error', code: 'no_such_file' });
  });

  it('refuses a gap or a repeat in seq with bad_file, and a size that does not match', async () => {
    const ann = await user('ann');
    const bob = await user('bob');
    const file = randomFile(3 * chunkBytes);
    const id = (await offer(ann, `@${nickOf(bob)}`, file)).file as string;
    const data = (seq: number) => file.bytes.subarray(seq * chunkBytes, (seq + 1) * chunkBytes).toString('base64');
    expect(await ann.request({ type: 'file_chunk', file: id, seq: 1, data: data(1) })).toMatchObject({ type: 'error', code: 'bad_file' });
    sendChunks(ann, id, file, 0, 1);
    expect(await ann.request({ type: 'file_chunk', file: id, seq: 0, data: data(0) })).toMatchObject({ type: 'error', code: 'bad_file' });
    sendChunks(ann, id, file, 1, 2);
    expect(await ann.request({ type: 'file_end', file: id })).toMatchObject({ type: 'error', code: 'bad_file', message: expect.stringContaining('bytes came') });
    expect(await ann.request({ type: 'file_chunk', file: id, seq: 2, data: data(2) })).toMatchObject({ type: 'error', code: 'no_such_file' });
  });

  it('drops an upload that sends more bytes than it offered', async () => {
    const ann = await user('ann');
    const file = randomFile(chunkBytes);
    const id = (await offer(ann, '*', { bytes: file.bytes.subarray(0, 10), sha256: file.sha256 })).file as string;
    const data = file.bytes.toString('base64');
    expect(await ann.request({ type: 'file_chunk', file: id, seq: 0, data })).toMatchObject({ type: 'error', code: 'bad_file', message: expect.stringContaining('more bytes') });
    expect(await ann.request({ type: 'file_end', file: id })).toMatchObject({ type: 'error', code: 'no_such_file' });
  });

  it('refuses files over --max-file-bytes or the sender\'s quota before any byte is sent', async () => {
    const ann = await user('ann');
    expect(await offer(ann, '*', { bytes: Buffer.alloc(4_000_001), sha256: 'a'.repeat(64) })).toMatchObject({ type: 'error', code: 'file_too_large' });
    const big = { bytes: Buffer.alloc(2_500_000), sha256: 'b'.repeat(64) };
    expect(await offer(ann, '*', big)).toMatchObject({ type: 'file_offered' });
    expect(await offer(ann, '*', big)).toMatchObject({ type: 'error', code: 'file_too_large', message: expect.stringContaining('quota') });
  });

  it('lets only recipients answer: others, and unknown ids, get no_such_file', async () => {
    const ann = await user('ann');
    const bob = await user('bob');
    const eve = await user('eve');
    const id = (await offer(ann, `@${nickOf(bob)}`, randomFile(10))).file as string;
    expect(await eve.request({ type: 'file_accept', file: id })).toMatchObject({ type: 'error', code: 'no_such_file' });
    expect(await eve.request({ type: 'file_reject', file: id })).toMatchObject({ type: 'error', code: 'no_such_file' });
    expect(await bob.request({ type: 'file_accept', file: 'AAAAAAAAAAAAAAAAAAAAAA' })).toMatchObject({ type: 'error', code: 'no_such_file' });
    expect(await ann.request({ type: 'file_accept', file: id })).toMatchObject({ type: 'error', code: 'no_such_file' });
    expect(await offer(ann, '@nobody-here', randomFile(10))).toMatchObject({ type: 'error', code: 'no_such_user' });
    expect(await offer(ann, '#nowhere', randomFile(10))).toMatchObject({ type: 'error', code: 'not_in_room' });
  });

  it('tells text and legacy users that a file was offered and that their client cannot take it', async () => {
    const ann = await user('ann');
    const text = await RawClient.connect(server.tcpPort);
    text.write('carol\n');
    await text.waitFor('Welcome');
    const offered = await offer(ann, '*', randomFile(10), 'song.mp3');
    expect(offered.type).toBe('file_offered');
    await text.waitFor(/offered the file "song\.mp3" \(10 bytes\) to \*; this client cannot receive files/);
    text.write(`!accept ${offered.file as string}\n`);
    await text.waitFor('Error (unknown_type): this connection cannot carry files');
    text.close();
  });
});

describe('file expiry', () => {
  let short: ServerHandle;
  beforeAll(async () => {
    short = await startServer(['--file-ttl-ms', '400']);
  });
  afterAll(async () => {
    await short?.stop();
  });

  it('forgets a file after --file-ttl-ms: answers get no_such_file, the upload too', async () => {
    const ann = await connect(short.tcpPort, 'ann');
    const bob = await connect(short.tcpPort, 'bob');
    const file = randomFile(2 * chunkBytes);
    const offered = await offer(ann, '@bob', file);
    const id = offered.file as string;
    expect(offered.expires).toBeGreaterThan(Date.now() - 1_000);
    await bob.next('file_offer');
    // Polls until past `expires` (a stamp, not a sleep: the server's clock is this machine's).
    await new Promise<void>((resolve) => {
      const check = () => (Date.now() > (offered.expires as number) + 5 ? resolve() : setTimeout(check, 20));
      check();
    });
    expect(await bob.request({ type: 'file_accept', file: id })).toMatchObject({ type: 'error', code: 'no_such_file' });
    const data = file.bytes.subarray(0, chunkBytes).toString('base64');
    expect(await ann.request({ type: 'file_chunk', file: id, seq: 0, data })).toMatchObject({ type: 'error', code: 'no_such_file' });
    ann.close();
    bob.close();
  });
});
