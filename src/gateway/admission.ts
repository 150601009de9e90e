import net from 'node:net';
import type { Departure } from './departure.js';

export interface AdmissionLimits {
  /** Open connections one address may hold on this worker; 0 = no limit. */
  readonly maxConnectionsPerIp: number;
  /** New connections one address may open per second on this worker; 0 = no limit. */
  readonly connectRatePerIp: number;
}

/**
 * Per-address limits on connections, checked when a connection's real address is known
 * (after its PROXY header, if any). Both maps only hold addresses that are connected or
 * connected within the last second, so their size follows the traffic, not its history.
 */
export class Admission {
  private readonly open = new Map<string, number>();
  /** Connections per address in the current one-second window. */
  private recent = new Map<string, number>();
  private windowStart = 0;

  constructor(private readonly limits: AdmissionLimits) {}

  /** Counts the connection in, or says why it is refused (then nothing is counted). */
  admit(address: string, now = Date.now()): Departure | undefined {
    const { maxConnectionsPerIp, connectRatePerIp } = this.limits;
    if (connectRatePerIp > 0) {
      if (now - this.windowStart >= 1000) {
        this.recent = new Map();
        this.windowStart = now;
      }
      const opened = (this.recent.get(address) ?? 0) + 1;
      this.recent.set(address, opened);
      if (opened > connectRatePerIp) return 'connect_rate';
    }
    const held = this.open.get(address) ?? 0;
    if (maxConnectionsPerIp > 0 && held >= maxConnectionsPerIp) return 'ip_limit';
    this.open.set(address, held + 1);
    return undefined;
  }

  release(address: string): void {
    const held = (this.open.get(address) ?? 1) - 1;
    if (held <= 0) this.open.delete(address);
    else this.open.set(address, held);
  }
}

/** ::ffff:10.0.0.1 and 10.0.0.1 are one client (a dual-stack listener reports the first). */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/** The --trusted-proxies list (addresses and CIDR blocks): who may tell us a client's address. */
export function trustList(entries: readonly string[]): net.BlockList {
  const list = new net.BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const type = net.isIPv6(address) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return list;
}

export function trusts(list: net.BlockList, address: string): boolean {
  const plain = plainAddress(address);
  return list.check(plain, net.isIPv6(plain) ? 'ipv6' : 'ipv4');
}
