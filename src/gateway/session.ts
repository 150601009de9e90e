import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Claim, Engine, Envelope } from '../engine/types.js';
import { encodeLine, errorFrame, messageTail, presenceFrame, protocolVersion } from '../protocol/encode.js';
import { ChorusError, asChorusError } from '../protocol/errors.js';
import { refOf, type ClientFrame } from '../protocol/frames.js';
import {
  nickKey, parseTarget, roomAddress, roomKey, targetText, userAddress, type Address, type Nick,
} from '../protocol/names.js';
import type { Dialect } from './dialect.js';
import type { Fanout, Subscriber } from './fanout.js';
import type { Metrics } from './metrics.js';
import { Outbound } from './outbound.js';
import type { Peer } from './peer.js';
import { TokenBucket } from './ratelimit.js';

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
  /** The session is over: the gateway stops tracking it. */
  forget(session: Session): void;
}

type Frame<T extends ClientFrame['type']> = Extract<ClientFrame, { type: T }>;
type State = 'greeting' | 'joining' | 'chatting' | 'closed';

/** Why a session ended: logged, and it decides whether queued output is still flushed. */
export type Departure = 'bye' | 'closed' | 'idle' | 'slow_consumer' | 'bad_input' | 'restart' | 'unavailable';
/** Output is flushed before closing (within the peer's close timeout) unless nobody is there to read it. */
const flushOnDeparture = new Set<Departure>(['bye', 'bad_input', 'restart', 'unavailable', 'slow_consumer']);

/** Inbound frames waiting while one is answered; past this the socket stops being read. */
const maxQueuedFrames = 32;
/** Resume replays read history in pages of this many messages. */
const replayPage = 500;
/** Legacy clients cannot choose another nick, so we try this many variants for them. */
const maxNickVariants = 50;

/**
 * One connected client: the only place where the protocol meets the engine. Frames are
 * handled one at a time, in order; fanned-out frames are written as they arrive.
 */
export class Session implements Subscriber {
  private state: State = 'greeting';
  private claim: Claim | undefined;
  self = '';
  private readonly rooms = new Set<Address>();
  private readonly bucket: TokenBucket;
  private readonly queue: string[] = [];
  private busy = false;
  /** Frames fanned out while the welcome (and a resume's replay) is being written. */
  private held: Array<[Address, Outbound]> = [];
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
   * Whether the idle timeout applies: JSON and WebSocket clients ping, while people on
   * netcat or the old client may rightly sit silent (TCP keepalive finds their dead peers).
   */
  get idles(): boolean {
    return this.peer.transport === 'tcp' || this.peer.transport === 'ws';
  }

  /** One inbound line (a JSON frame, a text command, a legacy body). */
  onLine(line: string): void {
    this.lastSeen = Date.now();
    if (this.state === 'closed') return;
    if (!this.bucket.take()) {
      this.refuse(new ChorusError('rate_limited', 'slow down: too many frames'), this.refIn(line));
      return;
    }
    this.queue.push(line);
    if (this.queue.length >= maxQueuedFrames) this.peer.pause();
    if (!this.busy) void this.drainQueue();
  }

  /** Input the transport could not make into a line (invalid UTF-8, a binary frame, an oversize frame). */
  onBadInput(err: ChorusError): void {
    this.lastSeen = Date.now();
    this.refuse(err);
    if (err.fatal) void this.leave('detach', 'bad_input');
  }

  /** The socket is gone: a dropped user keeps nick and rooms for a resume within the grace period. */
  onClosed(): void {
    void this.leave('detach', 'closed');
  }

  /** The gateway is stopping: tell the client, keep its nick for a resume elsewhere. */
  async drain(): Promise<void> {
    if (this.state === 'closed') return;
    this.write(this.dialect.encode({ type: 'bye', reason: 'restart' }, this.self));
    await this.leave('detach', 'restart');
  }

  /** Idle for too long: close, as a drop (the client may resume). */
  expire(): void {
    void this.leave('detach', 'idle');
  }

  probe(): void {
    this.peer.probe?.();
  }

  deliver(out: Outbound, address: Address): void {
    if (this.state === 'joining') this.held.push([address, out]);
    else if (this.state === 'chatting') this.write(this.dialect.deliver(out), out.env);
  }

  private async drainQueue(): Promise<void> {
    this.busy = true;
    while (this.queue.length > 0 && this.state !== 'closed') {
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
        const error = asChorusError(err);
        if (!(err instanceof ChorusError)) this.hub.log.warn({ err, nick: this.claim?.nick }, 'engine operation failed');
        this.refuse(error, ref ?? this.refIn(line));
      }
    }
    this.busy = false;
  }

  private async handle(frame: ClientFrame): Promise<void> {
    if (this.state === 'greeting') {
      if (frame.type !== 'hello') throw new ChorusError('hello_first', 'say hello with your nick first');
      return this.hello(frame);
    }
    switch (frame.type) {
      case 'hello':
        throw new ChorusError('bad_frame', `you are already ${this.claim!.nick}`);
      case 'send':
        return this.send(frame);
      case 'join':
        return this.join(frame);
      case 'leave':
        return this.leaveRoom(frame);
      case 'who':
        return this.who(frame);
      case 'history':
        return this.history(frame);
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
    this.claim = claim;
    this.self = claim.key;
    const { engine } = this.hub;
    let replayed = new Map<Address, string>();
    try {
      const online = await engine.presence.count();
      this.reply({ type: 'welcome', nick: claim.nick, session, gateway: engine.gateway, online, version: protocolVersion }, frame.ref);
      this.hub.log.info({ nick: claim.nick, remote: this.peer.remote, transport: this.peer.transport, resumed: !!frame.resume }, 'registered');
      await this.announce('online');
      if (frame.resume) replayed = await this.replay(frame.resume.last, session);
    } catch (err) {
      // Half-welcomed is no state to chat in: the client resumes once the store is back.
      this.refuse(asChorusError(err), frame.ref);
      return this.leave('detach', 'unavailable');
    }
    this.state = 'chatting';
    const held = this.held;
    this.held = [];
    for (const [address, out] of held) {
      const upTo = replayed.get(address);
      if (out.env.id !== '' && upTo !== undefined && !engine.history.isAfter(out.env.id, upTo)) continue;
      this.deliver(out, address);
    }
  }

  /**
   * Subscribes before claiming, so nothing sent the moment others see this user online is
   * lost; what arrives before the welcome is held. Legacy clients cannot pick another nick
   * when theirs is taken, so they get the first free variant (quang, quang_2, ...).
   */
  private async claimNick(frame: Frame<'hello'>, session: string): Promise<Claim> {
    const { engine, fanout } = this.hub;
    const mode = frame.resume ? 'resume' : 'new';
    const attempts = this.dialect.name === 'legacy' ? maxNickVariants : 1;
    for (let n = 1; n <= attempts; n++) {
      const nick = (n === 1 ? frame.nick : `${frame.nick}_${n}`) as Nick;
      const claim: Claim = { nick, key: nickKey(nick), session };
      const rooms = mode === 'resume' ? (await engine.presence.rooms(claim.key)).map(roomAddress) : [];
      const addresses: Address[] = ['*', userAddress(claim.key), ...rooms];
      this.self = claim.key;
      this.state = 'joining';
      await Promise.all(addresses.map((a) => fanout.add(a, this)));
      if (await engine.presence.claim(claim, mode)) {
        rooms.forEach((r) => this.rooms.add(r));
        if (n > 1) this.write(this.dialect.encode({ type: 'error', code: 'nick_taken', message: `${frame.nick} is taken; you are ${nick}` }, this.self));
        return claim;
      }
      await Promise.all(addresses.map((a) => fanout.remove(a, this)));
      this.state = 'greeting';
      this.self = '';
      this.held = [];
    }
    if (mode === 'resume') throw new ChorusError('resume_failed', 'that session has expired or moved on; say hello again');
    throw new ChorusError('nick_taken', `${frame.nick} is already online; pick another nick`);
  }

  /** Writes every message missed on each subscribed target, oldest first; returns how far it got per target. */
  private async replay(last: Record<string, string>, session: string): Promise<Map<Address, string>> {
    const { history } = this.hub.engine;
    const from = new Map<Address, string>();
    for (const [target, id] of Object.entries(last)) {
      let address: Address;
      try {
        address = parseTarget(target).address;
      } catch {
        continue; // a target this server cannot name has nothing to replay
      }
      const known = from.get(address);
      if (known === undefined || history.isAfter(id, known)) from.set(address, id);
    }
    // A target the client never heard from is replayed from the start of its session.
    const since = `${sessionStart(session)}-0`;
    const upTo = new Map<Address, string>();
    for (const address of ['*', userAddress(this.claim!.key), ...this.rooms] as Address[]) {
      let cursor = from.get(address) ?? since;
      for (;;) {
        const page = await history.after(address, cursor, replayPage);
        for (const m of page) this.write(this.dialect.deliver(Outbound.stored(m.id, m.json)));
        if (page.length > 0) cursor = page[page.length - 1]!.id;
        if (page.length < replayPage) break;
      }
      upTo.set(address, cursor);
    }
    return upTo;
  }

  private async send(frame: Frame<'send'>): Promise<void> {
    const claim = this.claim!;
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

  private async join(frame: Frame<'join'>): Promise<void> {
    const claim = this.claim!;
    const room = roomKey(frame.room);
    const address = roomAddress(room);
    await this.hub.fanout.add(address, this);
    let members: Nick[];
    try {
      members = await this.hub.engine.presence.join(room, claim);
    } catch (err) {
      if (!this.rooms.has(address)) await this.hub.fanout.remove(address, this);
      throw err;
    }
    if (!this.rooms.has(address)) {
      this.rooms.add(address);
      await this.publish(address, { type: 'joined', room, nick: claim.nick });
    }
    this.reply({ type: 'joined', room, nick: claim.nick, members }, frame.ref);
  }

  private async leaveRoom(frame: Frame<'leave'>): Promise<void> {
    const claim = this.claim!;
    const room = roomKey(frame.room);
    const address = roomAddress(room);
    const was = await this.hub.engine.presence.leave(room, claim);
    if (this.rooms.delete(address)) await this.hub.fanout.remove(address, this);
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

  private async history(frame: Frame<'history'>): Promise<void> {
    const stored = await this.hub.engine.history.range(frame.with.address, this.claim!.key, frame.before, frame.limit);
    const messages = stored.map((m) => JSON.parse(m.json) as object);
    this.reply({ type: 'history', with: targetText(frame.with), messages }, frame.ref);
  }

  private async announce(event: 'online' | 'offline'): Promise<void> {
    await this.publish('*', presenceFrame(event, this.claim!.nick, Date.now()));
  }

  private async publish(address: Address, frame: object): Promise<void> {
    const env: Envelope = { id: '', ts: Date.now(), from: this.self, line: encodeLine(frame) };
    await this.hub.engine.bus.publish(address, env);
  }

  /**
   * Ends the session once: unsubscribes, then either releases the nick (bye) or keeps it
   * reserved for a resume (drop, restart), and tells the others.
   */
  private async leave(how: 'release' | 'detach', reason: Departure): Promise<void> {
    if (this.state === 'closed') return;
    const claim = this.state === 'chatting' || this.state === 'joining' ? this.claim : undefined;
    this.state = 'closed';
    this.queue.length = 0;
    this.held = [];
    this.hub.metrics.connections.labels(this.peer.transport).dec();
    this.hub.forget(this);
    if (flushOnDeparture.has(reason)) this.peer.end();
    else this.peer.destroy();
    this.hub.log.info({ nick: claim?.nick, remote: this.peer.remote, reason }, 'disconnected');
    if (!claim) return;
    const { engine, fanout } = this.hub;
    try {
      const addresses: Address[] = ['*', userAddress(claim.key), ...this.rooms];
      await Promise.all(addresses.map((a) => fanout.remove(a, this)));
      if (how === 'release') await engine.presence.release(claim);
      else await engine.presence.detach(claim, this.hub.limits.resumeGraceMs);
      await this.announce('offline');
    } catch (err) {
      this.hub.log.warn({ err, nick: claim.nick }, 'could not record the departure; the gateway lease will');
    }
  }

  /** The ref of a line that was not handled, so its refusal can answer it (JSON clients only). */
  private refIn(line: string): string | undefined {
    return this.dialect.name === 'json' || this.dialect.name === 'ws' ? refOf(line) : undefined;
  }

  private refuse(err: ChorusError, ref?: string): void {
    this.hub.metrics.rejected.labels(err.code).inc();
    this.write(this.dialect.encode(errorOf(err, ref), this.self));
  }

  private reply(frame: Record<string, unknown>, ref: string | undefined): void {
    this.write(this.dialect.encode(ref === undefined ? frame : { ...frame, ref }, this.self));
  }

  /** Every write goes through here: the outbound buffer has a bound and a policy. */
  private write(bytes: Buffer | undefined, env?: Envelope): void {
    if (bytes === undefined || this.state === 'closed') return;
    if (this.peer.buffered() + bytes.length > this.hub.limits.maxOutboundBytes) {
      this.hub.metrics.slowConsumers.inc();
      this.hub.metrics.rejected.labels('slow_consumer').inc();
      this.peer.write(this.dialect.encode(errorOf(new ChorusError('slow_consumer', 'you are not reading fast enough; disconnected')), this.self) ?? Buffer.alloc(0));
      this.hub.log.warn({ nick: this.claim?.nick, remote: this.peer.remote }, 'slow consumer cut off');
      void this.leave('detach', 'slow_consumer');
      return;
    }
    this.peer.write(bytes);
    if (env?.id) this.delivered.inc();
  }
}

function errorOf(err: ChorusError, ref?: string): object {
  return errorFrame(err.code, err.message, ref);
}

/** Random, and stamped with its start so a resume can replay targets the client never heard from. */
function newSessionToken(): string {
  return `${randomBytes(18).toString('base64url')}.${Date.now().toString(36)}`;
}

function sessionStart(session: string): number {
  const stamp = parseInt(session.split('.')[1] ?? '', 36);
  const dayAgo = Date.now() - 86_400_000;
  return Number.isFinite(stamp) && stamp > dayAgo ? stamp : Date.now();
}
