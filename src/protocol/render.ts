/**
 * Server frames as lines for people: the text mode (netcat, telnet), the legacy framed mode
 * (the original course client, whose wording it keeps) and the console client.
 */
export type Style = 'text' | 'legacy';

type Frame = Record<string, unknown>;

/**
 * Makes text from other people safe to print on a terminal: control characters (an escape
 * sequence could move the cursor, retitle the terminal or hide text) and bidi overrides
 * become harmless, and a multi-line message stays on one line.
 */
export function sanitize(text: string): string {
  return text
    .replace(/\r?\n/g, ' ↵ ')
    .replace(/[\p{Zs}\t]{2,}|\t/gu, ' ')
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd')
    .replace(/\p{Bidi_Control}/gu, '');
}

/**
 * The server's own tags, as people could type them inside a message to pass it off as a
 * notice (or, wrapped by a terminal, as a line of its own): shown in parentheses instead.
 */
const serverTags = /\[(SERVER|NEW CONNECTION|DISCONNECTED|PRIVATE MESSAGE)(\]|\s)/giu;

/** Someone's message text, safe to print and unable to pass for the server. */
function messageText(text: string): string {
  return sanitize(text).replace(serverTags, (_m, tag: string, end: string) => `(${tag}${end === ']' ? ')' : end}`);
}

const s = (v: unknown): string => sanitize(typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/** What a message's tag says about it, for clients that colour it. */
export type MessageKind = 'private' | 'room' | 'public' | 'own';

/**
 * One chat message as people read it: `[nick]: text` (`[nick] said: text` for the legacy
 * client), `[PRIVATE MESSAGE from nick]: text`, `[#room nick]: text`. `paint` may decorate
 * the bracketed tag (the console client colours it).
 */
export function renderMessage(
  m: Frame,
  style: Style,
  self: string,
  paint: (kind: MessageKind, tag: string) => string = (_kind, tag) => tag,
): string {
  const from = s(m.from);
  const to = s(m.to);
  const text = messageText(typeof m.text === 'string' ? m.text : '');
  if (to.startsWith('@')) {
    return from === self && to.slice(1) !== self
      ? `${paint('private', `[PRIVATE MESSAGE to ${to.slice(1)}]`)}: ${text}`
      : `${paint('private', `[PRIVATE MESSAGE from ${from}]`)}: ${text}`;
  }
  if (to.startsWith('#')) return `${paint('room', `[${to} ${from}]`)}: ${text}`;
  const tag = paint(from === self ? 'own' : 'public', `[${from}]`);
  return style === 'legacy' ? `${tag} said: ${text}` : `${tag}: ${text}`;
}

function list(names: unknown): string {
  return Array.isArray(names) ? names.map(s).join(', ') : '';
}

/** Names a batch line shows before `and N more`. */
const namesShown = 3;

/**
 * A presence batch in one line's words, `37 joined: ann, bob, cat and 34 more; 2 left: dan,
 * eve` (and `1234 online` when it carries the count); undefined when nothing is left to say
 * once `self` is taken out.
 */
export function presenceSummary(f: Frame, self = ''): string | undefined {
  const part = (verb: string, nicks: unknown): string | undefined => {
    const all = (Array.isArray(nicks) ? nicks.map(s) : []).filter((n) => n !== self);
    if (all.length === 0) return undefined;
    const more = all.length > namesShown ? ` and ${all.length - namesShown} more` : '';
    return `${all.length} ${verb}: ${all.slice(0, namesShown).join(', ')}${more}`;
  };
  const parts = [part('joined', f.online), part('left', f.offline)];
  if (typeof f.count === 'number') parts.push(`${f.count} online`);
  const said = parts.filter((p): p is string => p !== undefined);
  return said.length === 0 ? undefined : said.join('; ');
}

/** Whether a presence frame is a batch of one, which reads as version 1's `event` and `nick`. */
export function isSingleChange(f: Frame): boolean {
  return (f.event === 'online' || f.event === 'offline') && typeof f.nick === 'string';
}

/**
 * The lines a frame shows as, or none (acks, for instance, are silent for people). The
 * legacy client prints `[SERVER]: ` before every frame it gets, so its notices come without.
 */
export function renderFrame(f: Frame, style: Style, self: string): string[] {
  const lines = frameLines(f, style, self);
  return style === 'legacy' ? lines.map((l) => l.replace(/^\[SERVER\]: /, '')) : lines;
}

function frameLines(f: Frame, style: Style, self: string): string[] {
  switch (f.type) {
    case 'welcome':
      return [`[SERVER]: Welcome, ${s(f.nick)}! ${s(f.online)} online. Type !help for commands.`];
    case 'msg':
      return [renderMessage(f, style, self)];
    case 'presence': {
      if (!isSingleChange(f)) {
        const summary = presenceSummary(f);
        return summary === undefined ? [] : [`[SERVER]: ${summary}.`];
      }
      if (f.event === 'online') {
        return [style === 'legacy' ? `[NEW CONNECTION] User ${s(f.nick)} connected.` : `[SERVER]: ${s(f.nick)} joined the chat.`];
      }
      return [style === 'legacy' ? `[DISCONNECTED] User ${s(f.nick)} disconnected.` : `[SERVER]: ${s(f.nick)} left the chat.`];
    }
    case 'joined':
      if (Array.isArray(f.members)) return [`[SERVER]: You joined ${s(f.room)}. Members (${f.members.length}): ${list(f.members)}`];
      // A room too big to list its members: only the one who joined is told, with the count.
      if (typeof f.count === 'number') return [`[SERVER]: You joined ${s(f.room)}. Members: ${f.count}`];
      return [`[SERVER]: ${s(f.nick)} joined ${s(f.room)}.`];
    case 'left':
      return s(f.nick) === self ? [`[SERVER]: You left ${s(f.room)}.`] : [`[SERVER]: ${s(f.nick)} left ${s(f.room)}.`];
    case 'who': {
      const users = Array.isArray(f.users) ? f.users : [];
      // A paged list says how many are online in all, and that there is more.
      const more = typeof f.next === 'string' ? ` (first ${users.length} of ${s(f.count)})` : '';
      return f.room === undefined
        ? [`Online users (${users.length}): ${list(users)}${more}`]
        : [`Members of ${s(f.room)} (${users.length}): ${list(users)}`];
    }
    case 'watching': {
      const nicks = Array.isArray(f.nicks) ? f.nicks : [];
      return [`[SERVER]: Watching (${nicks.length}): ${list(nicks)}; online now: ${Array.isArray(f.online) && f.online.length > 0 ? list(f.online) : 'none'}`];
    }
    case 'history': {
      const messages = Array.isArray(f.messages) ? (f.messages as Frame[]) : [];
      if (messages.length === 0) return [`[SERVER]: No history with ${s(f.with)}.`];
      return [
        `[SERVER]: Last ${messages.length} message(s) with ${s(f.with)}:`,
        ...messages.map((m) => renderMessage(m, style, self)),
      ];
    }
    case 'pong':
      return ['[SERVER]: pong'];
    case 'bye':
      if (f.reason === 'restart') return ['[SERVER]: The server is restarting; please reconnect.'];
      if (f.reason === 'moved') return ['[SERVER]: Your session continues on another connection.'];
      return ['[SERVER]: Goodbye!'];
    case 'error':
      return [`[SERVER]: Error (${s(f.code)}): ${s(f.message)}`];
    default:
      return [];
  }
}
