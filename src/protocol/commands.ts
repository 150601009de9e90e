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
  '!help                       this list',
  '!bye                        leave the chat',
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
    case '!help':
      return { kind: 'help' };
    case '!bye':
    case '!quit':
      return { kind: 'frame', frame: { type: 'bye' } };
    default:
      return { kind: 'usage', message: `unknown command ${name.slice(0, 32)}; type !help for the list`, unknown: true };
  }
}
