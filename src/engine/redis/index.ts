import type { Logger } from 'pino';
import type { Engine } from '../types.js';
import { RedisAccounts } from './accounts.js';
import { RedisBus } from './bus.js';
import { backoffMs, connect, type Client, type Connections } from './connection.js';
import { RedisFiles } from './files.js';
import { StoreEpoch } from './epoch.js';
import { RedisHistory } from './history.js';
import { makeKeys } from './keys.js';
import { Lease } from './lease.js';
import { Operations } from './operations.js';
import { RedisOnline } from './online.js';
import { RedisPresence } from './presence.js';
import { ReplicaAcks } from './replicas.js';

export interface RedisEngineOptions {
  /** Standalone: redis://host:port */
  url?: string;
  /** Or Redis Cluster seed nodes, "host:port". */
  cluster?: string[];
  /** Or Sentinel nodes "host:port" and the master's name. */
  sentinel?: { nodes: string[]; master: string };
  /** Replicas that must hold a post before it counts as done (Redis WAIT); 0 = the master alone. */
  ackReplicas?: number;
  /** Key and channel prefix, e.g. "chorus:"; no `{` or `}`. */
  prefix: string;
  /**
   * Stream cap per target (MAXLEN ~); 0 = no history (pure pub/sub, ids from this gateway's
   * clock, and what a reconnecting subscriber missed cannot be read back).
   */
  historyLimit: number;
  /** Unique per gateway process; no spaces, `{` or `}`. */
  gatewayId: string;
  /** Gateway lease TTL, default 3000; the heartbeat runs every leaseMs/3. */
  leaseMs?: number;
  /** How long the users of a dead gateway keep their nicks and rooms for a resume, default 30000. */
  graceMs?: number;
  /** How long start() waits for Redis before it gives up, default 10000. */
  startTimeoutMs?: number;
  log: Logger;
}

export function createRedisEngine(opts: RedisEngineOptions): Engine {
  return new RedisEngine(opts);
}

type State = 'new' | 'running' | 'stopping';

/**
 * The engine's one state machine: up while both connections are ready and this gateway's
 * claims, subscriptions and lease are known to be in Redis; down from the moment either
 * connection drops until all three are written back.
 */
class RedisEngine implements Engine {
  readonly kind = 'redis';
  readonly gateway: string;
  readonly bus: RedisBus;
  /** Claims and rooms are one state machine here (a claim's rooms come back with it), seen through two interfaces. */
  readonly claims: RedisPresence;
  readonly rooms: RedisPresence;
  readonly online: RedisOnline;
  readonly history: RedisHistory;
  private readonly presence: RedisPresence;
  readonly files: RedisFiles;
  readonly accounts: RedisAccounts;

  private readonly conns: Connections;
  private readonly lease: Lease;
  private readonly epoch: StoreEpoch;
  private readonly ops = new Operations(() => this.isUp);
  private readonly log: Logger;
  private readonly statusHandlers: Array<(up: boolean) => void> = [];
  private readonly startTimeoutMs: number;
  private state: State = 'new';
  private isUp = false;
  /** Counts connection drops, so a recovery that raced one does not report up. */
  private drops = 0;
  private recovering = false;
  private recoverAgain = false;
  private failedRecoveries = 0;
  private stopped: Promise<void> | undefined;

  constructor(opts: RedisEngineOptions) {
    if (!/^[^\s{}]+$/.test(opts.gatewayId)) throw new Error(`a gateway id holds no spaces or braces: "${opts.gatewayId}"`);
    if (!Number.isInteger(opts.historyLimit) || opts.historyLimit < 0) throw new Error('historyLimit is a whole number');
    const leaseMs = opts.leaseMs ?? 3_000;
    const graceMs = opts.graceMs ?? 30_000;
    this.startTimeoutMs = opts.startTimeoutMs ?? 10_000;
    this.gateway = opts.gatewayId;
    this.log = opts.log.child({ engine: 'redis' });
    const keys = makeKeys(opts.prefix);
    this.conns = connect(opts);
    const { cmd } = this.conns;
    const ops = this.ops;
    this.bus = new RedisBus(this.conns, keys, ops, opts.historyLimit > 0, this.log);
    this.presence = new RedisPresence({
      cmd, keys, gateway: this.gateway, graceMs, ops, log: this.log, publishCommand: this.bus.publishCommand(),
    });
    this.claims = this.rooms = this.presence;
    this.online = new RedisOnline(cmd, keys, ops);
    this.history = new RedisHistory(cmd, keys, this.bus, opts.historyLimit, ops.guarded, new ReplicaAcks(this.conns, opts.ackReplicas ?? 0), this.conns.kind === 'standalone');
    this.files = new RedisFiles(cmd, keys, ops.guarded);
    this.accounts = new RedisAccounts(cmd, keys, ops.guarded);
    this.lease = new Lease({
      cmd, keys, gateway: this.gateway, leaseMs, graceMs,
      presence: this.presence, changed: (change) => this.online.report(change), log: this.log, ops, isUp: () => this.isUp,
    });
    this.epoch = new StoreEpoch(cmd, keys);
    for (const client of [this.conns.cmd, this.conns.sub]) this.watch(client);
  }

  dataSince(): Promise<number> {
    return this.ops.guarded('epoch', () => this.epoch.since());
  }

  get up(): boolean {
    return this.isUp;
  }

  onStatus(handler: (up: boolean) => void): void {
    this.statusHandlers.push(handler);
  }

  onOperation(handler: (op: string, seconds: number) => void): void {
    this.ops.onOperation(handler);
  }

  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'running';
    const upNow = new Promise<void>((resolve) => this.onStatus((up) => up && resolve()));
    this.lease.start();
    // A first attempt that fails rejects connect(), but the retry strategy keeps going.
    for (const client of [this.conns.cmd, this.conns.sub]) client.connect().catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis not reachable within ${this.startTimeoutMs} ms`)), this.startTimeoutMs);
    });
    try {
      await Promise.race([upNow, timeout]);
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  stop(): Promise<void> {
    this.stopped ??= this.shutDown();
    return this.stopped;
  }

  /**
   * Claims are refused first; those in flight then land (each either holds its nick, listed in
   * this gateway's users set, or failed) before anything is let go, so that the lease and the
   * users set go only when nothing here needs them: with users still held or owed, the lease
   * alone goes, and another gateway's reaper detaches them.
   */
  private async shutDown(): Promise<void> {
    this.state = 'stopping';
    this.presence.close();
    this.lease.stop();
    await this.presence.settled();
    if (this.isUp) {
      try {
        await this.presence.finishOwed();
      } catch (err) {
        this.log.warn({ err }, 'could not let some users go: another gateway reaps them');
      }
      try {
        await this.lease.retire(this.presence.holdsUsers);
      } catch (err) {
        this.log.warn({ err }, 'could not remove this gateway\'s lease: others reap it when it runs out');
      }
    }
    this.setUp(false);
    await Promise.all([quit(this.conns.cmd), quit(this.conns.sub)]);
  }

  private watch(client: Client): void {
    client.on('ready', () => void this.recover());
    for (const event of ['close', 'end']) {
      client.on(event, () => {
        this.drops++;
        this.setUp(false);
      });
    }
    // Every failed reconnect is an error event; the up/down transitions are what gets logged.
    client.on('error', (err: Error) => this.log.debug({ err }, 'redis connection error'));
  }

  /** Writes back what Redis may have lost, then reports up. Re-runs if the connections dropped meanwhile. */
  private async recover(): Promise<void> {
    if (this.state !== 'running') return;
    if (this.recovering) {
      this.recoverAgain = true;
      return;
    }
    if (!ready(this.conns.cmd) || !ready(this.conns.sub)) return;
    this.recovering = true;
    const drops = this.drops;
    let failed = false;
    try {
      // First: a Redis that came back empty gets its new epoch before any session is welcomed.
      await this.epoch.since();
      await this.bus.resubscribe();
      await this.lease.restore();
      if (this.drops === drops && this.state === 'running') {
        this.failedRecoveries = 0;
        this.setUp(true);
      }
    } catch (err) {
      failed = true;
      this.log.warn({ err }, 'could not restore this gateway\'s state in Redis yet');
    } finally {
      this.recovering = false;
    }
    if (this.recoverAgain || failed || (this.drops !== drops && !this.isUp)) {
      this.recoverAgain = false;
      // No event may come to trigger it again (a script error, a timeout): retry with backoff.
      const delay = failed ? backoffMs(++this.failedRecoveries) : 0;
      setTimeout(() => void this.recover(), delay).unref();
    }
  }

  private setUp(up: boolean): void {
    if (this.isUp === up) return;
    this.isUp = up;
    if (this.state === 'running') {
      if (up) this.log.info('redis reachable: engine up');
      else this.log.warn('redis unreachable: engine down, operations fail until it is back');
    }
    for (const handler of this.statusHandlers) handler(up);
  }
}

function ready(client: Client): boolean {
  return client.status === 'ready';
}

async function quit(client: Client): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
