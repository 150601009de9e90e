/**
 * The console client's flags. Flags only (no CHORUS_* variables): the client is run by
 * people and scripts that can spell out what they mean; main.ts reads NO_COLOR, and
 * CHORUS_PASSWORD, since a password on the command line is visible to every user of the machine.
 */
export interface ClientOptions {
  readonly host: string;
  readonly port: number;
  readonly ws: boolean;
  readonly tls: boolean;
  /** Accept a certificate no trusted authority signed (self-signed test servers). */
  readonly insecure: boolean;
  readonly nick?: string;
  /** A file whose first line is the nick's password. */
  readonly passwordFile?: string;
  readonly timestamps: boolean;
  /** Seconds to keep trying to resume a dropped connection; 0: never. */
  readonly reconnectSeconds: number;
  readonly color: boolean;
  /** Where accepted files are saved. */
  readonly downloads: string;
  readonly help: boolean;
}

export const defaultHost = '127.0.0.1';
export const defaultTcpPort = 50445;
export const defaultWsPort = 50446;
/** The server's default resume grace period: trying for longer would only get resume_failed. */
export const defaultReconnectSeconds = 30;
export const defaultDownloads = './downloads';

export const helpText = `Usage: chorus [options]

Chat on a Chorus server from the console.

Options:
  --host <host>    server host (default ${defaultHost})
  --port <port>    server port (default ${defaultTcpPort}, or ${defaultWsPort} with --ws)
  --ws             connect over WebSocket (ws://host:port/) instead of TCP JSON lines
  --tls            use TLS (with --ws: wss://)
  --insecure       with --tls: accept self-signed certificates (testing only)
  --nick <nick>    your nick; without it, chorus asks "Enter username: "
  --password-file <file>
                   the password of a registered nick: the file's first line (or set
                   CHORUS_PASSWORD; on a terminal chorus asks, without echo, when needed)
  --timestamps     show the time (HH:MM) before each incoming line
  --reconnect <s>  after a dropped connection, try this many seconds to resume the
                   session without losing a message (default ${defaultReconnectSeconds}; 0: never)
  --downloads <d>  where accepted files are saved (default ${defaultDownloads}); an
                   existing file is never overwritten
  --no-color       no colours (also when NO_COLOR is set or stdout is not a terminal)
  -h, --help       this text

Type !help once connected for the chat commands; !register protects your nick with a
password (asked for without echo). When stdin is not a terminal, chorus
reads one command per line, waits for each answer, and says bye at end of input.
`;

/** A mistake on the command line: main prints it with a hint and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const valueFlags = new Set(['--host', '--port', '--nick', '--password-file', '--reconnect', '--downloads']);
const switchFlags = new Set(['--ws', '--tls', '--insecure', '--timestamps', '--no-color', '--help', '-h']);

function parsePort(raw: string): number {
  if (!/^\d{1,5}$/.test(raw) || Number(raw) < 1 || Number(raw) > 65535) {
    throw new UsageError(`--port must be a number from 1 to 65535, not "${raw}"`);
  }
  return Number(raw);
}

function parseSeconds(raw: string): number {
  if (!/^\d{1,4}$/.test(raw) || Number(raw) > 3600) {
    throw new UsageError(`--reconnect must be a number of seconds from 0 to 3600, not "${raw}"`);
  }
  return Number(raw);
}

/** Parses `argv` (without node and the script). Accepts `--flag value` and `--flag=value`. */
export function parseArgs(argv: readonly string[]): ClientOptions {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (valueFlags.has(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || (eq < 0 && value.startsWith('--'))) {
        throw new UsageError(`${name} needs a value`);
      }
      values.set(name, value);
    } else if (switchFlags.has(name) && eq < 0) {
      switches.add(name);
    } else if (switchFlags.has(name)) {
      throw new UsageError(`${name} takes no value`);
    } else {
      throw new UsageError(arg.startsWith('-') ? `unknown option ${arg}` : `unexpected argument "${arg}"`);
    }
  }

  const ws = switches.has('--ws');
  const tls = switches.has('--tls');
  const insecure = switches.has('--insecure');
  if (insecure && !tls) throw new UsageError('--insecure only makes sense with --tls');
  const host = values.get('--host') ?? defaultHost;
  if (host === '') throw new UsageError('--host must not be empty');
  const portText = values.get('--port');
  const nick = values.get('--nick');
  const passwordFile = values.get('--password-file');
  const reconnect = values.get('--reconnect');
  const downloads = values.get('--downloads');
  if (downloads === '') throw new UsageError('--downloads must not be empty');
  return {
    host,
    port: portText === undefined ? (ws ? defaultWsPort : defaultTcpPort) : parsePort(portText),
    ws,
    tls,
    insecure,
    ...(nick === undefined ? {} : { nick }),
    ...(passwordFile === undefined ? {} : { passwordFile }),
    timestamps: switches.has('--timestamps'),
    reconnectSeconds: reconnect === undefined ? defaultReconnectSeconds : parseSeconds(reconnect),
    color: !switches.has('--no-color'),
    downloads: downloads ?? defaultDownloads,
    help: switches.has('--help') || switches.has('-h'),
  };
}
