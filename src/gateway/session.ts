import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Claim, Engine, Envelope } from '../engine/types.js';
import { encodeLine, errorFrame, messageTail, presenceFrame, protocolVersion } from '../protocol/encode.js';
import { ChorusError, asChorusError } from '../protocol/errors.js';
import { refOf, type ClientFrame } from '../protocol/frames.js';
import { nickKey, roomAddress, roomKey, targetText, userAddress, type Address, type Nick } from '../protocol/names.js';
import type { Dialect } from './dialect.js';
import type { Fanout, Subscriber } from './fanout.js';
import type { Metrics } from './metrics.js';
import { Outbound } from './outbound.js';
import type { Peer } from './peer.js';
import { TokenBucket } from './ratelimit.js';
import { newSessionToken, replay, replayCursors } from './resume.js';
import { resumeRefusal } from './resume-refusal.js';

export interface Limits {
  readonly rate: number;
  readonly burst: number;
  readonly maxOutboundBytes: number;
  readonly resumeGraceMs: number;
}

/** What a session needs from its gateway. */
export interface Hub {
  readonly engine: Engine;
  readonly fanout: Fanout;
  readonly limits: Limits;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Open sessions on this gateway now, for the logs. */
  readonly connections: number;
  /** The session is over: the gateway stops tracking it. */
  forget(session: Session): void;
}

type Frame<T extends ClientFrame['type']> = Extract<ClientFrame, { type: T }>;
type State = 'greeting' | 'joining' | 'chatting' | 'closed';

/** Why a session ended: logged, and it decides whether queued output is still flushed. */
export type Departure = 'bye' | 'closed' | 'idle' | 'slow_consumer' | 'bad_input' | 'refused' | 'restart' | 'unavailable';
/** Output is flushed before closing (within the peer's close timeout) unless nobody is there to read it. */
const flushOnDeparture = new Set<Departure>(['bye', 'bad_input', 'refused', 'restart', 'unavailable', 'slow_consumer']);

/** Inbound frames waiting while one is answered; past this the socket stops being read. */
const maxQueuedFrames = 32;
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
  private replayed = new Map<Address, string>();
  /** Frames fanned out while the welcome (and a resume's replay) is being written. */
  private held: Array<[Address, Outbound]> = [];
  private heldBytes = 0;
  private announced = false;
  /** The nick came back by a resume: until welcomed, a drop hands it back for the grace period. */
  private resuming = false;
  private departure: 'release' | 'detach' = 'detach';
  private readonly bucket: TokenBucket;
  private readonly queue: string[] = [];
  /** The queue being worked through, if it is: drain() waits for a hello in flight. */
  private working: Promise<void> | undefined;
  /** The welcome went out: from here on a drop keeps the nick for a resume. */
  private welcomed = false;
  private readonly delivered;
  lastSeen = Date.now();

  constructor(
    private readonly peer: Peer,
    private readonly dialect: Dialect,
    private readonly hub: Hub,
  ) {
    this.bucket = new TokenBucket(hub.limits.rate, hub.limits.burst);
    this.delivered = hub.metrics.delivered.labels(peer.transport);
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
    if (!this.bucket.take()) {
      this.refuse(new ChorusError('rate_limited', 'slow down: too many frames'), this.refIn(line));
      return;
    }
    this.queue.push(line);
    if (this.queue.length >= maxQueuedFrames) this.peer.pause();
    this.working ??= this.drainQueue().finally(() => (this.working = undefined));
  }

  /** Input the transport could not make into a line (invalid UTF-8, a binary frame, an oversize frame). */
  onBadInput(err: ChorusError): void {
    this.lastSeen = Date.now();
    if (this.closed) return;
    // Refusals cost the sender tokens too, so a flood of garbage is throttled like any other.
    const limited = !err.fatal && !this.bucket.take();
    this.refuse(limited ? new ChorusError('rate_limited', 'slow down: too many frames') : err);
    if (err.fatal) void this.leave('detach', 'bad_input');
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
      this.write(this.dialect.encode({ type: 'bye', reason: 'restart' }, this.shown));
      await this.leave('detach', 'restart');
    }
    await this.working;
  }

  /** Idle for too long: close, as a drop (the client may resume). */
  expire(): void {
    void this.leave('detach', 'idle');
  }

  probe(): void {
    this.peer.probe?.();
  }

  deliver(out: Outbound, address: Address): void {
    if (out.env.conn !== undefined) return this.onTakeover(out);
    if (this.state === 'joining') {
      this.held.push([address, out]);
      this.heldBytes += out.env.line.length;
      if (this.peer.buffered() + this.heldBytes > this.hub.limits.maxOutboundBytes) this.cutOff();
    } else if (this.state === 'chatting' && !this.wasReplayed(address, out.env.id)) {
      this.write(this.dialect.deliver(out), out.env);
    }
  }

  /** Whether a resume's replay already wrote this message; forgets an address once live traffic has passed it. */
  private wasReplayed(address: Address, id: string): boolean {
    if (id === '' || this.replayed.size === 0) return false;
    const upTo = this.replayed.get(address);
    if (upTo === undefined) return false;
    if (!this.hub.engine.history.isAfter(id, upTo)) return true;
    this.replayed.delete(address);
    return false;
  }

  /** A resume elsewhere took the nick from this connection: say so and go, holding nothing. */
  private onTakeover(out: Outbound): void {
    if (out.env.conn !== this.conn || this.closed) return;
    this.write(this.dialect.deliver(out), undefined, 'reply');
    // The detach changes nothing now (another connection holds the nick) but lets this
    // gateway's engine forget the claim.
    void this.leave('detach', 'refused');
  }

  private async drainQueue(): Promise<void> {
    while (this.queue.length > 0 && !this.closed) {
      const line = this.queue.shift()!;
      if (this.queue.length < maxQueuedFrames / 4) this.peer.resume();
      let ref: string | undefined;
      try {
        const parsed = this.dialect.parse(line, this.state === 'greeting');
        if ('reply' in parsed) {
          this.write(parsed.reply);
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
    switch (frame.type) {
      case 'hello':
        throw new ChorusError('bad_frame', `you are already ${claim.nick}`);
      case 'send':
        return this.send(frame, claim);
      case 'join':
        return this.join(frame, claim);
      case 'leave':
        return this.leaveRoom(frame, claim);
      case 'who':
        return this.who(frame);
      case 'history':
        return this.history(frame, claim);
      case 'ping':
        return this.reply({ type: 'pong' }, frame.ref);
      case 'bye':
        this.reply({ type: 'bye' }, frame.ref);
        return this.leave('release', 'bye');
    }
  }

  private async hello(frame: Frame<'hello'>): Promise<void> {
    const session = frame.resume?.session ?? newSessionToken();
    const claim = await this.claimNick(frame, session);
    if (!claim) return;
    const { engine } = this.hub;
    try {
      const online = await engine.presence.count();
      if (this.closed) return;
      this.reply({ type: 'welcome', nick: claim.nick, session, gateway: engine.gateway, online, version: protocolVersion }, frame.ref);
      this.welcomed = true;
      this.hub.log.info({ nick: claim.nick, remote: this.peer.remote, transport: this.peer.transport, resumed: !!frame.resume }, 'registered');
      await this.announce('online', claim);
      this.announced = true;
      if (frame.resume) {
        const cursors = replayCursors([...this.subscribed], frame.resume.last, session, engine.history);
        this.replayed = await replay(
          cursors,
          engine.history,
          (m) => this.write(this.dialect.deliver(Outbound.stored(m.id, m.json)), undefined, 'reply'),
          () => (this.peer.buffered() > this.hub.limits.maxOutboundBytes / 2 ? this.peer.drained() : undefined),
          () => this.closed,
        );
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

  /**
   * Subscribes before claiming, so nothing sent the moment others see this user online is
   * lost; what arrives before the welcome is held. Legacy clients cannot pick another nick
   * when theirs is taken, so they get the first free variant (quang, quang_2, ...).
   * Resolves undefined when the connection closed meanwhile (letGo() has given all back).
   */
  private async claimNick(frame: Frame<'hello'>, session: string): Promise<Claim | undefined> {
    const { engine } = this.hub;
    const mode = frame.resume ? 'resume' : 'new';
    const attempts = this.dialect.name === 'legacy' ? maxNickVariants : 1;
    for (let n = 1; n <= attempts; n++) {
      const nick = (n === 1 ? frame.nick : `${frame.nick}_${n}`) as Nick;
      const claim: Claim = { nick, key: nickKey(nick), session, conn: this.conn };
      this.self = claim.key;
      this.state = 'joining';
      try {
        const rooms = mode === 'resume' ? (await engine.presence.rooms(claim.key)).map(roomAddress) : [];
        await Promise.all(['*' as Address, userAddress(claim.key), ...rooms].map((a) => this.subscribe(a)));
        // Gone already: claim nothing that nobody could use or give back.
        if (this.closed) {
          await this.unwindHello();
          return undefined;
        }
        if (await engine.presence.claim(claim, mode)) {
          this.claim = claim;
          this.resuming = mode === 'resume';
          if (this.closed) {
            await this.letGo();
            return undefined;
          }
          this.shown = claim.nick;
          rooms.forEach((r) => this.rooms.add(r));
          if (n > 1) this.refuse(new ChorusError('nick_taken', `${frame.nick} is taken; you are ${nick}`));
          return claim;
        }
      } catch (err) {
        await this.unwindHello();
        throw err;
      }
      await this.unwindHello();
      if (this.closed) return undefined;
    }
    if (mode === 'resume') throw await resumeRefusal(engine, session);
    throw new ChorusError('nick_taken', `${frame.nick} is already online; pick another nick`);
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

  private async send(frame: Frame<'send'>, claim: Claim): Promise<void> {
    const to = frame.to;
    const ts = Date.now();
    const shown = to.kind === 'room' ? to.key : targetText(to);
    const posted = await this.hub.engine.history.post({
      to: to.address,
      from: claim,
      ts,
      tail: messageTail(claim.nick, shown, frame.text, ts),
      ...(frame.ref === undefined ? {} : { dedupe: `${claim.session}:${frame.ref}` }),
    });
    if (!posted.duplicate) {
      this.hub.metrics.received.labels(to.kind === 'room' ? 'group' : to.kind).inc();
      this.hub.log.debug({ nick: claim.nick, to: shown, id: posted.id, text: frame.text }, 'message');
    }
    this.reply({ type: 'ack', id: posted.id, ts: posted.ts }, frame.ref);
  }

  private async join(frame: Frame<'join'>, claim: Claim): Promise<void> {
    const room = roomKey(frame.room);
    const address = roomAddress(room);
    const isNew = !this.rooms.has(address);
    await this.subscribe(address);
    if (this.closed) return;
    let members: Nick[];
    try {
      members = await this.hub.engine.presence.join(room, claim);
    } catch (err) {
      if (isNew) await this.unsubscribe(address);
      throw err;
    }
    if (this.closed) return;
    if (isNew) {
      this.rooms.add(address);
      await this.publish(address, { type: 'joined', room, nick: claim.nick });
    }
    this.reply({ type: 'joined', room, nick: claim.nick, members }, frame.ref);
  }

  private async leaveRoom(frame: Frame<'leave'>, claim: Claim): Promise<void> {
    const room = roomKey(frame.room);
    const address = roomAddress(room);
    const was = await this.hub.engine.presence.leave(room, claim);
    if (this.rooms.delete(address)) await this.unsubscribe(address);
    if (!was) throw new ChorusError('not_in_room', `you are not in ${room}`);
    await this.publish(address, { type: 'left', room, nick: claim.nick });
    this.reply({ type: 'left', room, nick: claim.nick }, frame.ref);
  }

  private async who(frame: Frame<'who'>): Promise<void> {
    const { presence } = this.hub.engine;
    if (frame.room === undefined) {
      const users = await presence.online();
      this.reply({ type: 'who', users, count: users.length }, frame.ref);
    } else {
      const room = roomKey(frame.room);
      const users = await presence.members(room);
      this.reply({ type: 'who', room, users, count: users.length }, frame.ref);
    }
  }

  /** Splices the stored messages' JSON into the reply: they were encoded once, when sent. */
  private async history(frame: Frame<'history'>, claim: Claim): Promise<void> {
    const stored = await this.hub.engine.history.range(frame.with.address, claim.key, frame.before, frame.limit);
    const ref = frame.ref === undefined ? '' : `,"ref":${JSON.stringify(frame.ref)}`;
    const json = `{"type":"history","with":${JSON.stringify(targetText(frame.with))}${ref},"messages":[${stored.map((m) => m.json).join(',')}]}`;
    this.write(this.dialect.encodeJson(json, this.shown), undefined, 'reply');
  }

  private async announce(event: 'online' | 'offline', claim: Claim): Promise<void> {
    const env: Envelope = { id: '', ts: Date.now(), from: claim.key, line: encodeLine(presenceFrame(event, claim.nick, Date.now())) };
    await this.hub.engine.bus.publish('*', env);
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
  private async leave(how: 'release' | 'detach', reason: Departure): Promise<void> {
    if (this.closed) return;
    this.state = 'closed';
    this.departure = how;
    this.queue.length = 0;
    this.held = [];
    this.heldBytes = 0;
    this.hub.metrics.connections.labels(this.peer.transport).dec();
    this.hub.forget(this);
    if (flushOnDeparture.has(reason)) this.peer.end();
    else this.peer.destroy();
    this.hub.log.info({ nick: this.claim?.nick, remote: this.peer.remote, reason, connections: this.hub.connections }, 'disconnected');
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
    await this.unsubscribeAll();
    if (!claim) return;
    const { presence } = this.hub.engine;
    const release = this.departure === 'release' || (!this.welcomed && !this.resuming);
    try {
      const held = release ? await presence.release(claim) : await presence.detach(claim, this.hub.limits.resumeGraceMs);
      if (held && this.announced) await this.announce('offline', claim);
    } catch (err) {
      this.hub.log.warn({ err, nick: claim.nick }, 'could not record the departure; the gateway lease will');
    }
  }

  private cutOff(): void {
    this.hub.metrics.slowConsumers.inc();
    this.hub.metrics.rejected.labels('slow_consumer').inc();
    const error = new ChorusError('slow_consumer', 'you are not reading fast enough; disconnected');
    const bytes = this.dialect.encode(errorFrame(error.code, error.message), this.shown);
    if (bytes) this.peer.write(bytes);
    this.hub.log.warn({ nick: this.shown, remote: this.peer.remote }, 'slow consumer cut off');
    void this.leave('detach', 'slow_consumer');
  }

  /** The ref of a line that was not handled, so its refusal can answer it (JSON clients only). */
  private refIn(line: string): string | undefined {
    return this.dialect.name === 'json' || this.dialect.name === 'ws' ? refOf(line) : undefined;
  }

  private refuse(err: ChorusError, ref?: string): void {
    this.hub.metrics.rejected.labels(err.code).inc();
    this.write(this.dialect.encode(errorFrame(err.code, err.message, ref, err.reason), this.shown), undefined, 'reply');
  }

  private reply(frame: Record<string, unknown>, ref: string | undefined): void {
    this.write(this.dialect.encode(ref === undefined ? frame : { ...frame, ref }, this.shown), undefined, 'reply');
  }

  /**
   * Every write goes through here: the outbound buffer has a bound and a policy. Fanned-out
   * frames must fit under it; a reply the client asked for (a long history, say) is written
   * whole as long as the client has been reading.
   */
  private write(bytes: Buffer | undefined, env?: Envelope, kind: 'fanout' | 'reply' = 'fanout'): void {
    if (bytes === undefined || this.closed) return;
    const queued = this.peer.buffered() + (kind === 'fanout' ? bytes.length : 0);
    if (queued > this.hub.limits.maxOutboundBytes) return this.cutOff();
    this.peer.write(bytes);
    if (env?.id) this.delivered.inc();
  }
}
