/**
 * One console chat session: log in, turn typed lines into frames, show what arrives, resume
 * after a dropped connection, say bye. The state machine lives here
 *
 *   login → chatting ⇄ reconnecting → closing → done
 *
 * and main.ts only builds the pieces and turns the outcome into an exit code.
 */
import { commandHelp, parseCommand } from '../protocol/commands.js';
import { ChorusError } from '../protocol/errors.js';
import { maxHistoryLimit, parseFrameObject } from '../protocol/frames.js';
import { parseNick } from '../protocol/names.js';
import { describeEndpoint, openConnection, type Connection, type Endpoint, type ServerFrame } from './connection.js';
import { errorLine, hhmm, renderFrame, renderMessage, serverLine, targetName, warningLine, type RenderContext } from './render.js';
import { Requests, type Request } from './requests.js';
import type { Terminal } from './terminal.js';
import { Transcript } from './transcript.js';

export interface SessionOptions {
  readonly endpoint: Endpoint;
  readonly nick?: string;
  readonly color: boolean;
  readonly timestamps: boolean;
  /** How long to keep trying to resume a dropped connection; 0: give up at once. */
  readonly reconnectMs: number;
  /** Where startup failures go (stderr): they are not part of the chat. */
  readonly complain: (message: string) => void;
}

// The server answers in milliseconds; 10 s without an answer is worth telling the person.
const replyTimeoutMs = 10_000;
// The server drops a connection idle for 90 s; a ping every 30 s keeps a quiet reader in.
const pingIntervalMs = 30_000;
// After our bye, how long the server gets to answer or close before we just go.
const byeTimeoutMs = 3_000;
// Reconnect backoff: quick for a blip, then no faster than every 4 s (plus jitter, so the
// users of a restarted gateway do not all come back in the same millisecond).
const firstRetryMs = 250;
const maxRetryMs = 4_000;

type Phase = 'login' | 'chatting' | 'reconnecting' | 'closing' | 'done';
type Frame = Record<string, unknown>;

export class ChatSession {
  private phase: Phase = 'login';
  private conn: Connection | undefined;
  /** Bumped when a connection is given up, so its late events are ignored. */
  private generation = 0;
  private self = '';
  /** welcome.session: proves who we are when we resume. */
  private token: string | undefined;
  private readonly transcript = new Transcript();
  private readonly requests: Requests;
  private hello: { ref: string; onWelcome: (welcome: ServerFrame) => void; done: (reply: ServerFrame | undefined) => void } | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private reconnecting: Promise<void> | undefined;
  private byeHeard: (() => void) | undefined;
  private saidBye: Promise<number> | undefined;
  private byeRef: string | undefined;
  private finish!: (code: number) => void;
  private readonly finished = new Promise<number>((resolve) => (this.finish = resolve));

  constructor(
    private readonly term: Terminal,
    private readonly opts: SessionOptions,
  ) {
    this.requests = new Requests(
      (r) => this.term.print(warningLine(this.ctx, `no answer from the server after ${replyTimeoutMs / 1000} s to ${r.what}`)),
      replyTimeoutMs,
    );
  }

  private get ctx(): RenderContext {
    return { self: this.self, color: this.opts.color, timestamps: this.opts.timestamps };
  }

  /** Runs the whole session; resolves with the exit code (0: said bye; 1: refused or lost). */
  run(): Promise<number> {
    this.flow().then(
      (code) => this.end(code),
      (err: unknown) => {
        this.term.print(errorLine(this.ctx, err instanceof Error ? err.message : String(err)));
        this.end(1);
      },
    );
    return this.finished;
  }

  /** Ctrl-C, SIGINT, SIGTERM: say bye if we are in, and go. */
  interrupt(): void {
    if (this.phase === 'chatting') void this.sayBye().then((code) => this.end(code));
    else if (this.phase === 'reconnecting') this.end(0);
    else if (this.phase === 'login') this.end(1);
  }

  private end(code: number): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    clearInterval(this.pingTimer);
    this.requests.clear();
    this.hello?.done(undefined);
    this.conn?.destroy();
    this.term.close();
    this.finish(code);
  }

  private async flow(): Promise<number> {
    if (!(await this.connect(true))) return 1;
    if (!(await this.login())) return 1;
    for (;;) {
      const line = await this.term.read('>>> ');
      // Interrupted (bye under way) or cut off (done): sayBye() knows which.
      if (line === null || this.phase === 'closing' || this.phase === 'done') break;
      if (!(await this.handleLine(line))) break;
    }
    return this.sayBye();
  }

  private async connect(loud: boolean): Promise<boolean> {
    // Events of a connection we gave up on must not touch the one that replaced it.
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    try {
      const conn = await openConnection(this.opts.endpoint, {
        onFrame: (f) => current() && this.onFrame(f),
        onBadLine: (reason) => current() && this.onBadLine(reason),
        onClose: (err) => current() && this.onClose(err),
      });
      if (!current() || this.phase === 'done') {
        conn.destroy();
        return false;
      }
      this.conn = conn;
      return true;
    } catch (err) {
      if (!loud) return false;
      const message = (err as Error).message;
      // What ws says when the other end is not speaking HTTP, as a TCP JSON port is not.
      const hint = this.opts.endpoint.ws && /Parse Error|Unexpected server response|socket hang up/.test(message) ? ' (is it a WebSocket port?)' : '';
      this.opts.complain(`cannot connect to ${describeEndpoint(this.opts.endpoint)}: ${message}${hint}`);
      return false;
    }
  }

  private onBadLine(reason: string): void {
    if (this.phase === 'done') return;
    if (this.phase !== 'login') {
      this.term.print(errorLine(this.ctx, reason));
      return;
    }
    // Not JSON in answer to our hello: not a Chorus JSON port at all (an HTTP answer from a
    // WebSocket port, say). Saying so once beats printing whatever else it sends.
    const hint = this.opts.endpoint.ws ? '' : ' (a WebSocket port? try --ws)';
    this.term.print(errorLine(this.ctx, `${reason}: this is not a Chorus server's JSON port${hint}`));
    this.end(1);
  }

  private dropConnection(): void {
    const conn = this.conn;
    this.conn = undefined;
    this.generation++;
    this.hello?.done(undefined);
    conn?.destroy();
  }

  /**
   * Sends hello and resolves with its answer: welcome, an error, or undefined (closed, or
   * silent). `onWelcome` runs as the welcome arrives, before the frames read with it (a
   * resume's replay), so that what it prints comes first.
   */
  private sayHello(fields: Frame, onWelcome: (welcome: ServerFrame) => void): Promise<ServerFrame | undefined> {
    const ref = this.requests.nextRef();
    if (this.conn === undefined || !this.conn.send({ type: 'hello', ...fields, ref })) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.term.print(warningLine(this.ctx, `no answer from the server after ${replyTimeoutMs / 1000} s to hello`));
        done(undefined);
      }, replyTimeoutMs);
      const done = (reply: ServerFrame | undefined) => {
        clearTimeout(timer);
        if (this.hello?.ref === ref) this.hello = undefined;
        resolve(reply);
      };
      this.hello = { ref, onWelcome, done };
    });
  }

  private welcomed(welcome: ServerFrame, nick: string): void {
    this.self = typeof welcome.nick === 'string' ? welcome.nick : nick;
    if (typeof welcome.session === 'string') this.token = welcome.session;
    this.phase = 'chatting';
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.conn?.send({ type: 'ping' }), pingIntervalMs);
  }

  /** Sends hello until a nick is accepted; false when input ends (or the server goes) first. */
  private async login(): Promise<boolean> {
    let typed = this.opts.nick;
    for (;;) {
      if (typed === undefined) {
        const line = await this.term.read('Enter username: ', true);
        if (line === null) {
          if (!this.term.interactive) this.term.print(errorLine(this.ctx, 'end of input before a username was accepted'));
          return false;
        }
        typed = line;
      }
      const nick = typed.trim();
      typed = undefined;
      if (nick === '') continue;
      try {
        parseNick(nick);
      } catch (err) {
        if (!(err instanceof ChorusError)) throw err;
        this.term.print(errorLine(this.ctx, err.message, err.code));
        continue;
      }
      // A person may think about a nick for longer than the server's idle timeout: come back.
      if (this.conn === undefined && !(await this.connect(true))) return false;
      const reply = await this.sayHello({ nick }, (welcome) => {
        this.welcomed(welcome, nick);
        this.term.print(renderFrame(this.ctx, welcome)[0]!);
      });
      if (this.phase === 'done') return false;
      if (reply?.type === 'welcome') return true;
      if (reply?.type === 'error') {
        this.term.print(errorLine(this.ctx, typeof reply.message === 'string' ? reply.message : 'refused', typeof reply.code === 'string' ? reply.code : undefined));
      } else if (this.conn === undefined) {
        // Closed without a word: often the wrong kind of port for how we connected.
        const hint = this.opts.endpoint.tls ? '' : ' (is it a TLS port? try --tls)';
        this.term.print(serverLine(this.ctx, `connection lost: the server closed it before answering hello${hint}`));
        return false;
      } else {
        // No answer in time: a late welcome must not log us in behind the prompt's back.
        this.dropConnection();
      }
    }
  }

  /** One typed line; false when it was !bye. */
  private async handleLine(raw: string): Promise<boolean> {
    if (raw.trim() === '') return true;
    const cmd = parseCommand(raw);
    switch (cmd.kind) {
      case 'usage':
        this.term.print(errorLine(this.ctx, cmd.message));
        return true;
      case 'help':
        this.term.print('Commands:');
        for (const line of commandHelp) this.term.print(`  ${line}`);
        return true;
      case 'history': {
        if (cmd.with === undefined) {
          this.showConversation();
          return true;
        }
        if (cmd.limit !== undefined && (cmd.limit < 1 || cmd.limit > maxHistoryLimit)) {
          this.term.print(errorLine(this.ctx, `!history shows 1 to ${maxHistoryLimit} messages`));
          return true;
        }
        const target = cmd.with;
        const frame = cmd.limit === undefined ? { type: 'history', with: target } : { type: 'history', with: target, limit: cmd.limit };
        await this.request(frame, `!history ${target}`, (f) => f.type === 'history');
        return true;
      }
      case 'frame':
        return this.handleFrame(cmd.frame);
    }
  }

  private async handleFrame(frame: Frame): Promise<boolean> {
    switch (frame.type) {
      case 'bye':
        return false;
      case 'send':
        await this.request(frame, `your message to ${targetName(String(frame.to))}`, () => false);
        return true;
      case 'join':
      case 'leave': {
        const room = String(frame.room).toLowerCase();
        const answer = frame.type === 'join' ? 'joined' : 'left';
        await this.request(frame, `!${frame.type} ${String(frame.room)}`, (f) => f.type === answer && f.nick === this.self && String(f.room).toLowerCase() === room);
        return true;
      }
      case 'who':
        await this.request(frame, '!online', (f) => f.type === 'who');
        return true;
      case 'watch':
      case 'unwatch':
        await this.request(frame, `!${frame.type}`, (f) => f.type === 'watching');
        return true;
      default:
        return true;
    }
  }

  /**
   * Sends a frame with a fresh ref and tracks its answer. On a terminal it returns at once
   * (the answer is shown when it comes); piped, it resolves with the answer, or after the
   * timeout warning, so scripted runs are deterministic. While reconnecting the request
   * waits and goes out once the session is resumed.
   */
  private async request(frame: Frame, what: string, answers: (f: ServerFrame) => boolean): Promise<void> {
    const withRef = { ...frame, ref: this.requests.nextRef() };
    try {
      // The server would refuse it with the same words; say so now, without a round trip.
      parseFrameObject(withRef);
    } catch (err) {
      if (!(err instanceof ChorusError)) throw err;
      this.term.print(errorLine(this.ctx, err.message, err.code));
      return;
    }
    const request = this.requests.add(withRef, what, answers);
    if (this.phase === 'chatting') this.conn?.send(withRef);
    if (!this.term.interactive) await request.reply;
  }

  private onFrame(f: ServerFrame): void {
    if (this.phase === 'done') return;
    const hello = this.hello;
    if (hello !== undefined && (f.ref === hello.ref || (f.ref === undefined && (f.type === 'welcome' || f.type === 'error')))) {
      if (f.type === 'welcome') hello.onWelcome(f);
      hello.done(f);
      return;
    }
    if (this.requests.retryLater(f, (frame) => this.phase === 'chatting' && this.conn?.send(frame))) return;
    if (f.type === 'error' && f.ref !== undefined && f.ref === this.byeRef) {
      // Even a bye can be rate limited (a script that sent a burst just before it).
      if (f.code === 'rate_limited') setTimeout(() => this.conn?.send({ type: 'bye', ref: this.byeRef }), firstRetryMs);
      return;
    }
    const request = this.requests.answer(f);
    if (request !== undefined) {
      this.onAnswer(f, request);
      return;
    }
    if (f.type === 'welcome') return; // only ever the answer to a hello
    if (f.type === 'bye') this.byeHeard?.();
    // The session went on in another client: resuming here would only take it back.
    if (f.type === 'bye' && f.reason === 'moved') this.token = undefined;
    if (f.type === 'msg' && !this.onMessage(f)) return;
    for (const line of renderFrame(this.ctx, f)) this.term.print(line);
  }

  /** Files a message for resume and for the conversation; false when it is not to be shown. */
  private onMessage(msg: ServerFrame): boolean {
    const to = typeof msg.to === 'string' ? msg.to : '';
    const id = typeof msg.id === 'string' ? msg.id : undefined;
    // The same message twice (it should not happen): show it once.
    if (id !== undefined && to !== '' && !this.transcript.see(to, id)) return false;
    // The server never echoes our own messages live; after a resume it replays a target's
    // whole gap, ours included, and those we already have.
    if (msg.from === this.self && !(to.startsWith('@') && to.slice(1).toLowerCase() === this.self.toLowerCase())) return false;
    this.transcript.remember(this.lineOf(msg));
    return true;
  }

  private onAnswer(f: ServerFrame, r: Request): void {
    const frame = r.frame;
    if (f.type === 'error') {
      const message = typeof f.message === 'string' ? f.message : 'refused';
      const code = typeof f.code === 'string' ? f.code : undefined;
      const what = frame.type === 'send' ? `${r.what} was not sent: ${message}` : `${r.what} failed: ${message}`;
      this.term.print(errorLine(this.ctx, what, code));
      return;
    }
    if (f.type === 'ack' && frame.type === 'send') {
      // Acks are quiet: the sent line is already on screen (or in the script). It joins
      // the conversation now, once the server has accepted it.
      const ts = typeof f.ts === 'number' ? f.ts : Date.now();
      this.transcript.remember(`${hhmm(ts)} ${renderMessage(this.ctx, this.self, String(frame.to), String(frame.text))}`);
      return;
    }
    if (f.type === 'bye') this.byeHeard?.();
    for (const line of renderFrame(this.ctx, f)) this.term.print(line);
  }

  private lineOf(msg: ServerFrame): string {
    const ts = typeof msg.ts === 'number' ? msg.ts : Date.now();
    return `${hhmm(ts)} ${renderMessage(this.ctx, String(msg.from ?? ''), String(msg.to ?? ''), String(msg.text ?? ''))}`;
  }

  private showConversation(): void {
    const lines = this.transcript.conversation();
    const n = lines.length;
    if (n === 0) {
      this.term.print(serverLine(this.ctx, 'no messages in this session yet'));
      return;
    }
    this.term.print(serverLine(this.ctx, `this session's conversation (${n} message${n === 1 ? '' : 's'}):`));
    for (const line of lines) this.term.print(line);
  }

  private onClose(err: Error | undefined): void {
    this.conn = undefined;
    this.generation++;
    clearInterval(this.pingTimer);
    this.hello?.done(undefined); // a hello in flight is never answered now
    if (this.phase === 'closing') this.byeHeard?.();
    if (this.phase !== 'chatting') return; // login() and resume() see the undefined answer
    if (this.opts.reconnectMs > 0 && this.token !== undefined) {
      this.reconnecting = this.resume(err);
      return;
    }
    this.term.print(serverLine(this.ctx, err === undefined ? 'connection lost' : `connection lost (${err.message})`));
    this.end(1);
  }

  /**
   * Gets the session back after a drop (PROTOCOL.md, Delivery): hello with the resume token
   * and the last id seen per target, within the server's grace period; the server replays
   * what we missed. Requests still unanswered go out again under their old refs, which the
   * server does not deliver twice.
   */
  private async resume(err: Error | undefined): Promise<void> {
    this.phase = 'reconnecting';
    this.term.print(serverLine(this.ctx, `connection lost${err === undefined ? '' : ` (${err.message})`}; reconnecting...`));
    const deadline = Date.now() + this.opts.reconnectMs;
    let delayMs = firstRetryMs;
    while (this.phase === 'reconnecting' && Date.now() + delayMs <= deadline) {
      await new Promise((r) => setTimeout(r, delayMs + Math.random() * firstRetryMs));
      delayMs = Math.min(delayMs * 2, maxRetryMs);
      if (this.phase !== 'reconnecting') return;
      if (!(await this.connect(false))) continue;
      const resume = { session: this.token, last: this.transcript.last() };
      const reply = await this.sayHello({ nick: this.self, resume }, (welcome) => {
        this.welcomed(welcome, this.self);
        this.term.print(serverLine(this.ctx, 'reconnected'));
        for (const r of this.requests.unanswered()) this.conn?.send(r.frame);
      });
      if (reply?.type === 'welcome' || this.phase !== 'reconnecting') return;
      if (reply?.type === 'error') {
        const code = typeof reply.code === 'string' ? reply.code : undefined;
        this.term.print(errorLine(this.ctx, typeof reply.message === 'string' ? reply.message : 'refused', code));
        if (code === 'resume_failed') break;
      }
      this.dropConnection();
    }
    if (this.phase !== 'reconnecting') return;
    this.term.print(serverLine(this.ctx, 'connection lost'));
    this.end(1);
  }

  /** Says bye and waits (briefly) for the server's bye or close; once, however often asked. */
  private sayBye(): Promise<number> {
    this.saidBye ??= this.byeAndWait();
    return this.saidBye;
  }

  private async byeAndWait(): Promise<number> {
    // Input ended while we were away: finish the resume first, so nothing typed is lost.
    if (this.phase === 'reconnecting') await this.reconnecting;
    if (this.phase !== 'chatting') return this.phase === 'done' ? 1 : 0;
    this.phase = 'closing';
    // No more input: a half-typed line stays on screen, and what follows prints below it.
    this.term.close();
    clearInterval(this.pingTimer);
    const conn = this.conn;
    this.byeRef = this.requests.nextRef();
    if (conn !== undefined && conn.send({ type: 'bye', ref: this.byeRef })) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, byeTimeoutMs);
        this.byeHeard = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      conn.close();
    }
    return 0;
  }
}

