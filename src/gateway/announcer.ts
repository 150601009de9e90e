import type { Logger } from 'pino';
import type { Claim, Engine, Envelope, PresenceChange } from '../engine/types.js';
import { encodeLine, presenceCountFrame, presenceFrame } from '../protocol/encode.js';
import { nickKey, presenceAddress, type Nick, type NickKey } from '../protocol/names.js';
import type { Fanout, Subscriber } from './fanout.js';
import type { Metrics } from './metrics.js';
import { Outbound } from './outbound.js';
import { WatchList } from './watchlist.js';

export interface PresenceLimits {
  /** Changes are gathered this long, then published and shown as one batch. */
  readonly tickMs: number;
  /** Above this many online, public presence is the count alone; watchers still get their nicks. */
  readonly maxUsers: number;
  /** Rooms up to this many members announce who joins and leaves; bigger ones give their count instead. */
  readonly roomMax: number;
}

type Event = PresenceChange['event'];
interface Change {
  readonly event: Event;
  readonly nick: Nick;
}

/** How often, at most, the online count is shown above the threshold: a slow tick. */
const countEveryMs = 5_000;

/**
 * Changes gathered during one tick, by nick key. A change and its opposite cancel out: the
 * reader's view before the first is right again after the second, so an online-then-offline
 * flap inside one tick reaches nobody.
 */
class Changes {
  private byKey = new Map<NickKey, Change>();

  get size(): number {
    return this.byKey.size;
  }

  note(key: NickKey, change: Change): void {
    const had = this.byKey.get(key);
    if (had !== undefined && had.event !== change.event) this.byKey.delete(key);
    else this.byKey.set(key, change);
  }

  take(): Map<NickKey, Change> {
    const taken = this.byKey;
    this.byKey = new Map();
    return taken;
  }
}

/**
 * The one owner of presence announcements on a gateway: its sessions' hellos and departures,
 * and the engine's own changes (a reaped gateway's users), are gathered here and published to
 * the other gateways at most once per tick, as one batch. Every gateway hears every batch and
 * shows what it heard to its own clients once per tick too: one presence frame per client
 * per tick at most, however many gateways there are and however many users came and went.
 * Above `maxUsers` online, clients get the count on a slow tick instead, and watchers the
 * changes of the nicks they watch.
 */
export class Announcer implements Subscriber {
  /** Not a user: every batch reaches it. */
  readonly self = '';
  readonly watches = new WatchList();
  /** Marks this gateway's own batches, which it shows without waiting for the bus to bring them back. */
  private readonly origin: string;
  private readonly outgoing = new Changes();
  private readonly incoming = new Changes();
  private readonly ticksPerCount: number;
  private ticks = 0;
  /** The count last shown above the threshold; undefined while public presence is on. */
  private shownCount: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private working: Promise<void> | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly fanout: Fanout,
    private readonly metrics: Metrics,
    readonly limits: PresenceLimits,
    private readonly log: Logger,
  ) {
    // A gateway id holds no spaces, and no nick key holds `~`: never mistaken for a user.
    this.origin = `~${engine.gateway}`;
    this.ticksPerCount = Math.max(1, Math.round(countEveryMs / limits.tickMs));
    engine.online.onChange((change) => this.outgoing.note(change.key, change));
  }

  async start(): Promise<void> {
    await this.fanout.add(presenceAddress, this);
    this.timer ??= setInterval(() => void this.tick(), this.limits.tickMs);
    this.timer.unref();
  }

  /** The gateway is stopping: no more ticks, but what its sessions' departures changed is still published. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.working;
    try {
      await this.publish();
    } catch (err) {
      this.log.warn({ err }, 'could not publish the last presence batch; the gateway lease will');
    }
  }

  online(claim: Claim): void {
    this.outgoing.note(claim.key, { event: 'online', nick: claim.nick });
  }

  offline(claim: Claim): void {
    this.outgoing.note(claim.key, { event: 'offline', nick: claim.nick });
  }

  /** A batch from another gateway. */
  deliver(out: Outbound): void {
    if (out.env.from === this.origin) return;
    const frame = out.frame();
    for (const event of ['online', 'offline'] as const) {
      const nicks = frame[event];
      if (!Array.isArray(nicks)) continue;
      for (const nick of nicks as Nick[]) this.incoming.note(nickKey(nick), { event, nick });
    }
  }

  private tick(): void {
    this.working ??= this.publish()
      .then(() => this.show())
      .catch((err: unknown) => this.log.debug({ err }, 'presence tick failed'))
      .finally(() => (this.working = undefined));
  }

  /**
   * This gateway's changes, to the others; shown here once published (not waiting for the bus
   * to bring them back). A batch that could not be published is tried again next tick, with
   * whatever changed since noted after it.
   */
  private async publish(): Promise<void> {
    if (this.outgoing.size === 0) return;
    const batch = this.outgoing.take();
    try {
      await this.engine.bus.publish(presenceAddress, this.envelope(this.origin, presenceFrame(Date.now(), ...split(batch))));
    } catch (err) {
      const since = this.outgoing.take();
      for (const changes of [batch, since]) for (const [key, change] of changes) this.outgoing.note(key, change);
      throw err;
    }
    this.metrics.presenceBatches.inc();
    for (const [key, change] of batch) this.incoming.note(key, change);
  }

  /** What the cluster changed this tick, to this gateway's clients: one frame each at most. */
  private async show(): Promise<void> {
    const countDue = ++this.ticks % this.ticksPerCount === 0;
    if (this.incoming.size === 0 && !(countDue && this.shownCount !== undefined)) return;
    const count = await this.engine.online.count();
    const changes = this.incoming.take();
    const ts = Date.now();
    if (count <= this.limits.maxUsers) {
      this.shownCount = undefined;
      if (changes.size > 0) this.showToAll(ts, changes);
      return;
    }
    // Crossing the threshold is shown at once; after that the count only changes on the slow tick.
    const showCount = (countDue || this.shownCount === undefined) && count !== this.shownCount;
    const routed = this.watches.route(changes);
    let frames = 0;
    if (showCount) {
      this.shownCount = count;
      frames += this.fanout.dispatchLocal('*', this.envelope('', presenceCountFrame(ts, count)), new Set(routed.keys()));
    }
    for (const [sub, theirs] of routed) {
      const frame = { ...presenceFrame(ts, ...split(theirs)), ...(showCount ? { count } : {}) };
      sub.deliver(new Outbound(this.envelope('', frame)), '*');
      frames++;
    }
    this.metrics.presenceFrames.inc(frames);
  }

  /** One frame, encoded once, for every local client; a single change is not shown to its own subject. */
  private showToAll(ts: number, changes: Map<NickKey, Change>): void {
    const from = changes.size === 1 ? [...changes.keys()][0]! : '';
    this.metrics.presenceFrames.inc(this.fanout.dispatchLocal('*', this.envelope(from, presenceFrame(ts, ...split(changes)))));
  }

  private envelope(from: string, frame: object): Envelope {
    return { id: '', ts: Date.now(), from, line: encodeLine(frame) };
  }
}

function split(changes: ReadonlyMap<NickKey, Change>): [online: Nick[], offline: Nick[]] {
  const online: Nick[] = [];
  const offline: Nick[] = [];
  for (const { event, nick } of changes.values()) (event === 'online' ? online : offline).push(nick);
  return [online, offline];
}
