// Reading one series out of a gateway's Prometheus text exposition.
import type { ServerHandle } from './server.js';

/** The value of `name{labels}` on the server's /metrics (0 when the series is absent). */
export async function metric(server: ServerHandle, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await server.metrics();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',').filter(Boolean);
    if (want.every((w) => have.includes(w))) return Number(m[3]);
  }
  return 0;
}

/** chorus_disconnects_total for one reason. */
export const disconnects = (server: ServerHandle, reason: string) => metric(server, 'chorus_disconnects_total', { reason });
