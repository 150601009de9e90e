import { describe, expect, it } from 'vitest';
import { parseProxyHeader, ProxyProtocolError } from '../../src/gateway/proxy-protocol.js';

const v2Signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** A v2 header: version 2 with `command`, `family`, then `body` (addresses, TLVs). */
function v2(command: number, family: number, body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0x20 | command;
  head[1] = family;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([v2Signature, head, body]);
}

function tcp4(src: number[], dst: number[], srcPort: number, dstPort: number): Buffer {
  const body = Buffer.alloc(12);
  Buffer.from(src).copy(body, 0);
  Buffer.from(dst).copy(body, 4);
  body.writeUInt16BE(srcPort, 8);
  body.writeUInt16BE(dstPort, 10);
  return body;
}

describe('PROXY protocol v1', () => {
  it('reads TCP4 and TCP6 lines and says where the header ends', () => {
    const line = 'PROXY TCP4 203.0.113.7 10.0.0.2 56324 50445\r\n';
    expect(parseProxyHeader(Buffer.from(line + '{"type":"hello"}'))).toEqual({ source: { address: '203.0.113.7', port: 56324 }, length: line.length });
    expect(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::2 4000 50446\r\n'))).toMatchObject({ source: { address: '2001:db8::7', port: 4000 } });
  });

  it('takes UNKNOWN as the proxy speaking for itself', () => {
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toEqual({ source: undefined, length: 15 });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff:: ffff:: 1 2\r\n'))).toMatchObject({ source: undefined });
  });

  it('says "none" for bytes that start no header: a direct client of the proxy host', () => {
    for (const text of ['GET / HTTP/1.1\r\n', '{"type":"hello"}\n', '5    ', 'PROXIMA\n', 'P{', '\r\nhello']) {
      expect(parseProxyHeader(Buffer.from(text))).toBe('none');
    }
  });

  it('waits for the rest of a header cut across reads', () => {
    const line = Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.2 56324 50445\r\n');
    for (let n = 1; n < line.length; n++) expect(parseProxyHeader(line.subarray(0, n))).toBe('incomplete');
  });

  it.each([
    ['a wrong family', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'],
    ['an address of the other family', 'PROXY TCP4 2001:db8::1 10.0.0.2 1 2\r\n'],
    ['a bad address', 'PROXY TCP4 300.1.1.1 10.0.0.2 1 2\r\n'],
    ['a port out of range', 'PROXY TCP4 1.2.3.4 10.0.0.2 65536 2\r\n'],
    ['a port with a sign', 'PROXY TCP4 1.2.3.4 10.0.0.2 -1 2\r\n'],
    ['a missing field', 'PROXY TCP4 1.2.3.4 10.0.0.2 1\r\n'],
    ['a bare LF', 'PROXY TCP4 1.2.3.4 10.0.0.2 1 2\n'.padEnd(120, 'x')],
    ['a line past 107 bytes', `PROXY TCP4 ${'1'.repeat(120)}`],
  ])('refuses %s', (_what, text) => {
    expect(() => parseProxyHeader(Buffer.from(text))).toThrow(ProxyProtocolError);
  });
});

describe('PROXY protocol v2', () => {
  it('reads TCP over IPv4 and IPv6, skipping TLVs', () => {
    const four = v2(1, 0x11, tcp4([198, 51, 100, 9], [10, 0, 0, 2], 61000, 50445));
    expect(parseProxyHeader(Buffer.concat([four, Buffer.from('{')]))).toEqual({ source: { address: '198.51.100.9', port: 61000 }, length: four.length });
    const six = Buffer.alloc(36);
    six.writeUInt16BE(0x2001, 0);
    six.writeUInt16BE(0x0db8, 2);
    six.writeUInt16BE(0x0007, 14);
    six.writeUInt16BE(443, 32);
    const tlv = Buffer.from([0x01, 0x00, 0x02, 0x68, 0x32]); // ALPN "h2"
    const header = v2(1, 0x21, Buffer.concat([six, tlv]));
    expect(parseProxyHeader(header)).toEqual({ source: { address: '2001:db8::7', port: 443 }, length: header.length });
  });

  it('takes LOCAL and UNSPEC as the proxy speaking for itself', () => {
    expect(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0)))).toEqual({ source: undefined, length: 16 });
    expect(parseProxyHeader(v2(0, 0x11, tcp4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)))).toMatchObject({ source: undefined });
    expect(parseProxyHeader(v2(1, 0x00, Buffer.alloc(0)))).toMatchObject({ source: undefined });
  });

  it('waits for the rest of a header cut across reads', () => {
    const header = v2(1, 0x11, tcp4([198, 51, 100, 9], [10, 0, 0, 2], 61000, 50445));
    for (let n = 1; n < header.length; n++) expect(parseProxyHeader(header.subarray(0, n))).toBe('incomplete');
  });

  it.each([
    ['version 1 in the binary form', (() => { const h = v2(1, 0x11, tcp4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)); h[12] = 0x11; return h; })()],
    ['an unknown command', v2(2, 0x11, tcp4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))],
    ['UDP', v2(1, 0x12, tcp4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))],
    ['TCP4 addresses cut short', v2(1, 0x11, Buffer.alloc(8))],
    ['TCP6 addresses cut short', v2(1, 0x21, Buffer.alloc(20))],
    ['a header longer than any proxy sends', v2(1, 0x11, Buffer.alloc(4000))],
  ])('refuses %s', (_what, bytes) => {
    expect(() => parseProxyHeader(bytes)).toThrow(ProxyProtocolError);
  });
});
