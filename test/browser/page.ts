/// <reference lib="dom" />
// (DOM types: the callbacks given to page.evaluate run in the browser.)
// Real Chromium (Debian's package, driven by playwright-core) against the chat page, and
// the cluster the page is tested on: two gateways on Redis behind the shipped HAProxy config.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { startGateways } from '../cluster/gateways.js';
import { startHaproxy, waitForServerStatus, type Balancer } from '../deploy/haproxy.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import type { ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';

/** Where Debian's `chromium` package puts the browser (.ci/run installs it when missing). */
export const chromiumPath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

export function launchChromium(): Promise<Browser> {
  if (chromiumPath === undefined) throw new Error('chromium is not installed: apt-get install -y chromium (.ci/run does this)');
  // --no-sandbox: CI runs as root, where Chromium refuses its sandbox; a container's small
  // /dev/shm would crash its renderers.
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

export interface Cluster {
  redis: RedisServer;
  gateways: ServerHandle[];
  balancer: Balancer;
  /** The page, through the balancer's WebSocket port. */
  url: string;
  stop(): Promise<void>;
}

export async function startCluster(): Promise<Cluster> {
  const redis = await startRedis();
  const gateways = await startGateways(2, { redis: redis.url });
  const balancer = await startHaproxy({ gateways });
  const stop = async () => {
    await balancer.stop();
    await Promise.all(gateways.map((g) => g.stop()));
    await redis.stop();
  };
  try {
    for (const server of ['gateway1', 'gateway2']) await waitForServerStatus(balancer, server, 'UP');
  } catch (err) {
    await stop();
    throw err;
  }
  return { redis, gateways, balancer, url: `http://${balancer.host}:${balancer.wsPort}/`, stop };
}

export interface Viewport {
  width: number;
  height: number;
}

export const desktop: Viewport = { width: 1280, height: 800 };
export const phone: Viewport = { width: 390, height: 844 };

/** One person's tab: its own browser context, so its own sessionStorage. */
export class ChatPage {
  /** Uncaught errors and console errors (a CSP violation is one): a test expects none. */
  readonly errors: string[] = [];

  private constructor(readonly page: Page) {
    page.on('pageerror', (err) => this.errors.push(`pageerror: ${err.message}`));
    // Chromium logs each refused WebSocket handshake (a balancer with no gateway behind it
    // yet) as an error; the page retries those itself. Anything else is a fault.
    page.on('console', (m) => m.type() === 'error' && !/^WebSocket connection to .* failed/.test(m.text()) && this.errors.push(`console: ${m.text()}`));
  }

  /** Opens the page and joins as `nick`; resolves once the online list shows this user. */
  static async join(browser: Browser, url: string, nick: string, viewport: Viewport = desktop, options: BrowserContextOptions = {}): Promise<ChatPage> {
    const context = await browser.newContext({ viewport, acceptDownloads: true, ...options });
    const chat = new ChatPage(await context.newPage());
    await chat.page.goto(url);
    await chat.page.getByLabel('Nick').fill(nick);
    await chat.page.getByRole('button', { name: 'Join' }).click();
    await chat.online().getByRole('listitem').filter({ hasText: nick }).waitFor();
    return chat;
  }

  online() {
    return this.page.getByRole('list', { name: 'Online' });
  }

  /** The conversation tab whose title is `title` (`Everyone`, `#dev`, `bob`). */
  tab(title: string) {
    return this.page.getByRole('navigation', { name: 'Conversations' }).getByRole('button').filter({ has: this.page.getByText(title, { exact: true }) });
  }

  /** Types a line into the message box and presses Send. */
  async type(line: string): Promise<void> {
    await this.page.getByRole('textbox', { name: 'Message' }).fill(line);
    await this.page.getByRole('button', { name: 'Send', exact: true }).click();
  }

  /** How many messages with exactly this text the page holds, in every conversation. */
  count(text: string): Promise<number> {
    return this.page.evaluate((t) => Array.from(document.querySelectorAll('.msg .text')).filter((e) => e.textContent === t).length, text);
  }

  /** Waits until the open conversation shows a message with exactly this text, and that it was acknowledged (sent) or received. */
  async waitForMessage(text: string, timeoutMs = 10_000): Promise<void> {
    await waitUntil(
      () => this.page.evaluate((t) => Array.from(document.querySelectorAll('[role=log]:not([hidden]) .msg[data-id] .text')).some((e) => e.textContent === t), text),
      `"${text.slice(0, 60)}" in the open conversation`,
      timeoutMs,
      50,
    );
  }

  /** The gateway the page's WebSocket is on (welcome.gateway). */
  gateway(): Promise<string | undefined> {
    return this.page.evaluate(() => document.body.dataset.gateway);
  }

  /** The offline banner (hidden while connected). */
  banner() {
    return this.page.locator('#banner');
  }

  async close(): Promise<void> {
    await this.page.context().close();
  }
}
