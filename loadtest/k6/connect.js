// Chorus connection storm for k6: new users arrive at a set rate; each connects over
// WebSocket, says hello with a unique nick, waits for welcome, stays HOLD_S seconds, says bye.
//
//   k6 run -e CHORUS_WS_URL=ws://127.0.0.1:50446 loadtest/k6/connect.js
//   k6 run -e RATE=500 -e DURATION=1m -e HOLD_S=5 loadtest/k6/connect.js
//
// Environment (all optional):
//   CHORUS_WS_URL  gateway URL                                   (ws://127.0.0.1:50446)
//   RATE           new connections per second at the peak        (200)
//   RAMP           time to ramp 0 -> RATE                        (10s)
//   DURATION       time at RATE                                  (30s)
//   HOLD_S         seconds each user stays connected after welcome (1)
//   MAX_VUS        upper bound on concurrent VUs (= connections) (RATE * (HOLD_S + 3) * 2)
//   P95_MS/P99_MS  connect+welcome thresholds                    (500 / 2000)
//
// Concurrent connections at the peak are about RATE * (HOLD_S + connect time): size the
// gateway's connection limit and the load generator's file descriptors (ulimit -n) for it.

import { WebSocket } from 'k6/websockets';
import { setTimeout, clearTimeout } from 'k6/timers';
import { check } from 'k6';
import { WS_URL, envNumber, envString, metrics, countError, uniqueNick, parseFrame } from './lib.js';

const RATE = envNumber('RATE', 200);
const HOLD_S = envNumber('HOLD_S', 1);
const HELLO_TIMEOUT_MS = 10000;
const BYE_WAIT_MS = 2000;
// Arrival-rate executors need the VUs allocated up front: one per connection alive at once.
const PRE_VUS = Math.ceil(RATE * (HOLD_S + 3));

export const options = {
  scenarios: {
    storm: {
      executor: 'ramping-arrival-rate',
      startRate: 0,
      timeUnit: '1s',
      preAllocatedVUs: PRE_VUS,
      maxVUs: envNumber('MAX_VUS', PRE_VUS * 2),
      stages: [
        { duration: envString('RAMP', '10s'), target: RATE },
        { duration: envString('DURATION', '30s'), target: RATE },
        { duration: '5s', target: 0 },
      ],
      gracefulStop: `${HOLD_S + 15}s`,
    },
  },
  thresholds: {
    chorus_connect_welcome_time: [`p(95)<${envNumber('P95_MS', 500)}`, `p(99)<${envNumber('P99_MS', 2000)}`],
    chorus_hello_ok: ['rate>0.99'],
    // k6 counts iterations it could not start for want of a free VU: the storm fell behind.
    dropped_iterations: ['count<1'],
  },
};

export default function () {
  const nick = uniqueNick('cs');
  const started = Date.now();
  let helloAt = 0;
  let done = false; // the hello outcome (welcome or failure) has been counted
  let closing = false;
  let timer = null;

  const ws = new WebSocket(WS_URL, null, { tags: { chorus_scenario: 'connect' } });

  const fail = (code) => {
    if (!done) {
      done = true;
      metrics.helloOk.add(false);
      if (code) countError(code);
    }
    closing = true;
    clearTimeout(timer);
    if (ws.readyState <= 1) ws.close();
  };

  ws.addEventListener('open', () => {
    const now = Date.now();
    metrics.connect.add(now - started);
    helloAt = now;
    ws.send(JSON.stringify({ type: 'hello', nick, ref: 'hello' }));
    timer = setTimeout(() => fail('timeout_welcome'), HELLO_TIMEOUT_MS);
  });

  ws.addEventListener('message', (e) => {
    const f = parseFrame(e.data);
    if (!f) return;
    const now = Date.now();
    if (f.type === 'welcome' && !done) {
      done = true;
      clearTimeout(timer);
      metrics.welcome.add(now - helloAt);
      metrics.connectWelcome.add(now - started);
      metrics.helloOk.add(true);
      check(f, { 'welcome names a session': (w) => typeof w.session === 'string' });
      timer = setTimeout(() => {
        closing = true;
        ws.send(JSON.stringify({ type: 'bye' }));
        timer = setTimeout(() => ws.close(), BYE_WAIT_MS);
      }, HOLD_S * 1000);
    } else if (f.type === 'error') {
      if (f.ref === 'hello') fail(f.code);
      else countError(f.code);
    } else if (f.type === 'bye') {
      closing = true;
      ws.close();
    }
  });

  ws.addEventListener('error', (e) => {
    countError('ws_error');
    console.warn(`VU ${__VU} ${nick}: websocket error: ${e && e.error}`);
  });

  ws.addEventListener('close', () => {
    if (!done) fail('closed_before_welcome');
    else if (!closing) countError('server_closed');
    clearTimeout(timer);
  });
}
