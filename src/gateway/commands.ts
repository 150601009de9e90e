import type { Claim } from '../engine/types.js';
import { messageTail } from '../protocol/encode.js';
import { ChorusError } from '../protocol/errors.js';
import type { ClientFrame } from '../protocol/frames.js';
import { roomAddress, roomKey, targetText, type Address, type Nick } from '../protocol/names.js';
import type { Hub } from './session.js';

/** What a command may do within its session, once the client has been welcomed. */
export interface CommandContext {
  readonly hub: Hub;
  readonly claim: Claim;
  /** The rooms this session is in (their fan-out addresses). */
  readonly rooms: Set<Address>;
  readonly closed: boolean;
  reply(frame: Record<string, unknown>, ref: string | undefined): void;
  /** A reply already encoded as JSON (no newline). */
  replyJson(json: string): void;
  subscribe(address: Address): Promise<void>;
  unsubscribe(address: Address): Promise<void>;
  publish(address: Address, frame: object): Promise<void>;
  /** The client said bye: give the nick back and close. */
  release(): Promise<void>;
}

/** Every frame a welcomed client may send, but hello. */
export type ChatFrame = Exclude<ClientFrame, { type: 'hello' }>;
type Handler<F extends ChatFrame> = (ctx: CommandContext, frame: F) => Promise<void> | void;
type Handlers = { [T in ChatFrame['type']]: Handler<Extract<ChatFrame, { type: T }>> };

const handlers: Handlers = {
  send,
  join,
  leave,
  who,
  history,
  ping: (ctx, frame) => ctx.reply({ type: 'pong' }, frame.ref),
  bye: (ctx, frame) => {
    ctx.reply({ type: 'bye' }, frame.ref);
    return ctx.release();
  },
};

export function runCommand(ctx: CommandContext, frame: ChatFrame): Promise<void> | void {
  // One handler per type, so the frame's type picks its own handler's parameter type.
  return (handlers[frame.type] as Handler<ChatFrame>)(ctx, frame);
}

async function send(ctx: CommandContext, frame: Extract<ChatFrame, { type: 'send' }>): Promise<void> {
  const { claim, hub } = ctx;
  const to = frame.to;
  const ts = Date.now();
  const shown = to.kind === 'room' ? to.key : targetText(to);
  const posted = await hub.engine.history.post({
    to: to.address,
    from: claim,
    ts,
    tail: messageTail(claim.nick, shown, frame.text, ts),
    ...(frame.ref === undefined ? {} : { dedupe: `${claim.session}:${frame.ref}` }),
  });
  if (!posted.duplicate) {
    hub.metrics.received.labels(to.kind === 'room' ? 'group' : to.kind).inc();
    hub.log.debug({ nick: claim.nick, to: shown, id: posted.id, text: frame.text }, 'message');
  }
  ctx.reply({ type: 'ack', id: posted.id, ts: posted.ts }, frame.ref);
}

async function join(ctx: CommandContext, frame: Extract<ChatFrame, { type: 'join' }>): Promise<void> {
  const { claim } = ctx;
  const room = roomKey(frame.room);
  const address = roomAddress(room);
  const isNew = !ctx.rooms.has(address);
  await ctx.subscribe(address);
  if (ctx.closed) return;
  let members: Nick[];
  try {
    members = await ctx.hub.engine.presence.join(room, claim);
  } catch (err) {
    if (isNew) await ctx.unsubscribe(address);
    throw err;
  }
  if (ctx.closed) return;
  if (isNew) {
    ctx.rooms.add(address);
    await ctx.publish(address, { type: 'joined', room, nick: claim.nick });
  }
  ctx.reply({ type: 'joined', room, nick: claim.nick, members }, frame.ref);
}

async function leave(ctx: CommandContext, frame: Extract<ChatFrame, { type: 'leave' }>): Promise<void> {
  const { claim } = ctx;
  const room = roomKey(frame.room);
  const address = roomAddress(room);
  const was = await ctx.hub.engine.presence.leave(room, claim);
  if (ctx.rooms.delete(address)) await ctx.unsubscribe(address);
  if (!was) throw new ChorusError('not_in_room', `you are not in ${room}`);
  await ctx.publish(address, { type: 'left', room, nick: claim.nick });
  ctx.reply({ type: 'left', room, nick: claim.nick }, frame.ref);
}

async function who(ctx: CommandContext, frame: Extract<ChatFrame, { type: 'who' }>): Promise<void> {
  const { presence } = ctx.hub.engine;
  if (frame.room === undefined) {
    const users = await presence.online();
    ctx.reply({ type: 'who', users, count: users.length }, frame.ref);
  } else {
    const room = roomKey(frame.room);
    const users = await presence.members(room);
    ctx.reply({ type: 'who', room, users, count: users.length }, frame.ref);
  }
}

/** Splices the stored messages' JSON into the reply: they were encoded once, when sent. */
async function history(ctx: CommandContext, frame: Extract<ChatFrame, { type: 'history' }>): Promise<void> {
  const stored = await ctx.hub.engine.history.range(frame.with.address, ctx.claim.key, frame.before, frame.limit);
  const ref = frame.ref === undefined ? '' : `,"ref":${JSON.stringify(frame.ref)}`;
  ctx.replyJson(`{"type":"history","with":${JSON.stringify(targetText(frame.with))}${ref},"messages":[${stored.map((m) => m.json).join(',')}]}`);
}
