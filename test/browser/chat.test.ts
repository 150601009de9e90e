// The chat page in real Chromium, on two gateways sharing Redis behind the shipped HAProxy
// config: two people in browsers and one on the console client talk in public, in private
// and in a room; hostile text stays text; a gateway dies and the page resumes through the
// balancer with nothing lost or doubled. Screenshots go to test-results/browser/.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Chorus, killAllChorus } from '../support/chorus.js';
import { root } from '../deploy/paths.js';
import { ChatPage, launchChromium, phone, startCluster, type Cluster } from './page.js';

const artefacts = path.join(root, 'test-results', 'browser');

let cluster: Cluster;
let browser: Browser;
let ann: ChatPage;
let bob: ChatPage;
let carl: Chorus;

beforeAll(async () => {
  mkdirSync(artefacts, { recursive: true });
  // Chromium first: where it is missing, that fails before there is a cluster to leave behind.
  browser = await launchChromium();
  cluster = await startCluster();
  ann = await ChatPage.join(browser, cluster.url, 'ann');
  bob = await ChatPage.join(browser, cluster.url, 'bob');
  carl = new Chorus(['--port', String(cluster.balancer.tcpPort), '--nick', 'carl', '--reconnect', '30']);
  await carl.waitFor('Welcome, carl!');
  await ann.online().getByRole('listitem').filter({ hasText: 'carl' }).waitFor();
});

afterEach(() => {
  // Taken out as they are checked: one test's fault is not every later test's.
  expect(ann.errors.splice(0)).toEqual([]);
  expect(bob.errors.splice(0)).toEqual([]);
});

afterAll(async () => {
  killAllChorus();
  await browser?.close();
  await cluster?.stop();
});

describe('the chat page in Chromium, two gateways behind HAProxy', () => {
  it('lists who is online and carries public messages between both browsers and the console client', async () => {
    for (const nick of ['ann', 'bob', 'carl']) await bob.online().getByRole('listitem').filter({ hasText: nick }).waitFor();
    await ann.type('hello from ann');
    await ann.waitForMessage('hello from ann'); // acknowledged: it has its id
    await bob.waitForMessage('hello from ann');
    await carl.waitFor('[ann]: hello from ann');
    carl.type('hello from carl');
    await ann.waitForMessage('hello from carl');
    await bob.waitForMessage('hello from carl');
    expect(await ann.count('hello from ann')).toBe(1);
    expect(await bob.count('hello from carl')).toBe(1);
  });

  it('keeps private conversations in their own tab, with an unread count, seen by nobody else', async () => {
    await ann.type('!private carl for carl only');
    await carl.waitFor('[PRIVATE MESSAGE from ann]: for carl only');
    // ann's command opened her conversation with carl; the line is acknowledged there.
    await ann.waitForMessage('for carl only');
    await ann.tab('Everyone').click();

    carl.type('@bob psst bob');
    const fromCarl = bob.tab('carl');
    await fromCarl.waitFor();
    await expect.poll(() => fromCarl.locator('.unread').textContent()).toBe('1');
    await fromCarl.click();
    await bob.waitForMessage('psst bob');
    await expect.poll(() => fromCarl.locator('.unread').isHidden()).toBe(true);
    // Plain text goes to the open conversation: this one is private, to carl.
    await bob.type('hi carl, bob here');
    await carl.waitFor('[PRIVATE MESSAGE from bob]: hi carl, bob here');

    // A barrier on the path ann shares with everyone: once she has it, she had the rest too.
    carl.type('barrier one');
    await ann.waitForMessage('barrier one');
    expect(await ann.count('psst bob')).toBe(0);
    expect(await ann.count('hi carl, bob here')).toBe(0);
    expect(await bob.count('for carl only')).toBe(0);
  });

  it('joins a room with !join, and talks in it from the page and from the console', async () => {
    carl.type('!join #dev');
    await carl.waitFor('[SERVER]: you joined #dev');
    await bob.type('!join #dev');
    await bob.tab('#dev').waitFor();
    await bob.page.getByText('you joined #dev').waitFor();
    await carl.waitFor('* bob joined #dev');
    carl.type('#dev the room works');
    await bob.waitForMessage('the room works');
    await bob.type('bob in the room');
    await carl.waitFor('[#dev bob]: bob in the room');
    carl.type('barrier two');
    await ann.waitForMessage('barrier two');
    expect(await ann.count('the room works')).toBe(0);
    expect(await ann.tab('#dev').count()).toBe(0);
    await bob.page.screenshot({ path: path.join(artefacts, 'desktop.png') });
  });

  it('shows hostile text as text: markup, direction overrides and a 4,000-character line', async () => {
    await ann.tab('Everyone').click();
    await bob.tab('Everyone').click();
    const markup = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold?</b>';
    const rtl = 'invoice\u202Eexe.pdf and \u2067isolated\u2069 and \u202Bembedded';
    const long = `${'0123456789'.repeat(200)}${'x'.repeat(2000)}`;
    expect([...long].length).toBe(4000);
    carl.type(markup, rtl);
    await bob.type(long);
    for (const text of [markup, rtl, long]) await ann.waitForMessage(text);
    const log = ann.page.getByRole('log');
    expect(await log.locator('img, script, b').count()).toBe(0);
    expect(await ann.page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    // The override stays inside its own message: the next line and the nick are unaffected.
    const bidi = await ann.page.evaluate(() => getComputedStyle(document.querySelector('.msg .text')!).unicodeBidi);
    expect(bidi).toBe('isolate');
    // The long line wraps: nothing sticks out of the log sideways.
    const overflow = await log.evaluate((e) => e.scrollWidth - e.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await ann.page.screenshot({ path: path.join(artefacts, 'hostile.png') });
  });

  it('says why a nick is refused, lets the person pick another, and leaves with !bye', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(cluster.url);
      await expect.poll(() => page.getByLabel('Password').getAttribute('type')).toBe('password');
      await page.getByLabel('Nick').fill('Carl'); // carl is online: nicks compare case-folded
      await page.getByRole('button', { name: 'Join' }).click();
      await expect.poll(() => page.getByRole('alert').textContent()).toContain('(nick_taken)');
      const joinAsFrank = async () => {
        await page.getByLabel('Nick').fill('frank');
        await page.getByRole('button', { name: 'Join' }).click();
        await page.getByRole('list', { name: 'Online' }).getByRole('listitem').filter({ hasText: 'frank' }).waitFor();
      };
      await joinAsFrank();
      // !bye leaves for good: back to the form, and the nick is free at once (not held for a resume).
      await page.getByRole('textbox', { name: 'Message' }).fill('!bye');
      await page.getByRole('textbox', { name: 'Message' }).press('Enter');
      await page.getByLabel('Nick').waitFor();
      await joinAsFrank();
    } finally {
      await context.close();
    }
  });

  it('fits a phone-sized screen, and is usable with the keyboard alone', async () => {
    const dora = await ChatPage.join(browser, cluster.url, 'dora', phone);
    try {
      // Keyboard only: Tab from the message box reaches Send; Enter in the box sends.
      const box = dora.page.getByRole('textbox', { name: 'Message' });
      await box.focus();
      await dora.page.keyboard.type('!join #dev');
      await dora.page.keyboard.press('Enter');
      await dora.tab('#dev').waitFor();
      await box.focus();
      await dora.page.keyboard.type('typed on a phone');
      await dora.page.keyboard.press('Tab');
      expect(await dora.page.evaluate(() => document.activeElement?.textContent)).toBe('Send');
      await dora.page.keyboard.press('Enter');
      await carl.waitFor('[#dev dora]: typed on a phone');
      carl.type('#dev hello dora, on the phone');
      await dora.waitForMessage('hello dora, on the phone');
      const sideways = await dora.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(sideways).toBeLessThanOrEqual(0);
      await dora.page.screenshot({ path: path.join(artefacts, 'phone.png') });
      // Dark or light, as the system says.
      const background = () => dora.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      await dora.page.emulateMedia({ colorScheme: 'light' });
      const light = await background();
      await dora.page.emulateMedia({ colorScheme: 'dark' });
      expect(await background()).not.toBe(light);
      await dora.page.screenshot({ path: path.join(artefacts, 'phone-dark.png') });
      expect(dora.errors).toEqual([]);
    } finally {
      await dora.close();
    }
  });

  it('pages back through history: the last 50 on opening a room, then Earlier messages', async () => {
    carl.type('!join #archive');
    await carl.waitFor('[SERVER]: you joined #archive');
    await bob.type('!join #archive');
    await bob.tab('#archive').waitFor();
    carl.type(...Array.from({ length: 60 }, (_, i) => `#archive line ${i + 1}`), '#archive the end');
    // Once bob has the last line, all of them are stored.
    await bob.waitForMessage('the end');
    await bob.tab('Everyone').click();
    const erin = await ChatPage.join(browser, cluster.url, 'erin');
    try {
      await erin.type('!join #archive');
      await erin.tab('#archive').waitFor();
      await erin.waitForMessage('the end');
      const shown = () => erin.page.evaluate(() => Array.from(document.querySelectorAll('[role=log]:not([hidden]) .msg .text'), (e) => e.textContent));
      await expect.poll(async () => (await shown()).length).toBe(50);
      expect((await shown())[0]).toBe('line 12');
      await erin.page.getByRole('button', { name: 'Earlier messages' }).click();
      await expect.poll(async () => (await shown()).length).toBe(61);
      expect(await shown()).toEqual([...Array.from({ length: 60 }, (_, i) => `line ${i + 1}`), 'the end']);
      // Fewer than a page came back: there is nothing older.
      await expect.poll(() => erin.page.getByRole('button', { name: 'Earlier messages' }).isHidden()).toBe(true);
      expect(erin.errors).toEqual([]);
    } finally {
      await erin.close();
    }
  });

  it('resumes through the balancer when its gateway dies: nothing lost, nothing doubled', async () => {
    const victimId = await ann.gateway();
    // startGateways names them g1, g2 in order; a worker adds its number (g2-1).
    const victim = cluster.gateways[['g1', 'g2'].indexOf(victimId?.split('-')[0] ?? '')];
    if (victim === undefined) throw new Error(`the page is on an unknown gateway: ${victimId}`);
    await ann.tab('Everyone').click();
    // ann's browser stays off the network until the others have talked: her retries fail
    // meanwhile, so what she types is typed offline, and what they say she must get by resuming.
    await ann.page.context().setOffline(true);
    await victim.kill();
    await expect.poll(() => ann.banner().isVisible()).toBe(true);
    expect(await ann.banner().textContent()).toContain('Offline: reconnecting');
    await ann.type('typed while offline');
    expect(await ann.page.locator('.msg.pending .text').filter({ hasText: 'typed while offline' }).count()).toBe(1);
    // The others talk; their connections may be resuming too, their lines wait and go once.
    await bob.type('bob during the outage');
    carl.type('carl during the outage');
    await bob.waitForMessage('carl during the outage', 20_000);
    await carl.waitFor('[bob]: bob during the outage', 1, 20_000);
    await ann.page.context().setOffline(false);

    await expect.poll(() => ann.gateway(), { timeout: 20_000 }).not.toBe(victimId);
    await expect.poll(() => ann.banner().isHidden(), { timeout: 20_000 }).toBe(true);
    await ann.waitForMessage('typed while offline', 20_000);
    await ann.waitForMessage('bob during the outage', 20_000);
    await ann.waitForMessage('carl during the outage', 20_000);
    await bob.waitForMessage('typed while offline', 20_000);
    await carl.waitFor('[ann]: typed while offline', 1, 20_000);

    // A reload resumes from sessionStorage: the conversation comes back, once.
    await ann.page.reload();
    await expect.poll(() => ann.banner().isHidden(), { timeout: 20_000 }).toBe(true);
    carl.type('after the reload');
    await ann.waitForMessage('after the reload', 20_000);
    await bob.waitForMessage('after the reload', 20_000);

    for (const text of ['hello from ann', 'hello from carl', 'typed while offline', 'bob during the outage', 'carl during the outage', 'after the reload']) {
      expect(await ann.count(text), `ann: ${text}`).toBe(1);
    }
    for (const text of ['typed while offline', 'carl during the outage', 'after the reload']) {
      expect(await bob.count(text), `bob: ${text}`).toBe(1);
    }
    expect(carl.count('[ann]: typed while offline')).toBe(1);
    expect(carl.count('[bob]: bob during the outage')).toBe(1);
  });
});
