import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HealthSource {
  /** 200 on /readyz only while this is true. */
  ready(): boolean;
  /** The Prometheus text exposition and its content type. */
  metrics(): Promise<{ body: string; contentType: string }>;
}

/**
 * The operator's port: /metrics, /healthz (the process runs), /readyz (it takes clients).
 * Never behind the public balancer; on its own --metrics-host (loopback by default), so
 * the client-facing --host does not expose it.
 */
export async function startHealthServer(host: string, port: number, source: HealthSource): Promise<{ port: number; server: http.Server }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = source.ready();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
    } else if (path === '/metrics') {
      source.metrics().then(
        ({ body, contentType }) => res.writeHead(200, { 'content-type': contentType }).end(body),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { port: (server.address() as AddressInfo).port, server };
}
