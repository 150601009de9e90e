#!/usr/bin/env node
/**
 * `chorus`: the console client. Reads the flags, builds the terminal and the session, and
 * turns the session's outcome into the exit code (0 after bye, 1 when refused or cut off,
 * 2 for a mistake on the command line).
 */
import { readFileSync } from 'node:fs';
import { helpText, parseArgs, UsageError, type ClientOptions } from './args.js';
import { ChatSession } from './session.js';
import { createTerminal } from './terminal.js';

function options(): ClientOptions {
  try {
    return parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`chorus: ${err.message}\nTry "chorus --help".\n`);
    process.exit(2);
  }
}

/** The password for hello: --password-file's first line, else CHORUS_PASSWORD, else none. */
function password(opts: ClientOptions): string | undefined {
  if (opts.passwordFile !== undefined) {
    try {
      return readFileSync(opts.passwordFile, 'utf8').split(/\r?\n/)[0]!;
    } catch (err) {
      process.stderr.write(`chorus: cannot read --password-file: ${(err as Error).message}\n`);
      process.exit(2);
    }
  }
  const fromEnv = process.env.CHORUS_PASSWORD;
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

/** Exits once stdout has taken everything written to it (a pipe may still hold some). */
function exit(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

const opts = options();
if (opts.help) {
  process.stdout.write(helpText);
  exit(0);
} else {
  // https://no-color.org: colours only on a terminal, and not when NO_COLOR is set to anything.
  const noColor = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '';
  let session: ChatSession | undefined;
  const secret = password(opts);
  const terminal = createTerminal({
    input: process.stdin,
    output: process.stdout,
    onInterrupt: () => session?.interrupt(),
  });
  session = new ChatSession(terminal, {
    endpoint: { host: opts.host, port: opts.port, ws: opts.ws, tls: opts.tls, insecure: opts.insecure },
    ...(opts.nick === undefined ? {} : { nick: opts.nick }),
    ...(secret === undefined ? {} : { password: secret }),
    color: opts.color && !noColor && process.stdout.isTTY === true,
    timestamps: opts.timestamps,
    reconnectMs: opts.reconnectSeconds * 1000,
    downloadsDir: opts.downloads,
    complain: (message) => process.stderr.write(`chorus: ${message}\n`),
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => session?.interrupt());
  }
  // A reader that went away (`chorus | head`) is not worth a stack trace.
  process.stdout.on('error', () => process.exit(0));
  session.run().then(exit, (err: unknown) => {
    process.stderr.write(`chorus: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    exit(1);
  });
}
