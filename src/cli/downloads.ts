import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileNameProblem } from '../protocol/files.js';
import { sanitize } from '../protocol/render.js';

/**
 * The name a received file is saved under: what the sender called it when that is a safe
 * name (the server refuses the others, and this client checks again), minus bidi overrides
 * and leading dots (no hidden files); otherwise one made from its id.
 */
export function safeFileName(name: string, id: string): string {
  const cleaned = sanitize(name).replace(/^\.+/, '');
  return cleaned === '' || fileNameProblem(cleaned) !== undefined ? `file-${id.replace(/[^A-Za-z0-9_-]/g, '')}` : cleaned;
}

/** `name (1).ext`, `name (2).ext`, ...: the n-th alternative to a name already taken. */
export function alternativeName(name: string, n: number): string {
  const ext = path.extname(name);
  const stem = ext === '' || ext === name ? name : name.slice(0, -ext.length);
  return `${stem} (${n})${ext === name ? '' : ext}`;
}

/**
 * One file being received: written to a hidden temporary name in the downloads directory
 * and hashed as the chunks come, then linked under its final name only once size and
 * sha256 check out, so a failed or cut transfer never leaves a half file under that name,
 * and an existing file is never overwritten (link fails where rename would replace).
 */
export class Download {
  private readonly temp: string;
  private fd: number | undefined;
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;
  /** The seq the next chunk must have. */
  next = 0;

  constructor(
    private readonly dir: string,
    readonly id: string,
    /** Settled only at finish, so an offer that comes after the accept can still name it. */
    public name: string,
  ) {
    this.temp = path.join(dir, `.${id.replace(/[^A-Za-z0-9_-]/g, '')}.part`);
  }

  /** Opened with the first byte (or an empty file's end): a refused accept leaves nothing behind. */
  private open(): number {
    if (this.fd === undefined) {
      fs.mkdirSync(this.dir, { recursive: true });
      this.fd = fs.openSync(this.temp, 'w', 0o600);
    }
    return this.fd;
  }

  /** Appends a chunk in order; false when it is not the one due (the transfer is then broken). Throws when it cannot write. */
  write(seq: number, data: Buffer): boolean {
    if (seq !== this.next) return false;
    fs.writeSync(this.open(), data);
    this.hash.update(data);
    this.bytes += data.length;
    this.next++;
    return true;
  }

  /** Checks what came against the file_end; resolves with where it was saved, or throws why not. */
  finish(size: number, sha256: string): string {
    this.open();
    this.closeFile();
    const digest = this.hash.digest('hex');
    if (this.bytes !== size || digest !== sha256) {
      this.discard();
      throw new Error(this.bytes !== size ? `${this.bytes} bytes came, ${size} were announced` : 'the sha256 does not match');
    }
    for (let n = 0; ; n++) {
      const target = path.join(this.dir, n === 0 ? this.name : alternativeName(this.name, n));
      try {
        fs.linkSync(this.temp, target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        this.discard();
        throw err;
      }
      fs.unlinkSync(this.temp);
      return target;
    }
  }

  /** The transfer failed or was given up: nothing of it stays. */
  discard(): void {
    this.closeFile();
    fs.rmSync(this.temp, { force: true });
  }

  private closeFile(): void {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
