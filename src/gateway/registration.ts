import { ChorusError } from '../protocol/errors.js';
import type { ClientFrame } from '../protocol/frames.js';
import { newEpoch } from './accounts.js';
import type { CommandContext } from './commands.js';

type Frame<T extends ClientFrame['type']> = Extract<ClientFrame, { type: T }>;

/**
 * `register{password}`: the nick this session holds needs the password from now on, on every
 * gateway. Again while identified, it changes the password.
 */
export async function register(ctx: CommandContext, frame: Frame<'register'>): Promise<void> {
  const { claim, hub } = ctx;
  const account = await hub.engine.accounts.get(claim.key);
  // Only a session that proved the current password may change it.
  if (account && account.epoch !== ctx.epoch) {
    throw new ChorusError('auth_failed', `${claim.nick} was registered after you said hello; say hello again with its password`);
  }
  const hash = await hub.logins.hash(frame.password);
  if (ctx.closed) return;
  const epoch = newEpoch();
  await hub.engine.accounts.set(claim.key, hash, epoch, claim.nick);
  ctx.epoch = epoch;
  hub.log.info({ nick: claim.nick, changed: account !== undefined }, 'nick registered');
  ctx.reply({ type: 'registered', nick: claim.nick }, frame.ref);
}

/** `unregister{password}`: the nick is free for anyone again, once the password proves it. */
export async function unregister(ctx: CommandContext, frame: Frame<'unregister'>): Promise<void> {
  const { claim, hub } = ctx;
  const account = await hub.engine.accounts.get(claim.key);
  if (!account) throw new ChorusError('auth_failed', `${claim.nick} is not registered`);
  await hub.logins.check(claim.key, account, frame.password, ctx.host);
  if (!(await hub.engine.accounts.delete(claim.key, account.epoch))) {
    throw new ChorusError('auth_failed', `the password of ${claim.nick} changed meanwhile; nothing was dropped`);
  }
  ctx.epoch = '';
  hub.log.info({ nick: claim.nick }, 'nick unregistered');
  ctx.reply({ type: 'unregistered', nick: claim.nick }, frame.ref);
}
