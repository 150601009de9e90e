// With --tls-cert/--tls-key the page comes over https and talks over wss to the same port.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { selfSignedCertificate, type Certificate } from '../support/certificate.js';
import { startServer, type ServerHandle } from '../support/server.js';
import { ChatPage, desktop, launchChromium } from './page.js';

let certificate: Certificate;
let server: ServerHandle;
let browser: Browser;

beforeAll(async () => {
  certificate = selfSignedCertificate();
  // Chromium first: where it is missing, that fails before there is a server to leave behind.
  browser = await launchChromium();
  server = await startServer(['--tls-cert', certificate.certPath, '--tls-key', certificate.keyPath]);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  certificate?.remove();
});

it('serves the page over https, and the page chats over wss on the same port', async () => {
  // The certificate is self-signed for the test; the browser is told to take it.
  const ann = await ChatPage.join(browser, `https://127.0.0.1:${server.wsPort}/`, 'ann', desktop, { ignoreHTTPSErrors: true });
  const bob = await ChatPage.join(browser, `https://127.0.0.1:${server.wsPort}/`, 'bob', desktop, { ignoreHTTPSErrors: true });
  await ann.type('over wss');
  await bob.waitForMessage('over wss');
  expect(await ann.page.evaluate(() => location.protocol)).toBe('https:');
  expect([...ann.errors, ...bob.errors]).toEqual([]);
});
