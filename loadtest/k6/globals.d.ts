// k6 provides `console` (log, info, warn, error, debug) in every script; @types/k6 leaves it
// to a DOM or Node lib, neither of which describes k6's runtime, so it is declared here.
declare const console: {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
};
