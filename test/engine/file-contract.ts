// The file store every engine owes the gateway; run by engineContract on memory and Redis.
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import type { FileOffer } from '../../src/engine/file-store.js';
import type { Engine } from '../../src/engine/types.js';
import { chunkJson } from '../../src/protocol/files.js';
import type { NickKey } from '../../src/protocol/names.js';
import { ChorusError } from '../../src/protocol/errors.js';
import { waitUntil } from '../support/wait.js';

const roomy = { perSender: 1_000_000, total: 10_000_000 };

function offerOf(extra: Partial<FileOffer> = {}): FileOffer {
  return {
    id: randomBytes(16).toString('base64url'),
    from: 'Ann',
    fromKey: 'ann' as NickKey,
    to: '#dev',
    address: '#dev',
    name: 'notes.txt',
    size: 10,
    sha256: 'a'.repeat(64),
    expires: Date.now() + 60_000,
    ...extra,
  };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ChorusError) return err.code;
    throw err;
  }
  return undefined;
}

export function fileStoreCases(make: () => Promise<Engine>): void {
  it('files an offer with its recipients and answers, and reads chunks back in pages', async () => {
    const { files } = await make();
    const offer = offerOf();
    await files.offer(offer, ['bob' as NickKey, 'cy' as NickKey], roomy);
    expect(await files.find(offer.id)).toEqual({ ...offer, state: 'uploading' });
    expect(await files.find('nope')).toBeUndefined();
    expect(await files.isRecipient(offer.id, 'bob' as NickKey)).toBe(true);
    expect(await files.isRecipient(offer.id, 'dan' as NickKey)).toBe(false);
    expect(await files.answer(offer.id, 'bob' as NickKey, 'accept')).toBe(true);
    expect(await files.answer(offer.id, 'bob' as NickKey, 'accept')).toBe(false);
    expect(await files.answer(offer.id, 'bob' as NickKey, 'reject')).toBe(true);
    const chunks = [0, 1, 2].map((seq) => chunkJson(offer.id, seq, Buffer.from(`c${seq}`).toString('base64')));
    for (const [seq, json] of chunks.entries()) expect(await files.append(offer.id, seq, json)).toBe('ok');
    expect(await files.append(offer.id, 5, chunks[0]!)).toBe('gap');
    expect(await files.append(offer.id, 1, chunks[0]!)).toBe('gap');
    const page = await files.read(offer.id, 1, 10);
    expect(page).toMatchObject({ state: 'uploading', stored: 3, chunks: chunks.slice(1) });
    expect(await files.read(offer.id, 0, 2)).toMatchObject({ chunks: chunks.slice(0, 2) });
    expect(await files.seal(offer.id)).toBe(true);
    expect(await files.seal(offer.id)).toBe(false);
    expect(await files.append(offer.id, 3, chunks[0]!)).toBe('gone');
    expect(await files.read(offer.id, 3, 10)).toMatchObject({ state: 'stored', stored: 3, chunks: [] });
  });

  it('refuses offers past the sender\'s or the store\'s quota, and gives dropped bytes back', async () => {
    const { files } = await make();
    const quotas = { perSender: 100, total: 150 };
    const first = offerOf({ size: 80 });
    await files.offer(first, [], quotas);
    expect(await codeOf(files.offer(offerOf({ size: 30 }), [], quotas))).toBe('file_too_large');
    await files.offer(offerOf({ from: 'Bob', fromKey: 'bob' as NickKey, size: 60 }), [], quotas);
    expect(await codeOf(files.offer(offerOf({ from: 'Cy', fromKey: 'cy' as NickKey, size: 20 }), [], quotas))).toBe('file_too_large');
    await files.drop(first.id);
    expect(await files.find(first.id)).toMatchObject({ state: 'failed' });
    expect(await files.read(first.id, 0, 10)).toMatchObject({ state: 'failed', chunks: [] });
    expect(await files.append(first.id, 0, 'x')).toBe('gone');
    await files.offer(offerOf({ size: 90 }), [], quotas);
  });

  it('forgets a file when it expires, and its bytes stop counting', async () => {
    const { files } = await make();
    const quotas = { perSender: 100, total: 100 };
    const offer = offerOf({ size: 100, expires: Date.now() + 300 });
    await files.offer(offer, ['bob' as NickKey], quotas);
    await files.append(offer.id, 0, chunkJson(offer.id, 0, 'AAAA'));
    await waitUntil(async () => (await files.find(offer.id)) === undefined, 'the file to expire', 5_000);
    expect(await files.read(offer.id, 0, 10)).toBeUndefined();
    expect(await files.answer(offer.id, 'bob' as NickKey, 'accept')).toBe(false);
    await files.offer(offerOf({ size: 100 }), [], quotas);
  });
}
