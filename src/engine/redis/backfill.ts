import type { Address } from '../../protocol/names.js';
import { messageJson } from '../../protocol/encode.js';
import { compareIds } from '../ids.js';
import type { Envelope } from '../types.js';
import type { Client } from './connection.js';
import type { Keys } from './keys.js';

/** A stream entry as ioredis returns it: [id, [field, value, ...]]. */
type Entry = [string, string[]];

/** Entries per read; a backfill reads at most the stream's cap (MAXLEN ~) in all. */
const pageSize = 500;

/**
 * What the subscriber connection missed while it was away. Redis drops a publication to a
 * connection that is not there, but the target's stream has it: the post script files and
 * publishes in one step, so stream order is publish order and stream ids are message ids.
 * So, per channel, the bus remembers the id of the last message it handed over; after a
 * resubscribe it reads each stream after that id and hands those messages over first, then
 * the live envelopes that came in meanwhile (held until then), minus the ones a backfill
 * already handed over.
 *
 * With history off nothing is filed, so there is nothing to read back: messages published
 * while the subscriber was away are lost (and a client's resume cannot replay them either).
 */
export class Backfill {
  /** channel → id of the last message handed over, or the stream's end when it was subscribed. */
  private readonly cursors = new Map<string, string>();
  /**
   * channel → live envelopes held from the moment a backfill of it is asked for until every
   * run asked for is over: runs wait their turn, each a resubscribe and one stream read at
   * most, bounded in time by the command timeout.
   */
  private readonly holding = new Map<string, Hold>();
  /**
   * channel → the last id a backfill handed over. The live copy of a backfilled message can
   * still arrive after the backfill (the read and the subscription are two connections); it
   * is dropped, until a message past the floor shows that none is left in flight.
   */
  private readonly floors = new Map<string, string>();
  /**
   * One run at a time: a run whose read started from an older cursor must not hand over
   * messages after another run released the live ones that followed them.
   */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly cmd: Client,
    private readonly keys: Keys,
    private readonly enabled: boolean,
  ) {}

  /**
   * Before a channel is first subscribed: its stream's end, where a backfill starts if no
   * message came before the subscriber dropped. Read before subscribing, not after, so it
   * can only be earlier than the first live message, never later.
   */
  async mark(channel: string, address: Address): Promise<void> {
    if (!this.enabled || this.cursors.has(channel)) return;
    const [last] = (await this.cmd.xrevrange(this.keys.log(address), '+', '-', 'COUNT', 1)) as Entry[];
    this.cursors.set(channel, last?.[0] ?? '0-0');
  }

  forget(channel: string): void {
    this.cursors.delete(channel);
    this.holding.delete(channel);
    this.floors.delete(channel);
  }

  /** Whether a live envelope is to be handed over now: not while held, nor when a backfill already did. */
  admit(channel: string, env: Envelope): boolean {
    const hold = this.holding.get(channel);
    if (hold) {
      hold.envelopes.push(env);
      return false;
    }
    return this.fresh(channel, env);
  }

  /**
   * Resubscribes the channels (`subscribe`), then, channel by channel, hands over what its
   * stream got after its cursor, then the live traffic held meanwhile. A channel whose stream
   * could not be read gets its held traffic anyway (what it missed stays lost) and the first
   * error is thrown. `which` names the channels; a run that waits behind another leaves out
   * those unsubscribed meanwhile.
   */
  run(
    which: () => ReadonlyMap<string, Address>,
    subscribe: (channels: ReadonlyMap<string, Address>) => Promise<unknown>,
    hand: (channel: string, env: Envelope) => void,
  ): Promise<void> {
    const asked = which();
    // Held from now, not from this run's turn: live envelopes handed over while it waits
    // would move the cursor past what it is to read back.
    const holds = this.enabled ? [...asked.keys()].map((channel) => [channel, this.hold(channel)] as const) : [];
    const done = this.queue
      .then(() => {
        const still = which();
        return this.catchUp(new Map([...asked].filter(([channel]) => still.has(channel))), subscribe, hand);
      })
      .finally(() => {
        for (const [channel, hold] of holds) this.unhold(channel, hold, hand);
      });
    this.queue = done.catch(() => {});
    return done;
  }

  private async catchUp(
    channels: ReadonlyMap<string, Address>,
    subscribe: (channels: ReadonlyMap<string, Address>) => Promise<unknown>,
    hand: (channel: string, env: Envelope) => void,
  ): Promise<void> {
    if (channels.size === 0) return;
    await subscribe(channels);
    if (!this.enabled) return;
    const done = await Promise.allSettled(
      [...channels].map(async ([channel, address]) => {
        const missed = await this.missed(channel, address);
        if (!this.cursors.has(channel)) return; // unsubscribed meanwhile
        for (const env of missed) {
          this.cursors.set(channel, env.id);
          hand(channel, env);
        }
        if (missed.length > 0) this.floors.set(channel, missed[missed.length - 1]!.id);
      }),
    );
    const failed = done.find((d): d is PromiseRejectedResult => d.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private hold(channel: string): Hold {
    let hold = this.holding.get(channel);
    if (!hold) this.holding.set(channel, (hold = { runs: 0, envelopes: [] }));
    hold.runs++;
    return hold;
  }

  /** The last run of a channel over hands over what it held; one forgotten meanwhile has none. */
  private unhold(channel: string, hold: Hold, hand: (channel: string, env: Envelope) => void): void {
    if (this.holding.get(channel) !== hold || --hold.runs > 0) return;
    this.holding.delete(channel);
    for (const env of hold.envelopes) if (this.fresh(channel, env)) hand(channel, env);
  }

  /** Records a message as handed over; false for a copy of one a backfill handed over. */
  private fresh(channel: string, env: Envelope): boolean {
    if (!this.enabled || env.id === '') return true;
    const floor = this.floors.get(channel);
    if (floor !== undefined) {
      if (compareIds(env.id, floor) <= 0) return false;
      this.floors.delete(channel);
    }
    this.cursors.set(channel, env.id);
    return true;
  }

  private async missed(channel: string, address: Address): Promise<Envelope[]> {
    let cursor = this.cursors.get(channel);
    const missed: Envelope[] = [];
    while (cursor !== undefined) {
      const page = (await this.cmd.xrange(this.keys.log(address), `(${cursor}`, '+', 'COUNT', pageSize)) as Entry[];
      missed.push(...page.map(envelopeOf));
      cursor = page.length === pageSize ? page[page.length - 1]![0] : undefined;
    }
    return missed;
  }
}

/** Live envelopes of one channel held while `runs` backfills of it are pending or running. */
interface Hold {
  runs: number;
  readonly envelopes: Envelope[];
}

/** The envelope the post script published, rebuilt from its stream entry (fields t, f, s). */
function envelopeOf([id, fields]: Entry): Envelope {
  const field = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) field.set(fields[i]!, fields[i + 1]!);
  return {
    id,
    ts: Number(field.get('s')),
    from: field.get('f') ?? '',
    line: Buffer.from(messageJson(id, field.get('t') ?? '') + '\n'),
  };
}
