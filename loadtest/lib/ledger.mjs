// The book of a reliability run: every message sent (numbered by the generator, the number
// carried in the text), whether and with which id it was acked, and how many times each
// user received each one. check() turns that into delivered / expected, lost and duplicated.
//
// Who should have an acked message, given that every counted user stays a member of the
// run (dropped users resume within the grace period, and the server promises them what
// they missed): public, every counted user but the sender; room, the counted members of the
// room but the sender; private, the peer if counted. Users not counted (crash ghosts that
// never come back, soak's passers-by) neither expect nor owe anything.

const kindCodes = { public: 0, room: 1, private: 2 };
const kindNames = Object.keys(kindCodes);
const maxLostSamples = 10;

/**
 * Per-message receipt counts for one user, a byte per message number, and how the first copy
 * came (a small number the user chooses: its connection and whether it was a replay), so
 * that a duplicate can be told apart by path. Grown on demand.
 */
class Receipts {
  constructor() {
    this.counts = new Uint8Array(1024);
    this.via = new Uint16Array(1024);
  }

  /** Records one copy; returns how the first copy came. */
  add(no, via) {
    if (no >= this.counts.length) {
      let size = this.counts.length;
      while (size <= no) size *= 2;
      const counts = new Uint8Array(size);
      counts.set(this.counts);
      this.counts = counts;
      const vias = new Uint16Array(size);
      vias.set(this.via);
      this.via = vias;
    }
    if (this.counts[no] === 0) this.via[no] = via;
    if (this.counts[no] < 255) this.counts[no]++;
    return this.via[no];
  }

  count(no) {
    return no < this.counts.length ? this.counts[no] : 0;
  }
}

export class Ledger {
  constructor() {
    this.kind = []; // message number -> kind code
    this.sender = []; // -> user index
    this.target = []; // -> room name (room) or peer index (private); unused for public
    this.ackedId = []; // -> id once acked
    this.refused = new Map(); // error code -> messages refused with it
    this.receipts = new Map(); // user index -> Receipts
    this.foreign = 0; // texts of this run's marker whose number we never issued
    this.duplicateSamples = [];
  }

  /** Registers a message about to be sent; returns its number. */
  open(kind, sender, target) {
    const no = this.kind.length;
    this.kind.push(kindCodes[kind]);
    this.sender.push(sender);
    this.target.push(target);
    this.ackedId.push(undefined);
    return no;
  }

  ack(no, id) {
    if (this.ackedId[no] === undefined) this.ackedId[no] = id;
    else if (this.ackedId[no] !== id) this.foreign++; // a resent ref must get the first id back
  }

  refuse(code) {
    this.refused.set(code, (this.refused.get(code) ?? 0) + 1);
  }

  /**
   * One copy of message `no` reached `user`; `via` says how (connection number × 2, plus 1
   * for a replay). A second copy is kept as a sample, with how both copies came, its frame's
   * target and id, and the gateway the user was on.
   */
  receive(user, no, via = 0, frame = undefined, gateway = undefined) {
    if (!Number.isInteger(no) || no < 0 || no >= this.kind.length) {
      this.foreign++;
      return;
    }
    let r = this.receipts.get(user);
    if (!r) this.receipts.set(user, (r = new Receipts()));
    const first = r.add(no, via);
    if (r.count(no) > 1 && this.duplicateSamples.length < maxLostSamples) {
      this.duplicateSamples.push({ no, kind: kindNames[this.kind[no]], user, first: describeVia(first), again: describeVia(via), to: frame?.to, id: frame?.id, gateway });
    }
  }

  /** Deliveries of acked messages counted so far that should happen: cheap enough to poll. */
  progress(users) {
    const c = this.check(users);
    return { delivered: c.delivered, expected: c.expected };
  }

  /**
   * @param {Array<{index:number, room:string, counted:boolean}>} users  every user of the run
   */
  check(users) {
    const counted = users.filter((u) => u.counted);
    const byRoom = new Map();
    for (const u of counted) {
      if (!byRoom.has(u.room)) byRoom.set(u.room, []);
      byRoom.get(u.room).push(u.index);
    }
    const isCounted = new Set(counted.map((u) => u.index));
    const all = counted.map((u) => u.index);
    const none = new Receipts();
    const out = {
      sent: this.kind.length,
      acked: 0,
      expected: 0,
      delivered: 0,
      lost: 0,
      duplicates: 0,
      unexpected: 0, // receipts by users the message was not for (an echo to its sender, say)
      unacked_delivered: 0, // deliveries of messages never acked (the sender gave up): allowed
      refused: Object.fromEntries(this.refused),
      foreign: this.foreign,
      by_kind: Object.fromEntries(kindNames.map((k) => [k, { acked: 0, expected: 0, delivered: 0, lost: 0, duplicates: 0 }])),
      lost_samples: [],
      lost_to_refused_resumes: 0, // of `lost`: deliveries owed to users whose resume failed
      duplicate_samples: this.duplicateSamples,
    };
    const abandoned = new Set(counted.filter((u) => u.abandoned).map((u) => u.index));
    for (let no = 0; no < this.kind.length; no++) {
      const kind = kindNames[this.kind[no]];
      const sender = this.sender[no];
      const recipients =
        kind === 'public' ? all : kind === 'room' ? byRoom.get(this.target[no]) ?? [] : isCounted.has(this.target[no]) ? [this.target[no]] : [];
      const acked = this.ackedId[no] !== undefined;
      const k = out.by_kind[kind];
      if (acked) {
        out.acked++;
        k.acked++;
      }
      const expect = new Set();
      for (const u of recipients) {
        if (u === sender) continue;
        expect.add(u);
        const n = (this.receipts.get(u) ?? none).count(no);
        if (!acked) {
          if (n > 0) out.unacked_delivered++;
          if (n > 1) out.duplicates += n - 1;
          continue;
        }
        out.expected++;
        k.expected++;
        if (n > 0) {
          out.delivered++;
          k.delivered++;
        } else {
          out.lost++;
          k.lost++;
          if (abandoned.has(u)) out.lost_to_refused_resumes++;
          if (out.lost_samples.length < maxLostSamples) out.lost_samples.push({ no, kind, id: this.ackedId[no], sender, recipient: u });
        }
        if (n > 1) {
          out.duplicates += n - 1;
          k.duplicates += n - 1;
        }
      }
      for (const [u, r] of this.receipts) {
        if (!expect.has(u) && isCounted.has(u) && r.count(no) > 0) out.unexpected += r.count(no);
      }
    }
    return out;
  }
}

function describeVia(via) {
  return `connection ${via >> 1}${via & 1 ? ', replay' : ', live'}`;
}
