import type { Envelope } from './types.js';

/*
 * An envelope on the wire between gateways: one header line, then the frame's bytes as the
 * accepting gateway encoded them:
 *
 *   <id> <ts> <from>[ <conn>]\n<frame JSON>\n
 *
 * id is '' for frames that are not messages; conn only on a takeover notice; nicks, ids and
 * connection ids hold no spaces or newlines. The Redis engine's scripts write the same
 * layout, so decoding never parses the JSON.
 */
export function encodeEnvelope(env: Envelope): Buffer {
  const conn = env.conn === undefined ? '' : ` ${env.conn}`;
  return Buffer.concat([Buffer.from(`${env.id} ${env.ts} ${env.from}${conn}\n`), env.line]);
}

export function decodeEnvelope(bytes: Buffer): Envelope | undefined {
  const eol = bytes.indexOf(10);
  if (eol < 0) return undefined;
  const [id = '', ts = '', from = '', conn] = bytes.toString('utf8', 0, eol).split(' ');
  const stamp = Number(ts);
  if (!Number.isFinite(stamp)) return undefined;
  const env = { id, ts: stamp, from, line: bytes.subarray(eol + 1) };
  return conn === undefined ? env : { ...env, conn };
}
