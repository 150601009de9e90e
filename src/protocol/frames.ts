import { ChorusError } from './errors.js';
import { parseNick, parseRoom, parseTarget, type Nick, type Room, type Target } from './names.js';

export const maxTextChars = 4000;
export const maxRefChars = 64;
export const maxHistoryLimit = 100;
export const defaultHistoryLimit = 50;
/** The most users one `who` page holds, and the page a `who` without `limit` gets. */
export const maxWhoPage = 1000;
/** Nicks one client may watch: enough for a contact list, few enough that routing stays cheap (IRC MONITOR caps it too). */
export const maxWatchedNicks = 500;

export interface ResumeRequest {
  session: string;
  /** The last id seen per target, as filed by the client under each msg's `to`. */
  last: Record<string, string>;
}

type Ref = { ref?: string };
export type ClientFrame = Ref &
  (
    | { type: 'hello'; nick: Nick; password?: string; resume?: ResumeRequest }
    | { type: 'send'; to: Target; text: string }
    | { type: 'join'; room: Room }
    | { type: 'leave'; room: Room }
    | { type: 'who'; room?: Room; cursor?: string; limit?: number }
    | { type: 'watch'; nicks: Nick[] }
    | { type: 'unwatch'; nicks: Nick[] }
    | { type: 'history'; with: Target; before?: string; limit: number }
    | { type: 'ping' }
    | { type: 'bye' }
  );

export type ClientFrameType = ClientFrame['type'];

/** Types PROTOCOL.md names that this server does not serve yet: a clear refusal, not a guess. */
const notServed = new Set(['register', 'file_offer', 'file_accept', 'file_reject', 'file_chunk', 'file_end']);

type Obj = Record<string, unknown>;

function str(o: Obj, field: string, max: number): string {
  const v = o[field];
  if (typeof v !== 'string') throw new ChorusError('bad_frame', `"${field}" must be a string`);
  if (v.length > max) throw new ChorusError('bad_frame', `"${field}" is too long`);
  return v;
}

function optStr(o: Obj, field: string, max: number): string | undefined {
  return o[field] === undefined ? undefined : str(o, field, max);
}

function text(o: Obj): string {
  const v = o.text;
  if (typeof v !== 'string' || v.length === 0) {
    throw new ChorusError('bad_frame', '"text" must be a non-empty string');
  }
  // Count code points, not UTF-16 units, so the limit means what people expect.
  if (v.length > maxTextChars && [...v].length > maxTextChars) {
    throw new ChorusError('text_too_long', `text is limited to ${maxTextChars} characters`);
  }
  return v;
}

function resume(o: Obj): ResumeRequest | undefined {
  const r = o.resume;
  if (r === undefined) return undefined;
  if (typeof r !== 'object' || r === null || Array.isArray(r)) {
    throw new ChorusError('bad_frame', '"resume" must be an object');
  }
  const session = str(r as Obj, 'session', 128);
  const lastRaw = (r as Obj).last ?? {};
  if (typeof lastRaw !== 'object' || lastRaw === null || Array.isArray(lastRaw)) {
    throw new ChorusError('bad_frame', '"resume.last" must be an object of target: id');
  }
  const entries = Object.entries(lastRaw as Obj);
  if (entries.length > 1000) throw new ChorusError('bad_frame', '"resume.last" has too many targets');
  const last: Record<string, string> = {};
  for (const [target, id] of entries) {
    if (typeof id !== 'string' || id.length > 64) {
      throw new ChorusError('bad_frame', '"resume.last" values must be ids');
    }
    last[target] = id;
  }
  return { session, last };
}

function nicks(o: Obj): Nick[] {
  const v = o.nicks;
  if (!Array.isArray(v) || v.length === 0 || v.length > maxWatchedNicks) {
    throw new ChorusError('bad_frame', `"nicks" must be a list of 1 to ${maxWatchedNicks} nicks`);
  }
  return v.map(parseNick);
}

function who(o: Obj): { room?: Room; cursor?: string; limit?: number } {
  const cursor = optStr(o, 'cursor', 64);
  const v = o.limit;
  if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > maxWhoPage)) {
    throw new ChorusError('bad_frame', `"limit" must be an integer from 1 to ${maxWhoPage}`);
  }
  return {
    ...(o.room === undefined ? {} : { room: parseRoom(o.room) }),
    ...(cursor === undefined ? {} : { cursor }),
    ...(v === undefined ? {} : { limit: v }),
  };
}

function historyLimit(o: Obj): number {
  const v = o.limit;
  if (v === undefined) return defaultHistoryLimit;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > maxHistoryLimit) {
    throw new ChorusError('bad_frame', `"limit" must be an integer from 1 to ${maxHistoryLimit}`);
  }
  return v;
}

/** Parses one JSON frame from a client. Throws ChorusError; never returns a half-checked frame. */
export function parseFrame(line: string): ClientFrame {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new ChorusError('bad_frame', 'a frame is one JSON object');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ChorusError('bad_frame', 'a frame is one JSON object');
  }
  return parseFrameObject(raw as Obj);
}

export function parseFrameObject(o: Obj): ClientFrame {
  const ref = optStr(o, 'ref', maxRefChars);
  const base = ref === undefined ? {} : { ref };
  const type = o.type;
  if (typeof type !== 'string') throw new ChorusError('bad_frame', '"type" must be a string');
  switch (type) {
    case 'hello': {
      const password = optStr(o, 'password', 128);
      const r = resume(o);
      return {
        ...base,
        type,
        nick: parseNick(o.nick),
        ...(password === undefined ? {} : { password }),
        ...(r === undefined ? {} : { resume: r }),
      };
    }
    case 'send':
      return { ...base, type, to: parseTarget(o.to), text: text(o) };
    case 'join':
    case 'leave':
      return { ...base, type, room: parseRoom(o.room) };
    case 'who':
      return { ...base, type, ...who(o) };
    case 'watch':
    case 'unwatch':
      return { ...base, type, nicks: nicks(o) };
    case 'history': {
      const before = optStr(o, 'before', 64);
      return {
        ...base,
        type,
        with: parseTarget(o.with),
        limit: historyLimit(o),
        ...(before === undefined ? {} : { before }),
      };
    }
    case 'ping':
    case 'bye':
      return { ...base, type };
    default:
      if (notServed.has(type)) {
        throw new ChorusError('unknown_type', `"${type}" is not served by this server version`);
      }
      throw new ChorusError('unknown_type', `unknown frame type "${type.slice(0, 32)}"`);
  }
}

const refPattern = /"ref"\s*:\s*("(?:[^"\\]|\\.){0,64}")/;

/**
 * The ref of a frame that was not handled (malformed, or refused unread by the rate limit),
 * so the error can still answer it. A scan, not a parse: refusing must stay cheap.
 */
export function refOf(line: string): string | undefined {
  const m = refPattern.exec(line);
  if (!m) return undefined;
  try {
    const ref = JSON.parse(m[1]!) as string;
    return ref.length <= maxRefChars ? ref : undefined;
  } catch {
    return undefined;
  }
}
