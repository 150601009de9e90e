import { availableParallelism } from 'node:os';

/**
 * Every server setting, in one table: `--help` prints it, flags override `CHORUS_*`
 * variables, which override the defaults. No other file reads process.env.
 */
type Kind = 'string' | 'port' | 'int' | 'list' | 'level';

interface Option {
  flag: string;
  kind: Kind;
  default: string;
  help: string;
}

const options = {
  host: { flag: 'host', kind: 'string', default: '0.0.0.0', help: 'address to listen on (all ports)' },
  tcpPort: { flag: 'tcp-port', kind: 'port', default: '50445', help: 'TCP port: JSON lines, text mode and legacy framed clients (0 = any free port)' },
  wsPort: { flag: 'ws-port', kind: 'port', default: '50446', help: 'WebSocket port (0 = any free port)' },
  metricsPort: { flag: 'metrics-port', kind: 'port', default: '9464', help: 'HTTP port for /metrics, /healthz, /readyz (0 = any free port)' },
  redis: { flag: 'redis', kind: 'string', default: '', help: 'standalone Redis URL, e.g. redis://127.0.0.1:6379 (none = in-memory engine)' },
  redisCluster: { flag: 'redis-cluster', kind: 'list', default: '', help: 'Redis Cluster seed nodes host:port,host:port,...' },
  keyPrefix: { flag: 'key-prefix', kind: 'string', default: 'chorus:', help: 'prefix of every Redis key and channel' },
  workers: { flag: 'workers', kind: 'int', default: '', help: 'gateway worker processes (default: one per core with Redis, 1 without)' },
  gatewayId: { flag: 'gateway-id', kind: 'string', default: '', help: 'this gateway\'s id in the cluster; workers add -<n> (default: host-pid of each worker)' },
  history: { flag: 'history', kind: 'int', default: '1000', help: 'messages kept per target (0 = no history, pure pub/sub)' },
  tlsCert: { flag: 'tls-cert', kind: 'string', default: '', help: 'PEM certificate: TCP becomes TLS and WebSocket becomes WSS' },
  tlsKey: { flag: 'tls-key', kind: 'string', default: '', help: 'PEM private key for --tls-cert' },
  logLevel: { flag: 'log-level', kind: 'level', default: 'info', help: 'trace, debug, info, warn, error or silent (message text only at debug)' },
  maxFrameBytes: { flag: 'max-frame-bytes', kind: 'int', default: '65536', help: 'largest inbound frame; bigger ones close the connection' },
  maxOutboundBytes: { flag: 'max-outbound-bytes', kind: 'int', default: '1048576', help: 'unsent bytes a client may leave queued before it is cut off as a slow consumer' },
  rate: { flag: 'rate', kind: 'int', default: '20', help: 'frames per second each connection may send, on average' },
  burst: { flag: 'burst', kind: 'int', default: '40', help: 'frames a connection may send at once above --rate' },
  idleTimeoutMs: { flag: 'idle-timeout-ms', kind: 'int', default: '90000', help: 'close JSON and WebSocket connections silent for this long (WebSocket is pinged)' },
  resumeGraceMs: { flag: 'resume-grace-ms', kind: 'int', default: '30000', help: 'how long a dropped user\'s nick and rooms wait for a resume' },
  maxConnections: { flag: 'max-connections', kind: 'int', default: '10000', help: 'connections per worker; more get too_many_connections' },
  leaseMs: { flag: 'lease-ms', kind: 'int', default: '3000', help: 'gateway lease in Redis: a gateway silent this long is presumed dead' },
  drainMs: { flag: 'drain-ms', kind: 'int', default: '5000', help: 'longest wait for clients to take their bye on shutdown' },
  writeDelayMs: { flag: 'write-delay-ms', kind: 'int', default: '0', help: 'fanned-out messages wait up to this long to share one socket write (0 = one write per event-loop turn)' },
} satisfies Record<string, Option>;

type Key = keyof typeof options;

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Config {
  host: string;
  tcpPort: number;
  wsPort: number;
  metricsPort: number;
  redis: string;
  redisCluster: string[];
  keyPrefix: string;
  workers: number;
  gatewayId: string;
  history: number;
  tlsCert: string;
  tlsKey: string;
  logLevel: LogLevel;
  maxFrameBytes: number;
  maxOutboundBytes: number;
  rate: number;
  burst: number;
  idleTimeoutMs: number;
  resumeGraceMs: number;
  maxConnections: number;
  leaseMs: number;
  drainMs: number;
  writeDelayMs: number;
}

export class ConfigError extends Error {}

const envName = (flag: string) => `CHORUS_${flag.toUpperCase().replace(/-/g, '_')}`;
const levels = ['trace', 'debug', 'info', 'warn', 'error', 'silent'];

function convert(key: Key, raw: string): unknown {
  const opt: Option = options[key];
  switch (opt.kind) {
    case 'string':
      return raw;
    case 'list':
      return raw.split(',').map((s) => s.trim()).filter(Boolean);
    case 'level':
      if (!levels.includes(raw)) throw new ConfigError(`--${opt.flag} must be one of ${levels.join(', ')}`);
      return raw;
    case 'port':
    case 'int': {
      const n = Number(raw);
      const max = opt.kind === 'port' ? 65535 : Number.MAX_SAFE_INTEGER;
      if (raw === '' || !Number.isInteger(n) || n < 0 || n > max) {
        throw new ConfigError(`--${opt.flag} must be ${opt.kind === 'port' ? 'a port number' : 'a whole number'}, not "${raw}"`);
      }
      return n;
    }
  }
}

/** Flags win over CHORUS_* variables, which win over defaults. Throws ConfigError with a message for people. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): Readonly<Config> {
  const byFlag = new Map(Object.entries(options).map(([k, o]) => [o.flag, k as Key]));
  const given = new Map<Key, string>();
  for (const [k, o] of Object.entries(options)) {
    const v = env[envName(o.flag)];
    if (v !== undefined && v !== '') given.set(k as Key, v);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const key = m ? byFlag.get(m[1]!) : undefined;
    if (!m || !key) throw new ConfigError(`unknown option ${arg}; see --help`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new ConfigError(`--${m[1]} needs a value`);
    given.set(key, value);
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(options) as Key[]) {
    const raw = given.get(key);
    // An empty default means "worked out below" (workers).
    out[key] = raw === undefined && options[key].default === '' && options[key].kind === 'int' ? 0 : convert(key, raw ?? options[key].default);
  }
  const config = out as unknown as Config;
  const clustered = config.redis !== '' || config.redisCluster.length > 0;
  if (config.redis !== '' && config.redisCluster.length > 0) {
    throw new ConfigError('give --redis or --redis-cluster, not both');
  }
  if (!given.has('workers')) config.workers = clustered ? availableParallelism() : 1;
  if (config.workers < 1) throw new ConfigError('--workers must be at least 1');
  if (!clustered && config.workers > 1) {
    throw new ConfigError('--workers above 1 needs --redis or --redis-cluster: workers share state through Redis');
  }
  if ((config.tlsCert === '') !== (config.tlsKey === '')) throw new ConfigError('--tls-cert and --tls-key go together');
  if (config.rate < 1 || config.burst < 1) throw new ConfigError('--rate and --burst must be at least 1');
  if (config.maxFrameBytes < 1024) throw new ConfigError('--max-frame-bytes must be at least 1024');
  // A delay is latency every reader pays: past a tenth of a second it is no longer a gather.
  if (config.writeDelayMs > 100) throw new ConfigError('--write-delay-ms must be at most 100');
  return Object.freeze(config);
}

export function helpText(): string {
  const rows = Object.values(options).map((o: Option) => {
    const def = o.default === '' ? '' : ` (default: ${o.default})`;
    return `  --${o.flag} <${o.kind === 'list' ? 'list' : 'value'}>`.padEnd(32) + `${o.help}${def}\n${' '.repeat(32)}env ${envName(o.flag)}`;
  });
  return [
    'Usage: chorus-server [options]',
    '',
    'Chorus chat gateway. Without --redis or --redis-cluster it runs one process on the',
    'in-memory engine; with Redis it forks --workers gateway workers that share the ports.',
    '',
    'Options (flag, then CHORUS_* environment variable, then default):',
    ...rows,
    '  --help                        this text',
    '',
  ].join('\n');
}
