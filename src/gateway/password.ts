import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password hashes: scrypt with one of the OWASP Password Storage Cheat Sheet's parameter sets
 * (N=2^15, r=8, p=3: 32 MiB and about 0.4 s of one core per hash on the 2-core test machine),
 * stored as `scrypt$N$r$p$salt$hash` (salt and hash base64url) so that the parameters can be
 * raised later: a login with an older string is re-hashed with the current ones.
 */
export const scryptParams = { N: 2 ** 15, r: 8, p: 3 } as const;
type Params = { N: number; r: number; p: number };

const saltBytes = 16;
const keyBytes = 32;
/**
 * The most a stored string may ask for (N up to 2^20, r and p up to 16): a string from a
 * store someone else can write must not make one login take gigabytes.
 */
const maxN = 2 ** 20, maxRp = 16;

function derive(password: string, salt: Buffer, { N, r, p }: Params): Promise<Buffer> {
  // scrypt needs 128·N·r bytes; Node refuses past 32 MiB unless told how much it may take.
  const options: ScryptOptions = { N, r, p, maxmem: 128 * N * r + 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(password, salt, keyBytes, options, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(saltBytes);
  const key = await derive(password, salt, scryptParams);
  const { N, r, p } = scryptParams;
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

interface Stored {
  params: Params;
  salt: Buffer;
  key: Buffer;
}

function parseStored(stored: string): Stored | undefined {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  const params = { N: Number(n), r: Number(r), p: Number(p) };
  const sane =
    scheme === 'scrypt' && Number.isInteger(params.N) && params.N > 1 && params.N <= maxN && (params.N & (params.N - 1)) === 0 &&
    [params.r, params.p].every((v) => Number.isInteger(v) && v >= 1 && v <= maxRp);
  if (!sane || salt === undefined || key === undefined) return undefined;
  return { params, salt: Buffer.from(salt, 'base64url'), key: Buffer.from(key, 'base64url') };
}

/** Whether `password` matches; `stale` when the string was made with other parameters than today's. */
export async function verifyPassword(password: string, stored: string): Promise<{ ok: boolean; stale: boolean }> {
  const parsed = parseStored(stored);
  if (!parsed || parsed.key.length !== keyBytes) return { ok: false, stale: false };
  const key = await derive(password, parsed.salt, parsed.params);
  const { N, r, p } = parsed.params;
  return { ok: timingSafeEqual(key, parsed.key), stale: N !== scryptParams.N || r !== scryptParams.r || p !== scryptParams.p };
}
