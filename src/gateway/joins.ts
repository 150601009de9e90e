import { ChorusError } from '../protocol/errors.js';
import { TokenBucket } from './ratelimit.js';

export interface JoinLimits {
  readonly maxRoomsPerUser: number;
  readonly maxRoomMembers: number;
  /** Joins a second a session may make (twice that at once). */
  readonly joinRate: number;
}

/**
 * The bounds on rooms: a session that joins thousands of rooms costs a subscription and a
 * set entry each, and a room of unbounded size makes every `joined` and `who` unbounded.
 * Each session has one.
 */
export class JoinGuard {
  private readonly bucket: TokenBucket;

  constructor(private readonly limits: JoinLimits) {
    this.bucket = new TokenBucket(limits.joinRate, 2 * limits.joinRate);
  }

  /** Before a join: throws when it comes too fast or would take the user past its room cap. */
  check(isNew: boolean, roomsHeld: number): void {
    if (!this.bucket.take()) throw new ChorusError('rate_limited', 'slow down: too many joins');
    if (isNew && roomsHeld >= this.limits.maxRoomsPerUser) {
      throw new ChorusError('limit_reached', `you may be in at most ${this.limits.maxRoomsPerUser} rooms; leave one first`);
    }
  }

  /** After a join: whether the room is now over its cap (the caller takes the user out again). */
  overfull(members: number): boolean {
    return members > this.limits.maxRoomMembers;
  }

  roomFull(room: string): ChorusError {
    return new ChorusError('limit_reached', `${room} is full (${this.limits.maxRoomMembers} members)`);
  }
}
