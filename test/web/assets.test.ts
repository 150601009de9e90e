// The chat page as HTTP serves it on the WebSocket port of a real chorus-server: headers,
// compression, caching, refusals, and the WebSocket upgrade beside it.
import http from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../support/client.js';
import { startServer, type ServerHandle } from '../support/server.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

let server: ServerHandle;

beforeAll(async () => {
  server = await startServer();
});

afterAll(async () => {
  await server?.stop();
});

/** One raw HTTP request: no decompression, no redirects, so the test sees what was sent. */
function request(path: string, headers: http.OutgoingHttpHeaders = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: server.host, port: server.wsPort, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

function decoded(r: Reply): string {
  const encoding = r.headers['content-encoding'];
  if (encoding === 'br') return brotliDecompressSync(r.body).toString('utf8');
  if (encoding === 'gzip') return gunzipSync(r.body).toString('utf8');
  return r.body.toString('utf8');
}

/** The page's own module graph, from main.js through every static import. */
async function moduleGraph(): Promise<Map<string, Reply>> {
  const seen = new Map<string, Reply>();
  const visit = async (path: string): Promise<void> => {
    if (seen.has(path)) return;
    const reply = await request(path, { 'accept-encoding': 'br' });
    seen.set(path, reply);
    if (reply.status !== 200) return;
    for (const [, spec] of decoded(reply).matchAll(/\bfrom\s+'([^']+)'/g)) {
      await visit(new URL(spec!, `http://page${path}`).pathname);
    }
  };
  await visit('/web/page/main.js');
  return seen;
}

describe('the chat page on the WebSocket port', () => {
  it('serves / as HTML with a strict Content-Security-Policy and no inline script or style', async () => {
    const r = await request('/');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = String(r.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['x-frame-options']).toBe('DENY');
    const html = decoded(r);
    const scripts = [...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [tag, body] of scripts) {
      expect(tag).toMatch(/\bsrc="\/[^"]+"/);
      expect(body!.trim()).toBe('');
    }
    expect(html).not.toMatch(/<style\b|\sstyle="|\son\w+="/);
  });

  it('sends brotli or gzip as Accept-Encoding asks, and the same bytes either way', async () => {
    const plain = await request('/web/page/main.js');
    const br = await request('/web/page/main.js', { 'accept-encoding': 'gzip, deflate, br' });
    const gz = await request('/web/page/main.js', { 'accept-encoding': 'gzip' });
    const noBr = await request('/web/page/main.js', { 'accept-encoding': 'br;q=0, gzip;q=0.5' });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(br.headers['content-encoding']).toBe('br');
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(noBr.headers['content-encoding']).toBe('gzip');
    expect(br.body.length).toBeLessThan(plain.body.length);
    expect(decoded(br)).toBe(plain.body.toString('utf8'));
    expect(decoded(gz)).toBe(plain.body.toString('utf8'));
    expect(br.headers.vary).toBe('Accept-Encoding');
    expect(plain.headers['content-type']).toBe('text/javascript; charset=utf-8');
  });

  it('revalidates with an ETag per encoding: an unchanged file costs a 304', async () => {
    const first = await request('/web/page/style.css', { 'accept-encoding': 'br' });
    expect(first.headers['cache-control']).toBe('no-cache');
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^".+"$/);
    const again = await request('/web/page/style.css', { 'accept-encoding': 'br', 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    const otherEncoding = await request('/web/page/style.css', { 'accept-encoding': 'gzip', 'if-none-match': etag });
    expect(otherEncoding.status).toBe(200);
    expect(otherEncoding.headers.etag).not.toBe(etag);
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const get = await request('/', { 'accept-encoding': 'gzip' });
    const head = await request('/', { 'accept-encoding': 'gzip' }, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(get.body.length));
    expect(head.headers.etag).toBe(get.headers.etag);
  });

  it('refuses unknown paths with 404 and other methods with 405', async () => {
    for (const path of ['/nope', '/web/page/', '/../package.json', '/web/page/main.ts', '/server/main.js', '/%2e%2e/package.json']) {
      expect((await request(path)).status, path).toBe(404);
    }
    const post = await request('/', {}, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect((await request('/web/page/main.js', {}, 'DELETE')).status).toBe(405);
  });

  it('serves every module the page imports, a few tens of KiB in all once compressed', async () => {
    const graph = await moduleGraph();
    expect([...graph.keys()]).toContain('/protocol/commands.js');
    for (const [path, reply] of graph) {
      expect(reply.status, path).toBe(200);
      expect(reply.headers['content-type'], path).toBe('text/javascript; charset=utf-8');
    }
    const others = await Promise.all(['/', '/web/page/style.css', '/web/page/icon.svg'].map((p) => request(p, { 'accept-encoding': 'br' })));
    const total = [...graph.values(), ...others].reduce((n, r) => n + r.body.length, 0);
    expect(total).toBeLessThan(40 * 1024);
  });

  it('still upgrades WebSocket connections, on any path', async () => {
    const client = await TestClient.ws(server.wsPort);
    expect((await client.hello('pageann')).type).toBe('welcome');
    client.close();
    const atRoot = new (await import('ws')).WebSocket(`ws://${server.host}:${server.wsPort}/`);
    const welcome = await new Promise<Record<string, unknown>>((resolve, reject) => {
      atRoot.on('open', () => atRoot.send(JSON.stringify({ type: 'hello', nick: 'pagebob' })));
      atRoot.on('message', (data) => resolve(JSON.parse(String(data)) as Record<string, unknown>));
      atRoot.on('error', reject);
    });
    expect(welcome.type).toBe('welcome');
    atRoot.terminate();
  });
});
