import type { Logger } from '../log.js';

/**
 * How long past --drain-ms a gateway's stop may run (the engine letting go of its users,
 * sockets closing) before the process exits anyway. The primary allows its workers this
 * plus a second, and itself a second more, so that each level gives up after the one below.
 */
export const stopMarginMs = 3_000;

/**
 * Runs `stop` on the first SIGINT or SIGTERM and exits 0 when it is done, 1 when it failed.
 * A stop is never waited on forever: past `deadlineMs` the process exits 1 whatever is
 * pending, and a second signal exits 1 at once (an operator who presses Ctrl-C twice, a
 * supervisor out of patience). Returns the same stop for other triggers (the primary's IPC
 * message), which do not count as a second signal.
 */
export function onShutdownSignal(log: Logger, deadlineMs: number, stop: () => Promise<void>): (why: string) => void {
  let stopping = false;
  const begin = (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: why, deadlineMs }, 'stopping');
    // Not unref'd: this timer is what ends a process whose stop waits on something that never comes.
    setTimeout(() => {
      log.error({ deadlineMs }, 'stop did not finish in time: exiting anyway');
      process.exit(1);
    }, deadlineMs);
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopping) return begin(signal);
    log.warn({ signal }, 'second signal while stopping: exiting now');
    process.exit(1);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return begin;
}
