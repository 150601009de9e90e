import { ChorusError } from './errors.js';
import { parseTarget, type Target } from './names.js';

/** Decoded bytes of one `file_chunk`: 48 KiB, so a chunk frame stays well under 70 KB of JSON. */
export const maxChunkBytes = 48 * 1024;
/** Its base64 text: 65,536 characters. */
export const maxChunkChars = (maxChunkBytes / 3) * 4;
/** A file name's limit in UTF-8 bytes, as most file systems have it. */
export const maxFileNameBytes = 255;
/** File ids are 22 base64url characters (engine/ids); anything much longer cannot be one. */
const maxFileIdChars = 64;

export type FileFrame =
  | { type: 'file_offer'; to: Target; name: string; size: number; sha256: string }
  | { type: 'file_chunk'; file: string; seq: number; data: string }
  | { type: 'file_end'; file: string }
  | { type: 'file_accept'; file: string; from_seq: number }
  | { type: 'file_reject'; file: string };

type Obj = Record<string, unknown>;

/**
 * Whether a name is safe to show and to save under: not empty, at most 255 UTF-8 bytes, no
 * path separators, NUL or other control characters, and not `.` or `..`. The server refuses
 * the others (`bad_file`), so no receiver ever sees one; the console client checks again.
 */
export function fileNameProblem(name: string): string | undefined {
  if (name === '') return 'a file name may not be empty';
  if (Buffer.byteLength(name, 'utf8') > maxFileNameBytes) return `a file name is at most ${maxFileNameBytes} bytes`;
  if (/[/\\]/.test(name)) return 'a file name may not hold "/" or "\\"';
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'a file name may not hold control characters';
  if (name === '.' || name === '..') return 'a file name may not be "." or ".."';
  return undefined;
}

function fileId(o: Obj): string {
  const v = o.file;
  if (typeof v !== 'string' || v === '' || v.length > maxFileIdChars) throw new ChorusError('bad_frame', '"file" must be a file id');
  return v;
}

function count(o: Obj, field: string): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ChorusError('bad_frame', `"${field}" must be a whole number`);
  return v;
}

const sha256Pattern = /^[0-9a-fA-F]{64}$/;
/** Strict base64 (what Buffer.from would silently skip is refused): groups of 4, padding only at the end. */
const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The bytes a valid base64 text decodes to, without decoding it. */
export function base64Bytes(data: string): number {
  const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  return (data.length / 4) * 3 - padding;
}

/** Parses the file frames a client sends; parseFrameObject hands them here. */
export function parseFileFrame(o: Obj, type: FileFrame['type']): FileFrame {
  switch (type) {
    case 'file_offer': {
      const name = o.name;
      if (typeof name !== 'string') throw new ChorusError('bad_file', '"name" must be a string');
      const problem = fileNameProblem(name);
      if (problem) throw new ChorusError('bad_file', problem);
      const sha256 = o.sha256;
      if (typeof sha256 !== 'string' || !sha256Pattern.test(sha256)) {
        throw new ChorusError('bad_frame', '"sha256" must be 64 hex digits');
      }
      return { type, to: parseTarget(o.to), name, size: count(o, 'size'), sha256: sha256.toLowerCase() };
    }
    case 'file_chunk': {
      const data = o.data;
      if (typeof data !== 'string' || data === '' || !base64Pattern.test(data)) {
        throw new ChorusError('bad_frame', '"data" must be base64');
      }
      if (data.length > maxChunkChars) throw new ChorusError('bad_file', `a chunk holds at most ${maxChunkBytes} bytes`);
      return { type, file: fileId(o), seq: count(o, 'seq'), data };
    }
    case 'file_accept':
      return { type, file: fileId(o), from_seq: o.from_seq === undefined ? 0 : count(o, 'from_seq') };
    case 'file_end':
    case 'file_reject':
      return { type, file: fileId(o) };
  }
}

export const fileFrameTypes = new Set<string>(['file_offer', 'file_chunk', 'file_end', 'file_accept', 'file_reject']);

/**
 * A `file_chunk` as stored and sent to receivers, data last: built once by the sender's
 * gateway, kept in the store as it is, and forwarded as these bytes to every receiver.
 */
export function chunkJson(file: string, seq: number, data: string): string {
  return `{"type":"file_chunk","file":${JSON.stringify(file)},"seq":${seq},"data":"${data}"}`;
}

/** The decoded size of a stored chunk (chunkJson): its data is the text between the last `:"` and `"}`. */
export function chunkJsonBytes(json: string): number {
  const start = json.lastIndexOf(':"') + 2;
  return base64Bytes(json.slice(start, json.length - 2));
}

/**
 * Whether an inbound line is a file chunk, by a cheap look rather than a parse: chunks are
 * paced by bytes, not by the frame rate limit. A line that only pretends to be one is paced
 * the same way and then refused by the parser.
 */
export function looksLikeChunk(line: string): boolean {
  // Fields come in any order: the type is near one end or the other of a chunk's line.
  return chunkType.test(line.slice(0, 128)) || (line.length > 128 && chunkType.test(line.slice(-128)));
}

const chunkType = /"type"\s*:\s*"file_chunk"/;
