import { randomBytes } from 'node:crypto';
import type { Account, Accounts, Engine } from '../engine/types.js';
import { ChorusError } from '../protocol/errors.js';
import type { ClientFrame } from '../protocol/frames.js';
import { looksLike, type NickKey } from '../protocol/names.js';
import type { Metrics } from './metrics.js';
import { hashPassword, verifyPassword } from './password.js';
import { tokenEpoch } from './resume.js';
import { Semaphore } from './semaphore.js';

/**
 * Logins to registered nicks: password checks behind a small semaphore, and back-off after
 * failures per account (in the store, so every gateway sees it) and per client address (here).
 */

/** Hashes at once: each takes a libuv thread (of 4) and 32 MiB for about 0.4 s. */
const hashingAtOnce = 2;
/** Logins waiting for a hash slot; past this a login storm is refused at once, not queued. */
const maxWaitingHashes = 32;
/** The first failure costs this long a wait; each further one doubles it, up to the cap. */
const firstBackoffMs = 1_000;
/**
 * No hard lockout: at worst one guess a minute per account, and the owner keeps their session
 * by resuming (a token is as good as the password) while someone guesses.
 */
const maxBackoffMs = 60_000;
/** Failures an address may make before it backs off: a LAN behind one NAT has typos too. */
const freeFailuresPerAddress = 5;
/** Addresses remembered; the oldest go first (an attacker with many addresses gains nothing here anyway). */
const maxAddresses = 10_000;

/** How long after its last failure a login may be tried again. */
export function backoffMs(failures: number): number {
  return failures <= 0 ? 0 : Math.min(maxBackoffMs, firstBackoffMs * 2 ** Math.min(failures - 1, 16));
}

function waitLeft(failures: number, failedAt: number, now: number): number {
  return Math.max(0, failedAt + backoffMs(failures) - now);
}

/** Failed logins per client address, bounded; an entry goes once its back-off has run out. */
class AddressFailures {
  private readonly byHost = new Map<string, { failures: number; failedAt: number }>();

  wait(host: string, now: number): number {
    const seen = this.byHost.get(host);
    if (!seen) return 0;
    const left = waitLeft(seen.failures - freeFailuresPerAddress, seen.failedAt, now);
    // Forgotten a cap's length after the last failure: the next one starts over.
    if (now - seen.failedAt > maxBackoffMs) this.byHost.delete(host);
    return left;
  }

  failed(host: string, now: number): void {
    const failures = (this.byHost.get(host)?.failures ?? 0) + 1;
    this.byHost.delete(host); // re-inserted last: the Map's order is the eviction order
    this.byHost.set(host, { failures, failedAt: now });
    if (this.byHost.size > maxAddresses) this.byHost.delete(this.byHost.keys().next().value!);
  }
}

export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

export class Logins {
  private readonly hashing = new Semaphore(hashingAtOnce, maxWaitingHashes);
  private readonly addresses = new AddressFailures();
  /** Accounts with a check in flight here: guesses in parallel would all pass the back-off unseen. */
  private readonly checking = new Set<NickKey>();

  constructor(
    private readonly accounts: Accounts,
    private readonly metrics: Metrics,
  ) {}

  /** A new hash for `password`; `unavailable` when too many are being made already. */
  hash(password: string): Promise<string> {
    return this.hashed(() => hashPassword(password));
  }

  /**
   * Checks `password` for the account; resolves when it matches, else throws `auth_failed`
   * (wrong, or tried again too soon from this account or address) or `unavailable`.
   */
  async check(key: NickKey, account: Account, password: string, host: string): Promise<void> {
    const now = Date.now();
    const byAccount = waitLeft(account.failures, account.failedAt, now);
    const byAddress = this.addresses.wait(host, now);
    if (byAccount > 0 || byAddress > 0) {
      this.metrics.authThrottled.labels(byAccount >= byAddress ? 'account' : 'address').inc();
      const seconds = Math.ceil(Math.max(byAccount, byAddress) / 1000);
      throw new ChorusError('auth_failed', `too many failed logins; try again in ${seconds} s`);
    }
    if (this.checking.has(key)) {
      this.metrics.authThrottled.labels('account').inc();
      throw new ChorusError('auth_failed', 'another login to this nick is being checked; try again in a moment');
    }
    this.checking.add(key);
    try {
      await this.verify(key, account, password, host);
    } finally {
      this.checking.delete(key);
    }
  }

  private async verify(key: NickKey, account: Account, password: string, host: string): Promise<void> {
    const result = await this.hashed(() => verifyPassword(password, account.hash));
    if (!result.ok) {
      this.metrics.authFailures.labels('wrong_password').inc();
      this.addresses.failed(host, Date.now());
      await this.accounts.failed(key, Date.now());
      throw new ChorusError('auth_failed', 'wrong password for this nick');
    }
    if (account.failures > 0) await this.accounts.succeeded(key);
    // Parameters raised since this hash was made: store one with today's, unless the password changed meanwhile.
    if (result.stale) await this.accounts.rehash(key, account.epoch, await this.hash(password));
  }

  /** A registered nick asked for without its password. */
  missing(nick: string): ChorusError {
    this.metrics.authFailures.labels('no_password').inc();
    return new ChorusError('auth_failed', `${nick} is registered: say hello with its password`);
  }

  private async hashed<T>(work: () => Promise<T>): Promise<T> {
    const done = await this.hashing.run(work);
    if (done) return done.value;
    this.metrics.authThrottled.labels('hashing').inc();
    throw new ChorusError('unavailable', 'too many logins at once; try again in a moment');
  }
}

type Hello = Extract<ClientFrame, { type: 'hello' }>;

/**
 * What a hello does with a registered nick: check the password (JSON and WebSocket clients),
 * pass it over for a free variant (the legacy client cannot send one), or ask for it first
 * (a text-mode user may answer `!identify <password>`).
 */
export type OnRegistered = 'check' | 'skip' | 'ask';

/** The account epoch the session is identified in ('' for a nick nobody registered), or why not. */
export type Admission = { epoch: string } | 'skip' | 'ask';

export async function admit(
  hub: { engine: Engine; logins: Logins },
  key: NickKey,
  hello: Hello,
  host: string,
  onRegistered: OnRegistered,
): Promise<Admission> {
  const account = await hub.engine.accounts.get(key);
  if (!account) return { epoch: '' };
  // A look-alike of a registered nick is refused as such (the legacy client takes a variant).
  if (onRegistered !== 'skip' && account.nick !== undefined && looksLike(hello.nick, account.nick)) {
    throw new ChorusError('bad_nick', `${hello.nick} looks like ${account.nick}, a registered nick; pick a nick that does not`);
  }
  // The token of a session identified under this very password: as good as the password, for
  // that session only (a password set or changed since makes a new epoch).
  if (hello.resume && tokenEpoch(hello.resume.session) === account.epoch) return { epoch: account.epoch };
  if (hello.password === undefined) {
    if (onRegistered !== 'check') return onRegistered;
    throw hub.logins.missing(hello.nick);
  }
  await hub.logins.check(key, account, hello.password, host);
  return { epoch: account.epoch };
}
