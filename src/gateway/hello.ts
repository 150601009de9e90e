import type { Claim } from '../engine/types.js';
import { ChorusError } from '../protocol/errors.js';
import type { ClientFrame } from '../protocol/frames.js';
import { nickKey, roomAddress, userAddress, type Address, type Nick } from '../protocol/names.js';
import type { Hub } from './session.js';

type Hello = Extract<ClientFrame, { type: 'hello' }>;

/** What claiming a nick needs from the session saying hello. */
export interface Claimant {
  readonly hub: Hub;
  /** This connection's id: a resume elsewhere takes the nick from it. */
  readonly conn: string;
  /** How many nicks to try: the legacy client cannot pick another when its own is taken. */
  readonly variants: number;
  readonly closed: boolean;
  /** A claim is about to be tried: fan-out for it is held from here on. */
  begin(claim: Claim): void;
  subscribe(address: Address): Promise<void>;
  /** The try failed: back to greeting, holding nothing. */
  unwind(): Promise<void>;
  /** The nick is this session's now, with the rooms a resume restored. */
  won(claim: Claim, resumed: boolean, rooms: Address[]): void;
  /** Gives back whatever the session holds (it closed while claiming). */
  letGo(): Promise<void>;
  refuse(err: ChorusError): void;
}

/**
 * Subscribes before claiming, so nothing sent the moment others see this user online is
 * lost; what arrives before the welcome is held. Legacy clients get the first free variant
 * (quang, quang_2, ...). Resolves undefined when the connection closed meanwhile (everything
 * taken has been given back).
 */
export async function claimNick(s: Claimant, frame: Hello, session: string): Promise<Claim | undefined> {
  const { engine } = s.hub;
  const mode = frame.resume ? 'resume' : 'new';
  for (let n = 1; n <= s.variants; n++) {
    const nick = (n === 1 ? frame.nick : `${frame.nick}_${n}`) as Nick;
    const claim: Claim = { nick, key: nickKey(nick), session, conn: s.conn };
    s.begin(claim);
    try {
      const rooms = mode === 'resume' ? (await engine.rooms.of(claim.key)).map(roomAddress) : [];
      await Promise.all(['*' as Address, userAddress(claim.key), ...rooms].map((a) => s.subscribe(a)));
      // Gone already: claim nothing that nobody could use or give back.
      if (s.closed) {
        await s.unwind();
        return undefined;
      }
      if (await engine.claims.claim(claim, mode)) {
        s.won(claim, mode === 'resume', rooms);
        if (s.closed) {
          await s.letGo();
          return undefined;
        }
        if (n > 1) s.refuse(new ChorusError('nick_taken', `${frame.nick} is taken; you are ${nick}`));
        return claim;
      }
    } catch (err) {
      await s.unwind();
      throw err;
    }
    await s.unwind();
    if (s.closed) return undefined;
  }
  if (mode === 'resume') throw new ChorusError('resume_failed', 'that session has expired or moved on; say hello again');
  throw new ChorusError('nick_taken', `${frame.nick} is already online; pick another nick`);
}
