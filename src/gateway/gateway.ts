import type http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Engine } from '../engine/types.js';
import { encodeLine, errorFrame } from '../protocol/encode.js';
import type { Dialect } from './dialect.js';
import { Fanout } from './fanout.js';
import { transports, type Metrics } from './metrics.js';
import { WriteScheduler } from './outbox.js';
import type { Peer } from './peer.js';
import { Session, type Hub, type Limits } from './session.js';
import { createTcpServer, type TcpServer } from './tcp.js';
import { createWsServer } from './ws.js';

export interface GatewayOptions {
  host: string;
  tcpPort: number;
  wsPort: number;
  maxFrameBytes: number;
  maxConnections: number;
  idleTimeoutMs: number;
  drainMs: number;
  /** How long fanned-out frames may wait to be written together (0: the end of the event-loop turn). */
  writeDelayMs: number;
  limits: Limits;
  tls?: { cert: Buffer; key: Buffer };
}

/** Sockets past --max-connections that still get told why before they are closed. */
const rawSocketHeadroom = 100;
/** How often the online count is refreshed for the metric: cheap, and never per scrape. */
const onlineRefreshMs = 2_000;

/**
 * One gateway: the TCP and WebSocket listeners, the sessions they open, and the local
 * fan-out. It owns every socket, timer and subscription it starts, and stop() ends them.
 */
export class Gateway implements Hub {
  readonly fanout: Fanout;
  readonly limits: Limits;
  readonly writes: WriteScheduler;
  private readonly sessions = new Set<Session>();
  private readonly tcp: TcpServer;
  private readonly ws: http.Server;
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
    const delivered = new Map(transports.map((t) => [t, metrics.delivered.labels(t)]));
    this.writes = new WriteScheduler(opts.writeDelayMs, (transport, n) => delivered.get(transport)!.inc(n));
    this.fanout = new Fanout(engine.bus, (env) => {
      if (env.id !== '') metrics.deliveryLatency.observe(Math.max(0, Date.now() - env.ts) / 1000);
    });
    const open = (peer: Peer, dialect: Dialect) => this.open(peer, dialect);
    this.tcp = createTcpServer({ maxFrameBytes: opts.maxFrameBytes, sniffTimeoutMs: Math.min(opts.idleTimeoutMs, 10_000), tls: opts.tls, open });
    this.ws = createWsServer({ maxFrameBytes: opts.maxFrameBytes, tls: opts.tls, open });
    // A hard cap on raw sockets, above the polite too_many_connections refusal of open().
    this.tcp.server.maxConnections = this.ws.maxConnections = opts.maxConnections + rawSocketHeadroom;
    engine.onOperation((op, seconds) => metrics.engineOp.labels(op).observe(seconds));
    engine.onStatus((up) => {
      metrics.engineUp.set(up ? 1 : 0);
      log[up ? 'info' : 'warn']({ engine: engine.kind }, up ? 'engine reachable' : 'engine unreachable');
    });
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
    const tcpPort = await listen(this.tcp.server, this.opts.host, this.opts.tcpPort);
    const wsPort = await listen(this.ws, this.opts.host, this.opts.wsPort);
    this.state = 'running';
    this.every(Math.max(250, this.opts.idleTimeoutMs / 3), () => this.sweep());
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

  private open(peer: Peer, dialect: Dialect): Session | undefined {
    if (this.state !== 'running' || this.sessions.size >= this.opts.maxConnections) {
      const message = this.state === 'running' ? 'this gateway is full; try another' : 'this gateway is shutting down; try another';
      const line = dialect.encode(errorFrame('too_many_connections', message), '') ?? encodeLine(errorFrame('too_many_connections', message));
      this.metrics.rejected.labels('too_many_connections').inc();
      peer.write(line);
      peer.end();
      return undefined;
    }
    const session = new Session(peer, dialect, this);
    this.sessions.add(session);
    this.metrics.workerConnections.set(this.sessions.size);
    this.log.info({ remote: peer.remote, transport: peer.transport, connections: this.sessions.size }, 'connection');
    return session;
  }

  /** Closes sessions silent past the idle timeout; WebSocket peers are pinged first and their pongs count. */
  private sweep(): void {
    const now = Date.now();
    for (const session of this.sessions) {
      if (!session.idles) continue;
      if (now - session.lastSeen > this.opts.idleTimeoutMs) session.expire();
      else session.probe();
    }
  }

  private async refreshOnline(): Promise<void> {
    if (!this.engine.up) return;
    try {
      this.metrics.onlineUsers.set(await this.engine.presence.count());
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
    const closing = [close(this.tcp.server), close(this.ws)];
    // Connections without a session yet (no bytes, or an HTTP request not upgraded) have nobody to say bye to.
    this.tcp.dropUndecided();
    this.ws.closeAllConnections();
    const bye = Promise.all([...this.sessions].map((s) => s.drain()));
    await Promise.race([bye, delay(this.opts.drainMs)]);
    this.writes.stop();
    await this.engine.stop();
    // Closed sockets that linger (a TLS handshake, a peer not taking its last bytes) have
    // their own deadlines; shutdown does not wait past one more drain period for them.
    await Promise.race([Promise.all(closing), delay(this.opts.drainMs)]);
    this.state = 'stopped';
  }
}

function listen(server: net.Server | http.Server, host: string, port: number): Promise<number> {
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

function close(server: net.Server | http.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
