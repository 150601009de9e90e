import { createHash } from 'node:crypto';
import type { Client } from './connection.js';

/**
 * A Lua script run by EVALSHA, falling back to EVAL when the server does not know it (first
 * use, or a restarted Redis). The Lua lives in TypeScript strings, header comment included,
 * because `tsc` copies no .lua files into dist/.
 */
export class Script {
  private readonly sha: string;

  constructor(
    readonly name: string,
    private readonly lua: string,
  ) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** All `keys` must share one hash slot on a cluster; ioredis routes by the first. */
  async run(client: Client, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
