/**
 * The chat commands people type, shared by the console client and the server's text and
 * legacy modes. Parsing yields the raw object of a client frame; parseFrameObject (frames.ts)
 * validates it, so both paths obey the same rules.
 */
export type Command =
  | { kind: 'frame'; frame: Record<string, unknown> }
  /** `!history` with no target: the console client shows its own session; servers ask for `*`. */
  | { kind: 'history'; with?: string; limit?: number }
  | { kind: 'help' }
  /** File transfer: the console client's own (people's text modes cannot take bytes). */
  | { kind: 'file'; action: 'send'; to: string; path: string }
  | { kind: 'file'; action: 'accept' | 'reject'; file: string }
  | { kind: 'file'; action: 'list' }
  /**
   * `!register [password]` / `!unregister [password]`: the console client asks for a password
   * not given (unechoed); the server's text mode needs it on the line.
   */
  | { kind: 'password'; type: 'register' | 'unregister'; password?: string }
  /** A malformed command; `unknown` when the command name itself is not one we have. */
  | { kind: 'usage'; message: string; unknown?: boolean };

export const commandHelp = [
  '<text>                      send to everyone',
  '!private <nick> <text>      send to one user (also: @nick <text>)',
  '!group #room <text>         send to a room you joined (also: #room <text>)',
  '!join #room / !leave #room  enter or leave a room',
  '!online [#room]             who is online (or in the room)',
  '!history [target] [n]       this session, or the last n messages of *, @nick or #room',
  '!watch <nick> [nick...]     be told when they come and go, however busy the server',
  '!unwatch <nick> [nick...]   stop watching them',
  '!register / !unregister     protect your nick with a password, or drop it',
  '!help                       this list',
  '!bye                        leave the chat',
];

/** The file commands, listed by the console client only. */
export const fileCommandHelp = [
  '!send <nick|#room|*> <path> offer a file and upload it',
  '!accept <file>              take a file offered to you (saved under --downloads)',
  '!reject <file>              decline a file offered to you',
  '!files                      offers waiting for you, and your transfers in flight',
];

const usage = (message: string): Command => ({ kind: 'usage', message });

/** Splits off the first `n` space-separated words; the rest of the line stays as typed. */
function words(line: string, n: number): [string[], string] {
  const parts: string[] = [];
  let rest = line;
  for (let i = 0; i < n; i++) {
    rest = rest.trimStart();
    const end = rest.search(/\s/);
    parts.push(end < 0 ? rest : rest.slice(0, end));
    rest = end < 0 ? '' : rest.slice(end + 1);
  }
  return [parts, rest];
}

function send(to: string, text: string, usageText: string): Command {
  if (to === '' || text.trim() === '') return usage(usageText);
  return { kind: 'frame', frame: { type: 'send', to, text } };
}

export function parseCommand(input: string): Command {
  const line = input.replace(/\r?\n$/, '');
  if (line.startsWith('@')) {
    const [[to = ''], text] = words(line, 1);
    return send(to, text, 'usage: @nick <text>');
  }
  if (line.startsWith('#')) {
    const [[to = ''], text] = words(line, 1);
    return send(to, text, 'usage: #room <text>');
  }
  if (!line.startsWith('!')) {
    return line.trim() === '' ? usage('type a message, or !help') : send('*', line, '');
  }
  const [[name = ''], rest] = words(line, 1);
  switch (name.toLowerCase()) {
    case '!private': {
      const [[nick = ''], text] = words(rest, 1);
      return send(nick === '' ? '' : `@${nick.replace(/^@/, '')}`, text, 'usage: !private <nick> <text>');
    }
    case '!group': {
      const [[room = ''], text] = words(rest, 1);
      return send(room, text, 'usage: !group #room <text>');
    }
    case '!join':
    case '!leave': {
      const [[room = '']] = words(rest, 1);
      if (room === '') return usage(`usage: ${name} #room`);
      return { kind: 'frame', frame: { type: name.slice(1).toLowerCase(), room } };
    }
    case '!online':
    case '!who': {
      const [[room = '']] = words(rest, 1);
      return { kind: 'frame', frame: room === '' ? { type: 'who' } : { type: 'who', room } };
    }
    case '!history': {
      const [[target = '', count = '']] = words(rest, 2);
      if (target === '') return { kind: 'history' };
      if (/^\d+$/.test(target) && count === '') return { kind: 'history', with: '*', limit: Number(target) };
      if (count !== '' && !/^\d+$/.test(count)) return usage('usage: !history [target] [n]');
      // A bare word is a nick, as in `!private bob`.
      const to = target === '*' || target.startsWith('@') || target.startsWith('#') ? target : `@${target}`;
      return count === '' ? { kind: 'history', with: to } : { kind: 'history', with: to, limit: Number(count) };
    }
    case '!watch':
    case '!unwatch': {
      const nicks = rest.split(/\s+/).filter(Boolean).map((n) => n.replace(/^@/, ''));
      if (nicks.length === 0) return usage(`usage: ${name.toLowerCase()} <nick> [nick...]`);
      return { kind: 'frame', frame: { type: name.slice(1).toLowerCase(), nicks } };
    }
    case '!send': {
      const [[to = ''], path] = words(rest, 1);
      if (to === '' || path.trim() === '') return usage('usage: !send <nick|#room|*> <path>');
      // A bare word is a nick, as in `!private bob`.
      return { kind: 'file', action: 'send', to: to === '*' || to.startsWith('@') || to.startsWith('#') ? to : `@${to}`, path: path.trim() };
    }
    case '!accept':
    case '!reject': {
      const [[file = '']] = words(rest, 1);
      if (file === '') return usage(`usage: ${name} <file>`);
      return { kind: 'file', action: name.slice(1).toLowerCase() as 'accept' | 'reject', file };
    }
    case '!files':
      return { kind: 'file', action: 'list' };
    case '!register':
    case '!unregister': {
      const type = name.slice(1).toLowerCase() as 'register' | 'unregister';
      // The password is the rest of the line as typed: spaces inside it are part of it.
      return rest.trim() === '' ? { kind: 'password', type } : { kind: 'password', type, password: rest };
    }
    case '!help':
      return { kind: 'help' };
    case '!bye':
    case '!quit':
      return { kind: 'frame', frame: { type: 'bye' } };
    default:
      return { kind: 'usage', message: `unknown command ${name.slice(0, 32)}; type !help for the list`, unknown: true };
  }
}
