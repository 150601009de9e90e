import { ChorusError } from '../protocol/errors.js';
import { maxWatchedNicks } from '../protocol/frames.js';
import { nickKey, type Nick, type NickKey } from '../protocol/names.js';
import type { Subscriber } from './fanout.js';

/**
 * Who on this gateway watches whose presence (IRC's MONITOR): what lets a client follow a
 * few hundred nicks at any population, when public presence is off. Every gateway hears
 * every gateway's batches, so a watch is local: nothing about it is stored in the engine.
 */
export class WatchList {
  /** Per watcher, the nicks it watches as it typed them. */
  private readonly bySub = new Map<Subscriber, Map<NickKey, Nick>>();
  private readonly byNick = new Map<NickKey, Set<Subscriber>>();

  /** Adds nicks; throws `bad_frame` (adding none) when the list would pass the cap. */
  watch(sub: Subscriber, nicks: readonly Nick[]): void {
    const mine = this.bySub.get(sub) ?? new Map<NickKey, Nick>();
    const fresh = nicks.filter((n) => !mine.has(nickKey(n)));
    if (mine.size + new Set(fresh.map(nickKey)).size > maxWatchedNicks) {
      throw new ChorusError('bad_frame', `you can watch at most ${maxWatchedNicks} nicks`);
    }
    this.bySub.set(sub, mine);
    for (const nick of fresh) {
      const key = nickKey(nick);
      mine.set(key, nick);
      let subs = this.byNick.get(key);
      if (!subs) this.byNick.set(key, (subs = new Set()));
      subs.add(sub);
    }
  }

  unwatch(sub: Subscriber, nicks: readonly Nick[]): void {
    const mine = this.bySub.get(sub);
    if (!mine) return;
    for (const key of nicks.map(nickKey)) {
      if (!mine.delete(key)) continue;
      const subs = this.byNick.get(key);
      subs?.delete(sub);
      if (subs?.size === 0) this.byNick.delete(key);
    }
    if (mine.size === 0) this.bySub.delete(sub);
  }

  /** The watcher is gone: its watches go with it. */
  forget(sub: Subscriber): void {
    const mine = this.bySub.get(sub);
    if (mine) this.unwatch(sub, [...mine.values()]);
  }

  /** What `sub` watches, as it typed the nicks. */
  watched(sub: Subscriber): Nick[] {
    return [...(this.bySub.get(sub)?.values() ?? [])];
  }

  /** Of a tick's changes, the ones each watcher watches: work in the changes, not in the watchers. */
  route<C>(changes: ReadonlyMap<NickKey, C>): Map<Subscriber, Map<NickKey, C>> {
    const routed = new Map<Subscriber, Map<NickKey, C>>();
    for (const [key, change] of changes) {
      for (const sub of this.byNick.get(key) ?? []) {
        let theirs = routed.get(sub);
        if (!theirs) routed.set(sub, (theirs = new Map()));
        theirs.set(key, change);
      }
    }
    return routed;
  }
}
