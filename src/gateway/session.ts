import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Claim, Engine, Envelope } from '../engine/types.js';
import { encodeLine, errorFrame, protocolVersion } from '../protocol/encode.js';
import { ChorusError, asChorusError } from '../protocol/errors.js';
import { looksLikeChunk } from '../protocol/files.js';
import { refOf, type ClientFrame } from '../protocol/frames.js';
import type { Address } from '../protocol/names.js';
import type { Logins, OnRegistered } from './accounts.js';
import type { Announcer } from './announcer.js';
import { runCommand, type CommandContext } from './commands.js';
import type { Departure } from './departure.js';
import type { Dialect } from './dialect.js';
import type { Fanout, Subscriber } from './fanout.js';
import { FloodGate, type FloodLimits } from './flood.js';
import { claimNick, type Claimant } from './hello.js';
import { JoinGuard, type JoinLimits } from './joins.js';
import type { Metrics } from './metrics.js';
import { Outbound } from './outbound.js';
import { Outbox, type WriteScheduler } from './outbox.js';
import { BytePace } from './pace.js';
import { clientHost, type Peer } from './peer.js';
import { identifyLine } from './identify.js';
import { replay, replayCursors, tokenEpoch } from './resume.js';
import { Transfers, type FileLimits } from './transfers.js';

export interface Limits extends FloodLimits, JoinLimits {
  readonly maxOutboundBytes: number;
  readonly resumeGraceMs: number;
  readonly files: FileLimits;
}

/** What a session needs from its gateway. */
export interface Hub {
  readonly engine: Engine;
  readonly fanout: Fanout;
  /** Where this gateway's presence changes go: published and shown once per tick. */
  readonly presence: Announcer;
  readonly limits: Limits;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly logins: Logins;
  /** When every session's outbox writes to its socket. */
  readonly writes: WriteScheduler;
  /** Open sessions on this gateway now, for the logs. */
  readonly connections: number;
  /** The session is over: the gateway stops tracking it. */
  forget(session: Session): void;
}

type Frame<T extends ClientFrame['type']> = Extract<ClientFrame, { type: T }>;
type State = 'greeting' | 'joining' | 'chatting' | 'closed';
/**
 * A line waiting its turn: a frame waits at the flood gate, a file chunk is paced by bytes,
 * and a line that has had its turn already (replayed after `!identify`) waits for neither.
 * Bad input waits as its refusal, so that it does not overtake the answers before it.
 */
type Queued = { line: string; gate: 'frame' | 'chunk' | 'done' } | ChorusError;

/** Output is flushed before closing (within the peer's close timeout) unless nobody is there to read it. */
const flushOnDeparture = new Set<Departure>(['bye', 'bad_input', 'refused', 'restart', 'unavailable', 'slow_consumer', 'flood', 'hello_timeout']);

/**
 * Bytes of inbound lines waiting while one is answered; past this the socket stops being
 * read. The count of waiting lines is left to the flood gate, which must see a flood's
 * frames to end it: a pause at a smaller count would only slow the flood down, for ever.
 */
const maxQueuedBytes = 256 * 1024;
/** Legacy clients cannot choose another nick, so we try this many variants for them. */
const maxNickVariants = 50;

/**
 * One connected client: the only place where the protocol meets the engine. Frames are
 * handled one at a time, in order; fanned-out frames are written as they arrive.
 *
 * Whatever the session takes (bus subscriptions, the nick) it gives back in letGo(), in
 * every state: a connection may close in the middle of its hello.
 */
export class Session implements Subscriber {
  private state: State = 'greeting';
  private claim: Claim | undefined;
  /** The nick as shown, for text rendering ('' before the welcome). */
  private shown = '';
  /** Case-folded nick: fan-out skips frames from it. */
  self = '';
  /** This connection's own id: a resume elsewhere takes the nick from it, not the other way round. */
  private readonly conn = randomBytes(9).toString('base64url');
  /** Every fan-out address this session is on, so that letGo() can leave them all. */
  private readonly subscribed = new Set<Address>();
  private readonly rooms = new Set<Address>();
  /** Per address, the last id a resume replay wrote: later live copies of those are dropped. */
  private replayed: Map<Address, string> | undefined;
  /** Frames fanned out while the welcome (and a resume's replay) is being written. */
  private held: Array<[Address, Outbound]> = [];
  private heldBytes = 0;
  private announced = false;
  /** The nick came back by a resume: until welcomed, a drop hands it back for the grace period. */
  private resuming = false;
  private departure: 'release' | 'detach' = 'detach';
  private readonly flood: FloodGate;
  private readonly joins: JoinGuard;
  /** Lines waiting their turn, and refusals of bad input between them, answered in the order they came. */
  private readonly queue: Queued[] = [];
  /** Characters of the lines in the queue, for its bound. */
  private queuedBytes = 0;
  /** The queue being worked through, if it is: drain() waits for a hello in flight. */
  private working: Promise<void> | undefined;
  /** The welcome went out: from here on a drop keeps the nick for a resume. */
  welcomed = false;
  private readonly outbox: Outbox;
  /** What commands see of this session, made once it has a nick. */
  private commands: CommandContext | undefined;
  private transfers: Transfers | undefined;
  /** File chunks skip the frame rate limit and are paced by bytes instead. */
  private readonly uploadPace: BytePace;
  /** A text-mode hello for a registered nick, waiting for `!identify <password>` as the next line. */
  private identifying: Frame<'hello'> | undefined;
  lastSeen = Date.now();

  constructor(
    private readonly peer: Peer,
    private readonly dialect: Dialect,
    private readonly hub: Hub,
  ) {
    this.flood = new FloodGate(hub.limits, hub.metrics.laggedFrames);
    this.joins = new JoinGuard(hub.limits);
    this.uploadPace = new BytePace(hub.limits.files.bytesPerSecond);
    this.outbox = new Outbox(peer, hub.limits.maxOutboundBytes, hub.writes, () => this.cutOff());
    hub.metrics.connections.labels(peer.transport).inc();
  }

  /**
   * Whether the idle timeout applies: JSON and WebSocket clients ping, and everyone must
   * say who they are in time, while people on netcat or the old client may rightly sit
   * silent once in (TCP keepalive finds their dead peers).
   */
  get idles(): boolean {
    return this.peer.transport === 'tcp' || this.peer.transport === 'ws' || this.state === 'greeting';
  }

  private get closed(): boolean {
    return this.state === 'closed';
  }

  /** One inbound line (a JSON frame, a text command, a legacy body). */
  onLine(line: string): void {
    this.lastSeen = Date.now();
    if (this.closed) return;
    // File chunks are paced by bytes (uploadPace), not counted as chat frames.
    const gate = this.isChunk(line) ? 'chunk' : 'frame';
    if (gate === 'frame' && !this.flood.admit()) return this.flooded();
    this.enqueue({ line, gate });
  }

  private enqueue(input: Queued): void {
    this.queue.push(input);
    if (!(input instanceof ChorusError)) this.queuedBytes += input.line.length;
    if (this.queuedBytes >= maxQueuedBytes) this.peer.pause();
    this.work();
  }

  /**
   * Works through the queue unless that is under way. A queue of lines refused without an
   * await empties synchronously, yet `working` is cleared only a microtask later: lines
   * queued in between (the rest of the same read) are picked up here, or they would wait for
   * the next read, maybe forever (found by test/fuzz).
   */
  private work(): void {
    this.working ??= this.drainQueue().finally(() => {
      this.working = undefined;
      if (this.queue.length > 0 && !this.closed) this.work();
    });
  }

  /** Input the transport could not make into a line (invalid UTF-8, a binary frame, an oversize frame). */
  onBadInput(err: ChorusError): void {
    this.lastSeen = Date.now();
    if (this.closed) return;
    if (err.fatal) {
      this.refuse(err);
      void this.leave('detach', 'bad_input');
      return;
    }
    // Refusals cost the sender its allowance too, so a flood of garbage ends like any other.
    if (this.flood.charge() === undefined) return this.flooded();
    // In line with the frames before it: its error must not overtake their answers (a welcome).
    this.enqueue(err);
  }

  /** The socket is gone: a dropped user keeps nick and rooms for a resume within the grace period. */
  onClosed(): void {
    void this.leave('detach', 'closed');
  }

  /**
   * The gateway is stopping: tell the client, keep its nick for a resume elsewhere. Waits for
   * a request in flight too: a hello that claims after this must give its nick back before
   * the engine stops.
   */
  async drain(): Promise<void> {
    if (!this.closed) {
      this.outbox.write(this.dialect.encode({ type: 'bye', reason: 'restart' }, this.shown), 'reply');
      await this.leave('detach', 'restart');
    }
    await this.working;
  }

  /** Idle for too long, or not welcomed in time: close, as a drop (the client may resume). */
  expire(why: 'idle' | 'hello_timeout'): void {
    void this.leave('detach', why);
  }

  probe(): void {
    this.peer.probe?.();
  }

  deliver(out: Outbound, address: Address): void {
    if (out.env.conn !== undefined) return this.onTakeover(out);
    if (this.state === 'joining') {
      this.held.push([address, out]);
      this.heldBytes += out.env.line.length;
      if (this.outbox.wouldOverflow(this.heldBytes)) this.cutOff();
    } else if (this.state === 'chatting' && !this.wasReplayed(address, out.env.id)) {
      this.outbox.write(this.dialect.deliver(out), 'fanout', out.env);
    }
  }

  /** Whether a resume's replay already wrote this message; forgets an address once live traffic has passed it. */
  private wasReplayed(address: Address, id: string): boolean {
    if (id === '' || this.replayed === undefined) return false;
    const upTo = this.replayed.get(address);
    if (upTo === undefined) return false;
    if (!this.hub.engine.history.isAfter(id, upTo)) return true;
    this.replayed.delete(address);
    // Most sessions never resume: none of them keeps a map.
    if (this.replayed.size === 0) this.replayed = undefined;
    return false;
  }

  /** A resume elsewhere took the nick from this connection: say so and go, holding nothing. */
  private onTakeover(out: Outbound): void {
    if (out.env.conn !== this.conn || this.closed) return;
    this.outbox.write(this.dialect.deliver(out), 'reply');
    // The detach changes nothing now (another connection holds the nick) but lets this
    // gateway's engine forget the claim.
    void this.leave('detach', 'refused');
  }

  private async drainQueue(): Promise<void> {
    while (this.queue.length > 0 && !this.closed) {
      const input = this.queue.shift()!;
      if (!(input instanceof ChorusError)) this.queuedBytes -= input.line.length;
      if (this.queuedBytes < maxQueuedBytes / 4) this.peer.resume();
      if (input instanceof ChorusError) {
        this.refuse(input);
        continue;
      }
      const { line, gate } = input;
      // Fakelag: a frame over the rate waits its turn while the socket stays paused.
      if (gate === 'frame') await this.flood.turn();
      if (this.closed) return;
      // A client whose frames are still waiting their turn is not idle.
      this.lastSeen = Date.now();
      let ref: string | undefined;
      try {
        if (this.identifying) {
          await this.onIdentifyLine(this.identifying, line);
          continue;
        }
        // Waiting here leaves the rest queued, and past maxQueuedBytes the socket unread.
        if (gate === 'chunk') await this.uploadPace.spend((line.length * 3) / 4);
        const parsed = this.dialect.parse(line, this.state === 'greeting');
        if ('reply' in parsed) {
          this.outbox.write(parsed.reply, 'reply');
          continue;
        }
        ref = parsed.frame.ref;
        await this.handle(parsed.frame);
      } catch (err) {
        if (!(err instanceof ChorusError)) this.hub.log.warn({ err, nick: this.shown }, 'request failed');
        const error = asChorusError(err);
        this.refuse(error, ref ?? this.refIn(line));
        // A fatal refusal (this connection's session has moved to another) ends it.
        if (error.fatal) void this.leave('detach', 'refused');
      }
    }
  }

  private async handle(frame: ClientFrame): Promise<void> {
    if (this.state === 'greeting') {
      if (frame.type !== 'hello') throw new ChorusError('hello_first', 'say hello with your nick first');
      return this.hello(frame);
    }
    const claim = this.claim;
    if (!claim || this.closed) return;
    if (frame.type === 'hello') throw new ChorusError('bad_frame', `you are already ${claim.nick}`);
    this.commands ??= this.commandContext(claim);
    return runCommand(this.commands, frame);
  }

  /**
   * The line after a text-mode user was asked to identify: `!identify <password>` says hello
   * again with it; anything else gets a free variant of the nick, then counts as typed.
   */
  private async onIdentifyLine(asked: Frame<'hello'>, line: string): Promise<void> {
    this.identifying = undefined;
    const answer = identifyLine(asked, line);
    if (answer) return this.hello(answer, 'check');
    await this.hello(asked, 'skip');
    // It has had its turn at the flood gate already.
    if (this.state === 'chatting') {
      this.queue.unshift({ line, gate: 'done' });
      this.queuedBytes += line.length;
    }
  }

  /** A file chunk from a welcomed JSON client (people's dialects have no chunks: theirs is text). */
  private isChunk(line: string): boolean {
    return this.state === 'chatting' && (this.dialect.name === 'json' || this.dialect.name === 'ws') && looksLikeChunk(line);
  }

  private commandContext(claim: Claim): CommandContext {
    const self = this;
    const ctx: CommandContext = {
      hub: this.hub,
      claim,
      host: clientHost(this.peer),
      epoch: tokenEpoch(claim.session),
      rooms: this.rooms,
      get closed() {
        return self.closed;
      },
      watcher: this,
      reply: (frame, ref) => this.reply(frame, ref),
      replyJson: (json) => this.outbox.write(this.dialect.encodeJson(json, this.shown), 'reply'),
      subscribe: (address) => this.subscribe(address),
      unsubscribe: (address) => this.unsubscribe(address),
      publish: (address, frame) => this.publish(address, frame),
      joins: this.joins,
      release: (ref) => this.sayBye(ref),
      backpressure: () => this.outbox.roomFor(),
      get files() {
        return self.transfers!;
      },
    };
    this.transfers = new Transfers(ctx);
    return ctx;
  }

  private async hello(frame: Frame<'hello'>, onRegistered?: OnRegistered): Promise<void> {
    const claim = await claimNick(this.claimant(onRegistered ?? this.onRegistered()), frame);
    if (!claim) return;
    const { session } = claim;
    const { engine } = this.hub;
    try {
      const online = await engine.online.count();
      if (this.closed) return;
      this.reply({ type: 'welcome', nick: claim.nick, session, gateway: engine.gateway, online, version: protocolVersion }, frame.ref);
      this.welcomed = true;
      this.hub.log.info({ nick: claim.nick, remote: this.peer.remote, transport: this.peer.transport, resumed: !!frame.resume }, 'registered');
      this.hub.presence.online(claim);
      this.announced = true;
      if (frame.resume) {
        const cursors = replayCursors([...this.subscribed], frame.resume.last, session, engine.history);
        const upTo = await replay(
          cursors,
          engine.history,
          claim.key,
          (m) => this.outbox.write(this.dialect.deliver(Outbound.stored(m.id, m.json)), 'reply'),
          () => this.outbox.roomFor(),
          () => this.closed,
        );
        if (upTo.size > 0) this.replayed = upTo;
      }
    } catch (err) {
      // Half-welcomed is no state to chat in: the client resumes once the store is back.
      this.refuse(asChorusError(err), frame.ref);
      return this.leave('detach', 'unavailable');
    }
    if (this.closed) return;
    this.state = 'chatting';
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (const [address, out] of held) this.deliver(out, address);
  }

  /** JSON clients send the password; the legacy client cannot; a text-mode user is asked. */
  private onRegistered(): OnRegistered {
    return this.dialect.name === 'legacy' ? 'skip' : this.dialect.name === 'text' ? 'ask' : 'check';
  }

  private claimant(onRegistered: OnRegistered): Claimant {
    const self = this;
    return {
      hub: this.hub,
      conn: this.conn,
      // Those who cannot identify get a free variant, as the legacy client does for a taken nick.
      variants: onRegistered === 'skip' ? maxNickVariants : 1,
      onRegistered,
      host: clientHost(this.peer),
      get closed() {
        return self.closed;
      },
      begin: (claim) => {
        this.self = claim.key;
        this.state = 'joining';
      },
      subscribe: (address) => this.subscribe(address),
      unwind: () => this.unwindHello(),
      won: (claim, resumed, rooms) => {
        this.claim = claim;
        this.resuming = resumed;
        this.shown = claim.nick;
        rooms.forEach((r) => this.rooms.add(r));
      },
      letGo: () => this.letGo(),
      refuse: (err) => this.refuse(err),
      ask: (frame) => {
        this.identifying = frame;
        this.reply({ type: 'notice', text: `${frame.nick} is registered; send !identify <password> as your next line, or you will get another nick` }, undefined);
      },
    };
  }

  /** A hello that did not succeed: back to greeting, holding nothing. */
  private async unwindHello(): Promise<void> {
    await this.unsubscribeAll();
    this.rooms.clear();
    this.held = [];
    this.heldBytes = 0;
    this.self = '';
    if (!this.closed) this.state = 'greeting';
  }

  private async publish(address: Address, frame: object): Promise<void> {
    const env: Envelope = { id: '', ts: Date.now(), from: this.self, line: encodeLine(frame) };
    await this.hub.engine.bus.publish(address, env);
  }

  /** On the list before the await, so that a letGo() meanwhile takes it off again. */
  private async subscribe(address: Address): Promise<void> {
    this.subscribed.add(address);
    await this.hub.fanout.add(address, this);
  }

  private async unsubscribe(address: Address): Promise<void> {
    this.subscribed.delete(address);
    await this.hub.fanout.remove(address, this);
  }

  private async unsubscribeAll(): Promise<void> {
    const addresses = [...this.subscribed];
    this.subscribed.clear();
    await Promise.allSettled(addresses.map((a) => this.hub.fanout.remove(a, this)));
  }

  /** Ends the session once: closes the socket, then gives back what it holds. */
  /**
   * The client leaves for good. The nick is given back before the answer goes out, so that
   * a client reading `bye` may say hello with the same nick at once, on any gateway.
   */
  private async sayBye(ref: string | undefined): Promise<void> {
    this.departure = 'release';
    await this.letGo();
    this.reply({ type: 'bye' }, ref);
    await this.leave('release', 'bye');
  }

  private async leave(how: 'release' | 'detach', reason: Departure): Promise<void> {
    if (this.closed) return;
    this.state = 'closed';
    this.outbox.close();
    this.departure = how;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.held = [];
    this.heldBytes = 0;
    this.hub.metrics.connections.labels(this.peer.transport).dec();
    this.hub.forget(this);
    this.hub.metrics.disconnects.labels(reason).inc();
    if (flushOnDeparture.has(reason)) this.peer.end(reason);
    else this.peer.destroy();
    this.hub.log.info({ nick: this.claim?.nick, remote: this.peer.remote, reason, connections: this.hub.connections }, 'disconnected');
    await this.transfers?.stop();
    await this.letGo();
  }

  /**
   * Gives back the subscriptions and the nick: released after a bye, or when no client ever
   * got the session token (closed before its welcome); kept reserved for a resume otherwise.
   * Others hear `offline` only if this connection still held the nick (it may have resumed
   * elsewhere already). Runs again if a hello finishes claiming after a close.
   */
  private async letGo(): Promise<void> {
    const claim = this.claim;
    this.claim = undefined;
    this.hub.presence.watches.forget(this);
    await this.unsubscribeAll();
    if (!claim) return;
    const { claims } = this.hub.engine;
    const release = this.departure === 'release' || (!this.welcomed && !this.resuming);
    try {
      const held = release ? await claims.release(claim) : await claims.detach(claim, this.hub.limits.resumeGraceMs);
      if (held && this.announced) this.hub.presence.offline(claim);
    } catch (err) {
      this.hub.log.warn({ err, nick: claim.nick }, 'could not record the departure; the gateway lease will');
    }
  }

  /** Cut off as a slow consumer: past the outbound byte bound, or the write deadline. */
  cutOff(): void {
    this.hub.metrics.slowConsumers.inc();
    this.hub.metrics.rejected.labels('slow_consumer').inc();
    const error = new ChorusError('slow_consumer', 'you are not reading fast enough; disconnected');
    this.outbox.writeLast(this.dialect.encode(errorFrame(error.code, error.message), this.shown));
    this.hub.log.warn({ nick: this.shown, remote: this.peer.remote }, 'slow consumer cut off');
    void this.leave('detach', 'slow_consumer');
  }

  /** Past --flood-frames over the rate: say so once and go. */
  private flooded(): void {
    this.refuse(new ChorusError('rate_limited', 'flooding: too many frames over the rate limit; disconnected'));
    void this.leave('detach', 'flood');
  }

  /** The ref of a line that was not handled, so its refusal can answer it (JSON clients only). */
  private refIn(line: string): string | undefined {
    return this.dialect.name === 'json' || this.dialect.name === 'ws' ? refOf(line) : undefined;
  }

  private refuse(err: ChorusError, ref?: string): void {
    this.hub.metrics.rejected.labels(err.code).inc();
    this.outbox.write(this.dialect.encode(errorFrame(err.code, err.message, ref, err.reason), this.shown), 'reply');
  }

  private reply(frame: Record<string, unknown>, ref: string | undefined): void {
    this.outbox.write(this.dialect.encode(ref === undefined ? frame : { ...frame, ref }, this.shown), 'reply');
  }
}
