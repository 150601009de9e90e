/**
 * Why a connection ended: the `reason` of the `disconnected` log and of
 * chorus_disconnects_total, and, on WebSocket, the close code the client sees.
 * Session departures come first; the rest end a connection before it has a session.
 */
export const departures = [
  'bye',
  'closed',
  'idle',
  'hello_timeout',
  'slow_consumer',
  'flood',
  'bad_input',
  'refused',
  'restart',
  'unavailable',
  // Refused or dropped before a session: the caps, draining, a bad PROXY header, a failed TLS handshake.
  'too_many_connections',
  'ip_limit',
  'connect_rate',
  'draining',
  'proxy_protocol',
  'tls',
] as const;

export type Departure = (typeof departures)[number];

/**
 * RFC 6455 7.4.1 and the IANA registry: 1008 the client broke a rule (it can fix its
 * behaviour), 1011 the server failed, 1012 it is restarting (resume elsewhere), 1013 try
 * again later (full now). 1009, frame too big, ws sends itself before we hear of it.
 */
const closeCodes: Partial<Record<Departure, number>> = {
  bye: 1000,
  idle: 1008,
  hello_timeout: 1008,
  slow_consumer: 1008,
  flood: 1008,
  bad_input: 1008,
  refused: 1008,
  proxy_protocol: 1008,
  restart: 1012,
  draining: 1012,
  unavailable: 1011,
  too_many_connections: 1013,
  ip_limit: 1013,
  connect_rate: 1013,
};

export function wsCloseCode(reason: Departure | undefined): number {
  return (reason && closeCodes[reason]) ?? 1000;
}
