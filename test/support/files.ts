// File transfer helpers for tests: random files, an uploader and a downloader speaking the frames.
import { createHash, randomBytes } from 'node:crypto';
import type { Frame, TestClient } from './client.js';
import { waitUntil } from './wait.js';

export const chunkBytes = 48 * 1024;

export interface TestFile {
  readonly bytes: Buffer;
  readonly sha256: string;
}

export function randomFile(size: number): TestFile {
  const bytes = randomBytes(size);
  return { bytes, sha256: sha256(bytes) };
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Offers the file; resolves with the file_offered reply (or the error). */
export function offer(client: TestClient, to: string, file: TestFile, name = 'data.bin', extra: Frame = {}): Promise<Frame> {
  return client.request({ type: 'file_offer', to, name, size: file.bytes.length, sha256: file.sha256, ...extra });
}

/** Sends chunks `from` to `to` (exclusive) of the file. */
export function sendChunks(client: TestClient, id: string, file: TestFile, from = 0, to = Math.ceil(file.bytes.length / chunkBytes)): void {
  for (let seq = from; seq < to; seq++) {
    const data = file.bytes.subarray(seq * chunkBytes, (seq + 1) * chunkBytes).toString('base64');
    client.send({ type: 'file_chunk', file: id, seq, data });
  }
}

/** Offers, uploads every chunk and ends; resolves with the id once file_uploaded came. */
export async function upload(client: TestClient, to: string, file: TestFile): Promise<string> {
  const offered = await offer(client, to, file);
  if (offered.type !== 'file_offered') throw new Error(`offer refused: ${JSON.stringify(offered)}`);
  const id = offered.file as string;
  sendChunks(client, id, file);
  client.send({ type: 'file_end', file: id });
  await client.next('file_uploaded', (f) => f.file === id, 30_000);
  return id;
}

/**
 * Waits for the file's file_end (or file_failed) among the frames the client received since
 * index `since`, checks that the chunks before it came in order from `fromSeq`, and resolves
 * with their bytes and the closing frame.
 */
export async function collect(client: TestClient, id: string, opts: { since?: number; fromSeq?: number; timeoutMs?: number } = {}): Promise<{ bytes: Buffer; end: Frame }> {
  const since = opts.since ?? 0;
  const ours = () => client.received.slice(since).filter((f) => f.file === id && ['file_chunk', 'file_end', 'file_failed'].includes(f.type as string));
  const end = await waitUntil(() => ours().find((f) => f.type !== 'file_chunk'), `file_end of ${id}`, opts.timeoutMs ?? 30_000);
  const frames = ours();
  const chunks = frames.slice(0, frames.indexOf(end));
  chunks.forEach((f, i) => {
    if (f.seq !== (opts.fromSeq ?? 0) + i) throw new Error(`chunk ${f.seq as number} came where ${(opts.fromSeq ?? 0) + i} was due`);
  });
  return { bytes: Buffer.concat(chunks.map((f) => Buffer.from(f.data as string, 'base64'))), end };
}
