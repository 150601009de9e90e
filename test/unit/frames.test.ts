import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ChorusError, errorCodes, type ErrorCode } from '../../src/protocol/errors.js';
import { parseFrame } from '../../src/protocol/frames.js';
import { nickKey, parseNick, parseRoom, parseTarget, roomKey } from '../../src/protocol/names.js';

function codeOf(fn: () => unknown): ErrorCode | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof ChorusError) return err.code;
    throw err;
  }
  return undefined;
}

describe('parseFrame', () => {
  it('accepts every client frame type it serves', () => {
    expect(parseFrame('{"type":"hello","nick":"Ann","ref":"1"}')).toEqual({ type: 'hello', nick: 'Ann', ref: '1' });
    expect(parseFrame('{"type":"send","to":"@Bob","text":"hi"}')).toMatchObject({ type: 'send', to: { kind: 'private', key: 'bob', address: '@bob' } });
    expect(parseFrame('{"type":"join","room":"#Dev"}')).toEqual({ type: 'join', room: '#Dev' });
    expect(parseFrame('{"type":"who"}')).toEqual({ type: 'who' });
    expect(parseFrame('{"type":"who","cursor":"17","limit":50}')).toEqual({ type: 'who', cursor: '17', limit: 50 });
    expect(parseFrame('{"type":"watch","nicks":["Ann","bob"]}')).toEqual({ type: 'watch', nicks: ['Ann', 'bob'] });
    expect(parseFrame('{"type":"unwatch","nicks":["ann"]}')).toEqual({ type: 'unwatch', nicks: ['ann'] });
    expect(parseFrame('{"type":"history","with":"*"}')).toMatchObject({ type: 'history', limit: 50 });
    expect(parseFrame('{"type":"hello","nick":"a","resume":{"session":"s","last":{"*":"1-0"}}}')).toMatchObject({
      resume: { session: 's', last: { '*': '1-0' } },
    });
  });

  it.each([
    ['not json', 'bad_frame'],
    ['[1]', 'bad_frame'],
    ['null', 'bad_frame'],
    ['{"type":1}', 'bad_frame'],
    ['{"type":"ping","ref":7}', 'bad_frame'],
    [`{"type":"ping","ref":"${'r'.repeat(65)}"}`, 'bad_frame'],
    ['{"type":"dance"}', 'unknown_type'],
    ['{"type":"file_offer"}', 'unknown_type'],
    ['{"type":"hello","nick":"a b"}', 'bad_nick'],
    ['{"type":"hello","nick":"a","resume":"x"}', 'bad_frame'],
    ['{"type":"send","to":"somewhere","text":"x"}', 'bad_target'],
    ['{"type":"send","to":"*","text":""}', 'bad_frame'],
    [`{"type":"send","to":"*","text":"${'x'.repeat(4001)}"}`, 'text_too_long'],
    ['{"type":"join","room":"dev"}', 'bad_target'],
    ['{"type":"history","with":"*","limit":0}', 'bad_frame'],
    ['{"type":"history","with":"*","limit":1.5}', 'bad_frame'],
    ['{"type":"who","limit":1001}', 'bad_frame'],
    ['{"type":"who","cursor":7}', 'bad_frame'],
    ['{"type":"watch","nicks":[]}', 'bad_frame'],
    ['{"type":"watch","nicks":"ann"}', 'bad_frame'],
    ['{"type":"watch","nicks":["a b"]}', 'bad_nick'],
    [`{"type":"watch","nicks":${JSON.stringify(Array.from({ length: 501 }, (_, i) => `u${i}`))}}`, 'bad_frame'],
  ])('refuses %s with %s', (line, code) => {
    expect(codeOf(() => parseFrame(line))).toBe(code);
  });

  it('counts text length in characters, not UTF-16 units', () => {
    expect(codeOf(() => parseFrame(JSON.stringify({ type: 'send', to: '*', text: '😀'.repeat(4000) })))).toBeUndefined();
  });
});

describe('names', () => {
  it('normalises to NFC and folds case for uniqueness, keeping the nick as typed', () => {
    const nick = parseNick('Cafe\u0301');
    expect(nick).toBe('Café');
    expect(nickKey(nick)).toBe('café');
    expect(nickKey(parseNick('Quang'))).toBe(nickKey(parseNick('quang')));
    expect(nickKey(parseNick('STRASSE'))).toBe(nickKey(parseNick('straße')));
  });

  it('makes look-alikes one nick: Cyrillic, fullwidth and math bold letters fold to their Latin skeleton', () => {
    const ann = nickKey(parseNick('ann'));
    for (const lookAlike of ['\u0430nn', '\uff41\uff4e\uff4e', '\u{1d41a}\u{1d427}\u{1d427}', 'ANN']) {
      expect(nickKey(parseNick(lookAlike))).toBe(ann);
    }
    expect(nickKey(parseNick('q\u057dang'))).toBe(nickKey(parseNick('quang')));
    expect(nickKey(parseNick('bob'))).not.toBe(ann);
  });

  it.each(['', 'a b', '@ann', '#ann', '*ann', 'x'.repeat(33), 'tab\there', 'semi;colon', '\u3164', 'ann\u3164', 'a\u200bb', 'a\u202eb', '.', '...', '-', '_'])('refuses the nick %j', (raw) => {
    expect(codeOf(() => parseNick(raw))).toBe('bad_nick');
  });

  it.each(['a', 'Ünïcödé', 'dots.and-dashes_', '日本語', 'x'.repeat(32)])('accepts the nick %j', (raw) => {
    expect(codeOf(() => parseNick(raw))).toBeUndefined();
  });

  it('checks rooms and targets', () => {
    expect(roomKey(parseRoom('#Dev'))).toBe('#dev');
    expect(codeOf(() => parseRoom('#'))).toBe('bad_target');
    expect(codeOf(() => parseRoom(`#${'r'.repeat(65)}`))).toBe('bad_target');
    expect(parseTarget('*')).toEqual({ kind: 'public', address: '*' });
    expect(parseTarget('#Dev')).toMatchObject({ kind: 'room', key: '#dev' });
    expect(codeOf(() => parseTarget('@'))).toBe('bad_target');
  });
});

describe('the error catalogue', () => {
  it('matches docs/protocol.md both ways', () => {
    const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
    const line = doc.split('\n').find((l) => l.startsWith('Error codes:'))!;
    const rest = doc.slice(doc.indexOf(line)).split('\n\n')[0]!;
    const documented = [...rest.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]);
    expect([...documented].sort()).toEqual([...errorCodes].sort());
  });
});
