import type { Claim, Draft, Posted, RoomJoin } from '../engine/types.js';
import { messageTail } from '../protocol/encode.js';
import { ChorusError } from '../protocol/errors.js';
import { maxWhoPage, type ClientFrame } from '../protocol/frames.js';
import { nickKey, roomAddress, roomKey, targetText, type Address, type RoomKey } from '../protocol/names.js';
import type { Subscriber } from './fanout.js';
import type { JoinGuard } from './joins.js';
import { register, unregister } from './registration.js';
import { sessionId } from './resume.js';
import type { Hub } from './session.js';
import type { Transfers } from './transfers.js';

/** What a command may do within its session, once the client has been welcomed. */
export interface CommandContext {
  readonly hub: Hub;
  readonly claim: Claim;
  /** The client's address, for the back-off after failed logins. */
  readonly host: string;
  /** The account epoch this session is identified in ('' when not): register and unregister change it. */
  epoch: string;
  /** The rooms this session is in (their fan-out addresses). */
  readonly rooms: Set<Address>;
  readonly closed: boolean;
  /** The session as its gateway's presence sees it: whose watch list a watch changes. */
  readonly watcher: Subscriber;
  /** Caps on rooms per user and members per room, and the join rate. */
  readonly joins: JoinGuard;
  reply(frame: Record<string, unknown>, ref: string | undefined): void;
  /** A reply already encoded as JSON (no newline). */
  replyJson(json: string): void;
  subscribe(address: Address): Promise<void>;
  unsubscribe(address: Address): Promise<void>;
  publish(address: Address, frame: object): Promise<void>;
  /** The client said bye: give the nick back, then answer `bye` (with `ref`) and close. */
  release(ref: string | undefined): Promise<void>;
  /** Resolves once the socket has room again, for replies written in many pieces (undefined: room now). */
  backpressure(): Promise<void> | undefined;
  /** This session's file uploads and downloads. */
  readonly files: Transfers;
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
  watch,
  unwatch: watch,
  history,
  register,
  unregister,
  ping: (ctx, frame) => ctx.reply({ type: 'pong' }, frame.ref),
  bye: (ctx, frame) => ctx.release(frame.ref),
  file_offer: (ctx, frame) => ctx.files.offer(frame),
  file_chunk: (ctx, frame) => ctx.files.chunk(frame),
  file_end: (ctx, frame) => ctx.files.end(frame),
  file_accept: (ctx, frame) => ctx.files.accept(frame),
  file_reject: (ctx, frame) => ctx.files.reject(frame),
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
  const posted = await post(ctx, {
    to: to.address,
    from: claim,
    ts,
    tail: messageTail(claim.nick, shown, frame.text, ts),
    ...(frame.ref === undefined ? {} : { dedupe: `${sessionId(claim.session)}:${frame.ref}` }),
  });
  if (!posted.duplicate) {
    hub.metrics.received.labels(to.kind === 'room' ? 'group' : to.kind).inc();
    hub.log.debug({ nick: claim.nick, to: shown, id: posted.id, text: frame.text }, 'message');
  }
  ctx.reply({ type: 'ack', id: posted.id, ts: posted.ts }, frame.ref);
}

/**
 * Posts; a room this session is in that the store has it out of (another gateway took this
 * one for dead and reaped its users, and it has not written them back yet) is joined again
 * in the store, once, and the post tried again.
 */
async function post(ctx: CommandContext, draft: Draft): Promise<Posted> {
  const { history, rooms } = ctx.hub.engine;
  try {
    return await history.post(draft);
  } catch (err) {
    if (!(err instanceof ChorusError && err.code === 'not_in_room' && ctx.rooms.has(draft.to))) throw err;
    const room = draft.to as string as RoomKey; // a room's address is its key
    ctx.hub.log.warn({ nick: ctx.claim.nick, room }, 'a room membership was missing from the store: written back');
    await rooms.join(room, ctx.claim, 0);
    return history.post(draft);
  }
}

async function join(ctx: CommandContext, frame: Extract<ChatFrame, { type: 'join' }>): Promise<void> {
  const { claim } = ctx;
  const room = roomKey(frame.room);
  const address = roomAddress(room);
  const isNew = !ctx.rooms.has(address);
  ctx.joins.check(isNew, ctx.rooms.size);
  await ctx.subscribe(address);
  if (ctx.closed) return;
  let joined: RoomJoin;
  try {
    joined = await ctx.hub.engine.rooms.join(room, claim, ctx.hub.presence.limits.roomMax);
  } catch (err) {
    if (isNew) await ctx.unsubscribe(address);
    throw err;
  }
  if (ctx.closed) return;
  if (isNew && ctx.joins.overfull(joined.count)) {
    await ctx.hub.engine.rooms.leave(room, claim);
    await ctx.unsubscribe(address);
    throw ctx.joins.roomFull(room);
  }
  const { members } = joined;
  if (isNew) {
    ctx.rooms.add(address);
    if (members) await ctx.publish(address, { type: 'joined', room, nick: claim.nick });
  }
  // A big room's members are not listed (nor told of each arrival): the joiner gets the count.
  ctx.reply(members ? { type: 'joined', room, nick: claim.nick, members } : { type: 'joined', room, nick: claim.nick, count: joined.count }, frame.ref);
}

async function leave(ctx: CommandContext, frame: Extract<ChatFrame, { type: 'leave' }>): Promise<void> {
  const { claim } = ctx;
  const room = roomKey(frame.room);
  const address = roomAddress(room);
  const was = await ctx.hub.engine.rooms.leave(room, claim);
  if (ctx.rooms.delete(address)) await ctx.unsubscribe(address);
  if (!was) throw new ChorusError('not_in_room', `you are not in ${room}`);
  // Announced in a room that was small enough to announce it, as joins are.
  if ((await ctx.hub.engine.rooms.size(room)) < ctx.hub.presence.limits.roomMax) {
    await ctx.publish(address, { type: 'left', room, nick: claim.nick });
  }
  ctx.reply({ type: 'left', room, nick: claim.nick }, frame.ref);
}

/**
 * The online list and a room's members come in pages of `limit` (at most and by default
 * maxWhoPage): a client follows `next` as `cursor` until a page comes without one. `count` is
 * how many there are in all; for a list that came whole, the list's length, as in version 1.
 * A big room (past --room-presence-max) lists its members only to a client that pages.
 */
async function who(ctx: CommandContext, frame: Extract<ChatFrame, { type: 'who' }>): Promise<void> {
  const { online, rooms } = ctx.hub.engine;
  const limit = frame.limit ?? maxWhoPage;
  const room = frame.room === undefined ? undefined : roomKey(frame.room);
  const paging = frame.cursor !== undefined || frame.limit !== undefined;
  if (room !== undefined && !paging) {
    const size = await rooms.size(room);
    if (size > ctx.hub.presence.limits.roomMax) return ctx.reply({ type: 'who', room, users: [], count: size }, frame.ref);
  }
  const { nicks: users, next } = room === undefined ? await online.page(frame.cursor, limit) : await rooms.membersPage(room, frame.cursor, limit);
  const whole = next === undefined && frame.cursor === undefined;
  const count = whole ? users.length : room === undefined ? await online.count() : await rooms.size(room);
  ctx.reply({ type: 'who', ...(room === undefined ? {} : { room }), users, count, ...(next === undefined ? {} : { next }) }, frame.ref);
}

/** Changes this client's watch list and answers with all of it, and which of it is online now. */
async function watch(ctx: CommandContext, frame: Extract<ChatFrame, { type: 'watch' | 'unwatch' }>): Promise<void> {
  const { watches } = ctx.hub.presence;
  if (frame.type === 'watch') watches.watch(ctx.watcher, frame.nicks);
  else watches.unwatch(ctx.watcher, frame.nicks);
  const nicks = watches.watched(ctx.watcher);
  const online = new Set(await ctx.hub.engine.online.among(nicks.map(nickKey)));
  ctx.reply({ type: 'watching', nicks, online: nicks.filter((n) => online.has(nickKey(n))) }, frame.ref);
}

/** Splices the stored messages' JSON into the reply: they were encoded once, when sent. */
async function history(ctx: CommandContext, frame: Extract<ChatFrame, { type: 'history' }>): Promise<void> {
  const stored = await ctx.hub.engine.history.range(frame.with.address, ctx.claim.key, frame.before, frame.limit);
  const ref = frame.ref === undefined ? '' : `,"ref":${JSON.stringify(frame.ref)}`;
  ctx.replyJson(`{"type":"history","with":${JSON.stringify(targetText(frame.with))}${ref},"messages":[${stored.map((m) => m.json).join(',')}]}`);
}
