import { describe, expect, it } from 'vitest';
import { ChorusError } from '../../src/protocol/errors.js';
import { encodeLegacyFrame, LegacyDecoder } from '../../src/gateway/framing.js';
import { LineSplitter } from '../../src/protocol/lines.js';
import { detectMode } from '../../src/gateway/tcp.js';
import { encodeEnvelope, decodeEnvelope } from '../../src/engine/envelope.js';

describe('LineSplitter', () => {
  it('splits lines across chunks, strips \\r, and reports non-UTF-8 lines', () => {
    const lines: string[] = [];
    const bad: ChorusError[] = [];
    const s = new LineSplitter(100);
    s.push(Buffer.from('{"a":1}\r\n{"b"'), (l) => lines.push(l), (e) => bad.push(e));
    s.push(Buffer.from(':2}\n'), (l) => lines.push(l), (e) => bad.push(e));
    s.push(Buffer.from([0xff, 0x0a]), (l) => lines.push(l), (e) => bad.push(e));
    expect(lines).toEqual(['{"a":1}', '{"b":2}']);
    expect(bad.map((e) => e.code)).toEqual(['bad_frame']);
  });

  it('keeps a UTF-8 character split across reads whole', () => {
    const lines: string[] = [];
    const s = new LineSplitter(100);
    const bytes = Buffer.from('{"a":"é"}\n');
    s.push(bytes.subarray(0, 7), (l) => lines.push(l), () => {});
    s.push(bytes.subarray(7), (l) => lines.push(l), () => {});
    expect(lines).toEqual(['{"a":"é"}']);
  });

  it('throws a fatal frame_too_large before holding more than the limit', () => {
    const s = new LineSplitter(10);
    expect(() => s.push(Buffer.from('12345678901'), () => {}, () => {})).toThrow(expect.objectContaining({ code: 'frame_too_large', fatal: true }));
    const t = new LineSplitter(10);
    t.push(Buffer.from('123456'), () => {}, () => {});
    expect(() => t.push(Buffer.from('7890123\n'), () => {}, () => {})).toThrow(expect.objectContaining({ code: 'frame_too_large' }));
  });
});

describe('legacy framing', () => {
  it('round-trips a body through a 1024-byte header, one byte at a time', () => {
    const frame = encodeLegacyFrame('héllo');
    expect(frame.length).toBe(1024 + Buffer.byteLength('héllo'));
    const bodies: string[] = [];
    const d = new LegacyDecoder(1000);
    for (const byte of Buffer.concat([frame, encodeLegacyFrame('')])) d.push(Buffer.from([byte]), (b) => bodies.push(b));
    expect(bodies).toEqual(['héllo', '']);
  });

  it('refuses a header that is not a number and a body over the limit', () => {
    expect(() => new LegacyDecoder(10).push(Buffer.from('abc'.padEnd(1024)), () => {})).toThrow(expect.objectContaining({ code: 'bad_frame', fatal: true }));
    expect(() => new LegacyDecoder(10).push(Buffer.from('11'.padEnd(1024)), () => {})).toThrow(expect.objectContaining({ code: 'frame_too_large' }));
  });
});

describe('detectMode', () => {
  it.each([
    ['{"type":"hello"', 'json'],
    ['  {"type"', 'json'],
    ['5    ', 'legacy'],
    ['1024 ', 'legacy'],
    ['ann\n', 'text'],
    ['42\n', 'text'],
    ['4ever\n', 'text'],
    ['123', undefined],
    ['', undefined],
    ['1'.repeat(16), 'text'],
  ])('reads %j as %s', (head, mode) => {
    expect(detectMode(Buffer.from(head))).toBe(mode);
  });
});

describe('envelopes', () => {
  it('carry id, stamp and sender ahead of the frame bytes, which decode unchanged', () => {
    const line = Buffer.from('{"type":"msg","text":"a b\\nc"}\n');
    const env = decodeEnvelope(encodeEnvelope({ id: '5-1', ts: 1234, from: 'ann', line }));
    expect(env).toMatchObject({ id: '5-1', ts: 1234, from: 'ann' });
    expect(env!.line.equals(line)).toBe(true);
    expect(decodeEnvelope(encodeEnvelope({ id: '', ts: 1, from: '', line }))).toMatchObject({ id: '', from: '' });
    expect(decodeEnvelope(Buffer.from('no newline'))).toBeUndefined();
  });
});
