// The console client's receiving side, fed frames in the orders a cluster can deliver them.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileTransfers, type FileHost } from '../../src/cli/files.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-transfers-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A session that records what the transfers print and send. */
function session(): FileHost & { printed: string[]; sent: Record<string, unknown>[] } {
  let ref = 0;
  const printed: string[] = [];
  const sent: Record<string, unknown>[] = [];
  return {
    printed,
    sent,
    ctx: { self: 'carl', color: false, timestamps: false },
    interactive: true,
    columns: 80,
    print: (line) => void printed.push(line),
    status: () => {},
    send: (frame) => (sent.push(frame), true),
    ask: () => Promise.resolve(undefined),
    nextRef: () => `r${++ref}`,
    buffered: () => 0,
  };
}

describe('receiving a file in the console client', () => {
  it('keeps the sender\'s name when the offer arrives after an accept by id', async () => {
    const host = session();
    const transfers = new FileTransfers(host, dir);
    const bytes = Buffer.from('bytes that came before their offer');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await transfers.run({ kind: 'file', action: 'accept', file: 'f1' });
    expect(host.sent).toEqual([{ type: 'file_accept', file: 'f1', ref: 'r1' }]);
    transfers.onFrame({ type: 'file_offer', file: 'f1', from: 'ann', to: '@carl', name: 'notes.txt', size: bytes.length, sha256, expires: Date.now() + 60_000 });
    // Already accepted: no second invitation to accept it.
    expect(host.printed.join('\n')).not.toContain('!accept');
    transfers.onFrame({ type: 'file_chunk', file: 'f1', seq: 0, data: bytes.toString('base64') });
    transfers.onFrame({ type: 'file_end', file: 'f1', size: bytes.length, sha256 });
    expect(fs.readFileSync(path.join(dir, 'notes.txt'))).toEqual(bytes);
    expect(host.printed.at(-1)).toMatch(/saved .*notes\.txt/);
  });
});
