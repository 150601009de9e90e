// Chorus connection storm for k6, in two modes:
//
//   MODE=arrival (default): new users arrive at RATE per second; each connects over WebSocket,
//     says hello with a unique nick, waits for welcome, stays HOLD_S seconds, says bye.
//   MODE=hold: the Node generator's connect-storm and idle scenarios (bench --compare):
//     USERS users connect BATCH at a time (a batch every BATCH_GAP_MS), and every one of them
//     stays online until HOLD_S seconds after the last batch started, then says bye.
//
//   k6 run -e CHORUS_WS_URL=ws://127.0.0.1:50446 loadtest/k6/connect.js
//   k6 run -e RATE=500 -e DURATION=1m -e HOLD_S=5 loadtest/k6/connect.js
//   k6 run -e MODE=hold -e USERS=10000 -e BATCH=200 -e HOLD_S=30 loadtest/k6/connect.js
//
// Environment (all optional):
//   CHORUS_WS_URL    gateway URL                                   (ws://127.0.0.1:50446)
//   MODE             arrival | hold                                (arrival)
//   RATE             arrival: new connections per second at the peak (200)
//   RAMP             arrival: time to ramp 0 -> RATE               (10s)
//   DURATION         arrival: time at RATE                         (30s)
//   MAX_VUS          arrival: upper bound on concurrent VUs        (RATE * (HOLD_S + 3) * 2)
//   USERS            hold: users, one VU each                      (10000)
//   BATCH            hold: users that connect together             (200)
//   BATCH_GAP_MS     hold: time between batches                    (500)
//   HOLD_S           seconds each user stays after welcome (arrival) or after the last batch (hold) (1 / 30)
//   P95_MS/P99_MS    connect+welcome thresholds                    (500 / 2000)
//   PRESENCE_TICK_MS the gateways' --presence-tick-ms: when given, a session may get at most
//                    one presence frame per tick that passed (plus one), or the run fails
//
// Concurrent connections at the peak are about RATE * (HOLD_S + connect time) (arrival) or
// USERS (hold): size the gateway's connection limit and k6's file descriptors (ulimit -n).

import { WebSocket } from 'k6/websockets';
import { setTimeout, clearTimeout } from 'k6/timers';
import { check } from 'k6';
import { WS_URL, envNumber, envString, metrics, countError, uniqueNick, parseFrame, presenceChanges, errorText } from './lib.js';

const MODE = envString('MODE', 'arrival');
if (MODE !== 'arrival' && MODE !== 'hold') throw new Error(`MODE is arrival or hold, not "${MODE}"`);
const HOLD_S = envNumber('HOLD_S', MODE === 'hold' ? 30 : 1);
const RATE = envNumber('RATE', 200);
const USERS = envNumber('USERS', 10000);
const BATCH = envNumber('BATCH', 200);
const BATCH_GAP_MS = envNumber('BATCH_GAP_MS', 500);
const PRESENCE_TICK_MS = envNumber('PRESENCE_TICK_MS', 0);
const HELLO_TIMEOUT_MS = 10000;
const BYE_WAIT_MS = 2000;
// Arrival-rate executors need the VUs allocated up front: one per connection alive at once.
const PRE_VUS = Math.ceil(RATE * (HOLD_S + 3));
// hold: the last batch starts at this offset; everyone leaves HOLD_S after it.
const LAST_BATCH_MS = Math.floor((USERS - 1) / BATCH) * BATCH_GAP_MS;

/** @type {import('k6/options').Options['scenarios']} */
const scenarios =
  MODE === 'arrival'
    ? {
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
      }
    : {
        hold: {
          executor: 'per-vu-iterations',
          vus: USERS,
          iterations: 1,
          // every VU's connect, wait and bye fit in here with room to spare
          maxDuration: `${Math.ceil(LAST_BATCH_MS / 1000 + HOLD_S + HELLO_TIMEOUT_MS / 1000 + 30)}s`,
        },
      };

/** @type {import('k6/options').Options['thresholds']} */
const thresholds = {
  chorus_connect_welcome_time: [`p(95)<${envNumber('P95_MS', 500)}`, `p(99)<${envNumber('P99_MS', 2000)}`],
  chorus_hello_ok: ['rate>0.99'],
};
// arrival: k6 counts iterations it could not start for want of a free VU: the storm fell behind.
if (MODE === 'arrival') thresholds.dropped_iterations = ['count<1'];
// hold: nobody may be cut off while holding (the bench's `lost` = 0).
if (MODE === 'hold') thresholds.chorus_held_ok = ['rate>0.999'];
if (PRESENCE_TICK_MS > 0) thresholds.chorus_presence_frames_per_tick = ['max<=1'];

export const options = { scenarios, thresholds };

/** hold: the common start, so every VU knows when its batch begins and when all leave. */
export function setup() {
  return { t0: Date.now() + 1000 };
}

/** @param {{t0: number}} data */
export default function (data) {
  if (MODE === 'hold') {
    const startAt = data.t0 + Math.floor((__VU - 1) / BATCH) * BATCH_GAP_MS;
    const leaveAt = data.t0 + LAST_BATCH_MS + HOLD_S * 1000;
    setTimeout(() => session(leaveAt), Math.max(0, startAt - Date.now()));
  } else {
    session(0);
  }
}

/** One user: connect, hello, welcome, stay (until `leaveAt`, or HOLD_S when 0), bye. @param {number} leaveAt */
function session(leaveAt) {
  const nick = uniqueNick('cs');
  const started = Date.now();
  let helloAt = 0;
  let done = false; // the hello outcome (welcome or failure) has been counted
  let closing = false;
  let welcomedAt = 0;
  let presenceFrames = 0;
  /** @type {number | null} */
  let timer = null;

  const ws = new WebSocket(WS_URL, null, { tags: { chorus_scenario: 'connect' } });

  const stopTimer = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };

  /** @param {string | null} code */
  const fail = (code) => {
    if (!done) {
      done = true;
      metrics.helloOk.add(false);
      if (code) countError(code);
    }
    closing = true;
    stopTimer();
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
    const f = parseFrame(e);
    if (!f) return;
    const now = Date.now();
    if (f.type === 'welcome' && !done) {
      done = true;
      welcomedAt = now;
      stopTimer();
      metrics.welcome.add(now - helloAt);
      metrics.connectWelcome.add(now - started);
      metrics.helloOk.add(true);
      check(f, { 'welcome names a session': (w) => typeof w.session === 'string' });
      const stayMs = leaveAt > 0 ? Math.max(0, leaveAt - now) : HOLD_S * 1000;
      timer = setTimeout(() => {
        closing = true;
        metrics.heldOk.add(true);
        ws.send(JSON.stringify({ type: 'bye' }));
        timer = setTimeout(() => ws.close(), BYE_WAIT_MS);
      }, stayMs);
    } else if (f.type === 'presence') {
      presenceFrames++;
      metrics.presenceFrames.add(1);
      metrics.presenceChanges.add(presenceChanges(f).length);
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
    console.warn(`VU ${__VU} ${nick}: websocket error: ${errorText(e)}`);
  });

  ws.addEventListener('close', () => {
    if (!done) fail('closed_before_welcome');
    else if (!closing) {
      countError('server_closed');
      metrics.heldOk.add(false);
    }
    if (welcomedAt > 0 && PRESENCE_TICK_MS > 0) {
      metrics.presencePerTick.add(presenceFrames / ((Date.now() - started) / PRESENCE_TICK_MS + 1));
    }
    stopTimer();
  });
}
