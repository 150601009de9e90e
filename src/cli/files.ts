/**
 * The console client's file transfers: `!send` hashes a file, offers it and uploads it in
 * chunks as fast as the socket takes them; `!accept` saves an offered file under
 * --downloads (checked before it is kept, see downloads.ts); `!reject`; `!files` lists what
 * is waiting and what is in flight. On a terminal, a progress bar shows above the prompt.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileNameProblem, maxChunkBytes } from '../protocol/files.js';
import type { Command } from '../protocol/commands.js';
import type { ServerFrame } from './connection.js';
import { Download, safeFileName } from './downloads.js';
import { formatBytes, formatDuration, progressLine } from './progress.js';
import { errorLine, serverLine, type RenderContext } from './render.js';

/** What the transfers need from the chat session. */
export interface FileHost {
  readonly ctx: RenderContext;
  readonly interactive: boolean;
  readonly columns: number;
  print(line: string): void;
  status(line: string | undefined): void;
  /** Sends a frame on the current connection; false when there is none. */
  send(frame: Record<string, unknown>): boolean;
  /** Sends with a ref and resolves with the answer (undefined: none in time); refusals are printed. */
  ask(frame: Record<string, unknown>, what: string): Promise<ServerFrame | undefined>;
  nextRef(): string;
  /** Bytes sent but not yet taken by the network. */
  buffered(): number;
}

type FileCommand = Extract<Command, { kind: 'file' }>;

interface Offer {
  readonly file: string;
  readonly from: string;
  readonly to: string;
  readonly name: string;
  readonly size: number;
  readonly expires: number;
}

interface Upload {
  readonly file: string;
  readonly name: string;
  readonly to: string;
  readonly size: number;
  sent: number;
  readonly started: number;
}

interface Receiving {
  readonly download: Download;
  size: number;
  readonly started: number;
  /** Resolves once the file is saved or has failed (piped `!accept` waits for it). */
  readonly settled: Promise<void>;
  settle(): void;
}

/** Unsent bytes past which the uploader waits: a chunk frame is about 64 KiB. */
const maxUnsentBytes = 1024 * 1024;
const unsentPollMs = 5;
/** Progress bars are redrawn at most this often. */
const progressEveryMs = 100;

export class FileTransfers {
  private readonly offers = new Map<string, Offer>();
  private readonly uploads = new Map<string, Upload>();
  private readonly receiving = new Map<string, Receiving>();
  /** Refs of our file_accept frames: a refusal of one ends that download. */
  private readonly acceptRefs = new Map<string, string>();
  /** What our own offers were called, for the answers that come after the upload. */
  private readonly sentNames = new Map<string, string>();
  /** Names of offers sent, by ref, until file_offered says their id. */
  private readonly offering = new Map<string, string>();
  private lastDrawn = 0;

  constructor(
    private readonly host: FileHost,
    private readonly downloadsDir: string,
  ) {}

  /** A typed file command; piped, it resolves once it is done (uploaded, saved, or refused). */
  run(cmd: FileCommand): Promise<void> {
    switch (cmd.action) {
      case 'send':
        return this.upload(cmd.to, cmd.path);
      case 'accept':
        return this.accept(cmd.file);
      case 'reject':
        return this.reject(cmd.file);
      case 'list':
        this.list();
        return Promise.resolve();
    }
  }

  /**
   * An answer to one of our requests, seen as it arrives: a recipient's answer to an offer
   * can come in the same read as its file_offered, before the code awaiting that resumes.
   */
  answered(f: ServerFrame): void {
    const name = f.type === 'file_offered' && typeof f.ref === 'string' ? this.offering.get(f.ref) : undefined;
    if (name !== undefined) this.sentNames.set(String(f.file), name);
  }

  /** Frames about files; true when this took it (nothing else should show it). */
  onFrame(f: ServerFrame): boolean {
    switch (f.type) {
      case 'file_offer':
        this.onOffer(f);
        return true;
      case 'file_chunk':
        this.onChunk(f);
        return true;
      case 'file_end':
        this.onEnd(f);
        return true;
      case 'file_failed':
        this.fail(String(f.file), 'the sender\'s upload failed');
        return true;
      case 'file_accepted':
      case 'file_rejected': {
        const name = this.sentNames.get(String(f.file)) ?? String(f.file);
        this.host.print(serverLine(this.host.ctx, `${str(f.by)} ${f.type === 'file_accepted' ? 'accepted' : 'rejected'} ${name}`));
        return true;
      }
      case 'error': {
        const file = typeof f.ref === 'string' ? this.acceptRefs.get(f.ref) : undefined;
        if (file === undefined) return false;
        this.acceptRefs.delete(f.ref as string);
        this.fail(file, `${str(f.message)} (${str(f.code)})`);
        return true;
      }
      default:
        return false;
    }
  }

  /**
   * The session came back on a new connection: downloads go on from the chunk they had
   * reached; an upload cut by the drop failed on the server (its hash state was there).
   */
  resumed(): void {
    for (const [file, r] of this.receiving) this.sendAccept(file, r.download.next);
    for (const upload of this.uploads.values()) {
      this.host.print(errorLine(this.host.ctx, `the upload of ${upload.name} was cut by the dropped connection; send it again`));
    }
    this.uploads.clear();
  }

  /** The session is over: half-received files are removed. */
  close(): void {
    for (const file of [...this.receiving.keys()]) this.fail(file, undefined);
  }

  private async upload(to: string, filePath: string): Promise<void> {
    const { host } = this;
    let size: number;
    try {
      const stat = fs.statSync(filePath);
      if (!stat.isFile()) throw new Error(`${filePath} is not a regular file`);
      size = stat.size;
    } catch (err) {
      host.print(errorLine(host.ctx, `cannot send ${filePath}: ${(err as Error).message}`));
      return;
    }
    const name = path.basename(filePath);
    const problem = fileNameProblem(name);
    if (problem) {
      host.print(errorLine(host.ctx, `cannot send ${filePath}: ${problem}`));
      return;
    }
    const sha256 = await hashFile(filePath);
    const ref = host.nextRef();
    this.offering.set(ref, name);
    const offered = await host.ask({ type: 'file_offer', to, name, size, sha256, ref }, `!send ${name}`);
    this.offering.delete(ref);
    if (offered?.type !== 'file_offered') return;
    const upload: Upload = { file: String(offered.file), name, to, size, sent: 0, started: Date.now() };
    this.uploads.set(upload.file, upload);
    host.print(serverLine(host.ctx, `offered ${name} (${formatBytes(size)}) to ${to} as ${upload.file}`));
    const streaming = this.stream(upload, filePath);
    // On a terminal the prompt stays live while it uploads; a script waits for file_uploaded.
    if (!host.interactive) await streaming;
    else void streaming;
  }

  private async stream(upload: Upload, filePath: string): Promise<void> {
    const { host } = this;
    const fd = fs.openSync(filePath, 'r');
    const buffer = Buffer.alloc(maxChunkBytes);
    try {
      for (let seq = 0; ; seq++) {
        const n = fs.readSync(fd, buffer, 0, maxChunkBytes, null);
        if (n === 0) break;
        if (!this.uploads.has(upload.file) || !host.send({ type: 'file_chunk', file: upload.file, seq, data: buffer.toString('base64', 0, n) })) return;
        upload.sent += n;
        this.draw(upload.name, upload.sent, upload.size, upload.started);
        while (host.buffered() > maxUnsentBytes) await new Promise((r) => setTimeout(r, unsentPollMs));
      }
    } finally {
      fs.closeSync(fd);
    }
    const done = await host.ask({ type: 'file_end', file: upload.file }, `the upload of ${upload.name}`);
    this.uploads.delete(upload.file);
    host.status(undefined);
    if (done?.type === 'file_uploaded') {
      const took = Date.now() - upload.started;
      host.print(serverLine(host.ctx, `uploaded ${upload.name} (${formatBytes(upload.size)} in ${formatDuration(took)}); it waits for ${upload.to} until it expires`));
    }
  }

  private onOffer(f: ServerFrame): void {
    const offer: Offer = {
      file: String(f.file),
      from: str(f.from),
      to: str(f.to),
      name: str(f.name),
      size: typeof f.size === 'number' ? f.size : 0,
      expires: typeof f.expires === 'number' ? f.expires : Date.now(),
    };
    const early = this.receiving.get(offer.file);
    if (early) {
      // Accepted by id before its offer crossed the cluster: the offer only names it.
      early.download.name = safeFileName(offer.name, offer.file);
      early.size = offer.size;
      return;
    }
    this.offers.set(offer.file, offer);
    const where = offer.to.startsWith('@') ? 'you' : offer.to;
    this.host.print(serverLine(
      this.host.ctx,
      `${offer.from} offers ${where} the file "${safeFileName(offer.name, offer.file)}" (${formatBytes(offer.size)}): !accept ${offer.file} or !reject ${offer.file}`,
    ));
  }

  private async accept(file: string): Promise<void> {
    if (this.receiving.has(file)) {
      this.host.print(errorLine(this.host.ctx, `${file} is already being received`));
      return;
    }
    const offer = this.offers.get(file);
    const download = new Download(this.downloadsDir, file, safeFileName(offer?.name ?? file, file));
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    this.receiving.set(file, { download, size: offer?.size ?? 0, started: Date.now(), settled, settle });
    this.offers.delete(file);
    if (!this.sendAccept(file, 0)) this.fail(file, 'not connected');
    if (!this.host.interactive) await settled;
  }

  private sendAccept(file: string, fromSeq: number): boolean {
    const ref = this.host.nextRef();
    this.acceptRefs.set(ref, file);
    return this.host.send(fromSeq === 0 ? { type: 'file_accept', file, ref } : { type: 'file_accept', file, from_seq: fromSeq, ref });
  }

  private async reject(file: string): Promise<void> {
    const r = this.receiving.get(file);
    if (r) this.fail(file, undefined);
    this.offers.delete(file);
    const ref = this.host.nextRef();
    this.host.send({ type: 'file_reject', file, ref });
  }

  private onChunk(f: ServerFrame): void {
    const r = this.receiving.get(String(f.file));
    if (!r || typeof f.seq !== 'number' || typeof f.data !== 'string') return;
    // A chunk already written (sent again after a resume) is skipped; one out of order breaks it.
    if (f.seq < r.download.next) return;
    let written: boolean;
    try {
      written = r.download.write(f.seq, Buffer.from(f.data, 'base64'));
    } catch (err) {
      this.fail(r.download.id, `cannot write under ${this.downloadsDir}: ${(err as Error).message}`);
      this.host.send({ type: 'file_reject', file: r.download.id });
      return;
    }
    if (!written) {
      this.fail(r.download.id, `chunk ${f.seq} came out of order`);
      return;
    }
    this.draw(r.download.name, r.download.bytes, r.size, r.started);
  }

  private onEnd(f: ServerFrame): void {
    const file = String(f.file);
    const r = this.receiving.get(file);
    if (!r) return;
    this.receiving.delete(file);
    this.host.status(undefined);
    try {
      const saved = r.download.finish(Number(f.size), str(f.sha256));
      this.host.print(serverLine(this.host.ctx, `saved ${saved} (${formatBytes(r.download.bytes)}, sha256 checked)`));
    } catch (err) {
      this.host.print(errorLine(this.host.ctx, `${r.download.name} was not kept: ${(err as Error).message}`));
    }
    r.settle();
  }

  /** Ends a download, leaving nothing of it; `why` is told unless it was our own choice. */
  private fail(file: string, why: string | undefined): void {
    const r = this.receiving.get(file);
    if (!r) return;
    this.receiving.delete(file);
    r.download.discard();
    this.host.status(undefined);
    if (why !== undefined) this.host.print(errorLine(this.host.ctx, `${r.download.name} was not received: ${why}`));
    r.settle();
  }

  private list(): void {
    const { host } = this;
    const now = Date.now();
    const offers = [...this.offers.values()].filter((o) => o.expires > now);
    const lines: string[] = [];
    for (const o of offers) {
      lines.push(`  ${o.file}  from ${o.from} to ${o.to}: ${safeFileName(o.name, o.file)} (${formatBytes(o.size)}), expires in ${formatDuration(o.expires - now)}`);
    }
    for (const u of this.uploads.values()) lines.push(`  ${u.file}  sending ${u.name} to ${u.to}: ${formatBytes(u.sent)} of ${formatBytes(u.size)}`);
    for (const [file, r] of this.receiving) lines.push(`  ${file}  receiving ${r.download.name}: ${formatBytes(r.download.bytes)} of ${formatBytes(r.size)}`);
    host.print(serverLine(host.ctx, lines.length === 0 ? 'no files waiting or in flight' : `files (${offers.length} offered to you, ${this.uploads.size + this.receiving.size} in flight):`));
    lines.forEach((l) => host.print(l));
  }

  private draw(label: string, done: number, total: number, started: number): void {
    if (!this.host.interactive) return;
    const now = Date.now();
    if (now - this.lastDrawn < progressEveryMs && done < total) return;
    this.lastDrawn = now;
    this.host.status(progressLine({ label, done, total, elapsedMs: now - started }, this.host.columns));
  }
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

async function hashFile(filePath: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(filePath)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
