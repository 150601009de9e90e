import net from 'node:net';

/**
 * The PROXY protocol (HAProxy's proxy-protocol.txt), versions 1 and 2: the header a
 * balancer puts before a connection's first byte to name the client it relays. Only
 * headers from --trusted-proxies are read; anyone else could claim any address.
 */

/** The client a header names; undefined for LOCAL / UNKNOWN (a health check: the connection is the proxy's own). */
export type ProxySource = { address: string; port: number } | undefined;

/** 'none': these bytes cannot start a header, so the connection has none (length 0). */
export type ProxyParse = { source: ProxySource; length: number } | 'incomplete' | 'none';

export class ProxyProtocolError extends Error {}

/** v1's longest header, CRLF included (section 2.1). */
const v1MaxBytes = 107;
const v2Signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const v2HeaderBytes = 16;
/** Addresses plus TLVs; HAProxy sends a few dozen bytes, and a header holds a socket until read. */
const v2MaxPayload = 2048;

const v1Prefix = Buffer.from('PROXY ', 'latin1');

/**
 * Parses the header at the start of `head`: its client and length, 'incomplete', 'none'
 * (the bytes start no header: JSON, text, legacy or HTTP), or throws ProxyProtocolError
 * for a header that is malformed.
 */
export function parseProxyHeader(head: Buffer): ProxyParse {
  if (head.length === 0) return 'incomplete';
  if (startsLike(head, v1Prefix)) return head.length < v1Prefix.length ? 'incomplete' : parseV1(head);
  if (startsLike(head, v2Signature)) return parseV2(head);
  return 'none';
}

/** Whether `head` is a prefix of `sig`, or starts with all of it. */
function startsLike(head: Buffer, sig: Buffer): boolean {
  const n = Math.min(head.length, sig.length);
  return head.subarray(0, n).equals(sig.subarray(0, n));
}

function parseV1(head: Buffer): ProxyParse {
  const end = head.indexOf('\r\n', 0, 'latin1');
  if (end < 0) {
    if (head.length >= v1MaxBytes) throw new ProxyProtocolError('PROXY v1 line too long');
    return 'incomplete';
  }
  if (end + 2 > v1MaxBytes) throw new ProxyProtocolError('PROXY v1 line too long');
  const fields = head.toString('latin1', 0, end).split(' ');
  const length = end + 2;
  if (fields[1] === 'UNKNOWN') return { source: undefined, length };
  if (fields.length !== 6) throw new ProxyProtocolError('PROXY v1 needs protocol, two addresses and two ports');
  const [, family, src, dst, srcPort, dstPort] = fields as [string, string, string, string, string, string];
  const isFamily = family === 'TCP4' ? net.isIPv4 : family === 'TCP6' ? net.isIPv6 : undefined;
  if (!isFamily) throw new ProxyProtocolError(`PROXY v1 protocol must be TCP4, TCP6 or UNKNOWN, not ${family}`);
  if (!isFamily(src) || !isFamily(dst)) throw new ProxyProtocolError(`PROXY v1 addresses are not ${family}`);
  v1Port(dstPort);
  return { source: { address: src, port: v1Port(srcPort) }, length };
}

function v1Port(text: string): number {
  if (!/^(0|[1-9]\d{0,4})$/.test(text) || Number(text) > 65535) throw new ProxyProtocolError(`bad PROXY v1 port ${text}`);
  return Number(text);
}

function parseV2(head: Buffer): ProxyParse {
  if (head.length < v2HeaderBytes) return 'incomplete';
  const versionCommand = head[12]!;
  const family = head[13]!;
  const payload = head.readUInt16BE(14);
  if (versionCommand >> 4 !== 2) throw new ProxyProtocolError('PROXY v2 header of another version');
  const command = versionCommand & 0x0f;
  if (command > 1) throw new ProxyProtocolError('PROXY v2 command must be LOCAL or PROXY');
  if (payload > v2MaxPayload) throw new ProxyProtocolError('PROXY v2 header too long');
  const length = v2HeaderBytes + payload;
  if (head.length < length) return 'incomplete';
  // LOCAL: the proxy speaking for itself (its health checks); the addresses are to be ignored.
  if (command === 0) return { source: undefined, length };
  const body = head.subarray(v2HeaderBytes, length);
  switch (family) {
    case 0x11: // TCP over IPv4: source, destination, source port, destination port
      if (payload < 12) throw new ProxyProtocolError('PROXY v2 TCP4 addresses cut short');
      return { source: { address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8) }, length };
    case 0x21: // TCP over IPv6
      if (payload < 36) throw new ProxyProtocolError('PROXY v2 TCP6 addresses cut short');
      return { source: { address: ipv6(body.subarray(0, 16)), port: body.readUInt16BE(32) }, length };
    case 0x00: // UNSPEC: the receiver uses the connection's own addresses
      return { source: undefined, length };
    default:
      throw new ProxyProtocolError(`PROXY v2 family 0x${family.toString(16)} is not TCP`);
  }
}

function ipv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // SocketAddress gives the canonical (compressed) form that logs and BlockList checks use.
  return new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

/**
 * Reads the PROXY header, if there is one, off a fresh socket from a trusted proxy and puts
 * back whatever followed it. No header is no error: the balancer's own connections (and
 * clients on its host) speak for themselves. Rejects with ProxyProtocolError on a
 * malformed header or if the socket closes first; the caller's connection deadline bounds
 * how long a trickling header may take.
 */
export function readProxyHeader(socket: net.Socket): Promise<ProxySource> {
  return new Promise((resolve, reject) => {
    let head: Buffer = Buffer.alloc(0);
    const done = (fn: () => void) => {
      socket.off('data', onData);
      socket.off('close', onClose);
      fn();
    };
    const onClose = () => done(() => reject(new ProxyProtocolError('closed before its PROXY header')));
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      let parsed: ProxyParse;
      try {
        parsed = parseProxyHeader(head);
      } catch (err) {
        return done(() => reject(err));
      }
      if (parsed === 'incomplete') return;
      const { source, length } = parsed === 'none' ? { source: undefined, length: 0 } : parsed;
      done(() => {
        socket.pause();
        if (head.length > length) socket.unshift(head.subarray(length));
        resolve(source);
      });
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}
