// The envelope layout between gateways, which the Redis scripts write too.
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope } from '../../src/engine/envelope.js';
import { takeoverNotice } from '../../src/engine/takeover.js';

describe('envelopes', () => {
  it('lays a takeover notice out as id, ts, from and the connection it is for, then the bye', () => {
    const notice = takeoverNotice('Zk3_-conn', 1_700_000_000_123);
    const bytes = encodeEnvelope(notice);
    expect(bytes.toString()).toBe(' 1700000000123  Zk3_-conn\n{"type":"bye","reason":"moved"}\n');
    expect(decodeEnvelope(bytes)).toEqual(notice);
  });

  it('reads an envelope for everyone as having no connection', () => {
    const env = { id: '1-0', ts: 5, from: 'ann', line: Buffer.from('{"type":"msg"}\n') };
    const decoded = decodeEnvelope(encodeEnvelope(env));
    expect(decoded).toEqual(env);
    expect(decoded).not.toHaveProperty('conn');
  });
});
