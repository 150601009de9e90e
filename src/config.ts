import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';

/**
 * Every server setting, in one table: `--help` prints it, flags override `CHORUS_*`
 * variables, which override the defaults. No other file reads process.env.
 */
type Kind = 'string' | 'port' | 'int' | 'list' | 'level' | 'bool';

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
  metricsHost: { flag: 'metrics-host', kind: 'string', default: '127.0.0.1', help: 'address /metrics, /healthz and /readyz listen on: loopback unless a scraper or a balancer\'s health check comes from elsewhere' },
  metricsPort: { flag: 'metrics-port', kind: 'port', default: '9464', help: 'HTTP port for /metrics, /healthz, /readyz (0 = any free port)' },
  redis: { flag: 'redis', kind: 'string', default: '', help: 'standalone Redis URL, e.g. redis://127.0.0.1:6379 (none = in-memory engine)' },
  redisCluster: { flag: 'redis-cluster', kind: 'list', default: '', help: 'Redis Cluster seed nodes host:port,host:port,...' },
  redisSentinel: { flag: 'redis-sentinel', kind: 'list', default: '', help: 'Redis Sentinel nodes host:port,host:port,...; the gateways follow the master they name (with --redis-master)' },
  redisMaster: { flag: 'redis-master', kind: 'string', default: '', help: 'the master name the sentinels monitor (with --redis-sentinel)' },
  ackReplicas: { flag: 'ack-replicas', kind: 'int', default: '0', help: 'replicas that must hold a message before it is acked (Redis WAIT); fewer within 1 s is error unavailable (0 = ack once the master has it)' },
  keyPrefix: { flag: 'key-prefix', kind: 'string', default: 'chorus:', help: 'prefix of every Redis key and channel' },
  workers: { flag: 'workers', kind: 'int', default: '', help: 'gateway worker processes (default: one per core with Redis, 1 without)' },
  gatewayId: { flag: 'gateway-id', kind: 'string', default: '', help: 'this gateway\'s id in the cluster; workers add -<n> (default: host-pid of each worker)' },
  history: { flag: 'history', kind: 'int', default: '1000', help: 'messages kept per target (0 = no history, pure pub/sub)' },
  tlsCert: { flag: 'tls-cert', kind: 'string', default: '', help: 'PEM certificate: TCP becomes TLS and WebSocket becomes WSS' },
  tlsKey: { flag: 'tls-key', kind: 'string', default: '', help: 'PEM private key for --tls-cert' },
  logLevel: { flag: 'log-level', kind: 'level', default: 'info', help: 'trace, debug, info, warn, error or silent (message text only at debug)' },
  maxFrameBytes: { flag: 'max-frame-bytes', kind: 'int', default: '131072', help: 'largest inbound frame; bigger ones close the connection (a full file_chunk is about 66 KB)' },
  maxOutboundBytes: { flag: 'max-outbound-bytes', kind: 'int', default: '1048576', help: 'unsent bytes a client may leave queued before it is cut off as a slow consumer' },
  rate: { flag: 'rate', kind: 'int', default: '20', help: 'frames per second each connection may send, on average' },
  burst: { flag: 'burst', kind: 'int', default: '40', help: 'frames a connection may send at once above --rate' },
  idleTimeoutMs: { flag: 'idle-timeout-ms', kind: 'int', default: '90000', help: 'close JSON and WebSocket connections silent for this long (WebSocket is pinged)' },
  floodFrames: { flag: 'flood-frames', kind: 'int', default: '100', help: 'frames a connection may have waiting beyond --rate (each delayed, not refused); one more disconnects it as a flood' },
  helloTimeoutMs: { flag: 'hello-timeout-ms', kind: 'int', default: '10000', help: 'close a connection not welcomed this long after it opened, whatever it sends (TLS handshake and PROXY header included)' },
  partialLineTimeoutMs: { flag: 'partial-line-timeout-ms', kind: 'int', default: '30000', help: 'close a TCP connection whose unfinished line (or legacy frame) has waited this long for its end' },
  writeDeadlineMs: { flag: 'write-deadline-ms', kind: 'int', default: '10000', help: 'cut off (slow_consumer) a client whose socket accepts none of its queued output for this long (0 = no deadline)' },
  maxConnectionsPerIp: { flag: 'max-connections-per-ip', kind: 'int', default: '0', help: 'open connections per client address per worker (0 = no limit); more get too_many_connections' },
  connectRatePerIp: { flag: 'connect-rate-per-ip', kind: 'int', default: '0', help: 'new connections per second per client address per worker (0 = no limit); more get too_many_connections' },
  maxRoomsPerUser: { flag: 'max-rooms-per-user', kind: 'int', default: '100', help: 'rooms one session may be in; a join past it gets limit_reached' },
  maxRoomMembers: { flag: 'max-room-members', kind: 'int', default: '10000', help: 'members a room may have; a join past it gets limit_reached' },
  joinRate: { flag: 'join-rate', kind: 'int', default: '10', help: 'joins per second a session may make (twice that at once); more get rate_limited' },
  proxyProtocol: { flag: 'proxy-protocol', kind: 'bool', default: 'false', help: 'read a PROXY protocol v1/v2 header (the real client address) on both client ports from --trusted-proxies' },
  trustedProxies: { flag: 'trusted-proxies', kind: 'list', default: '', help: 'addresses and CIDR blocks of balancers whose PROXY headers and X-Forwarded-For are believed' },
  resumeGraceMs: { flag: 'resume-grace-ms', kind: 'int', default: '30000', help: 'how long a dropped user\'s nick and rooms wait for a resume' },
  maxConnections: { flag: 'max-connections', kind: 'int', default: '10000', help: 'connections per worker; more get too_many_connections' },
  leaseMs: { flag: 'lease-ms', kind: 'int', default: '3000', help: 'gateway lease in Redis: a gateway silent this long is presumed dead' },
  drainMs: { flag: 'drain-ms', kind: 'int', default: '5000', help: 'longest wait for clients to take their bye on shutdown' },
  writeDelayMs: { flag: 'write-delay-ms', kind: 'int', default: '0', help: 'fanned-out messages wait up to this long to share one socket write (0 = one write per event-loop turn)' },
  presenceTickMs: { flag: 'presence-tick-ms', kind: 'int', default: '250', help: 'presence changes are gathered and sent at most once per tick, as one batch' },
  presenceMaxUsers: { flag: 'presence-max-users', kind: 'int', default: '1000', help: 'above this many online, no per-user public presence: clients get the count' },
  roomPresenceMax: { flag: 'room-presence-max', kind: 'int', default: '250', help: 'rooms up to this many members announce joined/left; bigger ones give counts' },
  maxFileBytes: { flag: 'max-file-bytes', kind: 'int', default: '67108864', help: 'largest file a client may offer' },
  fileQuotaBytes: { flag: 'file-quota-bytes', kind: 'int', default: '134217728', help: 'bytes one sender\'s unexpired files may hold in the store together' },
  fileStoreBytes: { flag: 'file-store-bytes', kind: 'int', default: '1073741824', help: 'bytes all unexpired files may hold in the store together' },
  fileTtlMs: { flag: 'file-ttl-ms', kind: 'int', default: '600000', help: 'how long an offered file (and its bytes) is kept for its receivers' },
  fileBytesPerSecond: { flag: 'file-bytes-per-second', kind: 'int', default: '16777216', help: 'upload pace of each connection (file chunks are not counted by --rate)' },
} satisfies Record<string, Option>;

type Key = keyof typeof options;

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Config {
  host: string;
  tcpPort: number;
  wsPort: number;
  metricsHost: string;
  metricsPort: number;
  redis: string;
  redisCluster: string[];
  redisSentinel: string[];
  redisMaster: string;
  ackReplicas: number;
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
  floodFrames: number;
  helloTimeoutMs: number;
  partialLineTimeoutMs: number;
  writeDeadlineMs: number;
  maxConnectionsPerIp: number;
  connectRatePerIp: number;
  maxRoomsPerUser: number;
  maxRoomMembers: number;
  joinRate: number;
  proxyProtocol: boolean;
  trustedProxies: string[];
  resumeGraceMs: number;
  maxConnections: number;
  leaseMs: number;
  drainMs: number;
  writeDelayMs: number;
  presenceTickMs: number;
  presenceMaxUsers: number;
  roomPresenceMax: number;
  maxFileBytes: number;
  fileQuotaBytes: number;
  fileStoreBytes: number;
  fileTtlMs: number;
  fileBytesPerSecond: number;
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
    case 'bool':
      if (raw !== 'true' && raw !== 'false') throw new ConfigError(`--${opt.flag} must be true or false, not "${raw}"`);
      return raw === 'true';
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
    // A switch given bare (--proxy-protocol) is on; it also takes =true / =false.
    const bare = options[key].kind === 'bool' && argv[i + 1] !== 'true' && argv[i + 1] !== 'false';
    const value = m[2] ?? (bare ? 'true' : argv[++i]);
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
  const stores = [config.redis !== '', config.redisCluster.length > 0, config.redisSentinel.length > 0].filter(Boolean).length;
  if (stores > 1) throw new ConfigError('give one of --redis, --redis-cluster or --redis-sentinel, not several');
  const clustered = usesRedis(config);
  if ((config.redisSentinel.length > 0) !== (config.redisMaster !== '')) {
    throw new ConfigError('--redis-sentinel and --redis-master go together');
  }
  if (config.ackReplicas > 0 && !clustered) throw new ConfigError('--ack-replicas needs Redis: the in-memory engine has no replicas');
  if (!given.has('workers')) config.workers = clustered ? availableParallelism() : 1;
  if (config.workers < 1) throw new ConfigError('--workers must be at least 1');
  if (!clustered && config.workers > 1) {
    throw new ConfigError('--workers above 1 needs Redis (--redis, --redis-cluster or --redis-sentinel): workers share state through Redis');
  }
  if ((config.tlsCert === '') !== (config.tlsKey === '')) throw new ConfigError('--tls-cert and --tls-key go together');
  if (config.rate < 1 || config.burst < 1) throw new ConfigError('--rate and --burst must be at least 1');
  for (const entry of config.trustedProxies) {
    if (!isAddressOrBlock(entry)) throw new ConfigError(`--trusted-proxies: "${entry}" is not an IP address or CIDR block`);
  }
  if (config.proxyProtocol && config.trustedProxies.length === 0) {
    throw new ConfigError('--proxy-protocol needs --trusted-proxies: a PROXY header from anyone else would let them claim any address');
  }
  if (config.helloTimeoutMs < 100) throw new ConfigError('--hello-timeout-ms must be at least 100');
  if (config.partialLineTimeoutMs < 100) throw new ConfigError('--partial-line-timeout-ms must be at least 100');
  if (config.joinRate < 1 || config.maxRoomsPerUser < 1 || config.maxRoomMembers < 1) {
    throw new ConfigError('--join-rate, --max-rooms-per-user and --max-room-members must be at least 1');
  }
  if (config.presenceTickMs < 10) throw new ConfigError('--presence-tick-ms must be at least 10');
  if (config.maxFrameBytes < 1024) throw new ConfigError('--max-frame-bytes must be at least 1024');
  if (config.fileTtlMs < 1 || config.fileBytesPerSecond < 1) throw new ConfigError('--file-ttl-ms and --file-bytes-per-second must be at least 1');
  // A delay is latency every reader pays: past a tenth of a second it is no longer a gather.
  if (config.writeDelayMs > 100) throw new ConfigError('--write-delay-ms must be at most 100');
  return Object.freeze(config);
}

function isAddressOrBlock(entry: string): boolean {
  const [address, bits, extra] = entry.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/** Whether the config names a Redis (standalone, Cluster or Sentinel); the in-memory engine otherwise. */
export function usesRedis(config: Pick<Config, 'redis' | 'redisCluster' | 'redisSentinel'>): boolean {
  return config.redis !== '' || config.redisCluster.length > 0 || config.redisSentinel.length > 0;
}

export function helpText(): string {
  const rows = Object.values(options).map((o: Option) => {
    const def = o.default === '' ? '' : ` (default: ${o.default})`;
    return `  --${o.flag}${o.kind === 'bool' ? '' : ` <${o.kind === 'list' ? 'list' : 'value'}>`} `.padEnd(32) + `${o.help}${def}\n${' '.repeat(32)}env ${envName(o.flag)}`;
  });
  return [
    'Usage: chorus-server [options]',
    '',
    'Chorus chat gateway. Without --redis, --redis-cluster or --redis-sentinel it runs one process on the',
    'in-memory engine; with Redis it forks --workers gateway workers that share the ports.',
    '',
    'Options (flag, then CHORUS_* environment variable, then default):',
    ...rows,
    '  --help                        this text',
    '',
  ].join('\n');
}
