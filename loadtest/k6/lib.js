// Shared helpers for the Chorus k6 scripts (chat.js, connect.js).
//
// k6 runs scripts in its own JavaScript runtime, not Node: only k6/* modules and relative
// imports exist here. This file is imported in the init context, so the metrics below are
// created once per VU, as k6 requires (custom metrics cannot be created inside `default`).

import { Counter, Rate, Trend } from 'k6/metrics';

/** The gateway's WebSocket URL: `k6 run -e CHORUS_WS_URL=ws://host:50446 ...`. */
export const WS_URL = __ENV.CHORUS_WS_URL || 'ws://127.0.0.1:50446';

/** @param {string} name @param {number} fallback @returns {number} */
export function envNumber(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!isFinite(n)) throw new Error(`${name} must be a number, got "${raw}"`);
  return n;
}

/** @param {string} name @param {string} fallback @returns {string} */
export function envString(name, fallback) {
  const raw = __ENV[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

// Custom metrics. Trends created with isTime=true are reported in ms and shown as durations.
export const metrics = {
  // receive time - msg.ts: from the accepting gateway to this client (same clock required:
  // run k6 on a host whose clock is synced with the gateways', or on the same host).
  delivery: new Trend('chorus_delivery_latency', true),
  // receive time - the sender's send time carried in the text (both are this k6's clock).
  e2e: new Trend('chorus_e2e_latency', true),
  ack: new Trend('chorus_ack_latency', true), // send -> ack, matched by ref
  connect: new Trend('chorus_connect_time', true), // new WebSocket -> open
  welcome: new Trend('chorus_welcome_latency', true), // hello sent -> welcome
  connectWelcome: new Trend('chorus_connect_welcome_time', true), // new WebSocket -> welcome
  sent: new Counter('chorus_messages_sent'),
  acked: new Counter('chorus_messages_acked'),
  received: new Counter('chorus_messages_received'),
  errors: new Counter('chorus_errors'), // tagged {code}: one series per protocol error code
  ackOk: new Rate('chorus_ack_ok'), // true per ack, false per refused or never-acked send
  helloOk: new Rate('chorus_hello_ok'), // true per welcome, false per failed hello
  // Presence: frames (one may carry a batch of changes) and the changes they carry.
  presenceFrames: new Counter('chorus_presence_frames'),
  presenceChanges: new Counter('chorus_presence_changes'),
  // Per session: presence frames ÷ (presence ticks the session lasted + 1): at most 1 when the
  // gateways coalesce presence per tick (connect.js, with PRESENCE_TICK_MS).
  presencePerTick: new Trend('chorus_presence_frames_per_tick'),
  heldOk: new Rate('chorus_held_ok'), // true per connection that stayed open for its whole hold
};

/** @param {unknown} code */
export function countError(code) {
  metrics.errors.add(1, { code: String(code || 'unknown') });
}

/** A nick unique per VU and iteration, within the protocol's 32 characters. @param {string} prefix */
export function uniqueNick(prefix) {
  return `${prefix}${__VU}_${__ITER}_${randomSuffix(4)}`;
}

/** @param {number} n */
export function randomSuffix(n) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
  return s;
}

/**
 * One server frame, or null when the event carries no JSON object.
 * @param {import('k6/websockets').MessageEvent | import('k6/websockets').ErrorEvent} event
 * @returns {Record<string, any> | null}
 */
export function parseFrame(event) {
  const data = 'data' in event ? event.data : undefined;
  if (typeof data !== 'string') return null;
  try {
    const f = JSON.parse(data);
    return f !== null && typeof f === 'object' ? f : null;
  } catch (e) {
    return null;
  }
}

/** The error text of an `error` event, for the log. @param {import('k6/websockets').MessageEvent | import('k6/websockets').ErrorEvent} event */
export function errorText(event) {
  return 'error' in event ? event.error : 'unknown';
}

/**
 * The presence changes one `presence` frame carries, oldest first, whatever its shape:
 * version 1's single change (`event`, `nick`), or a batch, which may list changes
 * (`changes`/`batch`/`events`: `{event, nick}` items) or nicks by event (`online`/`offline`
 * arrays). A batch of one also carries v1's fields: that change is counted once.
 * A count (`online` as a number, sent above the population threshold) carries no change.
 * @param {Record<string, any>} f
 * @returns {{event: string, nick: string}[]}
 */
export function presenceChanges(f) {
  /** @type {{event: string, nick: string}[]} */
  const out = [];
  /** @param {unknown} event @param {unknown} nick */
  const add = (event, nick) => {
    if (typeof event !== 'string' || typeof nick !== 'string') return;
    if (!out.some((c) => c.event === event && c.nick === nick)) out.push({ event, nick });
  };
  for (const key of ['changes', 'batch', 'events']) {
    const list = f[key];
    if (Array.isArray(list)) for (const c of list) if (c && typeof c === 'object') add(c.event, c.nick);
  }
  for (const event of ['online', 'offline']) {
    const list = f[event];
    if (Array.isArray(list)) for (const n of list) add(event, typeof n === 'string' ? n : n && n.nick);
  }
  add(f.event, f.nick);
  return out;
}

/**
 * "public=0.1,room=0.6,private=0.3" -> {public, room, private}; missing kinds weigh 0.
 * @param {string} text
 * @returns {Mix}
 */
export function parseMix(text) {
  /** @type {Mix} */
  const mix = { public: 0, room: 0, private: 0 };
  for (const part of String(text).split(',')) {
    const kv = part.trim().split('=');
    const n = Number(kv[1]);
    const kind = kv[0];
    if (!(kind === 'public' || kind === 'room' || kind === 'private') || !isFinite(n) || n < 0) {
      throw new Error(`MIX: bad part "${part}"`);
    }
    mix[kind] = n;
  }
  if (mix.public + mix.room + mix.private <= 0) throw new Error('MIX needs a positive weight');
  return mix;
}

/** @typedef {{public: number, room: number, private: number}} Mix */

/** Picks 'public' | 'room' | 'private' with the mix's weights. @param {Mix} mix */
export function pickKind(mix) {
  const sum = mix.public + mix.room + mix.private;
  let r = Math.random() * sum;
  if ((r -= mix.public) < 0) return 'public';
  if ((r -= mix.room) < 0) return 'room';
  return mix.private > 0 ? 'private' : mix.room > 0 ? 'room' : 'public';
}

/** A delay of `ms` +-50%: sends spread out instead of arriving in lockstep. @param {number} ms */
export function jitter(ms) {
  return ms * (0.5 + Math.random());
}

/** Text of a load message: a marker, the send time (for e2e latency), then padding. @param {string} marker @param {number} size */
export function messageText(marker, size) {
  const head = `${marker}${Date.now()}:`;
  return head + 'x'.repeat(Math.max(1, size - head.length));
}

/** The send time inside a text written by messageText, or NaN if it is not ours. @param {string} marker @param {unknown} text */
export function sentAtOf(marker, text) {
  if (typeof text !== 'string' || text.indexOf(marker) !== 0) return NaN;
  return parseInt(text.slice(marker.length), 10);
}
