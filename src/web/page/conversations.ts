/**
 * The conversations: public, each private chat and each room, each with its own tab (and
 * unread count) and its own message log. Everything people wrote goes into the page as
 * text nodes (textContent), never as HTML.
 */
import { el } from './dom.js';
import type { Frame } from './link.js';

/** Case folding close enough to the server's (names.ts) to file `@Ann` and `@ann` together. */
export function fold(s: string): string {
  return s.normalize('NFC').toLowerCase().replace(/ß/g, 'ss').normalize('NFC');
}

export function hhmm(ts: number): string {
  const d = new Date(ts);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** How near the bottom (px) still counts as reading the latest: new messages keep it in view. */
const stickyPx = 48;

export class Conversation {
  readonly log: HTMLElement;
  readonly tab: HTMLLIElement;
  private readonly badge: HTMLElement;
  private readonly ids = new Set<string>();
  unread = 0;
  /** Older messages may exist: history has not come back short yet. */
  more = true;
  loading = false;

  constructor(
    /** The wire target: `*`, `@nick` (as first seen), `#room` (folded, as the server names it). */
    readonly target: string,
    readonly title: string,
    onSelect: () => void,
  ) {
    this.log = el('div', { role: 'log', 'aria-label': `Conversation: ${title}`, tabindex: '0', hidden: '' });
    this.badge = el('span', { class: 'unread', hidden: '' });
    const button = el('button', { type: 'button' }, el('span', {}, title), this.badge);
    button.addEventListener('click', onSelect);
    this.tab = el('li', {}, button);
  }

  get key(): string {
    return fold(this.target);
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** The id of the oldest message shown: `history` pages back from it. */
  get oldest(): string | undefined {
    return this.log.querySelector<HTMLElement>('.msg[data-id]')?.dataset.id;
  }

  show(active: boolean): void {
    this.log.hidden = !active;
    this.tab.querySelector('button')!.setAttribute('aria-current', String(active));
    if (active) this.markRead();
  }

  markRead(): void {
    this.unread = 0;
    this.badge.hidden = true;
  }

  bump(): void {
    this.unread++;
    this.badge.hidden = false;
    this.badge.textContent = String(this.unread);
    this.badge.setAttribute('aria-label', `${this.unread} unread`);
  }

  /** A message that arrived (live or replayed): appended once, whatever repeats. */
  append(m: Frame, self: string): boolean {
    const id = String(m.id);
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    this.keepBottom(() => this.log.append(messageElement(m, self)));
    return true;
  }

  /** A page of `history` (oldest first), above what is shown; the view stays where it was. */
  prepend(messages: Frame[], self: string): void {
    const fresh = messages.filter((m) => typeof m.id === 'string' && !this.ids.has(m.id));
    fresh.forEach((m) => this.ids.add(String(m.id)));
    const before = this.log.scrollHeight;
    this.log.prepend(...fresh.map((m) => messageElement(m, self)));
    this.log.scrollTop += this.log.scrollHeight - before;
  }

  /** Our own message, shown at once; confirm() gives it its id when the server acks it. */
  pending(self: string, text: string): HTMLElement {
    const e = messageElement({ from: self, text, ts: Date.now() }, self);
    e.classList.add('pending');
    this.keepBottom(() => this.log.append(e));
    e.scrollIntoView({ block: 'nearest' });
    return e;
  }

  /** The ack for a pending message; if the message came back first (a resume's replay), the pending copy goes. */
  confirm(e: HTMLElement, id: string, ts: number): void {
    if (e.dataset.id === id) return;
    if (this.ids.has(id)) {
      e.remove();
      return;
    }
    this.ids.add(id);
    e.dataset.id = id;
    e.classList.remove('pending');
    e.querySelector('time')!.textContent = hhmm(ts);
  }

  /** A replayed own message that is still pending here: that pending line is it. */
  adopt(m: Frame): boolean {
    for (const e of this.log.querySelectorAll<HTMLElement>('.msg.pending')) {
      if (e.querySelector('.text')!.textContent === m.text) {
        this.confirm(e, String(m.id), typeof m.ts === 'number' ? m.ts : Date.now());
        return true;
      }
    }
    return false;
  }

  notice(text: string, kind: 'notice' | 'error' = 'notice'): HTMLElement {
    const e = el('div', { class: kind === 'error' ? 'notice error' : 'notice' }, text);
    this.keepBottom(() => this.log.append(e));
    return e;
  }

  /** Runs `add`, then scrolls to the end if the reader was at the end before. */
  keepBottom(add: () => void): void {
    const atEnd = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < stickyPx;
    add();
    if (atEnd) this.log.scrollTop = this.log.scrollHeight;
  }
}

function messageElement(m: Frame, self: string): HTMLElement {
  const from = typeof m.from === 'string' ? m.from : '';
  const ts = typeof m.ts === 'number' ? m.ts : Date.now();
  const e = el(
    'div',
    { class: fold(from) === fold(self) ? 'msg own' : 'msg' },
    el('time', {}, hhmm(ts)),
    el('span', { class: 'from' }, from),
    el('span', { class: 'text', dir: 'auto' }, typeof m.text === 'string' ? m.text : ''),
  );
  if (typeof m.id === 'string') e.dataset.id = m.id;
  return e;
}
