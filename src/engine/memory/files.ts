import { ChorusError } from '../../protocol/errors.js';
import type { NickKey } from '../../protocol/names.js';
import type { FileOffer, FilePage, FileQuotas, FileState, FileStore, StoredFile } from '../file-store.js';

interface Entry {
  readonly offer: FileOffer;
  state: FileState;
  readonly recipients: Set<NickKey>;
  readonly answers: Map<NickKey, 'accept' | 'reject'>;
  chunks: string[];
  /** Whether its size still counts against the quotas (until dropped or expired). */
  counted: boolean;
  readonly expiry: NodeJS.Timeout;
}

/** Files in process memory, each forgotten by its own timer when it expires. */
export class MemoryFiles implements FileStore {
  private readonly files = new Map<string, Entry>();
  private readonly usedBy = new Map<NickKey, number>();
  private used = 0;

  async offer(offer: FileOffer, recipients: NickKey[], quotas: FileQuotas): Promise<void> {
    const mine = this.usedBy.get(offer.fromKey) ?? 0;
    if (mine + offer.size > quotas.perSender) {
      throw new ChorusError('file_too_large', `your files in flight would pass your quota of ${quotas.perSender} bytes`);
    }
    if (this.used + offer.size > quotas.total) throw new ChorusError('file_too_large', 'the file store is full; try again later');
    this.usedBy.set(offer.fromKey, mine + offer.size);
    this.used += offer.size;
    const expiry = setTimeout(() => this.forget(offer.id), Math.max(0, offer.expires - Date.now()));
    expiry.unref();
    this.files.set(offer.id, {
      offer, state: 'uploading', recipients: new Set(recipients), answers: new Map(), chunks: [], counted: true, expiry,
    });
  }

  async find(id: string): Promise<StoredFile | undefined> {
    const entry = this.live(id);
    return entry && { ...entry.offer, state: entry.state };
  }

  async isRecipient(id: string, key: NickKey): Promise<boolean> {
    return this.live(id)?.recipients.has(key) ?? false;
  }

  async answer(id: string, key: NickKey, answer: 'accept' | 'reject'): Promise<boolean> {
    const entry = this.live(id);
    if (!entry || entry.answers.get(key) === answer) return false;
    entry.answers.set(key, answer);
    return true;
  }

  async append(id: string, seq: number, json: string): Promise<'ok' | 'gap' | 'gone'> {
    const entry = this.live(id);
    if (entry?.state !== 'uploading') return 'gone';
    if (seq !== entry.chunks.length) return 'gap';
    entry.chunks.push(json);
    return 'ok';
  }

  async seal(id: string): Promise<boolean> {
    const entry = this.live(id);
    if (entry?.state !== 'uploading') return false;
    entry.state = 'stored';
    return true;
  }

  async drop(id: string): Promise<void> {
    const entry = this.live(id);
    if (!entry) return;
    entry.state = 'failed';
    entry.chunks = [];
    this.uncount(entry);
  }

  async read(id: string, fromSeq: number, limit: number): Promise<FilePage | undefined> {
    const entry = this.live(id);
    if (!entry) return undefined;
    return { state: entry.state, stored: entry.chunks.length, chunks: entry.chunks.slice(fromSeq, fromSeq + limit) };
  }

  /** The engine stops: nothing outlives it. */
  close(): void {
    for (const entry of this.files.values()) clearTimeout(entry.expiry);
    this.files.clear();
  }

  /** Expiry is exact even when the timer is late (a busy event loop). */
  private live(id: string): Entry | undefined {
    const entry = this.files.get(id);
    if (entry && entry.offer.expires <= Date.now()) {
      this.forget(id);
      return undefined;
    }
    return entry;
  }

  private forget(id: string): void {
    const entry = this.files.get(id);
    if (!entry) return;
    clearTimeout(entry.expiry);
    this.files.delete(id);
    this.uncount(entry);
  }

  private uncount(entry: Entry): void {
    if (!entry.counted) return;
    entry.counted = false;
    const { fromKey, size } = entry.offer;
    const left = (this.usedBy.get(fromKey) ?? 0) - size;
    if (left > 0) this.usedBy.set(fromKey, left);
    else this.usedBy.delete(fromKey);
    this.used -= size;
  }
}
