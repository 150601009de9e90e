// A simulated user that does what docs/protocol.md asks of a reconnecting client: it files
// the last id it received per `msg.to`, and after losing its connection (dropped by the
// scenario, told bye{reason:"restart"}, or cut by a gateway that died) it says hello again
// with {session, last} until welcomed, then sends again, with the same refs, whatever was
// never acked. Every message it receives goes to the ledger by the number in its text.

import { performance } from 'node:perf_hooks';
import { failRequest, request } from './handshake.mjs';
import { createConnection } from './transport.mjs';

const nowMs = () => performance.now();
const keepaliveMs = 30_000; // well inside the server's 90 s idle timeout
const retryMs = 250; // between reconnect attempts while the balancer still picks a dead gateway
const unavailableRetryMs = 500;

export class Resumer {
  /**
   * @param {object} o
   * @param {number} o.index   the user's number in the run (the ledger's key)
   * @param {string} o.nick
   * @param {string} o.room    the one room it joins
   * @param {object} o.target  {transport, url} or {transport, host, port}: the balancer
   * @param {import('./ledger.mjs').Ledger} o.ledger
   * @param {string} o.marker  every text of this run starts with it
   * @param {object} o.stats   shared histograms and counters (see newResumeStats)
   * @param {number} o.timeoutMs  how long a hello or join may take
   * @param {(r: Resumer, why: string) => void} [o.onLost]  the connection went without our asking
   * @param {(frame: object, r: Resumer) => void} [o.onPresence]  set to watch presence frames
   */
  constructor(o) {
    Object.assign(this, o);
    this.counted = true;
    this.session = '';
    this.gateway = '';
    this.last = {};
    this.pending = new Map(); // ref -> {no, frame}: sent, not yet acked
    this.conn = null;
    this.online = false;
    this.resuming = null; // the reconnect loop in progress
    this.helloAt = 0; // when the current connection's hello went out
    this.resumedConn = false; // the current connection is a resume: early messages are replays
    this.lostAt = null; // when the connection was lost, until the next welcome
    this.keepalive = null;
    this.waiter = null;
    this.stopped = false;
    this.abandoned = false; // a resume failed: from then on this user is owed nothing it misses
    this.resumes = 0;
    this.connNo = 0; // how many connections this user opened: tells a duplicate's paths apart
  }

  /** First connection: hello and join. Throws when either fails. */
  async start() {
    const welcome = await this.hello(false);
    if (!welcome) throw new Error(`${this.nick}: no welcome`);
    await this.request({ type: 'join', room: this.room, ref: 'join' }, 'joined');
  }

  /** Cuts the connection as a network failure would: no bye, the server sees it close. */
  drop() {
    if (!this.online) return;
    this.markLost();
    this.conn.destroy();
  }

  /** Reconnects until a resume is welcomed, at most until `deadline` (performance.now() ms). */
  resume(deadline) {
    this.resuming ??= this.resumeLoop(deadline).finally(() => (this.resuming = null));
    return this.resuming;
  }

  async resumeLoop(deadline) {
    while (!this.stopped && !this.online) {
      if (nowMs() > deadline) {
        this.abandoned = true;
        this.stats.resumeFailures++;
        this.stats.errors.set('resume_timeout', (this.stats.errors.get('resume_timeout') ?? 0) + 1);
        return false;
      }
      try {
        if (await this.hello(true)) return true;
      } catch (err) {
        if (err.code === 'resume_failed') {
          // The reservation lasts the grace period from when the server saw the drop, which
          // is after lostAt: a refusal sooner than the grace after lostAt is the server's fault.
          if (this.lostAt !== null) this.stats.refusedAfterMs.record(nowMs() - this.lostAt);
          this.abandoned = true;
          this.stats.resumeFailures++;
          this.stats.errors.set('resume_failed', (this.stats.errors.get('resume_failed') ?? 0) + 1);
          return false;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
    return this.online;
  }

  /** One connection and hello; resolves the welcome, or null when the attempt failed. */
  async hello(resume) {
    const conn = createConnection(this.target);
    this.conn = conn;
    this.connNo++;
    conn.onFrame = (f) => conn === this.conn && this.onFrame(f);
    conn.onSkipped = (text) => this.onPresence && conn === this.conn && this.onPresence(JSON.parse(text), this);
    conn.onClose = () => conn === this.conn && this.onClosed();
    try {
      await conn.open();
    } catch {
      return null;
    }
    this.helloAt = nowMs();
    this.resumedConn = resume;
    const frame = { type: 'hello', nick: this.nick, ref: 'hello' };
    if (resume) frame.resume = { session: this.session, last: { ...this.last } };
    let welcome;
    try {
      welcome = await this.request(frame, 'welcome');
    } catch (err) {
      conn.destroy();
      if (err.code === 'resume_failed') throw err;
      return null;
    }
    const t = nowMs();
    this.session = welcome.session;
    this.gateway = welcome.gateway;
    this.online = true;
    if (resume) {
      this.resumes++;
      this.stats.resumeMs.record(t - this.helloAt);
      if (this.lostAt !== null) this.stats.gapMs.record(t - this.lostAt);
    }
    this.lostAt = null;
    this.keepalive = setInterval(() => this.conn.send({ type: 'ping' }), keepaliveMs);
    // What was sent and never acked goes again under the same ref: the server acks a
    // repeat with the first id and does not deliver it twice.
    for (const p of this.pending.values()) this.conn.send(p.frame);
    return welcome;
  }

  request(frame, type) {
    return request(this, frame, type, 'timeout');
  }

  failWaiter(code) {
    failRequest(this, code);
  }

  /** Sends message `no` to `to`; false (and nothing registered) while offline. */
  send(no, to) {
    if (!this.online) return false;
    const ref = `m${no}`;
    const frame = { type: 'send', ref, to, text: `${this.marker}${no}:${Date.now()}` };
    this.pending.set(ref, { no, frame });
    this.conn.send(frame);
    return true;
  }

  onFrame(f) {
    switch (f.type) {
      case 'msg':
        return this.onMessage(f);
      case 'ack': {
        const p = this.pending.get(f.ref);
        if (!p) return;
        this.pending.delete(f.ref);
        this.ledger.ack(p.no, f.id);
        return;
      }
      case 'error':
        return this.onError(f);
      case 'bye':
        // A draining gateway: the session moves on; the socket closes next.
        if (f.reason === 'restart') this.stats.restartByes++;
        else if (f.reason === 'moved') this.stats.movedByes++;
        return;
      default: {
        const w = this.waiter;
        if (w && f.type === w.type && (f.ref === w.ref || f.ref === undefined)) {
          if (f.type === 'joined' && f.nick !== undefined && f.nick !== this.nick && f.ref === undefined) return;
          this.waiter = null;
          clearTimeout(w.timer);
          w.resolve(f);
        }
      }
    }
  }

  onMessage(f) {
    const text = typeof f.text === 'string' ? f.text : '';
    if (typeof f.to === 'string' && typeof f.id === 'string') this.last[f.to] = f.id;
    if (!text.startsWith(this.marker)) return;
    const no = Number.parseInt(text.slice(this.marker.length), 10);
    // Stamped before this connection's hello: it can only have come by the resume's replay
    // (or just after it): the time it took from the hello is the replay latency.
    const replayed = this.resumedConn && typeof f.ts === 'number' && f.ts < performance.timeOrigin + this.helloAt;
    this.ledger.receive(this.index, no, (this.connNo << 1) | (replayed ? 1 : 0), f, this.gateway);
    if (f.from === this.nick) this.stats.echoes++;
    if (replayed) {
      this.stats.replayMs.record(nowMs() - this.helloAt);
      this.stats.recoveredMs.record(Date.now() - f.ts);
      this.stats.replayed++;
    }
  }

  onError(f) {
    const code = typeof f.code === 'string' ? f.code : 'error';
    const p = f.ref === undefined ? undefined : this.pending.get(f.ref);
    if (p) {
      this.stats.errors.set(code, (this.stats.errors.get(code) ?? 0) + 1);
      if (code === 'unavailable' || code === 'rate_limited') {
        // Nothing was accepted: send again shortly, under the same ref.
        setTimeout(() => this.online && this.pending.has(f.ref) && this.conn.send(p.frame), unavailableRetryMs);
        return;
      }
      this.pending.delete(f.ref);
      this.ledger.refuse(code);
      return;
    }
    const w = this.waiter;
    if (w && (f.ref === w.ref || f.ref === undefined)) {
      this.waiter = null;
      clearTimeout(w.timer);
      w.reject(Object.assign(new Error(f.message ?? code), { code }));
      return;
    }
    this.stats.errors.set(code, (this.stats.errors.get(code) ?? 0) + 1);
  }

  markLost() {
    this.online = false;
    this.lostAt ??= nowMs();
    clearInterval(this.keepalive);
  }

  onClosed() {
    const wasOnline = this.online;
    this.markLost();
    if (this.waiter) this.failWaiter('closed');
    if (wasOnline && !this.stopped) this.onLost?.(this, 'closed');
  }

  /** Says bye and closes: the end of the run. */
  async close(ms) {
    this.stopped = true;
    clearInterval(this.keepalive);
    const conn = this.conn;
    if (!conn) return;
    if (this.online) conn.send({ type: 'bye' });
    this.online = false;
    await new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      conn.onClose = () => {
        clearTimeout(t);
        resolve();
      };
    });
    conn.destroy();
  }
}
