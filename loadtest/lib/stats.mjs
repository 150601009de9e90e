// The counters and histograms one run shares across all its users.

import { Histogram } from './histogram.mjs';

export const kinds = ['public', 'room', 'private'];

export class Stats {
  constructor() {
    this.connectMs = new Histogram(); // socket open (TCP connect or WS upgrade)
    this.welcomeMs = new Histogram(); // hello sent -> welcome received
    this.joinMs = new Histogram(); // join sent -> joined received
    this.ackMs = new Histogram(); // send -> ack, matched by ref
    this.deliveryMs = new Histogram(); // receive time - msg.ts (the accepting gateway's clock)
    this.e2eMs = new Histogram(); // receive time - the sender's own send time (same process)
    this.errors = new Map(); // code -> count: server error frames and local failures
    this.connected = 0;
    this.welcomed = 0;
    this.joined = 0;
    this.sent = 0;
    this.acked = 0;
    this.expected = 0; // deliveries the acked messages should make to other run users
    this.received = 0; // msg frames of this run delivered to a user other than the sender
    this.echoes = 0; // msg frames of this run delivered back to their own sender
    this.foreign = 0; // msg frames not from this run (other traffic on a shared server)
    this.framesIn = 0;
    this.disconnects = 0; // connections the server closed while we still used them
    this.byKind = Object.fromEntries(kinds.map((k) => [k, { sent: 0, acked: 0, failed: 0, expected: 0 }]));
  }

  error(code) {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  errorsObject() {
    return Object.fromEntries([...this.errors.entries()].sort((a, b) => b[1] - a[1]));
  }
}
