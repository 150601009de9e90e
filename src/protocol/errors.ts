/** The error codes of PROTOCOL.md: the contract clients program against. */
export const errorCodes = [
  'bad_frame',
  'frame_too_large',
  'unknown_type',
  'hello_first',
  'bad_nick',
  'nick_taken',
  'auth_failed',
  'resume_failed',
  'bad_target',
  'no_such_user',
  'not_in_room',
  'text_too_long',
  'rate_limited',
  'limit_reached',
  'slow_consumer',
  'file_too_large',
  'no_such_file',
  'bad_file',
  'too_many_connections',
  'unavailable',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

/**
 * Why a resume was refused, in `error{code:"resume_failed", reason}`: `history_lost` when
 * the store lost its data since the session began (messages acked to this user may be gone
 * for good), `expired` when the session ran out or ended (nothing the store promised is lost).
 */
export const resumeFailures = ['history_lost', 'expired'] as const;
export type ResumeFailure = (typeof resumeFailures)[number];

/**
 * The one error type of Chorus. Only the session turns it into an `error` frame;
 * `fatal` means the connection cannot go on (framing lost, limits broken).
 */
export class ChorusError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fatal = false,
    /** Only on `resume_failed`: told to the client as the frame's `reason`. */
    readonly reason?: ResumeFailure,
  ) {
    super(message);
    this.name = 'ChorusError';
  }
}

/** Any failure that is not a ChorusError came from the engine's dependencies. */
export function asChorusError(err: unknown): ChorusError {
  if (err instanceof ChorusError) return err;
  return new ChorusError('unavailable', 'the server could not reach its store; nothing was accepted, try again');
}
