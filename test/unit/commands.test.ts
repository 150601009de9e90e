import { describe, expect, it } from 'vitest';
import { commandHelp, parseCommand } from '../../src/protocol/commands.js';

const frame = (line: string) => {
  const cmd = parseCommand(line);
  if (cmd.kind !== 'frame') throw new Error(`expected a frame for ${line}, got ${JSON.stringify(cmd)}`);
  return cmd.frame;
};

describe('the commands people type', () => {
  it('sends any other line to everyone, exactly as typed', () => {
    expect(frame('hello  world ')).toEqual({ type: 'send', to: '*', text: 'hello  world ' });
    expect(frame('hello\r\n')).toEqual({ type: 'send', to: '*', text: 'hello' });
  });

  it('sends private messages with !private and @nick', () => {
    expect(frame('!private bob see you  at 5')).toEqual({ type: 'send', to: '@bob', text: 'see you  at 5' });
    expect(frame('!private @bob hi')).toEqual({ type: 'send', to: '@bob', text: 'hi' });
    expect(frame('@bob hi')).toEqual({ type: 'send', to: '@bob', text: 'hi' });
  });

  it('sends to rooms with !group and #room', () => {
    expect(frame('!group #dev build is green')).toEqual({ type: 'send', to: '#dev', text: 'build is green' });
    expect(frame('#dev build is green')).toEqual({ type: 'send', to: '#dev', text: 'build is green' });
  });

  it('joins, leaves and lists', () => {
    expect(frame('!join #dev')).toEqual({ type: 'join', room: '#dev' });
    expect(frame('!leave #dev')).toEqual({ type: 'leave', room: '#dev' });
    expect(frame('!online')).toEqual({ type: 'who' });
    expect(frame('!online #dev')).toEqual({ type: 'who', room: '#dev' });
    expect(frame('!bye')).toEqual({ type: 'bye' });
    expect(frame('!BYE')).toEqual({ type: 'bye' });
  });

  it('watches and unwatches nicks', () => {
    expect(frame('!watch bob')).toEqual({ type: 'watch', nicks: ['bob'] });
    expect(frame('!watch @bob  cat')).toEqual({ type: 'watch', nicks: ['bob', 'cat'] });
    expect(frame('!unwatch bob')).toEqual({ type: 'unwatch', nicks: ['bob'] });
    expect(parseCommand('!watch')).toEqual({ kind: 'usage', message: 'usage: !watch <nick> [nick...]' });
  });

  it('reads !history as this session, a target, or a count', () => {
    expect(parseCommand('!history')).toEqual({ kind: 'history' });
    expect(parseCommand('!history #dev')).toEqual({ kind: 'history', with: '#dev' });
    expect(parseCommand('!history @bob 5')).toEqual({ kind: 'history', with: '@bob', limit: 5 });
    expect(parseCommand('!history 20')).toEqual({ kind: 'history', with: '*', limit: 20 });
    expect(parseCommand('!history #dev lots')).toEqual({ kind: 'usage', message: 'usage: !history [target] [n]' });
  });

  it('explains a command used wrongly, or one that does not exist', () => {
    expect(parseCommand('!private bob')).toEqual({ kind: 'usage', message: 'usage: !private <nick> <text>' });
    expect(parseCommand('!private')).toEqual({ kind: 'usage', message: 'usage: !private <nick> <text>' });
    expect(parseCommand('!group #dev   ')).toEqual({ kind: 'usage', message: 'usage: !group #room <text>' });
    expect(parseCommand('#dev')).toEqual({ kind: 'usage', message: 'usage: #room <text>' });
    expect(parseCommand('!join')).toEqual({ kind: 'usage', message: 'usage: !join #room' });
    expect(parseCommand('!foo bar')).toEqual({ kind: 'usage', message: 'unknown command !foo; type !help for the list', unknown: true });
    expect(parseCommand('   ')).toEqual({ kind: 'usage', message: 'type a message, or !help' });
  });

  it('lists every command in !help', () => {
    expect(parseCommand('!help')).toEqual({ kind: 'help' });
    const help = commandHelp.join('\n');
    for (const c of ['!private', '!online', '!join', '!leave', '!group', '!history', '!watch', '!unwatch', '!help', '!bye']) expect(help).toContain(c);
  });
});
