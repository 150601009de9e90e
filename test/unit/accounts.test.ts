// Password hashing, the hashing semaphore and the back-off, without sockets.
import { randomBytes, scryptSync } from 'node:crypto';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { MemoryAccounts } from '../../src/engine/memory/accounts.js';
import { backoffMs, Logins } from '../../src/gateway/accounts.js';
import { createMetrics } from '../../src/gateway/metrics.js';
import { hashPassword, scryptParams, verifyPassword } from '../../src/gateway/password.js';
import { Semaphore } from '../../src/gateway/semaphore.js';
import { nickKey, parseNick } from '../../src/protocol/names.js';

/** A hash as an older release with weaker parameters would have stored it. */
function weakHash(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, 32, { N: 1024, r: 8, p: 1 });
  return `scrypt$1024$8$1$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

describe('password hashes', () => {
  it('are self-describing scrypt strings with the current parameters, salted, and checked exactly', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    const { N, r, p } = scryptParams;
    expect(a).toMatch(new RegExp(`^scrypt\\$${N}\\$${r}\\$${p}\\$[\\w-]{22}\\$[\\w-]{43}$`));
    expect(a).not.toBe(b);
    expect(await verifyPassword('correct horse battery', a)).toEqual({ ok: true, stale: false });
    expect(await verifyPassword('correct horse batterY', a)).toEqual({ ok: false, stale: false });
    // A string nobody should have stored, asking for gigabytes, is refused unread.
    expect(await verifyPassword('x', 'scrypt$1073741824$8$1$AAAA$AAAA')).toEqual({ ok: false, stale: false });
    expect(await verifyPassword('x', 'bcrypt$whatever')).toEqual({ ok: false, stale: false });
  });

  it('made with older parameters still match, and a login stores them again with today\'s', async () => {
    const accounts = new MemoryAccounts();
    const logins = new Logins(accounts, createMetrics(new Registry(), 'w'));
    const key = nickKey(parseNick('ann'));
    await accounts.set(key, weakHash('old but good'), 'e1', parseNick('ann'));
    expect(await verifyPassword('old but good', (await accounts.get(key))!.hash)).toEqual({ ok: true, stale: true });
    await logins.check(key, (await accounts.get(key))!, 'old but good', '127.0.0.1');
    const after = (await accounts.get(key))!;
    expect(after.epoch).toBe('e1');
    expect(after.hash.startsWith(`scrypt$${scryptParams.N}$`)).toBe(true);
    expect(await verifyPassword('old but good', after.hash)).toEqual({ ok: true, stale: false });
  });
});

describe('the hashing semaphore', () => {
  it('runs at most its limit at once, queues a bounded number more, and refuses the rest at once', async () => {
    const sem = new Semaphore(2, 1);
    let running = 0, most = 0;
    const gates: Array<() => void> = [];
    const job = () =>
      sem.run(async () => {
        most = Math.max(most, ++running);
        await new Promise<void>((resolve) => gates.push(resolve));
        running--;
        return 'done';
      });
    const jobs = [job(), job(), job()];
    expect(await job()).toBeUndefined(); // two running, one waiting: the fourth is refused
    let finished = false;
    const all = Promise.all(jobs).finally(() => (finished = true));
    // Open each job's gate as it starts: the waiting one starts once a slot is free.
    while (!finished) {
      gates.splice(0).forEach((open) => open());
      await new Promise((r) => setImmediate(r));
    }
    expect(await all).toEqual([{ value: 'done' }, { value: 'done' }, { value: 'done' }]);
    expect(most).toBe(2);
  });
});

describe('the back-off after failed logins', () => {
  it('starts near a second, doubles, and stops at a minute: never a lockout', () => {
    expect([0, 1, 2, 3, 6, 7, 50, 10_000].map(backoffMs)).toEqual([0, 1_000, 2_000, 4_000, 32_000, 60_000, 60_000, 60_000]);
  });
});
