import { ChorusError } from '../../protocol/errors.js';
import { messageJson } from '../../protocol/encode.js';
import type { Address, NickKey, RoomKey } from '../../protocol/names.js';
import { IdClock, compareIds, dedupeWindowMs } from '../ids.js';
import type { Draft, History, Posted, Replayable, StoredMessage } from '../types.js';
import type { RedisBus } from './bus.js';
import type { Client } from './connection.js';
import { presenceEntry, type Keys } from './keys.js';
import type { Timed } from './operations.js';
import { conversationRangeScript, fileConversationScript, postScript } from './history-scripts.js';
import type { ReplicaAcks } from './replicas.js';

/** A stream entry as ioredis returns it: [id, [field, value, ...]]. */
type Entry = [string, string[]];

/** Ids as clients may send them back: `ms-seq`, or `ms` meaning `ms-0` as compareIds reads it. */
const idPattern = /^\d{1,19}(-\d{1,19})?$/;

export class RedisHistory implements History {
  /** Ids when history is off: nothing is filed, so the gateway's clock orders its own posts. */
  private readonly ids = new IdClock();

  constructor(
    private readonly cmd: Client,
    private readonly keys: Keys,
    private readonly bus: RedisBus,
    private readonly limit: number,
    private readonly guarded: Timed,
    private readonly acks: ReplicaAcks,
    /**
     * Standalone Redis: every key is on one node, so a private message is filed in the
     * inbox and in the conversation by one script. A cluster needs a second step (two slots).
     */
    private readonly oneNode: boolean,
  ) {}

  post(draft: Draft): Promise<Posted> {
    return this.guarded('post', async () => {
      const { to, from } = draft;
      const kind = to === '*' ? '*' : to[0]!;
      const log = this.keys.log(to);
      const guard = kind === '@' ? this.keys.nick(to.slice(1) as NickKey) : kind === '#' ? this.keys.members(to as RoomKey) : log;
      const ref = draft.dedupe === undefined ? log : this.keys.ref(to, draft.dedupe);
      const conversation = kind === '@' && this.limit > 0 ? this.keys.conversation(from.key, to.slice(1) as NickKey) : undefined;
      const together = conversation !== undefined && this.oneNode;
      const reply = (await postScript.run(
        this.cmd,
        [log, guard, this.keys.channel(to), ref, ...(together ? [conversation] : [])],
        [
          kind,
          from.key,
          presenceEntry(from.nick, from.conn),
          draft.ts,
          draft.tail,
          this.limit,
          this.limit === 0 ? this.ids.next(draft.ts) : '',
          this.bus.publishCommand(),
          draft.dedupe === undefined ? 0 : dedupeWindowMs,
        ],
      )) as string[];
      switch (reply[0]) {
        case 'ok': {
          const id = reply[1]!;
          const filed = [log];
          if (conversation !== undefined) {
            // On a cluster a second slot, so a second step: the post is acked once both are filed.
            if (!together) await fileConversationScript.run(this.cmd, [conversation], [id, draft.tail, this.limit]);
            filed.push(conversation);
          }
          await this.acks.confirm(filed);
          return { id, ts: draft.ts, duplicate: false };
        }
        case 'dup':
          // A retry after `unavailable` from the replicas: acked once they have the first post.
          await this.acks.confirm([log]);
          return { id: reply[1]!, ts: Number(reply[2]), duplicate: true };
        case 'no_such_user':
          throw new ChorusError('no_such_user', `${to} is not online`);
        case 'not_in_room':
          throw new ChorusError('not_in_room', `join ${to} before writing to it`);
        default:
          throw new Error(`post script answered ${String(reply[0])}`);
      }
    });
  }

  range(address: Address, viewer: NickKey, before: string | undefined, limit: number): Promise<StoredMessage[]> {
    return this.guarded('range', async () => {
      if (this.limit === 0) return [];
      // An id that is not one reads as no bound, as compareIds makes the memory engine do.
      const bound = before !== undefined && idPattern.test(before) ? fullId(before) : undefined;
      if (address.startsWith('@')) {
        const entries = (await conversationRangeScript.run(
          this.cmd,
          [this.keys.conversation(viewer, address.slice(1) as NickKey)],
          [bound ?? '', limit],
        )) as Entry[];
        return entries.reverse().map(([, fields]) => stored(fields[1]!, fields[3]!));
      }
      const log = this.keys.log(address);
      const entries = (await this.cmd.xrevrange(log, bound ? `(${bound}` : '+', '-', 'COUNT', limit)) as Entry[];
      return entries.reverse().map(([id, fields]) => stored(id, fields[1]!));
    });
  }

  after(address: Address, id: string, limit: number): Promise<Replayable[]> {
    return this.guarded('after', async () => {
      if (this.limit === 0 || !idPattern.test(id)) return [];
      const entries = (await this.cmd.xrange(this.keys.log(address), `(${fullId(id)}`, '+', 'COUNT', limit)) as Entry[];
      // Fields as the post script files them: t (the tail), f (the sender's key), s (ts).
      return entries.map(([entryId, fields]) => ({ ...stored(entryId, fields[1]!), from: fields[3]! }));
    });
  }

  isAfter(a: string, b: string): boolean {
    return compareIds(a, b) > 0;
  }
}

function fullId(id: string): string {
  return id.includes('-') ? id : `${id}-0`;
}

function stored(id: string, tail: string): StoredMessage {
  return { id, json: messageJson(id, tail) };
}
