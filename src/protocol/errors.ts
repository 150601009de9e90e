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
  'too_many_connections',
  'unavailable',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

/**
 * The one error type of Chorus. Only the session turns it into an `error` frame;
 * `fatal` means the connection cannot go on (framing lost, limits broken).
 */
export class ChorusError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fatal = false,
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
