import type { Engine } from '../engine/types.js';
import { ChorusError } from '../protocol/errors.js';
import { sessionStart } from './resume.js';

/**
 * The refusal of a resume whose nick is no longer reserved for it. Either the session ran
 * out (grace period, bye, taken over), or the store lost everything since the session began
 * (a Redis restarted empty): then messages acked to this user may be gone for good, and the
 * client is told so, to say hello again knowing it, rather than a bare refusal.
 */
export async function resumeRefusal(engine: Engine, session: string): Promise<ChorusError> {
  const since = await engine.dataSince();
  if (since > sessionStart(session)) {
    return new ChorusError('resume_failed', 'the server lost its stored history since your session began: messages sent to you meanwhile may be lost; say hello again', false, 'history_lost');
  }
  return new ChorusError('resume_failed', 'that session has expired or moved on; say hello again', false, 'expired');
}
