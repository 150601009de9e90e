import type { Nick, NickKey } from '../../protocol/names.js';
import type { Account, Accounts } from '../types.js';

/** Registered nicks of the one-process engine: they last as long as the process. */
export class MemoryAccounts implements Accounts {
  private readonly accounts = new Map<NickKey, Account>();

  async get(key: NickKey): Promise<Account | undefined> {
    return this.accounts.get(key);
  }

  async set(key: NickKey, hash: string, epoch: string, nick: Nick): Promise<void> {
    this.accounts.set(key, { hash, epoch, failures: 0, failedAt: 0, nick });
  }

  async rehash(key: NickKey, epoch: string, hash: string): Promise<boolean> {
    const account = this.accounts.get(key);
    if (account?.epoch !== epoch) return false;
    this.accounts.set(key, { ...account, hash });
    return true;
  }

  async delete(key: NickKey, epoch: string): Promise<boolean> {
    if (this.accounts.get(key)?.epoch !== epoch) return false;
    return this.accounts.delete(key);
  }

  async failed(key: NickKey, at: number): Promise<number> {
    const account = this.accounts.get(key);
    if (!account) return 0;
    const failures = account.failures + 1;
    this.accounts.set(key, { ...account, failures, failedAt: at });
    return failures;
  }

  async succeeded(key: NickKey): Promise<void> {
    const account = this.accounts.get(key);
    if (account && account.failures > 0) this.accounts.set(key, { ...account, failures: 0, failedAt: 0 });
  }
}
