/**
 * The browser chat page, served over plain HTTP on the WebSocket port: every gateway serves
 * it, so the balancer that carries WebSocket traffic carries the page too. The files are what
 * the build put under dist/public (the compiled page and the modules it shares with the
 * console client); they are read when the gateway starts, each compressed form is made
 * once, and every request is answered from memory.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip as gzipCompress } from 'node:zlib';

/** What `/` serves; every other file is served under its path below the public directory. */
const indexPath = '/web/page/index.html';
const publicDir = fileURLToPath(new URL('../public/', import.meta.url));

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * Nothing runs or loads but the page's own files: no inline script or style, no other
 * origin. `connect-src 'self'` covers ws:// and wss:// to this same host and port.
 * Downloads are blob: URLs the page made itself.
 */
const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const securityHeaders = {
  'content-security-policy': contentSecurityPolicy,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

type Encoding = 'br' | 'gzip' | 'identity';

const brotli = promisify(brotliCompress);
const gzip = promisify(gzipCompress);

/**
 * One file, and its compressed forms once made. Compressing runs on libuv's thread pool
 * (brotli at its best quality takes a noticeable while), when first asked for: a gateway
 * starts listening at once, pays nothing if nobody opens the page, its event loop never
 * waits, and each form is made once, however many ask.
 */
class Asset {
  readonly tag: string;
  private readonly compressed = new Map<Exclude<Encoding, 'identity'>, Promise<Buffer | undefined>>();

  constructor(
    readonly type: string,
    readonly raw: Buffer,
  ) {
    this.tag = createHash('sha256').update(raw).digest('base64url').slice(0, 22);
  }

  /** The body in `encoding`; undefined where compressing would not make it smaller. */
  body(encoding: Encoding): Promise<Buffer | undefined> {
    if (encoding === 'identity') return Promise.resolve(this.raw);
    let made = this.compressed.get(encoding);
    if (made === undefined) {
      const compress =
        encoding === 'br'
          ? brotli(this.raw, { params: { [zlib.BROTLI_PARAM_QUALITY]: zlib.BROTLI_MAX_QUALITY, [zlib.BROTLI_PARAM_SIZE_HINT]: this.raw.length } })
          : gzip(this.raw, { level: zlib.Z_BEST_COMPRESSION });
      made = compress.then((out) => (out.length < this.raw.length ? out : undefined));
      this.compressed.set(encoding, made);
    }
    return made;
  }
}

/** Every servable file below `dir`, keyed by its URL path. */
function loadAll(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const relative of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const file = path.join(dir, relative);
    if (!(path.extname(file) in types) || !statSync(file).isFile()) continue;
    assets.set(`/${relative.split(path.sep).join('/')}`, new Asset(types[path.extname(file)]!, readFileSync(file)));
  }
  return assets;
}

/** The best encoding the client accepts (`br;q=0` refuses br), by its q-values, br first on a tie. */
export function chooseEncoding(accept: string | undefined): Encoding {
  const q = new Map<string, number>();
  for (const part of (accept ?? '').split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const value = qParam === undefined ? 1 : Number(qParam.slice(2));
    q.set(name.trim(), Number.isFinite(value) ? value : 0);
  }
  const weight = (e: Encoding) => q.get(e) ?? q.get('*') ?? 0;
  let best: Encoding = 'identity';
  for (const e of ['br', 'gzip'] as const) {
    if (weight(e) > 0 && (best === 'identity' || weight(e) > weight(best))) best = e;
  }
  return best;
}

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** The request handler for the WebSocket port's plain HTTP: the page's files, GET and HEAD only. */
export function pageHandler(dir = publicDir): RequestHandler {
  let assets: Map<string, Asset>;
  try {
    assets = loadAll(dir);
  } catch (err) {
    throw new Error(`the browser page is missing from ${dir} (${(err as Error).message}); run npm run build`);
  }
  if (!assets.has(indexPath)) throw new Error(`the browser page is missing ${indexPath} in ${dir}; run npm run build`);
  return (req, res) => {
    const urlPath = (req.url ?? '/').split('?')[0]!;
    const asset = assets.get(urlPath === '/' ? indexPath : urlPath);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...securityHeaders, allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('only GET and HEAD here\n');
    } else if (asset === undefined) {
      res.writeHead(404, { ...securityHeaders, 'content-type': 'text/plain' }).end('not found\n');
    } else {
      const wanted = chooseEncoding(req.headers['accept-encoding']);
      asset.body(wanted).then(
        (compressed) => send(req, res, asset, compressed === undefined ? 'identity' : wanted, compressed ?? asset.raw),
        () => send(req, res, asset, 'identity', asset.raw),
      );
    }
  };
}

function send(req: http.IncomingMessage, res: http.ServerResponse, asset: Asset, encoding: Encoding, body: Buffer): void {
  // One tag per representation: a gzip body is not the same bytes as the br one.
  const etag = `"${asset.tag}-${encoding}"`;
  const headers: http.OutgoingHttpHeaders = {
    ...securityHeaders,
    'content-type': asset.type,
    // The URLs carry no version, so every use revalidates; an unchanged file costs a 304.
    'cache-control': 'no-cache',
    etag,
    vary: 'Accept-Encoding',
    ...(encoding === 'identity' ? {} : { 'content-encoding': encoding }),
  };
  const match = req.headers['if-none-match'];
  if (match !== undefined && (match.trim() === '*' || match.split(',').some((t) => t.trim().replace(/^W\//, '') === etag))) {
    res.writeHead(304, headers).end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
}
