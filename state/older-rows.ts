// A cut subject's rows older than the newest ones an answer chooses among (state/retained.ts
// CHOSEN_ROWS): they were counted into its summary and never looked at, so a row planted
// before 200,000 repeats of one event was in no answer and its event in no count (review).
// What is kept of them is bounded: one row of each of up to OLDER_EVENTS events, which the
// answer then chooses among with the newest rows (state/answer-keep.ts). Where there are more
// events, those no answer has held come first, then the lowest scores: ranked by score alone,
// the same 128 events answered long ago were examined at every interval and a never-answered
// row scored above them never was, even after the flood stopped (review). Of each event the
// row kept is one answered if any was (so the answer counts the event answered), else its
// lowest-scored, the oldest of those, so that the row stays the same as newer rows pass into
// this part.

/**
 * events of a cut subject's older rows examined for an answer: half the alert route's share of
 * a subject (state/answer-share.ts), what its oldest-first turns can take in one answer, so the
 * older part drains as fast as the newer (with 128 a flood's 120,000 older events took some 940
 * intervals). Some 60 kB, only for a subject with rows older than CHOSEN_ROWS: a few in a store
 */
export const OLDER_EVENTS = 1_000;
/** added to a row's rank when an answer held it: after every never-answered one */
const ANSWERED_RANK = 1002;
const RANKS = 2 * ANSWERED_RANK;
const NONE = -1;

export class OlderRows {
  private readonly slotOf = new Map<number, number>();
  // (allocated at the first row offered: most cut subjects have no older rows)
  private rows = new Float64Array(0);
  private digests = new Float64Array(0);
  /** each kept row's rank: its score to a thousandth (1001: none), plus ANSWERED_RANK if answered */
  private ranks = new Uint16Array(0);
  /** the slots of each rank, a list linked through next and prev: the worst found at once */
  private head = new Int16Array(0);
  private next = new Int16Array(0);
  private prev = new Int16Array(0);
  private n = 0;
  /** the highest rank kept (NONE: none) */
  private worst = NONE;
  /** rows offered */
  seen = 0;

  /** a row offered, newest first: `digest` names its event, `answered` whether an answer held it */
  offer(row: number, digest: number, score: number, answered: boolean): void {
    if (this.seen++ === 0) this.allocate();
    const r = (score === score ? Math.min(1000, Math.max(0, Math.floor(score * 1000))) : 1001) + (answered ? ANSWERED_RANK : 0);
    const slot = this.slotOf.get(digest);
    if (slot !== undefined) {
      const was = this.ranks[slot];
      if (answered !== was >= ANSWERED_RANK) {
        // the event's first answered row stands for it from now on
        if (!answered) return;
        this.rows[slot] = row;
        this.rerank(slot, r);
        return;
      }
      // (walked newest first: an equal rank is an older row)
      if (r > was) return;
      this.rows[slot] = row;
      if (r < was) this.rerank(slot, r);
      return;
    }
    if (this.n < OLDER_EVENTS) {
      this.put(this.n++, row, digest, r);
      return;
    }
    if (r >= this.worst) return;
    // an event of the highest rank kept gives way
    const out = this.head[this.worst];
    this.slotOf.delete(this.digests[out]);
    this.unlink(out);
    this.put(out, row, digest, r);
  }

  /** the rows kept, oldest first */
  sorted(): Float64Array {
    return this.rows.slice(0, this.n).sort();
  }

  private allocate(): void {
    this.rows = new Float64Array(OLDER_EVENTS);
    this.digests = new Float64Array(OLDER_EVENTS);
    this.ranks = new Uint16Array(OLDER_EVENTS);
    this.head = new Int16Array(RANKS).fill(NONE);
    this.next = new Int16Array(OLDER_EVENTS);
    this.prev = new Int16Array(OLDER_EVENTS);
  }

  private put(slot: number, row: number, digest: number, r: number): void {
    this.rows[slot] = row;
    this.digests[slot] = digest;
    this.slotOf.set(digest, slot);
    this.link(slot, r);
  }

  private rerank(slot: number, r: number): void {
    this.unlink(slot);
    this.link(slot, r);
  }

  private link(slot: number, r: number): void {
    this.ranks[slot] = r;
    const h = this.head[r];
    this.next[slot] = h;
    this.prev[slot] = NONE;
    if (h !== NONE) this.prev[h] = slot;
    this.head[r] = slot;
    if (r > this.worst) this.worst = r;
  }

  private unlink(slot: number): void {
    const r = this.ranks[slot];
    const p = this.prev[slot];
    const nx = this.next[slot];
    if (p !== NONE) this.next[p] = nx;
    else this.head[r] = nx;
    if (nx !== NONE) this.prev[nx] = p;
    while (this.worst !== NONE && this.head[this.worst] === NONE) this.worst--;
  }
}
