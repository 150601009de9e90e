// Helpers of the Redis engine tests that run several gateways against one store.
import type { Engine, Envelope, PresenceChange } from '../../src/engine/types.js';
import { messageTail } from '../../src/protocol/encode.js';
import type { Address } from '../../src/protocol/names.js';
import { waitUntil } from '../support/wait.js';
import type { claimOf } from './contract.js';

export function draft(from: ReturnType<typeof claimOf>, to: Address, text: string, extra: { dedupe?: string } = {}) {
  const ts = Date.now();
  return { from, to, ts, tail: messageTail(from.nick, to, text, ts), ...extra };
}

/** Retries an assertion until it passes or the deadline is over (then its last failure is thrown). */
export async function eventually<T>(check: () => Promise<T>, deadlineMs = 5_000): Promise<T> {
  let last: unknown;
  try {
    const passed = await waitUntil(async () => {
      try {
        return { value: await check() };
      } catch (err) {
        last = err;
        return undefined;
      }
    }, 'an assertion to pass', deadlineMs);
    return passed.value;
  } catch (timeout) {
    throw last ?? timeout;
  }
}

/** Every envelope an engine's bus hands over. */
export function tap(engine: Engine): Array<{ address: Address; env: Envelope }> {
  const seen: Array<{ address: Address; env: Envelope }> = [];
  engine.bus.onEnvelope((address, env) => seen.push({ address, env }));
  return seen;
}

/** Every presence change an engine reports on its own (a reap, a write-back after one). */
export function changesOf(engine: Engine): PresenceChange[] {
  const seen: PresenceChange[] = [];
  engine.online.onChange((change) => seen.push(change));
  return seen;
}
