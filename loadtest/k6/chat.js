// Chorus chat load test for k6 (https://grafana.com/docs/k6/): many users on WebSocket.
//
//   k6 run -e CHORUS_WS_URL=ws://127.0.0.1:50446 loadtest/k6/chat.js
//   k6 run -e VUS=200 -e RAMP=30s -e HOLD=2m -e INTERVAL_MS=2000 loadtest/k6/chat.js
//
// Each VU is one user. An iteration is one chat session: connect, hello with a unique nick,
// join one of ROOMS shared rooms, send a message every ~INTERVAL_MS (public, room or private
// to a peer, by MIX) for SESSION_S seconds, then bye. The VU then starts a new session.
//
// Environment (all optional):
//   CHORUS_WS_URL  gateway URL                      (ws://127.0.0.1:50446)
//   VUS            peak concurrent users            (500)
//   RAMP           time to ramp 0 -> VUS            (60s)
//   HOLD           time at VUS                      (3m)
//   SESSION_S      length of one user session, s    (60)
//   INTERVAL_MS    mean gap between a user's sends  (2000; the server allows ~20 frames/s)
//   ROOMS          shared rooms, user joins VU % n  (5)
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
const MIX = parseMix(envString('MIX', 'public=0.1,room=0.6,private=0.3'));
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
  const room = `#${ROOM_PREFIX}-${__VU % ROOMS}`;
  const pending = {}; // ref -> {t: send time in ms, to}
  const peers = []; // nicks seen online: private-message targets
  let seq = 0;
  let sendTimer = null;
  let helloTimer = null;
  let endTimer = null;
  let welcomed = false;
  let joined = false;
  let helloFailed = false;
  let closing = false;
  const started = Date.now();
  let opened = 0;
  let helloAt = 0;

  const ws = new WebSocket(WS_URL, null, { tags: { chorus_scenario: 'chat' } });

  const send = (frame) => ws.send(JSON.stringify(frame));

  const rememberPeer = (other) => {
    if (!other || other === nick || peers.indexOf(other) !== -1) return;
    if (peers.length >= MAX_PEERS) peers.splice(Math.floor(Math.random() * peers.length), 1);
    peers.push(other);
  };
  const forgetPeer = (other) => {
    const i = peers.indexOf(other);
    if (i !== -1) peers.splice(i, 1);
  };

  const sendOne = () => {
    let kind = pickKind(MIX);
    if (kind === 'private' && peers.length === 0) kind = 'room';
    const to = kind === 'public' ? '*' : kind === 'room' ? room : `@${peers[Math.floor(Math.random() * peers.length)]}`;
    const ref = String(++seq);
    pending[ref] = { t: Date.now(), to };
    send({ type: 'send', ref, to, text: messageText(MARKER, SIZE) });
    metrics.sent.add(1, { kind });
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
    clearTimeout(sendTimer);
    clearTimeout(helloTimer);
    clearTimeout(endTimer);
    if (ws.readyState === 1) {
      send({ type: 'bye' });
      endTimer = setTimeout(() => ws.close(), BYE_WAIT_MS);
    }
  };

  // Before a welcome there is no session to say bye to: count the failure once, and close.
  const failHello = (code) => {
    if (!helloFailed && !welcomed) {
      helloFailed = true;
      metrics.helloOk.add(false);
      if (code) countError(code);
    }
    closing = true;
    clearTimeout(helloTimer);
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
    const f = parseFrame(e.data);
    if (!f) {
      countError('client_bad_frame');
      return;
    }
    const now = Date.now();
    switch (f.type) {
      case 'welcome':
        welcomed = true;
        clearTimeout(helloTimer);
        metrics.welcome.add(now - helloAt);
        metrics.connectWelcome.add(now - started);
        metrics.helloOk.add(true);
        check(f, { 'welcome has our nick': (w) => typeof w.nick === 'string' && w.nick.length > 0 });
        send({ type: 'join', room, ref: 'join' });
        return;
      case 'joined':
        // Ours carries our ref; a server that drops refs still names our nick and room.
        if (!joined && (f.ref === 'join' || (f.ref === undefined && f.nick === nick && f.room === room))) {
          joined = true;
          check(f, { 'joined our room': (j) => j.room === room });
          if (Array.isArray(f.members)) {
            for (const m of f.members) rememberPeer(typeof m === 'string' ? m : m && m.nick);
          }
          scheduleSend(); // the first send comes after a jittered gap, like every other
          endTimer = setTimeout(finish, SESSION_S * 1000);
        } else {
          rememberPeer(f.nick);
        }
        return;
      case 'presence':
        // A batch (protocol version 2) lists a tick's arrivals and departures; a server of
        // version 1 sends one change per frame, as event and nick. Count frames carry neither.
        for (const n of Array.isArray(f.online) ? f.online : f.event === 'online' ? [f.nick] : []) rememberPeer(n);
        for (const n of Array.isArray(f.offline) ? f.offline : f.event === 'offline' ? [f.nick] : []) forgetPeer(n);
        return;
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
    console.warn(`VU ${__VU} ${nick}: websocket error: ${e && e.error}`);
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
    clearTimeout(sendTimer);
    clearTimeout(helloTimer);
    clearTimeout(endTimer);
  });
}
