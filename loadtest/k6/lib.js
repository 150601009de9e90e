// Shared helpers for the Chorus k6 scripts (chat.js, connect.js).
//
// k6 runs scripts in its own JavaScript runtime, not Node: only k6/* modules and relative
// imports exist here. This file is imported in the init context, so the metrics below are
// created once per VU, as k6 requires (custom metrics cannot be created inside `default`).

import { Counter, Rate, Trend } from 'k6/metrics';

/** The gateway's WebSocket URL: `k6 run -e CHORUS_WS_URL=ws://host:50446 ...`. */
export const WS_URL = __ENV.CHORUS_WS_URL || 'ws://127.0.0.1:50446';

export function envNumber(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!isFinite(n)) throw new Error(`${name} must be a number, got "${raw}"`);
  return n;
}

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
};

export function countError(code) {
  metrics.errors.add(1, { code: String(code || 'unknown') });
}

/** A nick unique per VU and iteration, within the protocol's 32 characters. */
export function uniqueNick(prefix) {
  return `${prefix}${__VU}_${__ITER}_${randomSuffix(4)}`;
}

export function randomSuffix(n) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
  return s;
}

/** One server frame, or null when the data is not a JSON object. */
export function parseFrame(data) {
  if (typeof data !== 'string') return null;
  try {
    const f = JSON.parse(data);
    return f !== null && typeof f === 'object' ? f : null;
  } catch (e) {
    return null;
  }
}

/** "public=0.1,room=0.6,private=0.3" -> {public, room, private}; missing kinds weigh 0. */
export function parseMix(text) {
  const mix = { public: 0, room: 0, private: 0 };
  for (const part of String(text).split(',')) {
    const kv = part.trim().split('=');
    const n = Number(kv[1]);
    if (!(kv[0] in mix) || !isFinite(n) || n < 0) throw new Error(`MIX: bad part "${part}"`);
    mix[kv[0]] = n;
  }
  if (mix.public + mix.room + mix.private <= 0) throw new Error('MIX needs a positive weight');
  return mix;
}

/** Picks 'public' | 'room' | 'private' with the mix's weights. */
export function pickKind(mix) {
  const sum = mix.public + mix.room + mix.private;
  let r = Math.random() * sum;
  if ((r -= mix.public) < 0) return 'public';
  if ((r -= mix.room) < 0) return 'room';
  return mix.private > 0 ? 'private' : mix.room > 0 ? 'room' : 'public';
}

/** A delay of `ms` +-50%: sends spread out instead of arriving in lockstep. */
export function jitter(ms) {
  return ms * (0.5 + Math.random());
}

/** Text of a load message: a marker, the send time (for e2e latency), then padding. */
export function messageText(marker, size) {
  const head = `${marker}${Date.now()}:`;
  return head + 'x'.repeat(Math.max(1, size - head.length));
}

/** The send time inside a text written by messageText, or NaN if it is not ours. */
export function sentAtOf(marker, text) {
  if (typeof text !== 'string' || text.indexOf(marker) !== 0) return NaN;
  return parseInt(text.slice(marker.length), 10);
}
