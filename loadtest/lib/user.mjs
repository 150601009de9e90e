// One simulated chat user: a connection, the hello/join handshake, and the bookkeeping
// that matches acks to sends (by ref) and times every message it receives.

import { performance } from 'node:perf_hooks';
import { failRequest, request } from './handshake.mjs';
import { createConnection } from './transport.mjs';

// The server closes connections silent for --idle-timeout-ms (90 s by default); a user that
// only listens (connect --hold, or a slow --rate) pings well inside that.
const keepaliveMs = 30_000;
const nowMs = () => performance.now();
/** A sub-millisecond wall clock, for the send time carried inside a message's text. */
const epochMs = () => performance.timeOrigin + performance.now();

export class User {
  /**
   * @param {object} o
   * @param {string} o.nick
   * @param {object} o.target   {transport, url} or {transport, host, port}
   * @param {import('./stats.mjs').Stats} o.stats
   * @param {string} o.marker   every text of this run starts with it; other traffic is ignored
   * @param {number} o.timeoutMs  how long hello and join may take
   * @param {string} [o.localAddress]  the source address to connect from
   */
  constructor({ nick, target, stats, marker, timeoutMs, localAddress }) {
    this.nick = nick;
    this.target = target;
    this.localAddress = localAddress;
    this.stats = stats;
    this.marker = marker;
    this.timeoutMs = timeoutMs;
    this.conn = null;
    this.room = null;
    this.ready = false; // welcomed (and joined, where a room was asked for)
    this.alive = false; // the connection is open and not closing
    this.closing = false;
    this.seq = 0;
    this.pending = new Map(); // ref -> {t, kind, fanout}
    this.waiter = null; // {type, ref, resolve, reject, timer}: one handshake step at a time
    this.closedPromise = null;
    this.timer = null; // the next scheduled send; owned by the scenario
    this.keepalive = null;
  }

  /** Connects and says hello; resolves with the welcome time in ms, rejects with an error code. */
  async connect() {
    const s = this.stats;
    const conn = createConnection(this.target, this.localAddress);
    this.conn = conn;
    conn.onFrame = (f) => this.onFrame(f);
    conn.onSkipped = () => this.stats.framesIn++;
    this.closedPromise = new Promise((resolve) => {
      conn.onClose = (reason) => {
        const wasAlive = this.alive;
        this.alive = false;
        clearInterval(this.keepalive);
        if (wasAlive && !this.closing) s.disconnects++;
        if (this.waiter) this.failWaiter('closed');
        resolve(reason);
      };
    });
    const t0 = nowMs();
    try {
      await conn.open();
    } catch (err) {
      throw Object.assign(new Error(err.message), { code: connectErrorCode(err) });
    }
    const t1 = nowMs();
    s.connectMs.record(t1 - t0);
    s.connected++;
    this.alive = true;
    const welcome = this.request({ type: 'hello', nick: this.nick, ref: 'hello' }, 'welcome');
    await welcome;
    const t2 = nowMs();
    s.welcomeMs.record(t2 - t1);
    s.welcomed++;
    this.keepalive = setInterval(() => this.conn.send({ type: 'ping' }), keepaliveMs);
    return { connectMs: t1 - t0, welcomeMs: t2 - t1, totalMs: t2 - t0 };
  }

  async join(room) {
    const t0 = nowMs();
    await this.request({ type: 'join', room, ref: 'join' }, 'joined');
    this.stats.joinMs.record(nowMs() - t0);
    this.stats.joined++;
    this.room = room;
  }

  /** Sends one frame and waits for the answer of `type` (or an error with the same ref). */
  request(frame, type) {
    return request(this, frame, type, `timeout_${type}`);
  }

  failWaiter(code) {
    failRequest(this, code);
  }

  /** Sends one chat message to `to`; `fanout` is how many other run users should get it. */
  sendMessage(kind, to, fanout, padding) {
    const ref = String(++this.seq);
    const text = `${this.marker}${epochMs().toFixed(3)}:${padding}`;
    if (!this.conn.send({ type: 'send', ref, to, text })) return false;
    this.pending.set(ref, { t: nowMs(), kind, fanout });
    this.stats.sent++;
    this.stats.byKind[kind].sent++;
    return true;
  }

  onFrame(f) {
    const s = this.stats;
    s.framesIn++;
    switch (f.type) {
      case 'msg':
        return this.onMessage(f);
      case 'ack': {
        const p = this.pending.get(f.ref);
        if (!p) return;
        this.pending.delete(f.ref);
        s.ackMs.record(nowMs() - p.t);
        s.acked++;
        s.expected += p.fanout;
        const k = s.byKind[p.kind];
        k.acked++;
        k.expected += p.fanout;
        return;
      }
      case 'error': {
        const code = typeof f.code === 'string' ? f.code : 'error_without_code';
        s.error(code);
        const p = f.ref === undefined ? undefined : this.pending.get(f.ref);
        if (p) {
          this.pending.delete(f.ref);
          s.byKind[p.kind].failed++;
        } else if (this.waiter && (f.ref === this.waiter.ref || f.ref === undefined)) {
          const w = this.waiter;
          this.waiter = null;
          clearTimeout(w.timer);
          w.reject(Object.assign(new Error(f.message ?? code), { code, counted: true }));
        }
        return;
      }
      default: {
        const w = this.waiter;
        if (w && f.type === w.type && (f.ref === w.ref || f.ref === undefined)) {
          // A joined without our ref may be someone else's join being announced: only ours counts.
          if (f.type === 'joined' && f.ref === undefined && f.nick !== undefined && f.nick !== this.nick) return;
          this.waiter = null;
          clearTimeout(w.timer);
          w.resolve(f);
        }
      }
    }
  }

  onMessage(f) {
    const s = this.stats;
    const text = typeof f.text === 'string' ? f.text : '';
    if (!text.startsWith(this.marker)) {
      s.foreign++;
      return;
    }
    if (typeof f.ts === 'number') s.deliveryMs.record(Date.now() - f.ts);
    const sentAt = Number.parseFloat(text.slice(this.marker.length));
    if (Number.isFinite(sentAt)) s.e2eMs.record(epochMs() - sentAt);
    if (f.from === this.nick) s.echoes++;
    else s.received++;
  }

  /** Says bye and waits for the server to close, at most `ms`; then cuts the connection. */
  async close(ms) {
    if (!this.conn) return;
    this.closing = true;
    clearTimeout(this.timer);
    clearInterval(this.keepalive);
    if (this.alive) this.conn.send({ type: 'bye' });
    let timer;
    const deadline = new Promise((resolve) => (timer = setTimeout(resolve, ms)));
    await Promise.race([this.closedPromise, deadline]);
    clearTimeout(timer);
    this.alive = false;
    this.conn.destroy();
  }
}

function connectErrorCode(err) {
  const c = err && err.code;
  if (typeof c === 'string' && /^E[A-Z]+$/.test(c)) return `connect_${c}`; // ECONNREFUSED, ECONNRESET…
  if (/timeout/i.test(String(err && err.message))) return 'connect_timeout';
  if (/Unexpected server response: (\d+)/.test(String(err && err.message))) {
    return `connect_http_${RegExp.$1}`;
  }
  return 'connect_failed';
}
