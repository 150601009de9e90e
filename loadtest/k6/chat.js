// Chorus chat load test for k6 (https://grafana.com/docs/k6/): many users on WebSocket.
//
//   k6 run -e CHORUS_WS_URL=ws://127.0.0.1:50446 loadtest/k6/chat.js
//   k6 run -e VUS=200 -e RAMP=30s -e HOLD=2m -e INTERVAL_MS=2000 loadtest/k6/chat.js
//
// Each VU is one user. An iteration is one chat session: connect, hello with a unique nick,
// join one of ROOMS shared rooms, send a message every ~INTERVAL_MS (public, room or private
// to a peer, by MIX) for SESSION_S seconds, then bye. The VU then starts a new session.
//
// The bench's comparison scenarios (npm run bench -- --compare socketio), in k6:
//   broadcast: -e VUS=1000 -e SENDERS=1 -e INTERVAL_MS=20 -e MIX=public=1 -e ROOMS=0
//   private:   -e VUS=2000 -e INTERVAL_MS=500 -e MIX=private=1 -e ROOMS=0
// (raise the gateways' --rate above 1000/INTERVAL_MS messages per second per connection).
//
// Environment (all optional):
//   CHORUS_WS_URL  gateway URL                      (ws://127.0.0.1:50446)
//   VUS            peak concurrent users            (500)
//   RAMP           time to ramp 0 -> VUS            (60s)
//   HOLD           time at VUS                      (3m)
//   SESSION_S      length of one user session, s    (60)
//   INTERVAL_MS    mean gap between a user's sends  (2000; the server allows ~20 frames/s)
//   ROOMS          shared rooms, user joins VU % n  (5; 0 = no rooms, MIX without room)
//   SENDERS        only VUs 1..SENDERS send          (0 = every VU)
//   ROOM_PREFIX    room names are #<prefix>-<i>     (k6)
//   MIX            public=..,room=..,private=..     (public=0.1,room=0.6,private=0.3)
//   SIZE           characters per message text      (64)
//   P95_MS/P99_MS  delivery latency thresholds      (250 / 1000)

import { WebSocket } from 'k6/websockets';
import { setTimeout, clearTimeout } from 'k6/timers';
import { check } from 'k6';
import {
  WS_URL,
  envNumber,
  envString,
  metrics,
  countError,
  uniqueNick,
  parseFrame,
  presenceChanges,
  errorText,
  parseMix,
  pickKind,
  jitter,
  messageText,
  sentAtOf,
} from './lib.js';

const VUS = envNumber('VUS', 500);
const SESSION_S = envNumber('SESSION_S', 60);
const INTERVAL_MS = envNumber('INTERVAL_MS', 2000);
const ROOMS = envNumber('ROOMS', 5);
const ROOM_PREFIX = envString('ROOM_PREFIX', 'k6');
const SENDERS = envNumber('SENDERS', 0);
const MIX = parseMix(envString('MIX', ROOMS > 0 ? 'public=0.1,room=0.6,private=0.3' : 'public=0.25,private=0.75'));
if (ROOMS === 0 && MIX.room > 0) throw new Error('MIX has room messages but ROOMS is 0');
const SIZE = envNumber('SIZE', 64);
const HELLO_TIMEOUT_MS = 10000;
const BYE_WAIT_MS = 2000; // after bye, how long to wait for the server to close before closing
const MAX_PEERS = 1000; // private-message candidates remembered per VU
const MARKER = 'k6:'; // every text this script sends starts with it; other traffic is not timed

export const options = {
  scenarios: {
    chat: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: envString('RAMP', '60s'), target: VUS },
        { duration: envString('HOLD', '3m'), target: VUS },
        { duration: '10s', target: 0 },
      ],
      // A session in progress may finish (bye, close) when its VU is ramped down.
      gracefulRampDown: `${SESSION_S + 10}s`,
      gracefulStop: `${SESSION_S + 10}s`,
    },
  },
  thresholds: {
    chorus_delivery_latency: [`p(95)<${envNumber('P95_MS', 250)}`, `p(99)<${envNumber('P99_MS', 1000)}`],
    chorus_ack_latency: ['p(95)<200', 'p(99)<500'],
    chorus_ack_ok: ['rate>0.99'],
    chorus_hello_ok: ['rate>0.99'],
    'chorus_errors{code:rate_limited}': ['count<1'],
    checks: ['rate>0.99'],
  },
};

export default function () {
  const nick = uniqueNick('vu');
  const room = ROOMS > 0 ? `#${ROOM_PREFIX}-${__VU % ROOMS}` : null;
  const sends = SENDERS === 0 || __VU <= SENDERS;
  /** @type {Record<string, {t: number, to: string}>} ref -> send time in ms and target */
  const pending = {};
  /** @type {string[]} nicks seen online: private-message targets */
  const peers = [];
  let seq = 0;
  /** @type {number | undefined} */
  let sendTimer;
  /** @type {number | undefined} */
  let helloTimer;
  /** @type {number | undefined} */
  let endTimer;
  let welcomed = false;
  let joined = false;
  let helloFailed = false;
  let closing = false;
  const started = Date.now();
  let opened = 0;
  let helloAt = 0;

  const ws = new WebSocket(WS_URL, null, { tags: { chorus_scenario: 'chat' } });

  /** @param {Record<string, unknown>} frame */
  const send = (frame) => ws.send(JSON.stringify(frame));
  /** @param {number | undefined} t */
  const stop = (t) => {
    if (t !== undefined) clearTimeout(t);
  };

  /** @param {unknown} other */
  const rememberPeer = (other) => {
    if (typeof other !== 'string') return;
    if (!other || other === nick || peers.indexOf(other) !== -1) return;
    if (peers.length >= MAX_PEERS) peers.splice(Math.floor(Math.random() * peers.length), 1);
    peers.push(other);
  };
  /** @param {string} other */
  const forgetPeer = (other) => {
    const i = peers.indexOf(other);
    if (i !== -1) peers.splice(i, 1);
  };

  const sendOne = () => {
    let kind = pickKind(MIX);
    if (kind === 'private' && peers.length === 0) kind = room ? 'room' : 'public';
    const to = kind === 'public' ? '*' : kind === 'room' && room ? room : `@${peers[Math.floor(Math.random() * peers.length)]}`;
    const ref = String(++seq);
    pending[ref] = { t: Date.now(), to };
    send({ type: 'send', ref, to, text: messageText(MARKER, SIZE) });
    metrics.sent.add(1, { kind });
  };

  // Every session lasts SESSION_S from here; only senders send, after a jittered first gap.
  const startSending = () => {
    if (sends) scheduleSend();
    endTimer = setTimeout(finish, SESSION_S * 1000);
  };

  const scheduleSend = () => {
    sendTimer = setTimeout(() => {
      if (closing) return;
      sendOne();
      scheduleSend();
    }, jitter(INTERVAL_MS));
  };

  // End of session: stop sending, say bye; the server answers bye and closes. Acks still in
  // flight may land meanwhile; what is unacked when the socket closes counts as a failure.
  const finish = () => {
    if (closing) return;
    closing = true;
    stop(sendTimer);
    stop(helloTimer);
    stop(endTimer);
    if (ws.readyState === 1) {
      send({ type: 'bye' });
      endTimer = setTimeout(() => ws.close(), BYE_WAIT_MS);
    }
  };

  // Before a welcome there is no session to say bye to: count the failure once, and close.
  /** @param {string | null} code */
  const failHello = (code) => {
    if (!helloFailed && !welcomed) {
      helloFailed = true;
      metrics.helloOk.add(false);
      if (code) countError(code);
    }
    closing = true;
    stop(helloTimer);
    if (ws.readyState <= 1) ws.close();
  };

  ws.addEventListener('open', () => {
    opened = Date.now();
    metrics.connect.add(opened - started);
    helloAt = Date.now();
    send({ type: 'hello', nick, ref: 'hello' });
    helloTimer = setTimeout(() => {
      if (!welcomed) failHello('timeout_welcome');
    }, HELLO_TIMEOUT_MS);
  });

  ws.addEventListener('message', (e) => {
    const f = parseFrame(e);
    if (!f) {
      countError('client_bad_frame');
      return;
    }
    const now = Date.now();
    switch (f.type) {
      case 'welcome':
        welcomed = true;
        stop(helloTimer);
        metrics.welcome.add(now - helloAt);
        metrics.connectWelcome.add(now - started);
        metrics.helloOk.add(true);
        check(f, { 'welcome has our nick': (w) => typeof w.nick === 'string' && w.nick.length > 0 });
        // Above the gateways' presence threshold nobody is announced one by one: ask who is
        // online, so private messages have peers whatever presence sends.
        if (MIX.private > 0) send({ type: 'who', ref: 'who' });
        if (room) send({ type: 'join', room, ref: 'join' });
        else startSending();
        return;
      case 'who':
        if (Array.isArray(f.users)) {
          for (const u of f.users) rememberPeer(typeof u === 'string' ? u : u && u.nick);
        }
        return;
      case 'joined':
        // Ours carries our ref; a server that drops refs still names our nick and room.
        if (!joined && (f.ref === 'join' || (f.ref === undefined && f.nick === nick && f.room === room))) {
          joined = true;
          check(f, { 'joined our room': (j) => j.room === room });
          if (Array.isArray(f.members)) {
            for (const m of f.members) rememberPeer(typeof m === 'string' ? m : m && m.nick);
          }
          startSending();
        } else {
          rememberPeer(f.nick);
        }
        return;
      case 'presence': {
        // One change (version 1) or a batch of them: the same frame type, both shapes read.
        const changes = presenceChanges(f);
        metrics.presenceFrames.add(1);
        metrics.presenceChanges.add(changes.length);
        for (const c of changes) {
          if (c.event === 'online') rememberPeer(c.nick);
          else if (c.event === 'offline') forgetPeer(c.nick);
        }
        return;
      }
      case 'ack': {
        const p = pending[f.ref];
        if (p === undefined) return;
        delete pending[f.ref];
        metrics.ack.add(now - p.t);
        metrics.acked.add(1);
        metrics.ackOk.add(true);
        return;
      }
      case 'msg': {
        const sentAt = sentAtOf(MARKER, f.text);
        if (isNaN(sentAt)) return; // not load-test traffic
        if (typeof f.ts === 'number') metrics.delivery.add(now - f.ts);
        metrics.e2e.add(now - sentAt);
        metrics.received.add(1);
        return;
      }
      case 'error': {
        countError(f.code);
        if (f.ref === 'hello') {
          failHello(null);
        } else if (f.ref === 'join') {
          finish();
        } else if (f.ref !== undefined && pending[f.ref] !== undefined) {
          const p = pending[f.ref];
          delete pending[f.ref];
          metrics.ackOk.add(false);
          // A peer that left between its presence event and our send: stop choosing it.
          if (f.code === 'no_such_user' && p.to.charAt(0) === '@') forgetPeer(p.to.slice(1));
        }
        return;
      }
      case 'bye':
        ws.close();
        return;
      default:
        return; // left, who, pong...: not measured
    }
  });

  ws.addEventListener('error', (e) => {
    countError('ws_error');
    console.warn(`VU ${__VU} ${nick}: websocket error: ${errorText(e)}`);
  });

  ws.addEventListener('close', () => {
    if (!closing && opened) countError('server_closed'); // the server closed a session still in use
    if (!welcomed && !helloFailed) {
      helloFailed = true;
      metrics.helloOk.add(false);
    }
    closing = true;
    for (const ref in pending) {
      metrics.ackOk.add(false);
      delete pending[ref];
    }
    stop(sendTimer);
    stop(helloTimer);
    stop(endTimer);
  });
}
