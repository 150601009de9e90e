import type { Nick, NickKey } from '../../protocol/names.js';
import type { Account, Accounts } from '../types.js';
import type { Client } from './connection.js';
import type { Keys } from './keys.js';
import type { Timed } from './operations.js';
import { Script } from './script.js';

/*
 * Each registered nick is one hash in the user's slot (keys.ts account): h the password
 * hash, e the epoch, f failed logins in a row, t when the last one failed (ms), n the nick
 * as registered. Writes that
 * must not undo a change of password made meanwhile check the epoch in the same step.
 */

const ifEpochScript = new Script('account-if-epoch', String.raw`
-- account-if-epoch: rehash ('h', new hash) or drop ('DEL') an account, only if its epoch is still ARGV[1].
-- KEYS[1] the account hash
-- ARGV[1] the epoch the caller read
-- ARGV[2] 'h' to replace the hash with ARGV[3], or 'DEL'
-- Returns 1 when done, 0 when the password changed meanwhile (or the account is gone).
if redis.call('HGET', KEYS[1], 'e') ~= ARGV[1] then return 0 end
if ARGV[2] == 'DEL' then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'h', ARGV[3])
end
return 1
`);

const loginScript = new Script('account-login', String.raw`
-- account-login: records how a login went, if the account exists (a login must not create one).
-- KEYS[1] the account hash
-- ARGV[1] 'failed' (counted, at ARGV[2] ms since epoch) or 'succeeded' (the count starts over)
-- Returns the failures in a row now, 0 when there is no such account.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == 'succeeded' then
  redis.call('HSET', KEYS[1], 'f', 0, 't', 0)
  return 0
end
local n = redis.call('HINCRBY', KEYS[1], 'f', 1)
redis.call('HSET', KEYS[1], 't', ARGV[2])
return n
`);

export class RedisAccounts implements Accounts {
  constructor(
    private readonly cmd: Client,
    private readonly keys: Keys,
    private readonly guarded: Timed,
  ) {}

  get(key: NickKey): Promise<Account | undefined> {
    return this.guarded('account_get', async () => {
      const fields = await this.cmd.hgetall(this.keys.account(key));
      if (fields.h === undefined || fields.e === undefined) return undefined;
      const account = { hash: fields.h, epoch: fields.e, failures: Number(fields.f ?? 0), failedAt: Number(fields.t ?? 0) };
      return fields.n === undefined ? account : { ...account, nick: fields.n as Nick };
    });
  }

  set(key: NickKey, hash: string, epoch: string, nick: Nick): Promise<void> {
    return this.guarded('account_set', async () => {
      const account = this.keys.account(key);
      // One MULTI on one slot: nobody reads a new hash with the old failure count.
      await this.cmd.multi().del(account).hset(account, { h: hash, e: epoch, f: 0, t: 0, n: nick }).exec();
    });
  }

  rehash(key: NickKey, epoch: string, hash: string): Promise<boolean> {
    return this.guarded('account_rehash', async () => (await ifEpochScript.run(this.cmd, [this.keys.account(key)], [epoch, 'h', hash])) === 1);
  }

  delete(key: NickKey, epoch: string): Promise<boolean> {
    return this.guarded('account_delete', async () => (await ifEpochScript.run(this.cmd, [this.keys.account(key)], [epoch, 'DEL'])) === 1);
  }

  failed(key: NickKey, at: number): Promise<number> {
    return this.guarded('account_failed', async () => Number(await loginScript.run(this.cmd, [this.keys.account(key)], ['failed', at])));
  }

  succeeded(key: NickKey): Promise<void> {
    return this.guarded('account_succeeded', async () => {
      await loginScript.run(this.cmd, [this.keys.account(key)], ['succeeded']);
    });
  }
}
