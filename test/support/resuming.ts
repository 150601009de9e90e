// A client that does what PROTOCOL.md asks of a reconnecting client: it files the last id
// it saw per `msg.to`, and after losing its connection says hello again with its session
// and those ids. It counts every message it receives, so tests can see losses and duplicates.
import { TestClient, type Frame } from './client.js';
import { waitUntil } from './wait.js';

export class ResumingClient {
  client!: TestClient;
  session = '';
  gateway = '';
  readonly last: Record<string, string> = {};
  /** How many times each message id arrived. */
  readonly seen = new Map<string, number>();
  readonly byes: Frame[] = [];
  resumes = 0;

  constructor(
    readonly nick: string,
    /** Where it connects, and reconnects: a gateway, or the balancer in front of them. */
    public port: number,
  ) {}

  async connect(): Promise<void> {
    this.client = await TestClient.tcp(this.port);
    const welcome = await this.client.hello(this.nick);
    if (welcome.type !== 'welcome') throw new Error(`${this.nick}: ${JSON.stringify(welcome)}`);
    this.adopt(welcome);
  }

  /** Reconnects (through whatever the port leads to) until a resume is welcomed. */
  async resume(timeoutMs = 20_000): Promise<Frame> {
    return waitUntil(async () => {
      try {
        const client = await TestClient.tcp(this.port);
        const reply = await client.hello(this.nick, { resume: { session: this.session, last: { ...this.last } } });
        if (reply.type !== 'welcome') {
          client.close();
          if (reply.code === 'resume_failed') throw new Error(`${this.nick}: resume refused: ${reply.message}`);
          return undefined;
        }
        this.client = client;
        this.resumes++;
        this.adopt(reply);
        return reply;
      } catch (err) {
        if (err instanceof Error && err.message.includes('resume refused')) throw err;
        return undefined; // the balancer may still send us to the dead gateway: try again
      }
    }, `${this.nick} to resume`, timeoutMs, 100);
  }

  /** The ids seen more than once. */
  duplicates(): string[] {
    return [...this.seen].filter(([, n]) => n > 1).map(([id]) => id);
  }

  private adopt(welcome: Frame): void {
    this.session = welcome.session;
    this.gateway = welcome.gateway;
    const file = (frame: Frame) => {
      if (frame.type === 'bye') this.byes.push(frame);
      if (frame.type !== 'msg') return;
      this.seen.set(frame.id, (this.seen.get(frame.id) ?? 0) + 1);
      this.last[frame.to] = frame.id;
    };
    // What arrived with or after the welcome (a resume's replay) and what comes from now on.
    const received = this.client.received;
    received.slice(received.indexOf(welcome) + 1).forEach(file);
    this.client.onFrame(file);
  }
}
