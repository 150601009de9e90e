import { parseCommand, commandHelp } from '../protocol/commands.js';
import { encodeLine } from '../protocol/encode.js';
import { ChorusError } from '../protocol/errors.js';
import { parseFrame, parseFrameObject, type ClientFrame } from '../protocol/frames.js';
import { renderFrame } from '../protocol/render.js';
import { encodeLegacyFrame, encodeWsTextFrame } from './framing.js';
import type { Outbound } from './outbound.js';

/** What one inbound line means: a frame for the session, or bytes answered on the spot (help). */
export type Parsed = { frame: ClientFrame } | { reply: Buffer };

/**
 * How a connection speaks: JSON frames, or lines for people (text mode, and the legacy
 * framed mode of the original course client). The session speaks frames; the dialect
 * translates both ways.
 */
export interface Dialect {
  readonly name: 'json' | 'ws' | 'text' | 'legacy';
  parse(line: string, greeting: boolean): Parsed;
  /** A direct reply to this session; undefined when the frame shows as nothing. `self` is the user's nick. */
  encode(frame: object, self: string): Buffer | undefined;
  /** The same, for a frame already encoded as JSON (history replies splice stored messages). */
  encodeJson(json: string, self: string): Buffer | undefined;
  /** A frame fanned out to many sessions. */
  deliver(out: Outbound): Buffer | undefined;
}

export const jsonDialect: Dialect = {
  name: 'json',
  parse: (line) => ({ frame: parseFrame(line) }),
  encode: (frame) => encodeLine(frame),
  encodeJson: (json) => Buffer.from(json + '\n'),
  deliver: (out) => out.env.line,
};

/** JSON in WebSocket text frames, framed here so that fan-out frames each message once for all sockets. */
export const wsDialect: Dialect = {
  name: 'ws',
  parse: jsonDialect.parse,
  encode: (frame) => encodeWsTextFrame(Buffer.from(JSON.stringify(frame))),
  encodeJson: (json) => encodeWsTextFrame(Buffer.from(json)),
  deliver: (out) => out.bytes('ws', wsFrameOf),
};

/** A fanned-out JSON line as one WebSocket text frame (without its newline). */
function wsFrameOf(out: Outbound): Buffer {
  return encodeWsTextFrame(out.env.line.subarray(0, out.env.line.length - 1));
}

function peopleDialect(name: 'text' | 'legacy', frameLines: (lines: string[]) => Buffer): Dialect {
  const wrap = (lines: string[]) => (lines.length === 0 ? undefined : frameLines(lines));
  const render = (out: Outbound) => wrap(renderFrame(out.frame(), name, ''));
  return {
    name,
    parse(line, greeting) {
      if (greeting) return { frame: parseFrameObject({ type: 'hello', nick: greetingNick(name, line) }) };
      const cmd = parseCommand(line);
      switch (cmd.kind) {
        case 'frame':
          return { frame: parseFrameObject(cmd.frame) };
        case 'history':
          return { frame: parseFrameObject({ type: 'history', with: cmd.with ?? '*', limit: cmd.limit ?? 20 }) };
        case 'help':
          return { reply: frameLines([`${name === 'legacy' ? '' : '[SERVER]: '}Commands:`, ...commandHelp.map((l) => `  ${l}`)]) };
        case 'password':
          if (cmd.password === undefined) throw new ChorusError('bad_frame', `usage: !${cmd.type} <password>`);
          return { frame: parseFrameObject({ type: cmd.type, password: cmd.password }) };
        case 'usage':
          throw new ChorusError(cmd.unknown ? 'unknown_type' : 'bad_frame', cmd.message);
        case 'file':
          throw new ChorusError('unknown_type', 'this connection cannot carry files: use a client that can, such as the chorus console client');
      }
    },
    encode: (frame, self) => wrap(renderFrame(frame as Record<string, unknown>, name, self)),
    encodeJson: (json, self) => wrap(renderFrame(JSON.parse(json) as Record<string, unknown>, name, self)),
    deliver: (out) => out.bytes(name, render),
  };
}

/**
 * The old client cannot answer a refusal, so whatever it sends as its nick is made into a
 * valid one (the session then finds a free variant); text users are asked again instead.
 */
function greetingNick(name: 'text' | 'legacy', line: string): string {
  const typed = line.trim();
  if (name === 'text') return typed;
  const cleaned = [...typed.normalize('NFC').replace(/[^\p{L}\p{N}_.-]|[\p{Default_Ignorable_Code_Point}\p{Bidi_Control}]/gu, '_')].slice(0, 28).join('');
  return /[\p{L}\p{N}]/u.test(cleaned) ? cleaned : 'guest';
}

export const textDialect = peopleDialect('text', (lines) => Buffer.from(lines.join('\n') + '\n'));
export const legacyDialect = peopleDialect('legacy', (lines) => encodeLegacyFrame(lines.join('\n')));
