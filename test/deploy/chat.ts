import net from 'node:net';
import { pollUntil } from './support.js';

/** A bare JSON-lines chat client (PROTOCOL.md), just enough to make traffic for the metrics. */
export class ChatClient {
  private readonly frames: Array<Record<string, unknown>> = [];
  private buffered = '';
  private nextRef = 0;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const lines = (this.buffered + chunk).split('\n');
      this.buffered = lines.pop()!;
      for (const line of lines) if (line.trim() !== '') this.frames.push(JSON.parse(line) as Record<string, unknown>);
    });
    socket.on('error', () => {}); // a test that cares sees the missing reply
  }

  /** Connects and says hello; resolves with the welcome frame. */
  static async connect(port: number, nick: string): Promise<ChatClient> {
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const client = new ChatClient(socket);
    client.sendRaw(JSON.stringify({ type: 'hello', nick }));
    await client.next((f) => f.type === 'welcome', `welcome for ${nick}`);
    return client;
  }

  sendRaw(line: string): void {
    this.socket.write(`${line}\n`);
  }

  /** Sends `frame` with a fresh ref and resolves with the reply carrying it (ack, joined, error...). */
  async request(frame: Record<string, unknown>): Promise<Record<string, unknown>> {
    const ref = `r${++this.nextRef}`;
    this.sendRaw(JSON.stringify({ ...frame, ref }));
    return this.next((f) => f.ref === ref, `reply to ${JSON.stringify(frame)}`);
  }

  /** The first received frame that `match` accepts, removed from the queue. */
  async next(match: (frame: Record<string, unknown>) => boolean, what: string, timeoutMs = 5_000): Promise<Record<string, unknown>> {
    return pollUntil(what, timeoutMs, async () => {
      const at = this.frames.findIndex(match);
      return at < 0 ? undefined : this.frames.splice(at, 1)[0];
    }, { intervalMs: 10 });
  }

  close(): void {
    this.socket.destroy();
  }
}
