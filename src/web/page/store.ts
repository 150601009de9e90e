/**
 * What survives a reload of the tab (sessionStorage: per tab, gone with it): the nick and
 * session token to resume with, the last message id seen per target (PROTOCOL.md: resume
 * `last`), the conversations that were open, and the messages not yet acknowledged.
 */
import type { Frame } from './link.js';

export interface Saved {
  nick: string;
  session: string;
  last: Record<string, string>;
  /** Wire targets of the open conversations besides `*`: `#room`, `@nick`. */
  targets: string[];
  /** `send` requests with their refs, oldest first: sent once more after a reload, never twice. */
  outbox: Array<Frame & { ref: string }>;
}

const key = 'chorus.session';

export function loadSaved(): Saved | undefined {
  try {
    const raw = sessionStorage.getItem(key);
    if (raw === null) return undefined;
    const s = JSON.parse(raw) as Partial<Saved>;
    if (typeof s.nick !== 'string' || typeof s.session !== 'string') return undefined;
    return {
      nick: s.nick,
      session: s.session,
      last: typeof s.last === 'object' && s.last !== null ? s.last : {},
      targets: Array.isArray(s.targets) ? s.targets.filter((t): t is string => typeof t === 'string') : [],
      outbox: Array.isArray(s.outbox) ? s.outbox.filter((f) => typeof f === 'object' && f !== null && typeof f.ref === 'string') : [],
    };
  } catch {
    return undefined; // storage off, or someone else's value: start afresh
  }
}

export function save(s: Saved): void {
  try {
    sessionStorage.setItem(key, JSON.stringify(s));
  } catch {
    // Storage full or disabled: the chat still works, a reload just cannot resume.
  }
}

export function forget(): void {
  try {
    sessionStorage.removeItem(key);
  } catch {
    // nothing was saved
  }
}
