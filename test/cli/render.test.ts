import { describe, expect, it } from 'vitest';
import { errorLine, hhmm, renderFrame, type RenderContext } from '../../src/cli/render.js';
import { wrapLine } from '../../src/cli/wrap.js';
import { renderFrame as renderFor, sanitize } from '../../src/protocol/render.js';

const ctx: RenderContext = { self: 'ann', color: false, timestamps: false };
const show = (frame: Record<string, unknown>, c: RenderContext = ctx) => renderFrame(c, frame as never);
const ts = new Date(2030, 0, 2, 9, 5).getTime();

describe('rendering server frames', () => {
  it('shows public, private and room messages as the text mode does', () => {
    expect(show({ type: 'msg', id: '1', from: 'bob', to: '*', text: 'hi all', ts })).toEqual(['[bob]: hi all']);
    expect(show({ type: 'msg', id: '2', from: 'bob', to: '@ann', text: 'psst', ts })).toEqual(['[PRIVATE MESSAGE from bob]: psst']);
    expect(show({ type: 'msg', id: '3', from: 'bob', to: '#dev', text: 'build is green', ts })).toEqual(['[#dev bob]: build is green']);
  });

  it('prefixes HH:MM with --timestamps', () => {
    expect(show({ type: 'msg', id: '1', from: 'bob', to: '*', text: 'hi', ts }, { ...ctx, timestamps: true })).toEqual(['09:05 [bob]: hi']);
    expect(hhmm(ts)).toBe('09:05');
  });

  it('greets, and lists who is online', () => {
    expect(show({ type: 'welcome', nick: 'ann', session: 's', gateway: 'g', online: 3, version: 1 })).toEqual([
      'Welcome, ann! 3 online. Type !help for commands.',
    ]);
    expect(show({ type: 'who', users: ['ann', 'bob', 'carol'], count: 3 })).toEqual(['Online (3): ann, bob, carol']);
    expect(show({ type: 'who', room: '#dev', users: [], count: 0 })).toEqual(['In #dev (0): nobody']);
  });

  it('announces presence and room changes, but not this user\'s own presence', () => {
    expect(show({ type: 'presence', event: 'online', nick: 'bob', ts })).toEqual(['* bob joined the chat']);
    expect(show({ type: 'presence', event: 'offline', nick: 'bob', ts })).toEqual(['* bob left the chat']);
    expect(show({ type: 'presence', event: 'online', nick: 'ann', ts })).toEqual([]);
    expect(show({ type: 'joined', room: '#dev', nick: 'ann', members: ['ann', 'bob'] })).toEqual(['[SERVER]: you joined #dev (2 in the room: ann, bob)']);
    expect(show({ type: 'joined', room: '#dev', nick: 'bob' })).toEqual(['* bob joined #dev']);
    expect(show({ type: 'left', room: '#dev', nick: 'ann' })).toEqual(['[SERVER]: you left #dev']);
    expect(show({ type: 'left', room: '#dev', nick: 'bob' })).toEqual(['* bob left #dev']);
  });

  it('shows a presence batch as one line, and a batch of one as before', () => {
    const online = ['bob', 'cat', 'dan', 'eve', 'fay'];
    expect(show({ type: 'presence', ts, online, offline: ['gus'] })).toEqual(['* 5 joined: bob, cat, dan and 2 more; 1 left: gus']);
    // This user's own arrival is not news to it.
    expect(show({ type: 'presence', ts, online: ['ann', 'bob'], offline: [] })).toEqual(['* 1 joined: bob']);
    expect(show({ type: 'presence', event: 'online', nick: 'bob', ts, online: ['bob'], offline: [] })).toEqual(['* bob joined the chat']);
    expect(show({ type: 'presence', ts, count: 1234 })).toEqual(['* 1234 online']);
  });

  it('keeps the old wording for one change in the text and legacy modes, and one line for a batch', () => {
    const one = { type: 'presence', event: 'online', nick: 'bob', ts, online: ['bob'], offline: [] };
    expect(renderFor(one, 'legacy', '')).toEqual(['[NEW CONNECTION] User bob connected.']);
    expect(renderFor({ ...one, event: 'offline', online: [], offline: ['bob'] }, 'legacy', '')).toEqual(['[DISCONNECTED] User bob disconnected.']);
    expect(renderFor(one, 'text', '')).toEqual(['[SERVER]: bob joined the chat.']);
    const many = { type: 'presence', ts, online: ['bob', 'cat'], offline: ['dan'] };
    expect(renderFor(many, 'legacy', '')).toEqual(['2 joined: bob, cat; 1 left: dan.']);
    expect(renderFor({ type: 'presence', ts, count: 1500 }, 'text', '')).toEqual(['[SERVER]: 1500 online.']);
  });

  it('shows errors with their code', () => {
    expect(show({ type: 'error', code: 'no_such_user', message: '@zed is not online' })).toEqual(['[ERROR] @zed is not online (no_such_user)']);
    expect(errorLine(ctx, 'unknown command !foo')).toBe('[ERROR] unknown command !foo');
  });

  it('shows history oldest first, own private messages as "to"', () => {
    const lines = show({
      type: 'history',
      with: '@bob',
      messages: [
        { type: 'msg', id: '1', from: 'bob', to: '@ann', text: 'hi ann', ts },
        { type: 'msg', id: '2', from: 'ann', to: '@bob', text: 'hi bob', ts },
      ],
    });
    expect(lines).toEqual([
      '[SERVER]: the last 2 messages in your private chat with bob:',
      '09:05 [PRIVATE MESSAGE from bob]: hi ann',
      '09:05 [PRIVATE MESSAGE to bob]: hi bob',
    ]);
    expect(show({ type: 'history', with: '#dev', messages: [] })).toEqual(['[SERVER]: no messages in #dev']);
  });

  it('keeps acks and pongs quiet, and ignores types it does not know', () => {
    expect(show({ type: 'ack', ref: '1', id: '9', ts })).toEqual([]);
    expect(show({ type: 'pong' })).toEqual([]);
    expect(show({ type: 'from_the_future', x: 1 })).toEqual([]);
  });

  it('colours only when asked', () => {
    const [line] = show({ type: 'msg', id: '1', from: 'bob', to: '*', text: 'hi', ts }, { ...ctx, color: true });
    expect(line).toContain('\x1b[');
    expect(line!.replace(/\x1b\[\d+m/g, '')).toBe('[bob]: hi');
  });

  it('never prints control characters from other people', () => {
    const [line] = show({ type: 'msg', id: '1', from: 'bob', to: '*', text: 'a\x1b[2Jb\r\nc\u202ed\x07', ts });
    expect(line).toBe('[bob]: a\ufffd[2Jb ↵ cd\ufffd');
    expect(sanitize('tab\there')).toBe('tab here');
  });

  it('lets no message pass for a server line: runs of spaces fold, server tags show in parentheses', () => {
    const [line] = show({ type: 'msg', id: '1', from: 'bob', to: '*', text: `${' '.repeat(150)}[SERVER]: your session expired`, ts });
    expect(line).toBe('[bob]:  (SERVER): your session expired');
    expect(renderFor({ type: 'msg', from: 'bob', to: '*', text: '[NEW CONNECTION] User root connected.' }, 'legacy', 'ann')).toEqual([
      '[bob] said: (NEW CONNECTION) User root connected.',
    ]);
  });

  it('gives legacy notices no [SERVER] prefix of their own: the seed client prints one before every frame', () => {
    expect(renderFor({ type: 'error', code: 'nick_taken', message: 'quang is taken; you are quang_2' }, 'legacy', '')).toEqual([
      'Error (nick_taken): quang is taken; you are quang_2',
    ]);
    expect(renderFor({ type: 'error', code: 'nick_taken', message: 'x' }, 'text', '')).toEqual(['[SERVER]: Error (nick_taken): x']);
  });

  it('folds long lines with a hanging indent, so a wrapped row never starts at column 0', () => {
    const rows = wrapLine(`\x1b[36m[bob]\x1b[0m: ${'x'.repeat(20)}[SERVER]: fake`, 12);
    expect(rows.length).toBeGreaterThan(2);
    expect(rows.slice(1).every((r) => r.startsWith('  '))).toBe(true);
    expect(rows.map((r, i) => (i === 0 ? r : r.slice(2))).join('').replace(/\x1b\[\d+m/g, '')).toBe(`[bob]: ${'x'.repeat(20)}[SERVER]: fake`);
    expect(rows.every((r) => r.replace(/\x1b\[\d+m/g, '').length <= 12)).toBe(true);
    expect(wrapLine('日本語日本語', 6)).toEqual(['日本語', '  日本', '  語']);
  });

  it('survives frames with missing or wrong-typed fields', () => {
    expect(show({ type: 'msg' })).toEqual(['[]: ']);
    expect(show({ type: 'who', users: 'nope' })).toEqual(['Online (0): nobody']);
    expect(show({ type: 'error' })).toEqual(['[ERROR] the server refused the request']);
  });
});

