import { ChorusError } from '../protocol/errors.js';

/**
 * What a presence write from a connection its session has left (it resumed on another one)
 * gets. Fatal: that connection can do nothing for the user any more, and the client is on
 * the other one already.
 */
export function sessionMoved(): ChorusError {
  return new ChorusError('resume_failed', 'this session continues on another connection', true);
}
