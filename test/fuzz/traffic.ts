// What the fuzz tests send: valid traffic each dialect must carry intact, and hostile input
// around it (random frames, random JSON, deep nesting, huge numbers, __proto__ keys, wrong
// types, random bytes), all as bytes so that the test can cut them anywhere.
import fc from 'fast-check';
import { legacyBytes, wsFrame, type Dialect } from './wire.js';

export type Item = { kind: 'valid'; i: number } | { kind: 'junk'; bytes: Buffer };

const frameTypes = ['hello', 'send', 'join', 'leave', 'who', 'history', 'ping', 'register', 'unregister', 'file_offer', 'msg', '', 'welcome'];
const fields = ['nick', 'to', 'text', 'room', 'with', 'before', 'limit', 'password', 'resume', 'ref', 'type'];

/** Frames of the protocol's shape with fields of any JSON type (never `bye`: the session must go on). */
const frameLike = fc
  .record({
    type: fc.oneof(fc.constantFrom(...frameTypes), fc.string({ maxLength: 12 }).filter((t) => t !== 'bye')),
    extra: fc.dictionary(fc.constantFrom(...fields), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }),
  })
  .map(({ type, extra }) => JSON.stringify({ ...extra, type: extra.type === 'bye' ? 'ping' : type }));

const deep = fc
  .tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('[', '{"a":'))
  .map(([depth, open]) => (open === '[' ? '['.repeat(depth) + ']'.repeat(depth) : open.repeat(depth) + '1' + '}'.repeat(depth)));

const nasty = fc.constantFrom(
  '{"__proto__":{"type":"ping"}}',
  '{"type":"send","to":"*","text":"x","__proto__":{"to":"@admin"}}',
  '{"constructor":{"prototype":{"type":"ping"}},"type":"who"}',
  '{"type":"__proto__"}',
  '{"type":"join","room":"#__proto__"}',
  '{"type":"history","with":"@__proto__","limit":1e400}',
  '{"type":"history","with":"*","limit":123456789012345678901234567890}',
  '{"type":"send","to":"*","text":-0}',
  '{"ref":1e999,"type":"ping"}',
  '{"type":"ping","ref":"' + 'r'.repeat(65) + '"}',
  '{"type":"send","to":["*"],"text":{"toString":"x"}}',
  '{"type":"who","room":null}',
  '{"type":"ping"',
  '"ping"',
  'null',
  '[]',
  '',
  '\r',
);

/** One line of hostile JSON-ish text (the newline added by the caller). */
export const junkJson: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: frameLike, weight: 4 },
  { arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)), weight: 2 },
  { arbitrary: nasty, weight: 2 },
  { arbitrary: deep, weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 80 }).map((s) => s.replace(/\n/g, ' ')), weight: 1 },
);

/** Random bytes, newlines and broken UTF-8 included. */
export const junkBytes = fc.uint8Array({ maxLength: 120 }).map((a) => Buffer.from(a));

/** A line a person might type, commands and all (never !bye / !quit). */
const junkCommand = fc
  .tuple(fc.constantFrom('', '!private ', '!join ', '!leave ', '!group ', '!history ', '!online ', '!help', '!frobnicate ', '@', '#', '!identify ', '!who '), fc.string({ unit: 'binary', maxLength: 60 }))
  .map(([cmd, rest]) => (cmd + rest).replace(/\n/g, ' '))
  .filter((line) => !/^!(bye|quit)\b/i.test(line.trimStart()));

/** Encodes junk for a dialect: whole lines or frames, so that the valid traffic around it stays framed. */
export function junkFor(dialect: Dialect): fc.Arbitrary<Buffer> {
  switch (dialect) {
    case 'json':
      return fc.oneof(junkJson.map((l) => Buffer.from(l + '\n')), junkBytes.map((b) => Buffer.concat([b, Buffer.from('\n')])));
    case 'text':
      return fc.oneof(junkCommand, junkJson).map((l) => Buffer.from(l + '\n'));
    case 'legacy':
      return fc.oneof(
        fc.oneof(junkCommand, junkJson).map((l) => legacyBytes(l)),
        junkBytes.map((b) => Buffer.concat([Buffer.from(String(b.length).padEnd(1024, ' '), 'latin1'), b])),
      );
    case 'ws':
      return fc.oneof(
        junkJson.map((l) => wsFrame(Buffer.from(l))),
        junkBytes.map((b) => wsFrame(b, 1)), // text frames that need not be UTF-8
        junkBytes.map((b) => wsFrame(b, 2)), // binary frames
        junkBytes.filter((b) => b.length <= 125).map((b) => wsFrame(b, 9)), // pings: answered, not messages
      );
  }
}

export const validText = (run: number, i: number | 'end') => `valid:${run}:${i}`;

/** The bytes of a valid item: a private message to `to`, as the dialect writes one. */
export function validFor(dialect: Dialect, run: number, i: number | 'end', to: string): Buffer {
  const text = validText(run, i);
  switch (dialect) {
    case 'json':
      return Buffer.from(JSON.stringify({ type: 'send', to: `@${to}`, text, ref: `v${i}` }) + '\n');
    case 'ws':
      return wsFrame(Buffer.from(JSON.stringify({ type: 'send', to: `@${to}`, text, ref: `v${i}` })));
    case 'text':
      return Buffer.from(`@${to} ${text}\n`);
    case 'legacy':
      return legacyBytes(`@${to} ${text}`);
  }
}

export function helloFor(dialect: Dialect, nick: string): Buffer {
  switch (dialect) {
    case 'json':
      return Buffer.from(JSON.stringify({ type: 'hello', nick }) + '\n');
    case 'ws':
      return wsFrame(Buffer.from(JSON.stringify({ type: 'hello', nick })));
    case 'text':
      return Buffer.from(`${nick}\n`);
    case 'legacy':
      return legacyBytes(nick);
  }
}

/** A conversation: valid items numbered in order, junk between them. */
export function items(dialect: Dialect): fc.Arbitrary<Item[]> {
  return fc
    .array(fc.oneof({ arbitrary: fc.constant<'valid'>('valid'), weight: 1 }, { arbitrary: junkFor(dialect), weight: 2 }), { maxLength: 24 })
    .map((picks) => {
      let i = 0;
      return picks.map((p): Item => (p === 'valid' ? { kind: 'valid', i: i++ } : { kind: 'junk', bytes: p }));
    });
}

/** Where to cut the stream: fractions of its length. */
export const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 24 });
