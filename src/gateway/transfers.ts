import { createHash, randomBytes, type Hash } from 'node:crypto';
import type { FileOffer, FileQuotas, StoredFile } from '../engine/file-store.js';
import { errorFrame } from '../protocol/encode.js';
import { ChorusError, asChorusError } from '../protocol/errors.js';
import { chunkJson, chunkJsonBytes, type FileFrame } from '../protocol/files.js';
import { nickKey, targetText, userAddress, type NickKey } from '../protocol/names.js';
import type { CommandContext } from './commands.js';

/** The file settings a gateway gives its sessions (config: --max-file-bytes and the rest). */
export interface FileLimits {
  readonly maxFileBytes: number;
  readonly quotas: FileQuotas;
  readonly ttlMs: number;
  /** Upload pace of one connection, in file bytes. */
  readonly bytesPerSecond: number;
}

/** What the transfers of a session may use of it. */
export type TransferContext = Omit<CommandContext, 'files'>;

type Of<T extends FileFrame['type']> = Extract<FileFrame, { type: T }> & { ref?: string };

interface Upload {
  readonly offer: FileOffer;
  next: number;
  bytes: number;
  /** The running sha256: an upload is one connection, so its hash state lives here. */
  readonly hash: Hash;
}

/** A download in progress; `stopped` ends its loop at the next step. */
interface Download {
  stopped: boolean;
}

/**
 * Chunks read from the store per step. With the socket kept under half the outbound bound,
 * a receiver costs the gateway at most this page (about 0.5 MB) plus that.
 */
const pageChunks = 8;
/** While the upload is still going, new chunks are looked for this often (backing off to the max). */
const firstPollMs = 10;
const maxPollMs = 200;
/** Downloads one session runs at once; more accepted wait their turn (each holds a page while it runs). */
const maxRunningDownloads = 4;
/** Offers one connection may have uploading at once: each keeps a hash state here. */
const maxOpenUploads = 16;
/** A receiver that sees no new chunk for this long gives up: the sender's gateway died mid-upload. */
const uploadStallMs = 60_000;

function newFileId(): string {
  return randomBytes(16).toString('base64url');
}

const noSuchFile = () => new ChorusError('no_such_file', 'no such file: unknown, expired, failed, or not offered to you');

/**
 * One session's file transfers: the uploads it makes (hashed as the chunks pass) and the
 * downloads it takes (read from the store page by page, written as fast as the socket
 * drains). stop() fails uploads still going and ends every download.
 */
export class Transfers {
  private readonly uploads = new Map<string, Upload>();
  private readonly downloads = new Map<string, Download>();
  private running = 0;
  private readonly turns: Array<() => void> = [];
  private stopped = false;

  constructor(private readonly ctx: TransferContext) {}

  private get limits(): FileLimits {
    return this.ctx.hub.limits.files;
  }

  async offer(frame: Of<'file_offer'>): Promise<void> {
    const { hub, claim } = this.ctx;
    const { to } = frame;
    if (frame.size > this.limits.maxFileBytes) {
      throw new ChorusError('file_too_large', `files are limited to ${this.limits.maxFileBytes} bytes`);
    }
    if (this.uploads.size >= maxOpenUploads) {
      throw new ChorusError('rate_limited', `finish an upload first: at most ${maxOpenUploads} at once per connection`);
    }
    let recipients: NickKey[];
    if (to.kind === 'room') {
      if (!this.ctx.rooms.has(to.address)) throw new ChorusError('not_in_room', `join ${to.key} before offering files to it`);
      recipients = (await hub.engine.rooms.members(to.key)).map(nickKey);
    } else if (to.kind === 'private') {
      if ((await hub.engine.online.among([to.key])).length === 0) throw new ChorusError('no_such_user', `@${to.nick} is not online`);
      recipients = [to.key];
    } else {
      recipients = (await hub.engine.online.list()).map(nickKey);
    }
    const offer: FileOffer = {
      id: newFileId(),
      from: claim.nick,
      fromKey: claim.key,
      to: to.kind === 'room' ? to.key : targetText(to),
      address: to.address,
      name: frame.name,
      size: frame.size,
      sha256: frame.sha256,
      expires: Date.now() + this.limits.ttlMs,
    };
    await hub.engine.files.offer(offer, recipients.filter((k) => k !== claim.key), this.limits.quotas);
    this.uploads.set(offer.id, { offer, next: 0, bytes: 0, hash: createHash('sha256') });
    hub.metrics.filesOffered.inc();
    hub.log.info({ nick: claim.nick, file: offer.id, to: offer.to, size: offer.size }, 'file offered');
    this.ctx.reply({ type: 'file_offered', file: offer.id, expires: offer.expires }, frame.ref);
    const { id: file, from, name, size, sha256, expires } = offer;
    await this.ctx.publish(to.address, { type: 'file_offer', file, from, to: offer.to, name, size, sha256, expires });
  }

  async chunk(frame: Of<'file_chunk'>): Promise<void> {
    const upload = this.uploads.get(frame.file);
    if (!upload) throw new ChorusError('no_such_file', 'no upload of that file on this connection');
    if (frame.seq !== upload.next) throw new ChorusError('bad_file', `chunk ${upload.next} comes next, not ${frame.seq}`);
    const bytes = Buffer.from(frame.data, 'base64');
    if (upload.bytes + bytes.length > upload.offer.size) {
      await this.fail(upload);
      throw new ChorusError('bad_file', `more bytes than the ${upload.offer.size} offered; the file was dropped`);
    }
    const stored = await this.ctx.hub.engine.files.append(frame.file, frame.seq, chunkJson(frame.file, frame.seq, frame.data));
    if (stored === 'gone') {
      this.uploads.delete(frame.file);
      throw new ChorusError('no_such_file', 'the file expired before its upload was complete');
    }
    if (stored === 'gap') throw new ChorusError('bad_file', `chunk ${frame.seq} does not follow what is stored`);
    upload.hash.update(bytes);
    upload.next++;
    upload.bytes += bytes.length;
    this.ctx.hub.metrics.fileBytesStored.inc(bytes.length);
  }

  async end(frame: Of<'file_end'>): Promise<void> {
    const upload = this.uploads.get(frame.file);
    if (!upload) throw new ChorusError('no_such_file', 'no upload of that file on this connection');
    this.uploads.delete(frame.file);
    const { size, sha256 } = upload.offer;
    const problem =
      upload.bytes !== size ? `${upload.bytes} bytes came, ${size} were offered` : upload.hash.digest('hex') !== sha256 ? 'the sha256 does not match the offer' : undefined;
    if (problem) {
      await this.fail(upload);
      throw new ChorusError('bad_file', `${problem}; the file was dropped`);
    }
    if (!(await this.ctx.hub.engine.files.seal(frame.file))) throw noSuchFile();
    this.ctx.hub.log.info({ nick: this.ctx.claim.nick, file: frame.file, size }, 'file uploaded');
    this.ctx.reply({ type: 'file_uploaded', file: frame.file }, frame.ref);
  }

  async accept(frame: Of<'file_accept'>): Promise<void> {
    const file = await this.answerable(frame.file);
    // Accepting again (a resume with from_seq) restarts the download from there.
    const previous = this.downloads.get(file.id);
    if (previous) previous.stopped = true;
    const download: Download = { stopped: false };
    this.downloads.set(file.id, download);
    await this.answer(file, 'accept');
    void this.inTurn(() => this.download(file, frame.from_seq, download)).finally(() => {
      if (this.downloads.get(file.id) === download) this.downloads.delete(file.id);
    });
  }

  async reject(frame: Of<'file_reject'>): Promise<void> {
    const file = await this.answerable(frame.file);
    const download = this.downloads.get(file.id);
    if (download) download.stopped = true;
    await this.answer(file, 'reject');
  }

  /** The session is over: an upload cut short fails the file; downloads stop where they are. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const download of this.downloads.values()) download.stopped = true;
    this.turns.splice(0).forEach((go) => go());
    const cut = [...this.uploads.values()];
    this.uploads.clear();
    await Promise.all(cut.map((upload) => this.fail(upload).catch((err: unknown) => {
      this.ctx.hub.log.warn({ err, file: upload.offer.id }, 'could not drop a cut upload; it expires by itself');
    })));
  }

  /** Runs `work` once fewer than maxRunningDownloads of this session's run. */
  private async inTurn(work: () => Promise<void>): Promise<void> {
    if (this.running >= maxRunningDownloads) await new Promise<void>((go) => this.turns.push(go));
    this.running++;
    try {
      await work();
    } finally {
      this.running--;
      this.turns.shift()?.();
    }
  }

  /** The file, if this user may answer it: a recipient when offered, or a member of its room now. */
  private async answerable(id: string): Promise<StoredFile> {
    const { files } = this.ctx.hub.engine;
    const file = await files.find(id);
    if (!file || file.state === 'failed' || file.fromKey === this.ctx.claim.key) throw noSuchFile();
    const roomMember = file.address.startsWith('#') && this.ctx.rooms.has(file.address);
    if (!roomMember && !(await files.isRecipient(id, this.ctx.claim.key))) throw noSuchFile();
    return file;
  }

  /** The sender hears each new answer, on whichever gateway it is (nowhere, if it has left). */
  private async answer(file: StoredFile, answer: 'accept' | 'reject'): Promise<void> {
    if (!(await this.ctx.hub.engine.files.answer(file.id, this.ctx.claim.key, answer))) return;
    const type = answer === 'accept' ? 'file_accepted' : 'file_rejected';
    await this.ctx.publish(userAddress(file.fromKey), { type, file: file.id, by: this.ctx.claim.nick });
  }

  private async fail(upload: Upload): Promise<void> {
    this.uploads.delete(upload.offer.id);
    this.ctx.hub.metrics.fileTransfersFailed.labels('upload').inc();
    await this.ctx.hub.engine.files.drop(upload.offer.id);
  }

  /**
   * Writes the stored chunks from `seq` on, waiting for the socket to drain whenever it is
   * half full, and for new chunks while the upload is still going; then file_end, or
   * file_failed if the file fails or the upload stalls.
   */
  private async download(file: StoredFile, from: number, download: Download): Promise<void> {
    const { ctx } = this;
    const { files } = ctx.hub.engine;
    const over = () => download.stopped || ctx.closed;
    const failed = () => {
      ctx.hub.metrics.fileTransfersFailed.labels('download').inc();
      ctx.reply({ type: 'file_failed', file: file.id }, undefined);
    };
    let seq = from;
    let pollMs = firstPollMs;
    let progressAt = Date.now();
    try {
      while (!over()) {
        const page = await files.read(file.id, seq, pageChunks);
        if (over()) return;
        if (!page || page.state === 'failed') return failed();
        for (const json of page.chunks) {
          ctx.replyJson(json);
          ctx.hub.metrics.fileBytesDelivered.inc(chunkJsonBytes(json));
          seq++;
          const full = ctx.backpressure();
          if (full) await full;
          if (over()) return;
        }
        if (page.chunks.length > 0) {
          pollMs = firstPollMs;
          progressAt = Date.now();
        } else if (page.state === 'stored') {
          ctx.reply({ type: 'file_end', file: file.id, size: file.size, sha256: file.sha256 }, undefined);
          return;
        } else if (Date.now() - progressAt > uploadStallMs) {
          return failed();
        } else {
          await delay(pollMs);
          pollMs = Math.min(maxPollMs, pollMs * 2);
        }
      }
    } catch (err) {
      // Off the session's frame queue, so nobody else would answer: say so, the client accepts again with from_seq.
      const error = asChorusError(err);
      if (!(err instanceof ChorusError)) ctx.hub.log.warn({ err, file: file.id }, 'download failed');
      if (!over()) ctx.reply(errorFrame(error.code, `the download of ${file.id} stopped at chunk ${seq}: ${error.message}`) as Record<string, unknown>, undefined);
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
