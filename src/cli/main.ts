#!/usr/bin/env node
/**
 * `chorus`: the console client. Reads the flags, builds the terminal and the session, and
 * turns the session's outcome into the exit code (0 after bye, 1 when refused or cut off,
 * 2 for a mistake on the command line).
 */
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
  const terminal = createTerminal({
    input: process.stdin,
    output: process.stdout,
    onInterrupt: () => session?.interrupt(),
  });
  session = new ChatSession(terminal, {
    endpoint: { host: opts.host, port: opts.port, ws: opts.ws, tls: opts.tls, insecure: opts.insecure },
    ...(opts.nick === undefined ? {} : { nick: opts.nick }),
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
