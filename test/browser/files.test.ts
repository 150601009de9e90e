// Files through the chat page in real Chromium: from a browser to the console client and
// back, through two gateways behind HAProxy, with the sha256 of what arrived equal to what
// was sent.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chorus, killAllChorus } from '../support/chorus.js';
import { waitUntil } from '../support/wait.js';
import { ChatPage, launchChromium, startCluster, type Cluster } from './page.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('files through the chat page', () => {
  let cluster: Cluster;
  let browser: Browser;
  let ann: ChatPage;
  let carl: Chorus;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'chorus-page-files-'));
    // Chromium first: where it is missing, that fails before there is a cluster to leave behind.
    browser = await launchChromium();
    cluster = await startCluster();
    ann = await ChatPage.join(browser, cluster.url, 'ann');
    carl = new Chorus(['--port', String(cluster.balancer.tcpPort), '--nick', 'carl', '--downloads', path.join(dir, 'downloads')]);
    await carl.waitFor('Welcome, carl!');
    // Open the private conversation with carl from the online list: files go to the open conversation.
    await ann.online().getByRole('button', { name: 'carl' }).click();
    await ann.tab('carl').waitFor();
  });

  afterAll(async () => {
    killAllChorus();
    await browser?.close();
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('sends a file from the page to the console client, which keeps it with the same sha256', async () => {
    // Over several 48 KiB chunks, and not a multiple of the chunk size.
    const bytes = randomBytes(300 * 1024 + 123);
    await ann.page.getByLabel('Attach a file').setInputFiles({ name: 'from-ann.bin', mimeType: 'application/octet-stream', buffer: bytes });
    const card = ann.page.locator('.file[data-file]').filter({ hasText: 'from-ann.bin' });
    await card.waitFor();
    const file = await card.getAttribute('data-file');
    expect(file).toBeTruthy();
    // The page learns the id from file_offered; carl's offer crosses the cluster after it,
    // and an accept before the offer would save the file under its id, not its name.
    await carl.waitFor(`offers you the file "from-ann.bin"`);
    carl.type(`!accept ${file}`);
    const saved = path.join(dir, 'downloads', 'from-ann.bin');
    await waitUntil(() => existsSync(saved), `${saved} to be kept`, 30_000);
    expect(sha256(readFileSync(saved))).toBe(sha256(bytes));
    await card.getByText('carl accepted it').waitFor();
    // The upload's progress bar went all the way.
    expect(await card.locator('progress').evaluate((e) => (e as HTMLProgressElement).value === (e as HTMLProgressElement).max)).toBe(true);
  });

  it('receives a file from the console client: Accept, progress, saved once the sha256 matches', async () => {
    const bytes = randomBytes(200 * 1024 + 7);
    const source = path.join(dir, 'from-carl.bin');
    writeFileSync(source, bytes);
    carl.type(`!send ann ${source}`);
    const card = ann.page.locator('.file[data-file]').filter({ hasText: 'from-carl.bin' });
    await card.getByRole('button', { name: 'Reject' }).waitFor();
    const download = ann.page.waitForEvent('download', { timeout: 30_000 });
    await card.getByRole('button', { name: 'Accept' }).click();
    const done = await download;
    expect(done.suggestedFilename()).toBe('from-carl.bin');
    expect(sha256(readFileSync(await done.path()))).toBe(sha256(bytes));
    await card.getByText('received, sha256 checked').waitFor();
    expect(ann.errors).toEqual([]);
  });
});
