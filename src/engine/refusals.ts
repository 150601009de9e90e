import { ChorusError } from '../protocol/errors.js';

/**
 * What a presence write from a connection that holds the nick no more gets: its session
 * resumed on another connection, or this connection already detached or released it. Fatal:
 * that connection can do nothing for the user any more.
 */
export function notHolder(): ChorusError {
  return new ChorusError('resume_failed', 'this connection no longer holds the nick: its session moved on or ended', true);
}

/** What a claim gets once the engine has begun to stop: nothing may be held that no one lets go. */
export function shuttingDown(): ChorusError {
  return new ChorusError('unavailable', 'this server is shutting down; connect again to reach another');
}
