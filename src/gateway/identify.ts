import { parseFrameObject, type ClientFrame } from '../protocol/frames.js';

type Hello = Extract<ClientFrame, { type: 'hello' }>;

const identifyCommand = /^!identify(?:\s+(.*))?$/i;

/**
 * The hello a text-mode user's `!identify <password>` answers for (the password checked as in
 * a JSON hello: bad_frame when too short or long), or undefined when the line is something else.
 * The password is everything after the command and one run of spaces, trailing spaces included.
 */
export function identifyLine(asked: Hello, line: string): Hello | undefined {
  const m = identifyCommand.exec(line.replace(/\r?\n$/, ''));
  if (!m) return undefined;
  const frame = parseFrameObject({ type: 'hello', nick: asked.nick, password: m[1] ?? '' });
  return frame.type === 'hello' ? frame : undefined;
}
