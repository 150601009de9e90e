import type { Envelope } from './types.js';

/*
 * An envelope on the wire between gateways: one header line, then the frame's bytes as the
 * accepting gateway encoded them:
 *
 *   <id> <ts> <from>\n<frame JSON>\n
 *
 * id is '' for frames that are not messages; nicks and ids hold no spaces or newlines. The
 * Redis engine's post script writes the same layout, so decoding never parses the JSON.
 */
export function encodeEnvelope(env: Envelope): Buffer {
  return Buffer.concat([Buffer.from(`${env.id} ${env.ts} ${env.from}\n`), env.line]);
}

export function decodeEnvelope(bytes: Buffer): Envelope | undefined {
  const eol = bytes.indexOf(10);
  if (eol < 0) return undefined;
  const [id = '', ts = '', from = ''] = bytes.toString('utf8', 0, eol).split(' ');
  const stamp = Number(ts);
  if (!Number.isFinite(stamp)) return undefined;
  return { id, ts: stamp, from, line: bytes.subarray(eol + 1) };
}
