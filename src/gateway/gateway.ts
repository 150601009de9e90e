import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { Engine } from '../engine/types.js';
import { encodeLine, errorFrame } from '../protocol/encode.js';
import type { ErrorCode } from '../protocol/errors.js';
import { Admission, trustList, type AdmissionLimits } from './admission.js';
import type { Departure } from './departure.js';
import { Announcer, type PresenceLimits } from './announcer.js';
import { Logins } from './accounts.js';
import type { Dialect } from './dialect.js';
import { Doorway } from './doorway.js';
import { Fanout } from './fanout.js';
import { transports, type Metrics } from './metrics.js';
import { WriteScheduler } from './outbox.js';
import type { Peer } from './peer.js';
import { Session, type Hub, type Limits } from './session.js';
import { createTcpServer } from './tcp.js';
import { createWsServer } from './ws.js';

export interface GatewayOptions extends AdmissionLimits {
  host: string;
  tcpPort: number;
  wsPort: number;
  maxFrameBytes: number;
  maxConnections: number;
  idleTimeoutMs: number;
  helloTimeoutMs: number;
  partialLineTimeoutMs: number;
  /** 0: no write deadline, only the byte bound. */
  writeDeadlineMs: number;
  /** Read PROXY headers from the trusted proxies. */
  proxyProtocol: boolean;
  trustedProxies: readonly string[];
  drainMs: number;
  /** How long fanned-out frames may wait to be written together (0: the end of the event-loop turn). */
  writeDelayMs: number;
  limits: Limits;
  presence: PresenceLimits;
  tls?: { cert: Buffer; key: Buffer };
}

/** Sockets past --max-connections that still get told why before they are closed. */
const rawSocketHeadroom = 100;
/** How often the online count is refreshed for the metric: cheap, and never per scrape. */
const onlineRefreshMs = 2_000;

/** What a client refused at the door is told. */
const refusals: Partial<Record<Departure, [ErrorCode, string]>> = {
  too_many_connections: ['too_many_connections', 'this gateway is full; try another'],
  ip_limit: ['too_many_connections', 'too many connections from your address'],
  connect_rate: ['too_many_connections', 'too many new connections from your address; wait a second'],
  draining: ['unavailable', 'this gateway is shutting down; try another'],
};

/**
 * One gateway: the TCP and WebSocket listeners, the sessions they open, and the local
 * fan-out. It owns every socket, timer and subscription it starts, and stop() ends them.
 */
export class Gateway implements Hub {
  readonly fanout: Fanout;
  readonly presence: Announcer;
  readonly limits: Limits;
  readonly logins: Logins;
  readonly writes: WriteScheduler;
  /** Each open session and its socket side, which the deadline sweep reads. */
  private readonly sessions = new Map<Session, Peer>();
  private readonly doorway: Doorway;
  private readonly tcp: net.Server;
  private readonly ws: net.Server;
  private readonly timers: NodeJS.Timeout[] = [];
  private state: 'idle' | 'running' | 'draining' | 'stopped' = 'idle';
  private stopped?: Promise<void>;

  constructor(
    readonly engine: Engine,
    readonly metrics: Metrics,
    readonly log: Logger,
    private readonly opts: GatewayOptions,
  ) {
    this.limits = opts.limits;
    this.logins = new Logins(engine.accounts, metrics);
    const delivered = new Map(transports.map((t) => [t, metrics.delivered.labels(t)]));
    this.writes = new WriteScheduler(opts.writeDelayMs, (transport, n) => delivered.get(transport)!.inc(n));
    this.fanout = new Fanout(engine.bus, (env) => {
      if (env.id !== '') metrics.deliveryLatency.observe(Math.max(0, Date.now() - env.ts) / 1000);
    });
    this.presence = new Announcer(engine, this.fanout, metrics, opts.presence, log);
    const trusted = trustList(opts.trustedProxies);
    this.doorway = new Doorway({
      helloTimeoutMs: opts.helloTimeoutMs,
      ...(opts.proxyProtocol ? { proxies: trusted } : {}),
      admission: new Admission(opts),
      ...(opts.tls ? { tls: tls.createSecureContext(opts.tls) } : {}),
      onDrop: (reason) => metrics.disconnects.labels(reason).inc(),
    });
    const open = (peer: Peer, dialect: Dialect, refusal: Departure | undefined) => this.open(peer, dialect, refusal);
    const { maxFrameBytes, partialLineTimeoutMs, helloTimeoutMs } = opts;
    this.tcp = createTcpServer({ maxFrameBytes, partialLineTimeoutMs, doorway: this.doorway, open });
    this.ws = createWsServer({ maxFrameBytes, helloTimeoutMs, doorway: this.doorway, trusted, open });
    // A hard cap on raw sockets (TLS and PROXY included), above the polite too_many_connections refusal of open().
    this.tcp.maxConnections = this.ws.maxConnections = opts.maxConnections + rawSocketHeadroom;
    engine.onOperation((op, seconds) => metrics.engineOp.labels(op).observe(seconds));
    // The engine logs its own outages (and keeps quiet about its own shutdown).
    engine.onStatus((up) => metrics.engineUp.set(up ? 1 : 0));
  }

  /** Ready for clients: listening, not draining, and the engine reachable. */
  get ready(): boolean {
    return this.state === 'running' && this.engine.up;
  }

  get connections(): number {
    return this.sessions.size;
  }

  async start(): Promise<{ tcpPort: number; wsPort: number }> {
    await this.engine.start();
    this.metrics.engineUp.set(this.engine.up ? 1 : 0);
    await this.presence.start();
    const tcpPort = await listen(this.tcp, this.opts.host, this.opts.tcpPort);
    const wsPort = await listen(this.ws, this.opts.host, this.opts.wsPort);
    this.state = 'running';
    this.every(sweepEveryMs(this.opts.idleTimeoutMs), () => this.sweep());
    const { helloTimeoutMs, writeDeadlineMs } = this.opts;
    this.every(Math.max(100, Math.min(helloTimeoutMs, writeDeadlineMs || helloTimeoutMs) / 4), () => this.enforceDeadlines());
    this.every(onlineRefreshMs, () => this.refreshOnline());
    void this.refreshOnline();
    return { tcpPort, wsPort };
  }

  /** Stops accepting, tells every client bye{reason:"restart"}, keeps their nicks for a resume elsewhere. */
  stop(): Promise<void> {
    if (this.state === 'idle' || this.state === 'running') {
      this.state = 'draining';
      this.stopped = this.drain();
    }
    return this.stopped ?? Promise.resolve();
  }

  forget(session: Session): void {
    this.sessions.delete(session);
    this.metrics.workerConnections.set(this.sessions.size);
  }

  /**
   * Makes the session, or refuses the client in its own dialect: a per-address limit hit
   * at the door, this gateway full, or draining (`unavailable`: another gateway will do).
   */
  private open(peer: Peer, dialect: Dialect, denied: Departure | undefined): Session | undefined {
    const full = this.sessions.size >= this.opts.maxConnections;
    const refusal = this.state !== 'running' ? 'draining' : (denied ?? (full ? 'too_many_connections' : undefined));
    if (refusal) {
      const [code, message] = refusals[refusal]!;
      const line = dialect.encode(errorFrame(code, message), '') ?? encodeLine(errorFrame(code, message));
      this.metrics.rejected.labels(code).inc();
      this.metrics.disconnects.labels(refusal).inc();
      peer.write(line);
      peer.end(refusal);
      return undefined;
    }
    const session = new Session(peer, dialect, this);
    this.sessions.set(session, peer);
    this.metrics.workerConnections.set(this.sessions.size);
    this.log.info({ remote: peer.remote, transport: peer.transport, connections: this.sessions.size }, 'connection');
    return session;
  }

  /**
   * Closes sessions silent past the idle timeout. WebSocket peers silent for a sweep's
   * period are pinged first and their pongs count; one that spoke since needs no ping.
   */
  private sweep(): void {
    const now = Date.now();
    const { idleTimeoutMs } = this.opts;
    const quietMs = sweepEveryMs(idleTimeoutMs);
    for (const session of this.sessions.keys()) {
      if (!session.idles) continue;
      const silentMs = now - session.lastSeen;
      if (silentMs > idleTimeoutMs) session.expire('idle');
      else if (silentMs >= quietMs) session.probe();
    }
  }

  /**
   * The deadlines no traffic can push back: a session not welcomed within the hello
   * timeout of its accept (pongs and garbage do not count), and a socket whose queued
   * output has not moved within the write deadline.
   */
  private enforceDeadlines(): void {
    const now = Date.now();
    const { helloTimeoutMs, writeDeadlineMs } = this.opts;
    for (const [session, peer] of this.sessions) {
      if (!session.welcomed && now - peer.openedAt > helloTimeoutMs) session.expire('hello_timeout');
      else if (writeDeadlineMs > 0 && peer.stalledMs(now) > writeDeadlineMs) session.cutOff();
    }
  }

  private async refreshOnline(): Promise<void> {
    if (!this.engine.up) return;
    try {
      this.metrics.onlineUsers.set(await this.engine.online.count());
    } catch {
      /* the engine's status handler reports the outage */
    }
  }

  private every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    timer.unref();
    this.timers.push(timer);
  }

  private async drain(): Promise<void> {
    this.timers.forEach(clearInterval);
    const closing = [close(this.tcp), close(this.ws)];
    const bye = Promise.all([...this.sessions.keys()].map((s) => s.drain()));
    await Promise.race([bye, delay(this.opts.drainMs)]);
    this.writes.stop();
    await this.presence.stop();
    await this.engine.stop();
    // Connections that had not spoken yet are refused with `unavailable` if they do now;
    // closed sockets that linger (a peer not taking its last bytes) have their own
    // deadlines. Shutdown waits one more drain period at most, then drops the rest.
    await Promise.race([Promise.all(closing), delay(this.opts.drainMs)]);
    this.doorway.dropAll('restart');
    this.state = 'stopped';
  }
}

function listen(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A third of the idle timeout: a live peer answers a ping well before the timeout runs out. */
function sweepEveryMs(idleTimeoutMs: number): number {
  return Math.max(250, idleTimeoutMs / 3);
}
