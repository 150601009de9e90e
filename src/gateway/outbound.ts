import type { Envelope } from '../engine/types.js';

/**
 * One frame on its way to this gateway's sockets. JSON clients get the envelope's bytes as
 * they are; every other dialect's bytes are built at most once per frame, however many
 * sockets take them.
 */
export class Outbound {
  private readonly encoded = new Map<string, Buffer | undefined>();
  private parsed: Record<string, unknown> | undefined;

  constructor(readonly env: Envelope) {}

  /** An outbound frame for a stored message (resume replays). */
  static stored(id: string, json: string): Outbound {
    return new Outbound({ id, ts: 0, from: '', line: Buffer.from(json + '\n') });
  }

  /** The frame as an object, parsed once, for dialects that render it for people. */
  frame(): Record<string, unknown> {
    return (this.parsed ??= JSON.parse(this.env.line.toString('utf8')) as Record<string, unknown>);
  }

  /**
   * The frame's bytes in one dialect: built by the first socket that asks, shared by the rest.
   * Asked once per recipient, so it costs one lookup and allocates nothing (`build` is the
   * dialect's own function, not a closure made per call).
   */
  bytes(dialect: string, build: (out: Outbound) => Buffer | undefined): Buffer | undefined {
    const known = this.encoded.get(dialect);
    if (known !== undefined || this.encoded.has(dialect)) return known;
    const built = build(this);
    this.encoded.set(dialect, built);
    return built;
  }
}
