import type { Client } from './connection.js';
import type { Keys } from './keys.js';

/**
 * When the data in this Redis began. The first gateway to find `{epoch}` missing writes
 * the time, so the key is as old as the data: a Redis restarted empty (no persistence, or a
 * replica promoted from nothing) loses it with everything else, and the next gateway to
 * reconnect writes a new one. A session stamped before it lost its history.
 * On a Cluster the key lives on one master: a wipe of another master alone goes unseen.
 */
export class StoreEpoch {
  constructor(
    private readonly cmd: Client,
    private readonly keys: Keys,
  ) {}

  /** The epoch, written now if it is missing; run on every reconnect, before the engine reports up. */
  async since(): Promise<number> {
    const now = Date.now();
    if ((await this.cmd.set(this.keys.epoch, String(now), 'NX')) === 'OK') return now;
    const stored = Number(await this.cmd.get(this.keys.epoch));
    // Deleted between the two commands (a flush): it is as good as new.
    return Number.isFinite(stored) && stored > 0 ? stored : now;
  }
}
