/**
 * Server frames as lines for people. Pure functions: no I/O, no state; the wording follows
 * the server's text mode (`[nick]: text`, `[PRIVATE MESSAGE from nick]: text`, `[#room nick]:
 * text`, `[SERVER]: ...`) so both kinds of user read the same chat.
 */
import { isSingleChange, presenceSummary, renderMessage as messageLine, sanitize, type MessageKind } from '../protocol/render.js';
import type { ServerFrame } from './connection.js';

export interface RenderContext {
  /** This user's nick as the server spelled it in `welcome` ('' before it). */
  readonly self: string;
  readonly color: boolean;
  /** Prefix incoming chat lines with HH:MM. */
  readonly timestamps: boolean;
}

type Colour = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'blue' | 'magenta' | 'cyan';
const sgr: Record<Colour, string> = {
  bold: '1',
  dim: '2',
  red: '31',
  green: '32',
  yellow: '33',
  blue: '34',
  magenta: '35',
  cyan: '36',
};

export function paint(ctx: Pick<RenderContext, 'color'>, colour: Colour, text: string): string {
  return ctx.color ? `\x1b[${sgr[colour]}m${text}\x1b[0m` : text;
}

const s = (v: unknown): string => sanitize(typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

function names(v: unknown): string[] {
  return Array.isArray(v) ? v.map(s) : [];
}

/** Local time HH:MM of a ms timestamp. */
export function hhmm(ts: number): string {
  const d = new Date(ts);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

function stamp(ctx: RenderContext, ts: unknown, line: string): string {
  if (!ctx.timestamps) return line;
  return `${paint(ctx, 'dim', hhmm(typeof ts === 'number' ? ts : Date.now()))} ${line}`;
}

/** The people-facing name of a target: `everyone`, `bob`, `#room`. */
export function targetName(to: string): string {
  if (to === '*') return 'everyone';
  return to.startsWith('@') ? sanitize(to.slice(1)) : sanitize(to);
}

const kindColour: Record<MessageKind, Colour> = { private: 'magenta', room: 'green', public: 'cyan', own: 'blue' };

/** One chat message, whoever sent it (history replays this user's own messages too). */
export function renderMessage(ctx: RenderContext, from: string, to: string, text: string): string {
  return messageLine({ from, to, text }, 'text', ctx.self, (kind, tag) => paint(ctx, kindColour[kind], tag));
}

export function serverLine(ctx: RenderContext, text: string): string {
  return `${paint(ctx, 'yellow', '[SERVER]')}: ${text}`;
}

export function errorLine(ctx: RenderContext, message: string, code?: string): string {
  return `${paint(ctx, 'red', '[ERROR]')} ${sanitize(message)}${code === undefined ? '' : ` (${code})`}`;
}

export function warningLine(ctx: RenderContext, message: string): string {
  return `${paint(ctx, 'yellow', '[WARNING]')} ${message}`;
}

export function welcomeLine(ctx: RenderContext, nick: string, online: number): string {
  return `Welcome, ${paint(ctx, 'bold', sanitize(nick))}! ${online} online. Type !help for commands.`;
}

function presenceLine(ctx: RenderContext, text: string): string {
  return paint(ctx, 'dim', `* ${text}`);
}

/**
 * The lines an incoming frame shows as; none for frames people need not see (acks, pongs)
 * and for types this client does not know (a newer server may add some).
 */
export function renderFrame(ctx: RenderContext, f: ServerFrame): string[] {
  switch (f.type) {
    case 'welcome':
      return [welcomeLine(ctx, s(f.nick), typeof f.online === 'number' ? f.online : 1)];
    case 'msg':
      return [stamp(ctx, f.ts, renderMessage(ctx, s(f.from), s(f.to), s(f.text)))];
    case 'presence': {
      if (!isSingleChange(f)) {
        // A batch is one line, however many came and went: `* 37 joined: ann, bob, cat and 34 more`.
        const summary = presenceSummary(f, ctx.self);
        return summary === undefined ? [] : [stamp(ctx, f.ts, presenceLine(ctx, summary))];
      }
      if (s(f.nick) === ctx.self) return [];
      const did = f.event === 'online' ? 'joined the chat' : 'left the chat';
      return [stamp(ctx, f.ts, presenceLine(ctx, `${s(f.nick)} ${did}`))];
    }
    case 'joined': {
      const room = s(f.room);
      if (s(f.nick) === ctx.self || (f.nick === undefined && Array.isArray(f.members))) {
        const members = names(f.members);
        const listed = members.length === 0 ? '' : ` (${members.length} in the room: ${members.join(', ')})`;
        // A room too big to list its members answers with the count.
        const who = typeof f.count === 'number' ? ` (${f.count} in the room)` : listed;
        return [serverLine(ctx, `you joined ${room}${who}`)];
      }
      return [stamp(ctx, f.ts, presenceLine(ctx, `${s(f.nick)} joined ${room}`))];
    }
    case 'left': {
      const room = s(f.room);
      if (s(f.nick) === ctx.self || f.nick === undefined) return [serverLine(ctx, `you left ${room}`)];
      return [stamp(ctx, f.ts, presenceLine(ctx, `${s(f.nick)} left ${room}`))];
    }
    case 'who': {
      const users = names(f.users);
      const count = typeof f.count === 'number' ? f.count : users.length;
      const label = typeof f.room === 'string' ? `In ${s(f.room)}` : 'Online';
      return [`${paint(ctx, 'bold', label)} (${count}): ${users.length === 0 ? 'nobody' : users.join(', ')}`];
    }
    case 'watching': {
      const watched = names(f.nicks);
      if (watched.length === 0) return [serverLine(ctx, 'you watch nobody')];
      const online = new Set(names(f.online));
      return [serverLine(ctx, `watching ${watched.map((n) => (online.has(n) ? `${n} (online)` : n)).join(', ')}`)];
    }
    case 'history':
      return renderHistory(ctx, s(f.with), Array.isArray(f.messages) ? f.messages : []);
    case 'error':
      return [errorLine(ctx, s(f.message) || 'the server refused the request', s(f.code) || undefined)];
    case 'bye':
      if (f.reason === 'restart') return [serverLine(ctx, 'the server is restarting')];
      if (f.reason === 'moved') return [serverLine(ctx, 'your session continues in another client')];
      return [serverLine(ctx, 'goodbye')];
    case 'file_offer':
      return [serverLine(ctx, `${s(f.from)} offered you a file "${s(f.name)}" (${s(f.size)} bytes); this client cannot receive files`)];
    default:
      return [];
  }
}

function historyTitle(target: string): string {
  if (target === '*') return 'the public chat';
  return target.startsWith('@') ? `your private chat with ${targetName(target)}` : target;
}

export function renderHistory(ctx: RenderContext, target: string, messages: unknown[]): string[] {
  const title = historyTitle(target);
  if (messages.length === 0) return [serverLine(ctx, `no messages in ${title}`)];
  const lines = [serverLine(ctx, `the last ${messages.length} message${messages.length === 1 ? '' : 's'} in ${title}:`)];
  for (const m of messages) {
    if (typeof m !== 'object' || m === null) continue;
    const o = m as Record<string, unknown>;
    const ts = typeof o.ts === 'number' ? o.ts : Date.now();
    lines.push(`${paint(ctx, 'dim', hhmm(ts))} ${renderMessage(ctx, s(o.from), s(o.to), s(o.text))}`);
  }
  return lines;
}
