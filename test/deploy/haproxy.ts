import path from 'node:path';
import { canConnect, freePorts } from '../support/ports.js';
import { Child } from '../support/process.js';
import { waitUntil } from '../support/wait.js';
import { deployDir } from './paths.js';

/** Runs the shipped deploy/haproxy.cfg on free loopback ports in front of test gateways. */

export const haproxyBin = '/usr/sbin/haproxy';
export const haproxyCfg = path.join(deployDir, 'haproxy.cfg');
/** The cfg has exactly this many server slots (the compose stack's gateway1..3). */
export const gatewaySlots = 3;

export interface GatewayAddress {
  host: string;
  tcpPort: number;
  wsPort: number;
  metricsPort: number;
}

export interface Balancer {
  host: string;
  tcpPort: number;
  wsPort: number;
  statsPort: number;
  /** Every server row of the stats page: which gateway is UP, DOWN or MAINT in which backend. */
  servers(): Promise<ServerState[]>;
  stop(): Promise<void>;
}

export interface ServerState {
  backend: string;
  /** gateway1..gateway3, in the order of the gateways given. */
  server: string;
  /** HAProxy's status: UP, DOWN, MAINT, "UP 1/2" while changing, ... */
  status: string;
}

/**
 * The environment that points the cfg at `gateways` and binds it on `ports`. Unused slots
 * repeat the first gateway's address but carry the `disabled` keyword, so HAProxy never
 * sends a client or a health check there.
 */
export function haproxyEnv(gateways: GatewayAddress[], listen: { host: string; tcpPort: number; wsPort: number; statsPort: number }): Record<string, string> {
  if (gateways.length < 1 || gateways.length > gatewaySlots) {
    throw new Error(`deploy/haproxy.cfg has ${gatewaySlots} gateway slots; got ${gateways.length} gateways`);
  }
  const env: Record<string, string> = {
    CHORUS_LB_HOST: listen.host,
    CHORUS_LB_TCP_PORT: String(listen.tcpPort),
    CHORUS_LB_WS_PORT: String(listen.wsPort),
    CHORUS_LB_STATS_PORT: String(listen.statsPort),
    // Never used (every server address is an IP), but keep even the resolver on loopback.
    CHORUS_LB_DNS: '127.0.0.1:53',
  };
  for (let n = 1; n <= gatewaySlots; n++) {
    const gateway = gateways[n - 1] ?? gateways[0]!;
    env[`CHORUS_GATEWAY${n}_HOST`] = gateway.host;
    env[`CHORUS_GATEWAY${n}_TCP_PORT`] = String(gateway.tcpPort);
    env[`CHORUS_GATEWAY${n}_WS_PORT`] = String(gateway.wsPort);
    env[`CHORUS_GATEWAY${n}_METRICS_PORT`] = String(gateway.metricsPort);
    env[`CHORUS_GATEWAY${n}_OPTS`] = n <= gateways.length ? '' : 'disabled';
  }
  return env;
}

export async function startHaproxy(options: { gateways: GatewayAddress[]; host?: string; startTimeoutMs?: number }): Promise<Balancer> {
  const host = options.host ?? '127.0.0.1';
  const [tcpPort, wsPort, statsPort] = (await freePorts(3)) as [number, number, number];
  const env = { ...process.env, ...haproxyEnv(options.gateways, { host, tcpPort, wsPort, statsPort }) };
  // -db: stay in the foreground, so that the child we hold is HAProxy itself.
  const child = new Child('haproxy', haproxyBin, ['-db', '-f', haproxyCfg], { env });
  try {
    for (const port of [tcpPort, wsPort, statsPort]) {
      await waitUntil(async () => {
        child.assertRunning();
        return canConnect(port, host);
      }, `${host}:${port} to accept connections`, options.startTimeoutMs ?? 10_000, 100);
    }
  } catch (err) {
    await child.stop();
    throw err;
  }
  return {
    host,
    tcpPort,
    wsPort,
    statsPort,
    servers: () => readServers(host, statsPort),
    stop: async () => {
      await child.stop();
    },
  };
}

/** The stats page's CSV export: one row per frontend, server and backend. */
async function readServers(host: string, statsPort: number): Promise<ServerState[]> {
  const res = await fetch(`http://${host}:${statsPort}/stats;csv`);
  if (!res.ok) throw new Error(`stats page answered ${res.status}`);
  const [header, ...rows] = (await res.text()).trim().split('\n');
  const columns = header!.replace(/^# /, '').split(',');
  const col = (name: string) => columns.indexOf(name);
  return rows
    .map((row) => row.split(','))
    .filter((cells) => cells[col('svname')] !== 'FRONTEND' && cells[col('svname')] !== 'BACKEND')
    .map((cells) => ({ backend: cells[col('pxname')]!, server: cells[col('svname')]!, status: cells[col('status')]! }));
}

/** Waits until HAProxy reports `server` with exactly `status` in every backend. */
export async function waitForServerStatus(balancer: Balancer, server: string, status: string, timeoutMs = 10_000): Promise<void> {
  // A tracking server reads "MAINT (via gateways_tcp/gateway3)": the state is the first part.
  const state = (s: ServerState) => s.status.replace(/ \(via .*\)$/, '');
  await waitUntil(async () => {
    const rows = (await balancer.servers().catch(() => [])).filter((s) => s.server === server);
    return rows.length > 0 && rows.every((s) => state(s) === status);
  }, `${server} to be ${status} in every backend`, timeoutMs, 100);
}
