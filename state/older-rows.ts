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

/** events of a cut subject's older rows examined for an answer */
export const OLDER_EVENTS = 128;
/** added to a row's rank when an answer held it: after every never-answered one */
const ANSWERED_RANK = 1002;

export class OlderRows {
  private readonly slotOf = new Map<number, number>();
  private readonly rows = new Float64Array(OLDER_EVENTS);
  private readonly digests = new Float64Array(OLDER_EVENTS);
  /** each kept row's rank: its score to a thousandth (1001: none), plus ANSWERED_RANK if answered */
  private readonly ranks = new Uint16Array(OLDER_EVENTS);
  private n = 0;
  /** the slot of the highest rank kept, once full */
  private worst = 0;
  /** rows offered */
  seen = 0;

  /** a row offered, newest first: `digest` names its event, `answered` whether an answer held it */
  offer(row: number, digest: number, score: number, answered: boolean): void {
    this.seen++;
    const r = (score === score ? Math.min(1000, Math.max(0, Math.floor(score * 1000))) : 1001) + (answered ? ANSWERED_RANK : 0);
    const slot = this.slotOf.get(digest);
    if (slot !== undefined) {
      const was = this.ranks[slot];
      if (answered !== was >= ANSWERED_RANK) {
        // the event's first answered row stands for it from now on
        if (!answered) return;
        this.rows[slot] = row;
        this.ranks[slot] = r;
        this.findWorst();
        return;
      }
      // (walked newest first: an equal rank is an older row)
      if (r > was) return;
      this.rows[slot] = row;
      if (r < was) {
        this.ranks[slot] = r;
        if (slot === this.worst) this.findWorst();
      }
      return;
    }
    if (this.n < OLDER_EVENTS) {
      this.put(this.n++, row, digest, r);
      if (this.n === OLDER_EVENTS) this.findWorst();
      return;
    }
    if (r >= this.ranks[this.worst]) return;
    // the event of the highest rank kept gives way; each such step lowers what a row must
    // rank to enter, at most OLDER_EVENTS times for each rank
    this.slotOf.delete(this.digests[this.worst]);
    this.put(this.worst, row, digest, r);
    this.findWorst();
  }

  /** the rows kept, oldest first */
  sorted(): Float64Array {
    return this.rows.slice(0, this.n).sort();
  }

  private put(slot: number, row: number, digest: number, r: number): void {
    this.rows[slot] = row;
    this.digests[slot] = digest;
    this.ranks[slot] = r;
    this.slotOf.set(digest, slot);
  }

  private findWorst(): void {
    if (this.n < OLDER_EVENTS) return;
    let w = 0;
    for (let k = 1; k < this.n; k++) if (this.ranks[k] > this.ranks[w]) w = k;
    this.worst = w;
  }
}
