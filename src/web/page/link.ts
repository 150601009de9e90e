/**
 * The page's one WebSocket to the gateway it was served from, and what keeps it alive:
 * hello (or a resume with the session token), requests with refs that wait while offline
 * and go out again after a resume until answered (the server never delivers a repeated
 * `ref` twice), pings, and reconnecting with back-off and jitter.
 *
 *   idle → greeting → open ⇄ waiting (offline, a retry timer set) ; any → closed
 */
export type Frame = Record<string, unknown>;

export interface LinkEvents {
  /** welcome: `resumed` when it answered a hello with a resume token. */
  welcomed(welcome: Frame, resumed: boolean): void;
  /** The hello was refused (bad nick, taken, wrong password, an expired resume). */
  refused(error: Frame, resumed: boolean): void;
  /** Every frame that is not the answer to a request. */
  frame(frame: Frame): void;
  /** Lost the connection; the next try is in `retryMs` (undefined: not trying). */
  offline(retryMs: number | undefined): void;
}

interface Request {
  readonly frame: Frame & { ref: string };
  readonly answer: (reply: Frame) => void;
  /** Written on the current connection already: never twice on one connection. */
  sent: boolean;
  /** Sent again after a resume until answered; fire-and-forget frames are not. */
  readonly resend: boolean;
}

// The server drops a connection idle for 90 s; a ping every 30 s keeps a quiet page in.
const pingIntervalMs = 30_000;
// Quick for a blip, then no faster than every 8 s; the jitter spreads the users of a dead
// gateway over time instead of all of them hitting the balancer in the same millisecond.
const firstRetryMs = 250;
const maxRetryMs = 8_000;
// A refusal for speed: try that request again a little later.
const rateLimitedRetryMs = 1_000;
// How long our bye waits for the server to close before we close ourselves.
const byeTimeoutMs = 2_000;

type State = 'idle' | 'greeting' | 'open' | 'waiting' | 'closed';

export class Link {
  private ws: WebSocket | undefined;
  private state: State = 'idle';
  private readonly requests = new Map<string, Request>();
  private readonly refPrefix = `w${Math.random().toString(36).slice(2, 8)}-`;
  private refs = 0;
  private hello: { nick: string; password?: string; session?: string; last?: () => Record<string, string> } | undefined;
  private helloRef = '';
  private retries = 0;
  private retryTimer: number | undefined;
  private pingTimer: number | undefined;

  constructor(
    private readonly url: string,
    private readonly events: LinkEvents,
  ) {
    // The browser knows when the network is back: no need to wait out the back-off.
    addEventListener('online', () => this.state === 'waiting' && this.connect());
  }

  get online(): boolean {
    return this.state === 'open';
  }

  /** Bytes the browser still has to send: uploads pace themselves by it. */
  get buffered(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  nextRef(): string {
    return `${this.refPrefix}${++this.refs}`;
  }

  /**
   * Says hello as `nick`; with `session`, asks to resume it (`last` is read at each try, so
   * a later retry sends what arrived meanwhile). Keeps reconnecting only once welcomed.
   */
  login(nick: string, password: string | undefined, session?: string, last?: () => Record<string, string>): void {
    this.hello = { nick, ...(password ? { password } : {}), ...(session ? { session } : {}), ...(last ? { last } : {}) };
    if (this.ws !== undefined && this.ws.readyState === WebSocket.OPEN && this.state !== 'open') this.sayHello();
    else if (this.ws === undefined) this.connect();
  }

  /** The session was taken over or ended: keep the token out of every later hello. */
  forgetSession(): void {
    if (this.hello) delete this.hello.session;
  }

  /**
   * A request: waits while offline, goes out again after a resume under the same ref until
   * an answer carrying that ref arrives. `answer` gets the reply, an `error` included.
   */
  request(frame: Frame, answer: (reply: Frame) => void = () => {}, ref = this.nextRef()): string {
    const r: Request = { frame: { ...frame, ref }, answer, sent: false, resend: true };
    this.requests.set(ref, r);
    this.flush();
    return ref;
  }

  /** Writes now if open (true) or never (false); an answer with the ref goes to `answer`. */
  send(frame: Frame, answer?: (reply: Frame) => void): boolean {
    if (this.state !== 'open' || this.ws === undefined) return false;
    if (answer === undefined) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    const ref = this.nextRef();
    const r: Request = { frame: { ...frame, ref }, answer, sent: true, resend: false };
    this.requests.set(ref, r);
    this.ws.send(JSON.stringify(r.frame));
    return true;
  }

  /** Unanswered requests, oldest first (what the page keeps across a reload). */
  pending(): Array<Frame & { ref: string }> {
    return [...this.requests.values()].filter((r) => r.resend).map((r) => r.frame);
  }

  /**
   * Leave (saying bye unless the session went elsewhere): no reconnecting whatever happens
   * next. Resolves once the server has closed the connection (or after a moment): a bye that
   * never left would keep the nick reserved for the grace period.
   */
  close(sayBye: boolean): Promise<void> {
    const ws = this.ws;
    const open = this.state === 'open';
    this.stop();
    if (ws === undefined) return Promise.resolve();
    if (!sayBye || !open) {
      ws.close(1000);
      return Promise.resolve();
    }
    ws.send(JSON.stringify({ type: 'bye' }));
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        ws.close(1000);
        resolve();
      }, byeTimeoutMs);
      ws.addEventListener('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private stop(): void {
    this.state = 'closed';
    this.requests.clear();
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
  }

  private connect(): void {
    clearTimeout(this.retryTimer);
    this.state = 'greeting';
    const ws = new WebSocket(this.url);
    this.ws = ws;
    const current = () => this.ws === ws;
    ws.onopen = () => current() && this.sayHello();
    ws.onmessage = (e: MessageEvent) => current() && typeof e.data === 'string' && this.onMessage(e.data);
    ws.onclose = () => current() && this.onClose();
  }

  private sayHello(): void {
    const h = this.hello;
    if (h === undefined || this.ws === undefined) return;
    this.helloRef = this.nextRef();
    const resume = h.session === undefined ? {} : { resume: { session: h.session, last: h.last?.() ?? {} } };
    const password = h.password === undefined ? {} : { password: h.password };
    this.ws.send(JSON.stringify({ type: 'hello', nick: h.nick, ...password, ...resume, ref: this.helloRef }));
  }

  private onMessage(data: string): void {
    let f: Frame;
    try {
      const parsed: unknown = JSON.parse(data);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return;
      f = parsed as Frame;
    } catch {
      return; // not ours to show; the server only sends JSON objects
    }
    if (this.state === 'greeting' && (f.ref === this.helloRef || (f.ref === undefined && (f.type === 'welcome' || f.type === 'error')))) {
      return this.onHelloAnswer(f);
    }
    const r = typeof f.ref === 'string' ? this.requests.get(f.ref) : undefined;
    if (r === undefined) return this.events.frame(f);
    if (f.type === 'error' && f.code === 'rate_limited' && r.resend) {
      r.sent = false;
      setTimeout(() => this.flush(), rateLimitedRetryMs);
      return;
    }
    this.requests.delete(r.frame.ref);
    r.answer(f);
  }

  private onHelloAnswer(f: Frame): void {
    const resumed = this.hello?.session !== undefined;
    if (f.type !== 'welcome') return this.events.refused(f, resumed);
    this.state = 'open';
    this.retries = 0;
    if (this.hello) {
      if (typeof f.session === 'string') this.hello.session = f.session;
      // A resume needs only the token: the password is not kept a moment longer.
      delete this.hello.password;
    }
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.send({ type: 'ping' }), pingIntervalMs);
    // Answers to fire-and-forget frames will not come on this connection.
    for (const [ref, r] of this.requests) if (!r.resend) this.requests.delete(ref);
    this.events.welcomed(f, resumed);
    this.flush();
  }

  /** Writes every request not yet written on this connection, in the order they were made. */
  private flush(): void {
    if (this.state !== 'open' || this.ws === undefined) return;
    for (const r of this.requests.values()) {
      if (r.sent) continue;
      r.sent = true;
      this.ws.send(JSON.stringify(r.frame));
    }
  }

  private onClose(): void {
    clearInterval(this.pingTimer);
    this.ws = undefined;
    if (this.state === 'closed') return;
    for (const [ref, r] of this.requests) {
      if (r.resend) r.sent = false;
      else this.requests.delete(ref);
    }
    // Only a session the server gave us can be resumed; a hello never welcomed just ends.
    if (this.hello?.session === undefined) {
      this.state = 'idle';
      this.events.offline(undefined);
      return;
    }
    this.state = 'waiting';
    const ceiling = Math.min(firstRetryMs * 2 ** this.retries, maxRetryMs);
    const retryMs = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.retries++;
    this.retryTimer = setTimeout(() => this.connect(), retryMs);
    this.events.offline(retryMs);
  }
}
