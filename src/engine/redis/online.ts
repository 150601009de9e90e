import { ChorusError } from '../../protocol/errors.js';
import type { Nick, NickKey } from '../../protocol/names.js';
import type { Online, OnlinePage, PresenceChange } from '../types.js';
import type { Client } from './connection.js';
import { nicksOf, type Keys } from './keys.js';
import type { Operations } from './operations.js';

/**
 * Reads of the online set (`{online}`, one "<nick> <conn>" entry per connection), which
 * RedisPresence writes as claims come and go; and the changes the lease makes on its own,
 * handed to the gateway, which announces them.
 */
export class RedisOnline implements Online {
  private onChanged: (change: PresenceChange) => void = () => {};

  constructor(
    private readonly cmd: Client,
    private readonly keys: Keys,
    private readonly ops: Operations,
  ) {}

  onChange(handler: (change: PresenceChange) => void): void {
    this.onChanged = handler;
  }

  /** A change the lease made (a reap, or a write-back after one), for the gateway to announce. */
  report(change: PresenceChange): void {
    this.onChanged(change);
  }

  list(): Promise<Nick[]> {
    return this.ops.guarded('online', async () => nicksOf(await this.cmd.smembers(this.keys.online)));
  }

  /**
   * SSCAN of the online set: its cursor is the page cursor. Scanned until `limit` entries
   * are in or the scan is over, so a small set comes whole in one page, as v1's `who` did.
   */
  page(cursor: string | undefined, limit: number): Promise<OnlinePage> {
    if (cursor !== undefined && !/^[1-9]\d{0,19}$/.test(cursor)) {
      return Promise.reject(new ChorusError('bad_frame', 'that is not a cursor from an earlier who'));
    }
    return this.ops.guarded('page', async () => {
      const entries: string[] = [];
      let at = cursor ?? '0';
      do {
        const [next, found] = await this.cmd.sscan(this.keys.online, at, 'COUNT', limit);
        entries.push(...found);
        at = next;
      } while (at !== '0' && entries.length < limit);
      const nicks = nicksOf(entries);
      return at === '0' ? { nicks } : { nicks, next: at };
    });
  }

  /** A nick key without an expiry is held by a connected session; a detached one counts down its grace period. */
  among(keys: readonly NickKey[]): Promise<NickKey[]> {
    return this.ops.guarded('among', async () => {
      const ttls = await Promise.all(keys.map((k) => this.cmd.pttl(this.keys.nick(k))));
      return keys.filter((_, i) => ttls[i] === -1);
    });
  }

  /** Counts connections: for the moment a resume replaces one, a user counts twice. */
  count(): Promise<number> {
    return this.ops.guarded('count', () => this.cmd.scard(this.keys.online));
  }
}
