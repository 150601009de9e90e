import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel } from './config.js';
import { StdoutSink } from './log-sink.js';

export type { Logger };

/** Human-readable on a terminal, JSON lines otherwise (for log shippers and tests). */
export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): Logger {
  const options = { level, base: { pid: process.pid, ...bindings } };
  if (process.stdout.isTTY) {
    return pino(options, pretty({ colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'hostname' }));
  }
  return pino(options, new StdoutSink());
}
