// The behaviour every engine owes the gateway. The memory and Redis engines both run it.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { messageTail } from '../../src/protocol/encode.js';
import { nickKey, parseNick, roomAddress, roomKey, parseRoom, type Address } from '../../src/protocol/names.js';
import type { Claim, Engine, Envelope } from '../../src/engine/types.js';
import { ChorusError } from '../../src/protocol/errors.js';
import { waitUntil } from '../support/wait.js';
import { fileStoreCases } from './file-contract.js';

export interface EngineFactory {
  /** A fresh engine; engines made by one factory call within a test share one store (one cluster). */
  make(opts: { historyLimit: number }): Promise<Engine>;
}

export function claimOf(raw: string): Claim {
  const nick = parseNick(raw);
  return { nick, key: nickKey(nick), session: randomUUID(), conn: randomUUID() };
}

/** The same session on another connection, as a resume makes it. */
export function reconnected(claim: Claim): Claim {
  return { ...claim, conn: randomUUID() };
}

const room = roomKey(parseRoom('#Dev'));
const roomAt = roomAddress(room);

function draft(from: Claim, to: Address, text: string, extra: { dedupe?: string } = {}) {
  const ts = Date.now();
  return { from, to, ts, tail: messageTail(from.nick, to, text, ts), ...extra };
}

/** Collects every envelope the engine hands to its bus handler. */
function tap(engine: Engine): { seen: Array<{ address: Address; env: Envelope }>; until(n: number): Promise<void> } {
  const seen: Array<{ address: Address; env: Envelope }> = [];
  engine.bus.onEnvelope((address, env) => seen.push({ address, env }));
  return {
    seen,
    async until(n) {
      await waitUntil(() => seen.length >= n, `${n} envelopes (saw ${seen.length})`, 5_000, 5);
    },
  };
}

export function engineContract(name: string, factory: () => EngineFactory): void {
  describe(`${name} engine contract`, () => {
    let engines: Engine[] = [];
    const make = async (historyLimit = 100) => {
      const e = await factory().make({ historyLimit });
      engines.push(e);
      return e;
    };
    beforeEach(() => {
      engines = [];
    });
    afterEach(async () => {
      await Promise.all(engines.map((e) => e.stop()));
    });

    it('lets exactly one of many concurrent claims of a nick win, compared case-folded', async () => {
      const e = await make();
      const claims = ['Quang', 'quang', 'QUANG', 'quang', 'Quang'].map(claimOf);
      const won = await Promise.all(claims.map((c) => e.claims.claim(c, 'new')));
      expect(won.filter(Boolean)).toHaveLength(1);
      expect(await e.online.count()).toBe(1);
    });

    it('says how the holder of a nick typed it, and that a look-alike is the same nick', async () => {
      const e = await make();
      const ann = claimOf('Ann');
      expect(await e.claims.shownAs(ann.key)).toBeUndefined();
      expect(await e.claims.claim(ann, 'new')).toBe(true);
      expect(await e.claims.claim(claimOf('\u0410nn'), 'new')).toBe(false);
      expect(await e.claims.shownAs(claimOf('\u0430nn').key)).toBe('Ann');
    });

    it('lists online users with their nicks as typed and frees a nick on release', async () => {
      const e = await make();
      const ann = claimOf('Ann');
      const bob = claimOf('bob');
      expect(await e.claims.claim(ann, 'new')).toBe(true);
      expect(await e.claims.claim(bob, 'new')).toBe(true);
      expect((await e.online.list()).sort()).toEqual(['Ann', 'bob']);
      await e.claims.release(ann);
      expect(await e.online.list()).toEqual(['bob']);
      expect(await e.claims.claim(claimOf('ann'), 'new')).toBe(true);
    });

    it('keeps a detached nick reserved for its session only, with its rooms', async () => {
      const e = await make();
      const ann = claimOf('ann');
      await e.claims.claim(ann, 'new');
      await e.rooms.join(room, ann, 100);
      await e.claims.detach(ann, 60_000);
      expect(await e.online.list()).toEqual([]);
      expect(await e.rooms.members(room)).toEqual([]);
      expect(await e.claims.claim(claimOf('ann'), 'new')).toBe(false);
      expect(await e.claims.claim({ ...ann, session: 'forged' }, 'resume')).toBe(false);
      expect(await e.claims.claim(ann, 'resume')).toBe(true);
      expect(await e.online.list()).toEqual(['ann']);
      expect(await e.rooms.members(room)).toEqual(['ann']);
      expect(await e.rooms.of(ann.key)).toEqual([room]);
    });

    it('moves a nick to the connection that resumed it, and ignores the one it left', async () => {
      const e = await make();
      const ann = claimOf('ann');
      await e.claims.claim(ann, 'new');
      await e.rooms.join(room, ann, 100);
      // The client resumed before its old connection was noticed to be gone.
      const again = reconnected(ann);
      expect(await e.claims.claim(again, 'resume')).toBe(true);
      expect(await e.claims.detach(ann, 60_000)).toBe(false);
      expect(await e.claims.release(ann)).toBe(false);
      expect(await e.online.list()).toEqual(['ann']);
      expect(await e.online.count()).toBe(1);
      expect(await e.rooms.members(room)).toEqual(['ann']);
      expect(await e.claims.claim(claimOf('ann'), 'new')).toBe(false);
      // The old connection can act for ann no more; the new one can.
      await expect(e.rooms.join(roomKey(parseRoom('#ops')), ann, 100)).rejects.toMatchObject({ code: 'resume_failed', fatal: true });
      await expect(e.rooms.leave(room, ann)).rejects.toMatchObject({ code: 'resume_failed' });
      await expect(e.history.post(draft(ann, roomAt, 'stale'))).rejects.toMatchObject({ code: 'not_in_room' });
      await expect(e.history.post(draft(again, roomAt, 'still here'))).resolves.toMatchObject({ duplicate: false });
      expect(await e.rooms.members(room)).toEqual(['ann']);
      expect(await e.rooms.of(ann.key)).toEqual([room]);
      expect(await e.claims.release(again)).toBe(true);
      expect(await e.online.list()).toEqual([]);
      expect(await e.rooms.members(room)).toEqual([]);
      expect(await e.claims.claim(claimOf('ann'), 'new')).toBe(true);
    });

    it('tells the connection a resume took the nick from to go, once, on the user\'s channel', async () => {
      const e = await make();
      const t = tap(e);
      const ann = claimOf('ann');
      await e.bus.subscribe(`@${ann.key}`);
      await e.claims.claim(ann, 'new');
      const again = reconnected(ann);
      expect(await e.claims.claim(again, 'resume')).toBe(true);
      // A resume retried on the connection that holds the nick already takes it from no one.
      expect(await e.claims.claim(again, 'resume')).toBe(true);
      await e.bus.publish(`@${ann.key}`, { id: '', ts: Date.now(), from: 'bob', line: Buffer.from('{"type":"marker"}\n') });
      await t.until(2);
      expect(t.seen.map((s) => s.address)).toEqual(['@ann', '@ann']);
      const [notice, marker] = t.seen.map((s) => s.env);
      expect(notice).toMatchObject({ id: '', from: '', conn: ann.conn });
      expect(JSON.parse(notice!.line.toString())).toEqual({ type: 'bye', reason: 'moved' });
      expect(marker!.conn).toBeUndefined();
    });

    it('lets a connection that detached or released its nick join and leave no room', async () => {
      const e = await make();
      const ops = roomKey(parseRoom('#ops'));
      const ann = claimOf('ann');
      await e.claims.claim(ann, 'new');
      await e.rooms.join(room, ann, 100);
      await e.claims.detach(ann, 60_000);
      await expect(e.rooms.join(ops, ann, 100)).rejects.toMatchObject({ code: 'resume_failed', fatal: true });
      await expect(e.rooms.leave(room, ann)).rejects.toMatchObject({ code: 'resume_failed', fatal: true });
      expect(await e.rooms.members(ops)).toEqual([]);
      expect(await e.rooms.members(room)).toEqual([]);
      // What a resume gets back is what the user had when the connection dropped.
      expect(await e.rooms.of(ann.key)).toEqual([room]);
      expect(await e.claims.claim(reconnected(ann), 'resume')).toBe(true);
      expect(await e.rooms.members(room)).toEqual(['ann']);
      const bob = claimOf('bob');
      await e.claims.claim(bob, 'new');
      await e.claims.release(bob);
      await expect(e.rooms.join(ops, bob, 100)).rejects.toMatchObject({ code: 'resume_failed' });
      expect(await e.rooms.members(ops)).toEqual([]);
    });

    it('refuses claims and joins once it has begun to stop', async () => {
      const e = await make();
      const ann = claimOf('ann');
      await e.claims.claim(ann, 'new');
      const stopping = e.stop();
      await expect(e.claims.claim(claimOf('bob'), 'new')).rejects.toMatchObject({ code: 'unavailable' });
      await expect(e.rooms.join(room, ann, 100)).rejects.toMatchObject({ code: 'unavailable' });
      await stopping;
    });

    it('frees a detached nick once the grace period is over', async () => {
      const e = await make();
      const ann = claimOf('ann');
      await e.claims.claim(ann, 'new');
      await e.claims.detach(ann, 50);
      await waitUntil(() => e.claims.claim(claimOf('ann'), 'new'), 'the nick to be free after the grace period');
    });

    it('pages the online list: everyone on some page, and a small list whole', async () => {
      const e = await make();
      const users = Array.from({ length: 250 }, (_, i) => claimOf(`u${i}`));
      await Promise.all(users.map((c) => e.claims.claim(c, 'new')));
      const seen = new Set<string>();
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await e.online.page(cursor, 40);
        page.nicks.forEach((n) => seen.add(n));
        cursor = page.next;
        pages++;
      } while (cursor !== undefined && pages < 100);
      expect(seen.size).toBe(250);
      expect(pages).toBeGreaterThan(2);
      const whole = await e.online.page(undefined, 1000);
      expect(new Set(whole.nicks).size).toBe(250);
      expect(whole.next).toBeUndefined();
      await expect(e.online.page('made-up', 10)).rejects.toMatchObject({ code: 'bad_frame' });
    });

    it('tells which users are online now: not those away in a grace period, nor strangers', async () => {
      const e = await make();
      const [ann, bob] = [claimOf('ann'), claimOf('bob')];
      await e.claims.claim(ann, 'new');
      await e.claims.claim(bob, 'new');
      await e.claims.detach(bob, 60_000);
      expect(await e.online.among([ann.key, bob.key, claimOf('cat').key])).toEqual([ann.key]);
      expect(await e.online.among([])).toEqual([]);
    });

    it('tracks room membership', async () => {
      const e = await make();
      const ann = claimOf('ann');
      const bob = claimOf('bob');
      await e.claims.claim(ann, 'new');
      await e.claims.claim(bob, 'new');
      expect(await e.rooms.join(room, ann, 10)).toEqual({ count: 1, members: ['ann'] });
      const second = await e.rooms.join(room, bob, 10);
      expect(second.count).toBe(2);
      expect(second.members?.sort()).toEqual(['ann', 'bob']);
      // Past `listUpTo`, only the count: a big room's list is never fetched.
      const cat = claimOf('cat');
      await e.claims.claim(cat, 'new');
      expect(await e.rooms.join(room, cat, 2)).toEqual({ count: 3 });
      await e.rooms.leave(room, cat);
      expect(await e.rooms.leave(room, ann)).toBe(true);
      expect(await e.rooms.leave(room, ann)).toBe(false);
      expect(await e.rooms.members(room)).toEqual(['bob']);
      expect(await e.rooms.size(room)).toBe(1);
      expect(await e.rooms.membersPage(room, undefined, 10)).toEqual({ nicks: ['bob'] });
      expect(await e.rooms.of(bob.key)).toEqual([room]);
    });

    it('posts a message: files it, publishes the same bytes to subscribers, in id order', async () => {
      const e = await make();
      const t = tap(e);
      await e.bus.subscribe('*');
      const ann = claimOf('ann');
      await e.claims.claim(ann, 'new');
      const first = await e.history.post(draft(ann, '*', 'one'));
      const second = await e.history.post(draft(ann, '*', 'two "quoted" ☃'));
      expect(e.history.isAfter(second.id, first.id)).toBe(true);
      await t.until(2);
      const [a, b] = t.seen.map((s) => s.env);
      expect(a!.id).toBe(first.id);
      expect(a!.from).toBe('ann');
      expect(JSON.parse(b!.line.toString())).toEqual({
        type: 'msg', id: second.id, from: 'ann', to: '*', text: 'two "quoted" ☃', ts: second.ts,
      });
      const stored = await e.history.range('*', ann.key, undefined, 10);
      expect(stored.map((m) => m.id)).toEqual([first.id, second.id]);
      expect(stored[1]!.json).toBe(b!.line.toString().trimEnd());
    });

    it('pages history back with before and limit, oldest first', async () => {
      const e = await make();
      const ann = claimOf('ann');
      await e.claims.claim(ann, 'new');
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push((await e.history.post(draft(ann, '*', `m${i}`))).id);
      expect((await e.history.range('*', ann.key, undefined, 3)).map((m) => m.id)).toEqual(ids.slice(4));
      expect((await e.history.range('*', ann.key, ids[4], 3)).map((m) => m.id)).toEqual(ids.slice(1, 4));
      expect((await e.history.range('*', ann.key, ids[1], 3)).map((m) => m.id)).toEqual(ids.slice(0, 1));
      expect((await e.history.after('*', ids[4]!, 10)).map((m) => m.id)).toEqual(ids.slice(5));
    });

    it('caps history at its limit', async () => {
      const e = await make(5);
      const ann = claimOf('ann');
      await e.claims.claim(ann, 'new');
      for (let i = 0; i < 400; i++) await e.history.post(draft(ann, '*', `m${i}`));
      const kept = await e.history.range('*', ann.key, undefined, 100);
      // Redis trims streams approximately (MAXLEN ~), so allow its slack but no unbounded growth.
      expect(kept.length).toBeGreaterThanOrEqual(5);
      expect(kept.length).toBeLessThan(200);
      expect(JSON.parse(kept.at(-1)!.json).text).toBe('m399');
    });

    it('files a private message for the recipient and in the conversation of both', async () => {
      const e = await make();
      const t = tap(e);
      const ann = claimOf('ann');
      const bob = claimOf('Bob');
      await e.claims.claim(ann, 'new');
      await e.claims.claim(bob, 'new');
      await e.bus.subscribe(`@${bob.key}`);
      const toBob = await e.history.post(draft(ann, `@${bob.key}`, 'hi bob'));
      const toAnn = await e.history.post(draft(bob, `@${ann.key}`, 'hi ann'));
      await t.until(1);
      expect(t.seen.map((s) => s.address)).toEqual(['@bob']);
      expect((await e.history.after('@bob', '0-0', 10)).map((m) => m.id)).toEqual([toBob.id]);
      const annView = await e.history.range('@bob', ann.key, undefined, 10);
      const bobView = await e.history.range('@ann', bob.key, undefined, 10);
      expect(annView.map((m) => JSON.parse(m.json).text)).toEqual(['hi bob', 'hi ann']);
      expect(bobView.map((m) => JSON.parse(m.json).text)).toEqual(['hi bob', 'hi ann']);
      expect(toAnn.duplicate).toBe(false);
    });

    it('refuses a private message to nobody and a room message from a non-member', async () => {
      const e = await make();
      const ann = claimOf('ann');
      await e.claims.claim(ann, 'new');
      await expect(e.history.post(draft(ann, '@ghost', 'hello?'))).rejects.toMatchObject({ code: 'no_such_user' });
      await expect(e.history.post(draft(ann, roomAt, 'hello?'))).rejects.toBeInstanceOf(ChorusError);
      await expect(e.history.post(draft(ann, roomAt, 'hello?'))).rejects.toMatchObject({ code: 'not_in_room' });
      await e.rooms.join(room, ann, 100);
      await expect(e.history.post(draft(ann, roomAt, 'hello!'))).resolves.toMatchObject({ duplicate: false });
    });

    it('does not deliver a repeated ref twice', async () => {
      const e = await make();
      const t = tap(e);
      await e.bus.subscribe('*');
      const ann = claimOf('ann');
      await e.claims.claim(ann, 'new');
      const first = await e.history.post(draft(ann, '*', 'once', { dedupe: `${ann.session}:r1` }));
      const again = await e.history.post(draft(ann, '*', 'once', { dedupe: `${ann.session}:r1` }));
      const other = await e.history.post(draft(ann, '*', 'twice', { dedupe: `${ann.session}:r2` }));
      expect(again).toEqual({ id: first.id, ts: first.ts, duplicate: true });
      await t.until(2);
      expect(t.seen.map((s) => s.env.id)).toEqual([first.id, other.id]);
      expect(await e.history.range('*', ann.key, undefined, 10)).toHaveLength(2);
    });

    it('dedupes a ref per target: the same ref to another target is another message', async () => {
      const e = await make();
      const ann = claimOf('ann');
      const bob = claimOf('bob');
      await e.claims.claim(ann, 'new');
      await e.claims.claim(bob, 'new');
      const ref = { dedupe: `${ann.session}:r1` };
      const toAll = await e.history.post(draft(ann, '*', 'hi all', ref));
      const toBob = await e.history.post(draft(ann, '@bob', 'hi bob', ref));
      expect(toBob.duplicate).toBe(false);
      expect(await e.history.post(draft(ann, '*', 'hi all', ref))).toEqual({ ...toAll, duplicate: true });
      expect(await e.history.post(draft(ann, '@bob', 'hi bob', ref))).toEqual({ ...toBob, duplicate: true });
      expect(await e.history.after('@bob', '0-0', 10)).toHaveLength(1);
    });

    it('publishes ephemeral envelopes only to subscribed addresses', async () => {
      const e = await make();
      const t = tap(e);
      await e.bus.subscribe(roomAt);
      const env = { id: '', ts: Date.now(), from: 'ann', line: Buffer.from('{"type":"joined"}\n') };
      await e.bus.publish('#elsewhere', env);
      await e.bus.publish(roomAt, env);
      await t.until(1);
      expect(t.seen).toHaveLength(1);
      expect(t.seen[0]!.address).toBe(roomAt);
      expect(t.seen[0]!.env.line.equals(env.line)).toBe(true);
      await e.bus.unsubscribe(roomAt);
      await e.bus.subscribe('*');
      await e.bus.publish(roomAt, env);
      await e.bus.publish('*', env);
      await t.until(2);
      expect(t.seen.map((s) => s.address)).toEqual([roomAt, '*']);
    });

    it('moves a resumed reservation to the rotated token in the same step: the old token resumes nothing', async () => {
      const e = await make();
      const ann = claimOf('ann');
      await e.claims.claim(ann, 'new');
      await e.rooms.join(room, ann, 100);
      const rotated = { ...reconnected(ann), session: randomUUID() };
      expect(await e.claims.claim(rotated, 'resume', ann.session)).toBe(true);
      // A thief with the token of the first welcome: refused, whatever connection it comes on.
      expect(await e.claims.claim({ ...reconnected(ann), session: randomUUID() }, 'resume', ann.session)).toBe(false);
      expect(await e.claims.claim(reconnected(ann), 'resume')).toBe(false);
      expect(await e.rooms.of(ann.key)).toEqual([room]);
      // The holder under the new token is the one that detaches, and a resume under it works once more.
      expect(await e.claims.detach(ann, 60_000)).toBe(false);
      expect(await e.claims.detach(rotated, 60_000)).toBe(true);
      const again = { ...reconnected(rotated), session: randomUUID() };
      expect(await e.claims.claim(again, 'resume', rotated.session)).toBe(true);
      expect(await e.rooms.members(room)).toEqual(['ann']);
      expect(await e.claims.release(again)).toBe(true);
      expect(await e.claims.claim(claimOf('ann'), 'new')).toBe(true);
    });

    it('keeps accounts by case-folded nick, cluster-wide, and changes them only in the epoch they were read in', async () => {
      const e1 = await make();
      // Engines of one factory share a store, but a memory engine is its own store.
      const e2 = e1.kind === 'memory' ? e1 : await make();
      const ann = nickKey(parseNick('Ann'));
      expect(await e1.accounts.get(ann)).toBeUndefined();
      // A failed login for a nick nobody registered counts nothing and registers nothing.
      expect(await e1.accounts.failed(ann, 1)).toBe(0);
      expect(await e1.accounts.get(ann)).toBeUndefined();
      await e1.accounts.set(ann, 'scrypt$first', 'e1', parseNick('Ann'));
      expect(await e2.accounts.get(nickKey(parseNick('ANN')))).toEqual({ hash: 'scrypt$first', epoch: 'e1', failures: 0, failedAt: 0, nick: 'Ann' });
      expect(await e2.accounts.failed(ann, 1000)).toBe(1);
      expect(await e1.accounts.failed(ann, 2000)).toBe(2);
      expect(await e1.accounts.get(ann)).toMatchObject({ failures: 2, failedAt: 2000 });
      await e2.accounts.succeeded(ann);
      expect(await e1.accounts.get(ann)).toMatchObject({ failures: 0, failedAt: 0 });
      expect(await e1.accounts.rehash(ann, 'stale', 'scrypt$lost')).toBe(false);
      expect(await e1.accounts.rehash(ann, 'e1', 'scrypt$stronger')).toBe(true);
      expect(await e2.accounts.get(ann)).toMatchObject({ hash: 'scrypt$stronger', epoch: 'e1' });
      await e1.accounts.failed(ann, 3000);
      // A new password: a new epoch, and the back-off starts over.
      await e2.accounts.set(ann, 'scrypt$second', 'e2', parseNick('Ann'));
      expect(await e1.accounts.get(ann)).toEqual({ hash: 'scrypt$second', epoch: 'e2', failures: 0, failedAt: 0, nick: 'Ann' });
      expect(await e1.accounts.delete(ann, 'e1')).toBe(false);
      expect(await e1.accounts.get(ann)).toMatchObject({ epoch: 'e2' });
      expect(await e1.accounts.delete(ann, 'e2')).toBe(true);
      expect(await e2.accounts.get(ann)).toBeUndefined();
      await e2.accounts.succeeded(ann);
      expect(await e2.accounts.get(ann)).toBeUndefined();
    });

    it('stores nothing with history off but still assigns increasing ids', async () => {
      const e = await make(0);
      const ann = claimOf('ann');
      await e.claims.claim(ann, 'new');
      const a = await e.history.post(draft(ann, '*', 'a'));
      const b = await e.history.post(draft(ann, '*', 'b'));
      expect(e.history.isAfter(b.id, a.id)).toBe(true);
      expect(await e.history.range('*', ann.key, undefined, 10)).toEqual([]);
    });

    fileStoreCases(() => make());
  });
}
