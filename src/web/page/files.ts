/**
 * File transfer in the page (PROTOCOL.md, files): offers shown with Accept and Reject,
 * downloads kept in memory and saved through the browser only once size and sha256 match
 * (Web Crypto), uploads from the picker or a drop, in chunks of 48 KiB paced by what the
 * socket still has to send.
 */
import type { Conversation } from './conversations.js';
import { el } from './dom.js';
import type { Frame, Link } from './link.js';

export interface FileHost {
  readonly link: Link;
  /** The conversation a file belongs in: its target, seen from this user (`@me` from ann is ann's chat). */
  conversationOf(to: string, from: string): Conversation;
}

const chunkBytes = 48 * 1024;
/** Past this much unsent on the socket, an upload waits: the browser would buffer the whole file. */
const maxBufferedBytes = 1024 * 1024;
const drainPollMs = 20;

/** A name from someone else, fit to show and to save: no paths, controls or direction overrides. */
export function safeName(name: string): string {
  const cleaned = name
    .replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '')
    .replace(/[/\\]/g, '_')
    .trim()
    // No hidden files, no `..`.
    .replace(/^\.+/, '')
    .slice(0, 255);
  return cleaned === '' ? 'download' : cleaned;
}

export function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

async function sha256Hex(data: BufferSource): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  // In slices: spreading a whole chunk into one call can pass the engine's argument limit.
  for (let i = 0; i < bytes.length; i += 0x2000) s += String.fromCharCode(...bytes.subarray(i, i + 0x2000));
  return btoa(s);
}

function fromBase64(data: string): Uint8Array {
  const s = atob(data);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return bytes;
}

/** One transfer's card in its conversation: what, who, a progress bar, a line of state. */
class Card {
  readonly root: HTMLElement;
  readonly progress: HTMLProgressElement;
  readonly actions: HTMLElement;
  private readonly state: HTMLElement;

  constructor(conv: Conversation, label: string, name: string, size: number) {
    this.progress = el('progress', { max: String(Math.max(size, 1)), value: '0', 'aria-label': `Progress: ${name}` });
    this.state = el('span', { class: 'hint', role: 'status' });
    this.actions = el('div', { class: 'actions' });
    this.root = el('div', { class: 'file', role: 'group', 'aria-label': `File ${name}` }, el('span', {}, `${label} `, el('span', { class: 'name' }, name), ` (${sizeText(size)})`), this.progress, this.actions, this.state);
    conv.keepBottom(() => conv.log.append(this.root));
  }

  set(state: string, error = false): void {
    this.state.textContent = state;
    this.state.classList.toggle('error', error);
  }

  done(): void {
    this.actions.replaceChildren();
  }
}

interface Download {
  readonly file: string;
  readonly name: string;
  readonly size: number;
  readonly sha256: string;
  readonly card: Card;
  parts: Uint8Array[];
  received: number;
  nextSeq: number;
  state: 'offered' | 'receiving' | 'checking' | 'done';
}

interface Upload {
  readonly file: string;
  readonly card: Card;
}

export class Transfers {
  private readonly downloads = new Map<string, Download>();
  private readonly uploads = new Map<string, Upload>();

  constructor(private readonly host: FileHost) {}

  /** Handles a `file_*` frame; false for any other. */
  handle(f: Frame): boolean {
    if (typeof f.type !== 'string' || !f.type.startsWith('file_') || typeof f.file !== 'string') return false;
    switch (f.type) {
      case 'file_offer':
        this.offered(f);
        break;
      case 'file_chunk':
        this.chunk(f);
        break;
      case 'file_end':
        void this.ended(f);
        break;
      case 'file_failed': {
        const d = this.downloads.get(f.file);
        d?.card.set('the transfer failed: the sender\'s upload did not arrive whole', true);
        d?.card.done();
        this.downloads.delete(f.file);
        this.uploads.get(f.file)?.card.set('the upload failed', true);
        break;
      }
      case 'file_uploaded':
        this.uploads.get(f.file)?.card.set('uploaded; the file waits for its receivers');
        break;
      case 'file_accepted':
      case 'file_rejected': {
        const by = typeof f.by === 'string' ? f.by : 'someone';
        const line = el('span', { class: 'hint' }, `${by} ${f.type === 'file_accepted' ? 'accepted' : 'rejected'} it`);
        this.uploads.get(f.file)?.card.root.append(line);
        break;
      }
      default:
        return false;
    }
    return true;
  }

  /** After a resume: every download cut short asks again from where it stopped. */
  resumeDownloads(): void {
    for (const d of this.downloads.values()) {
      if (d.state === 'receiving') this.host.link.send({ type: 'file_accept', file: d.file, from_seq: d.nextSeq }, (r) => this.refusedDownload(d, r));
    }
  }

  /** Offers `file` to `to` and uploads it as soon as the server has the offer. */
  async offer(file: File, to: string, conv: Conversation): Promise<void> {
    const card = new Card(conv, 'Sending', safeName(file.name), file.size);
    if (crypto.subtle === undefined) return card.set('sending files needs a secure page (https, or localhost): Web Crypto is off here', true);
    card.set('computing sha256...');
    const sha256 = await sha256Hex(await file.arrayBuffer());
    const sent = this.host.link.send({ type: 'file_offer', to, name: file.name, size: file.size, sha256 }, (reply) => {
      if (reply.type !== 'file_offered' || typeof reply.file !== 'string') {
        card.set(`not sent: ${typeof reply.message === 'string' ? reply.message : 'refused'}${typeof reply.code === 'string' ? ` (${reply.code})` : ''}`, true);
        return;
      }
      const upload = { file: reply.file, card };
      this.uploads.set(reply.file, upload);
      card.root.dataset.file = reply.file;
      void this.upload(file, upload);
    });
    if (!sent) card.set('offline: try again once reconnected', true);
    else card.set('offering...');
  }

  private async upload(file: File, u: Upload): Promise<void> {
    const link = this.host.link;
    u.card.set('uploading...');
    for (let seq = 0, at = 0; at < file.size; seq++, at += chunkBytes) {
      while (link.online && link.buffered > maxBufferedBytes) await new Promise((r) => setTimeout(r, drainPollMs));
      const bytes = new Uint8Array(await file.slice(at, at + chunkBytes).arrayBuffer());
      if (!link.send({ type: 'file_chunk', file: u.file, seq, data: toBase64(bytes) })) {
        u.card.set('the connection dropped during the upload; send the file again', true);
        return;
      }
      u.card.progress.value = at + bytes.length;
    }
    link.send({ type: 'file_end', file: u.file }, (reply) => {
      if (reply.type === 'error') u.card.set(`upload refused: ${String(reply.message)} (${String(reply.code)})`, true);
    });
  }

  private offered(f: Frame): void {
    const file = String(f.file);
    const from = typeof f.from === 'string' ? f.from : '';
    const size = typeof f.size === 'number' && f.size >= 0 ? f.size : 0;
    const name = safeName(typeof f.name === 'string' ? f.name : '');
    const conv = this.host.conversationOf(typeof f.to === 'string' ? f.to : '*', from);
    const card = new Card(conv, `${from} offers`, name, size);
    card.root.dataset.file = file;
    const d: Download = { file, name, size, sha256: String(f.sha256 ?? '').toLowerCase(), card, parts: [], received: 0, nextSeq: 0, state: 'offered' };
    const accept = el('button', { type: 'button' }, 'Accept');
    const reject = el('button', { type: 'button', class: 'quiet' }, 'Reject');
    accept.addEventListener('click', () => {
      if (crypto.subtle === undefined) return card.set('receiving files needs a secure page (https, or localhost): Web Crypto is off here', true);
      if (!this.host.link.send({ type: 'file_accept', file }, (r) => this.refusedDownload(d, r))) return card.set('offline: try again once reconnected', true);
      d.state = 'receiving';
      this.downloads.set(file, d);
      card.done();
      card.set('receiving...');
    });
    reject.addEventListener('click', () => {
      if (!this.host.link.send({ type: 'file_reject', file })) return card.set('offline: try again once reconnected', true);
      card.done();
      card.set('rejected');
    });
    card.actions.append(accept, reject);
    card.set(f.expires === undefined ? 'offered' : `offered until ${new Date(Number(f.expires)).toLocaleTimeString()}`);
  }

  private refusedDownload(d: Download, reply: Frame): void {
    if (reply.type !== 'error') return;
    d.card.set(`cannot receive it: ${String(reply.message)} (${String(reply.code)})`, true);
    this.downloads.delete(d.file);
  }

  private chunk(f: Frame): void {
    const d = this.downloads.get(String(f.file));
    if (d === undefined || d.state !== 'receiving' || typeof f.data !== 'string') return;
    // A resume may repeat the chunks around where it stopped: keep each once, in order.
    if (f.seq !== d.nextSeq) return;
    const bytes = fromBase64(f.data);
    d.parts.push(bytes);
    d.received += bytes.length;
    d.nextSeq++;
    d.card.progress.value = Math.min(d.received, d.size);
  }

  private async ended(f: Frame): Promise<void> {
    const d = this.downloads.get(String(f.file));
    if (d === undefined || d.state !== 'receiving') return;
    d.state = 'checking';
    d.card.set('checking sha256...');
    const blob = new Blob(d.parts as BlobPart[]);
    d.parts = [];
    const hash = await sha256Hex(await blob.arrayBuffer());
    this.downloads.delete(d.file);
    d.state = 'done';
    if (blob.size !== d.size || hash !== d.sha256) {
      d.card.set(`discarded: the file that arrived does not match the offer (${blob.size !== d.size ? 'size' : 'sha256'})`, true);
      return;
    }
    const url = URL.createObjectURL(blob);
    const save = el('a', { href: url, download: d.name }, `Save ${d.name}`);
    d.card.actions.replaceChildren(save);
    d.card.set('received, sha256 checked');
    save.click();
  }
}
