import type { Bus, Envelope } from '../engine/types.js';
import type { Address } from '../protocol/names.js';
import { Outbound } from './outbound.js';

/** A local receiver of fanned-out frames: a session. */
export interface Subscriber {
  /** Case-folded nick: a frame `from` it is not echoed back. */
  readonly self: string;
  deliver(out: Outbound, address: Address): void;
}

/**
 * This gateway's side of the bus: one bus subscription per address however many local
 * sessions want it (subscribed with the first, dropped with the last), and each frame
 * handed to every local subscriber as the same Outbound.
 */
export class Fanout {
  private readonly local = new Map<Address, Set<Subscriber>>();
  /** The bus subscription of each address, so a second subscriber waits for the first. */
  private readonly ready = new Map<Address, Promise<void>>();

  constructor(
    private readonly bus: Bus,
    /** Called once a frame is on every local socket (delivery latency is measured here). */
    private readonly onDispatched: (env: Envelope) => void,
  ) {
    bus.onEnvelope((address, env) => this.dispatch(address, env));
  }

  async add(address: Address, sub: Subscriber): Promise<void> {
    let subs = this.local.get(address);
    if (!subs) {
      this.local.set(address, (subs = new Set()));
      const subscribed = this.bus.subscribe(address);
      this.ready.set(address, subscribed);
      subscribed.catch(() => {
        if (this.ready.get(address) === subscribed) this.ready.delete(address);
        if (this.local.get(address)?.size === 0) this.local.delete(address);
      });
    }
    subs.add(sub);
    try {
      await this.ready.get(address);
    } catch (err) {
      await this.remove(address, sub);
      throw err;
    }
  }

  async remove(address: Address, sub: Subscriber): Promise<void> {
    const subs = this.local.get(address);
    if (!subs?.delete(sub) || subs.size > 0) return;
    const subscribing = this.ready.get(address);
    this.local.delete(address);
    this.ready.delete(address);
    // A subscribe still in flight would land after an unsubscribe sent now, and stay.
    await subscribing?.catch(() => {});
    if (this.local.has(address)) return; // wanted again meanwhile, by a fresh subscribe
    await this.bus.unsubscribe(address);
  }

  /**
   * Hands a frame to this gateway's subscribers of `address` but `except`, as the bus would,
   * without the bus: presence batches are made here for local sockets. Returns how many took it.
   */
  dispatchLocal(address: Address, env: Envelope, except?: ReadonlySet<Subscriber>): number {
    const subs = this.local.get(address);
    if (!subs) return 0;
    const out = new Outbound(env);
    let handed = 0;
    for (const sub of subs) {
      if (sub.self === env.from || except?.has(sub)) continue;
      sub.deliver(out, address);
      handed++;
    }
    return handed;
  }

  private dispatch(address: Address, env: Envelope): void {
    if (!this.local.has(address)) return;
    this.dispatchLocal(address, env);
    this.onDispatched(env);
  }
}
