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
    case 'presence':
      if (f.event === 'online') {
        return [style === 'legacy' ? `[NEW CONNECTION] User ${s(f.nick)} connected.` : `[SERVER]: ${s(f.nick)} joined the chat.`];
      }
      return [style === 'legacy' ? `[DISCONNECTED] User ${s(f.nick)} disconnected.` : `[SERVER]: ${s(f.nick)} left the chat.`];
    case 'joined':
      return Array.isArray(f.members)
        ? [`[SERVER]: You joined ${s(f.room)}. Members (${f.members.length}): ${list(f.members)}`]
        : [`[SERVER]: ${s(f.nick)} joined ${s(f.room)}.`];
    case 'left':
      return s(f.nick) === self ? [`[SERVER]: You left ${s(f.room)}.`] : [`[SERVER]: ${s(f.nick)} left ${s(f.room)}.`];
    case 'who': {
      const users = Array.isArray(f.users) ? f.users : [];
      return f.room === undefined
        ? [`Online users (${users.length}): ${list(users)}`]
        : [`Members of ${s(f.room)} (${users.length}): ${list(users)}`];
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
