import { ChorusError } from '../../protocol/errors.js';
import type { Address, NickKey } from '../../protocol/names.js';
import type { FileOffer, FilePage, FileQuotas, FileState, FileStore, StoredFile } from '../file-store.js';
import type { Client } from './connection.js';
import {
  answerScript, appendScript, dropScript, offerScript, readScript, releaseScript, reserveScript, sealScript,
} from './file-scripts.js';
import type { Keys } from './keys.js';
import type { Timed } from './operations.js';

/**
 * Files in Redis: each file's meta, chunk list, recipients and answers share its own slot and
 * expire with it (PEXPIREAT), so a Cluster spreads files over its shards; the quota ledger
 * is one small slot of its own, written once per offer and per drop.
 */
export class RedisFiles implements FileStore {
  constructor(
    private readonly cmd: Client,
    private readonly keys: Keys,
    private readonly guarded: Timed,
  ) {}

  private get quota(): string[] {
    const { expiry, sizes, used } = this.keys.fileQuota;
    return [expiry, sizes, used];
  }

  offer(offer: FileOffer, recipients: NickKey[], quotas: FileQuotas): Promise<void> {
    return this.guarded('file_offer', async () => {
      const reserved = await reserveScript.run(this.cmd, this.quota, [
        Date.now(), offer.id, offer.fromKey, offer.size, offer.expires, quotas.perSender, quotas.total,
      ]);
      if (reserved === 'sender') throw new ChorusError('file_too_large', `your files in flight would pass your quota of ${quotas.perSender} bytes`);
      if (reserved === 'total') throw new ChorusError('file_too_large', 'the file store is full; try again later');
      const k = this.keys.file(offer.id);
      try {
        await offerScript.run(this.cmd, [k.meta, k.recipients], [
          offer.expires, offer.from, offer.fromKey, offer.to, offer.address, offer.name, offer.size, offer.sha256, ...recipients,
        ]);
      } catch (err) {
        // Filed nowhere, so counted nowhere; failing this too, the entry expires with the offer.
        await releaseScript.run(this.cmd, this.quota, [offer.id]).catch(() => {});
        throw err;
      }
    });
  }

  find(id: string): Promise<StoredFile | undefined> {
    return this.guarded('file_find', async () => {
      const m = await this.cmd.hgetall(this.keys.file(id).meta);
      const expires = Number(m.expires);
      if (m.state === undefined || !(expires > Date.now())) return undefined;
      return {
        id,
        from: m.from!,
        fromKey: m.fromKey as NickKey,
        to: m.to!,
        address: m.address as Address,
        name: m.name!,
        size: Number(m.size),
        sha256: m.sha256!,
        expires,
        state: m.state as FileState,
      };
    });
  }

  isRecipient(id: string, key: NickKey): Promise<boolean> {
    return this.guarded('file_find', async () => (await this.cmd.sismember(this.keys.file(id).recipients, key)) === 1);
  }

  answer(id: string, key: NickKey, answer: 'accept' | 'reject'): Promise<boolean> {
    const k = this.keys.file(id);
    return this.guarded('file_answer', async () => (await answerScript.run(this.cmd, [k.meta, k.answers], [key, answer, Date.now()])) === 1);
  }

  append(id: string, seq: number, json: string): Promise<'ok' | 'gap' | 'gone'> {
    const k = this.keys.file(id);
    return this.guarded('file_append', async () => (await appendScript.run(this.cmd, [k.meta, k.chunks], [seq, json, Date.now()])) as 'ok' | 'gap' | 'gone');
  }

  seal(id: string): Promise<boolean> {
    return this.guarded('file_seal', async () => (await sealScript.run(this.cmd, [this.keys.file(id).meta], [])) === 1);
  }

  drop(id: string): Promise<void> {
    const k = this.keys.file(id);
    return this.guarded('file_drop', async () => {
      await dropScript.run(this.cmd, [k.meta, k.chunks], []);
      await releaseScript.run(this.cmd, this.quota, [id]);
    });
  }

  read(id: string, fromSeq: number, limit: number): Promise<FilePage | undefined> {
    const k = this.keys.file(id);
    return this.guarded('file_read', async () => {
      const reply = (await readScript.run(this.cmd, [k.meta, k.chunks], [fromSeq, limit, Date.now()])) as [string, number, string[]] | null;
      if (!reply) return undefined;
      const [state, stored, chunks] = reply;
      return { state: state as FileState, stored, chunks };
    });
  }
}
