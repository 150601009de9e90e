import type { Claim } from '../engine/types.js';
import { ChorusError } from '../protocol/errors.js';
import type { ClientFrame } from '../protocol/frames.js';
import { looksLike, nickKey, roomAddress, userAddress, type Address, type Nick } from '../protocol/names.js';
import { admit, type OnRegistered } from './accounts.js';
import { newSessionToken } from './resume.js';
import { resumeRefusal } from './resume-refusal.js';
import type { Hub } from './session.js';

type Hello = Extract<ClientFrame, { type: 'hello' }>;

/** What claiming a nick needs from the session saying hello. */
export interface Claimant {
  readonly hub: Hub;
  /** This connection's id: a resume elsewhere takes the nick from it. */
  readonly conn: string;
  /** How many nicks to try: the legacy client cannot pick another when its own is taken. */
  readonly variants: number;
  /** What a registered nick without its password gets (accounts.ts). */
  readonly onRegistered: OnRegistered;
  /** The client's address, for the back-off after failed logins. */
  readonly host: string;
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
  /** The nick is registered and the user may still identify: ask, and wait for the answer. */
  ask(frame: Hello): void;
}

/**
 * Checks the password of a registered nick first, then subscribes before claiming, so nothing
 * sent the moment others see this user online is lost; what arrives before the welcome is
 * held. Legacy clients get the first free variant (quang, quang_2, ...), registered nicks
 * passed over. The claim carries the session's next token (resume.ts), and a resume moves the
 * reservation from the old one to it. Resolves undefined when the connection closed meanwhile
 * (everything taken has been given back), or when the user was asked to identify.
 */
export async function claimNick(s: Claimant, frame: Hello): Promise<Claim | undefined> {
  const { engine } = s.hub;
  const mode = frame.resume ? 'resume' : 'new';
  let registered = false;
  for (let n = 1; n <= s.variants; n++) {
    const nick = (n === 1 ? frame.nick : `${frame.nick}_${n}`) as Nick;
    const key = nickKey(nick);
    const admitted = await admit(s.hub, key, frame, s.host, s.onRegistered);
    if (s.closed) return undefined;
    if (admitted === 'ask') {
      s.ask(frame);
      return undefined;
    }
    if (admitted === 'skip') {
      registered ||= n === 1;
      continue;
    }
    const claim: Claim = { nick, key, session: newSessionToken(admitted.epoch, frame.resume?.session), conn: s.conn };
    s.begin(claim);
    try {
      const rooms = mode === 'resume' ? (await engine.rooms.of(claim.key)).map(roomAddress) : [];
      await Promise.all(['*' as Address, userAddress(claim.key), ...rooms].map((a) => s.subscribe(a)));
      // Gone already: claim nothing that nobody could use or give back.
      if (s.closed) {
        await s.unwind();
        return undefined;
      }
      if (await engine.claims.claim(claim, mode, frame.resume?.session)) {
        s.won(claim, mode === 'resume', rooms);
        if (s.closed) {
          await s.letGo();
          return undefined;
        }
        if (n > 1) s.refuse(new ChorusError('nick_taken', `${frame.nick} is ${registered ? 'registered' : 'taken'}; you are ${nick}`));
        return claim;
      }
    } catch (err) {
      await s.unwind();
      throw err;
    }
    await s.unwind();
    if (s.closed) return undefined;
  }
  if (frame.resume) throw await resumeRefusal(engine, frame.resume.session);
  // Claims compare look-alikes as one nick; say so, rather than that the nick is taken.
  const holder = await engine.claims.shownAs(nickKey(frame.nick));
  if (holder !== undefined && looksLike(frame.nick, holder)) {
    throw new ChorusError('bad_nick', `${frame.nick} looks like ${holder}, who is online; pick a nick that does not`);
  }
  throw new ChorusError('nick_taken', `${frame.nick} is already online; pick another nick`);
}
