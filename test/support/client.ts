// Protocol clients for tests: JSON lines over TCP, JSON over WebSocket, and raw sockets
// that speak the text and legacy framed modes as netcat and the old course client do.
import net from 'node:net';
import WebSocket from 'ws';
import { waitUntil } from './wait.js';

export type Frame = Record<string, any>;

/** A JSON-speaking client. Received frames queue up; next() takes the first that matches. */
export class TestClient {
  readonly received: Frame[] = [];
  private readonly queue: Frame[] = [];
  private refs = 0;
  private readonly listeners: Array<(frame: Frame) => void> = [];
  closed = false;
  welcome: Frame | undefined;

  private constructor(
    private readonly write: (text: string) => void,
    private readonly shut: () => void,
  ) {}

  static tcp(port: number, host = '127.0.0.1'): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host });
      const client = new TestClient((t) => socket.write(t), () => socket.destroy());
      let partial = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop()!;
        lines.filter((l) => l !== '').forEach((l) => client.push(JSON.parse(l) as Frame));
      });
      socket.on('close', () => (client.closed = true));
      socket.on('error', reject);
      socket.once('connect', () => resolve(client));
    });
  }

  /** `options` reach ws: upgrade headers, or a createConnection that writes a PROXY header first. */
  static ws(port: number, host = '127.0.0.1', options: WebSocket.ClientOptions = {}): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${host}:${port}/chat`, options);
      const client = new TestClient((t) => ws.send(t.replace(/\n$/, '')), () => ws.terminate());
      ws.on('message', (data) => client.push(JSON.parse(String(data)) as Frame));
      ws.on('close', () => (client.closed = true));
      ws.on('error', reject);
      ws.once('open', () => resolve(client));
    });
  }

  /** Sends a frame, or raw text as it is (for malformed input). */
  send(frame: Frame | string): void {
    this.write(typeof frame === 'string' ? frame : JSON.stringify(frame) + '\n');
  }

  /** Sends with a fresh ref and resolves with the reply carrying it (an error reply included). */
  async request(frame: Frame, timeoutMs = 5_000): Promise<Frame> {
    const ref = `r${++this.refs}`;
    this.send({ ...frame, ref });
    return this.take((f) => f.ref === ref, `a reply to ${frame.type} ${ref}`, timeoutMs);
  }

  /** The first queued frame of this type (and matching `where`), waiting for it if need be. */
  next(type: string, where: (f: Frame) => boolean = () => true, timeoutMs = 5_000): Promise<Frame> {
    return this.take((f) => f.type === type && where(f), `a ${type} frame`, timeoutMs);
  }

  async hello(nick: string, extra: Frame = {}, timeoutMs = 5_000): Promise<Frame> {
    const reply = await this.request({ type: 'hello', nick, ...extra }, timeoutMs);
    if (reply.type === 'welcome') this.welcome = reply;
    return reply;
  }

  /** Frames of this type queued right now, without waiting. */
  pending(type: string): Frame[] {
    return this.queue.filter((f) => f.type === type);
  }

  waitClosed(timeoutMs = 5_000): Promise<true> {
    return waitUntil(() => this.closed, 'the connection to close', timeoutMs);
  }

  close(): void {
    this.shut();
  }

  /** Calls `listener` with every frame from now on (queued for next() as well). */
  onFrame(listener: (frame: Frame) => void): void {
    this.listeners.push(listener);
  }

  private push(frame: Frame): void {
    this.received.push(frame);
    this.queue.push(frame);
    this.listeners.forEach((l) => l(frame));
  }

  private async take(match: (f: Frame) => boolean, what: string, timeoutMs: number): Promise<Frame> {
    return waitUntil(() => {
      const i = this.queue.findIndex(match);
      return i < 0 ? undefined : this.queue.splice(i, 1)[0];
    }, what, timeoutMs, 5);
  }
}

/** Connects and says hello; throws unless welcomed. */
export async function connect(port: number, nick: string, transport: 'tcp' | 'ws' = 'tcp'): Promise<TestClient> {
  const client = transport === 'tcp' ? await TestClient.tcp(port) : await TestClient.ws(port);
  const reply = await client.hello(nick);
  if (reply.type !== 'welcome') throw new Error(`${nick} was not welcomed: ${JSON.stringify(reply)}`);
  return client;
}

/** Says hello and hangs up at once, without waiting for the answer: a close in the middle of a hello. */
export function helloAndHangUp(port: number, nick: string): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => s.end(`{"type":"hello","nick":"${nick}"}\n`));
    s.resume(); // read to the end, or 'close' never comes
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

/** Polls until `nick` can be claimed on `port` again; resolves with the welcomed client. */
export function claimWhenFree(port: number, nick: string): Promise<TestClient> {
  return waitUntil(async () => {
    const c = await TestClient.tcp(port);
    if ((await c.hello(nick)).type === 'welcome') return c;
    c.close();
    return undefined;
  }, `${nick} to be free again`);
}

/** A raw TCP socket that collects what the server says, as netcat shows it. */
export class RawClient {
  private readonly chunks: Buffer[] = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.chunks.push(chunk));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Everything received so far, as bytes (legacy frames) or as text (text mode). */
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get text(): string {
    return this.bytes.toString('utf8');
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Waits until what the server said contains `match`. */
  waitFor(match: string | RegExp, timeoutMs = 5_000): Promise<true> {
    const found = () => (typeof match === 'string' ? this.text.includes(match) : match.test(this.text));
    return waitUntil(found, `server output matching ${String(match)}; got: ${this.text.slice(-400)}`, timeoutMs);
  }

  waitClosed(timeoutMs = 5_000): Promise<true> {
    return waitUntil(() => this.closed, 'the connection to close', timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The seed client's framing: the body length in a space-padded 1024-byte header. */
export function legacyFrame(body: string): { header: Buffer; body: Buffer } {
  const bytes = Buffer.from(body, 'utf8');
  return { header: Buffer.from(String(bytes.length).padEnd(1024, ' '), 'latin1'), body: bytes };
}

/** Parses a stream of legacy frames into their bodies. */
export function legacyBodies(stream: Buffer): string[] {
  const bodies: string[] = [];
  let at = 0;
  while (stream.length - at >= 1024) {
    const len = Number(stream.toString('latin1', at, at + 1024).trim());
    if (stream.length - at - 1024 < len) break;
    bodies.push(stream.toString('utf8', at + 1024, at + 1024 + len));
    at += 1024 + len;
  }
  return bodies;
}

/** Matches a presence batch that has `nick` coming online (alone, or among others in its tick). */
export const wentOnline = (nick: string) => (p: Frame): boolean => Array.isArray(p.online) && p.online.includes(nick);
/** Matches a presence batch that has `nick` going offline. */
export const wentOffline = (nick: string) => (p: Frame): boolean => Array.isArray(p.offline) && p.offline.includes(nick);
