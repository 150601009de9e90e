/** Redis Cluster's slot count: a key's slot is CRC16 of its hash tag, modulo this. */
const slots = 16_384;

/**
 * The cluster slot of a key or shard channel, as Redis computes it (CRC16/XMODEM of the
 * first non-empty `{...}` tag, or of the whole name without one): which master serves it.
 */
export function slotOf(name: string): number {
  let bytes = Buffer.from(name);
  const open = bytes.indexOf(0x7b); // {
  const close = open < 0 ? -1 : bytes.indexOf(0x7d, open + 1); // }
  if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % slots;
}
