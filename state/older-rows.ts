// A cut subject's rows older than the newest ones an answer chooses among (state/retained.ts
// CHOSEN_ROWS): they were counted into its summary and never looked at, so a row planted
// before 200,000 repeats of one event was in no answer and its event in no count (review).
// What is kept of them is bounded: the lowest-scored row of each of up to OLDER_EVENTS events
// (the events of the lowest scores where there are more), which the answer then chooses among
// with the newest rows (state/answer-keep.ts). Of each event the oldest of its lowest-scored
// rows is kept, so that the row stays the same as newer rows pass into this part.

/** events of a cut subject's older rows examined for an answer */
export const OLDER_EVENTS = 128;

export class OlderRows {
  private readonly slotOf = new Map<number, number>();
  private readonly rows = new Float64Array(OLDER_EVENTS);
  private readonly digests = new Float64Array(OLDER_EVENTS);
  /** each kept row's score to a thousandth (1001: none) */
  private readonly scores = new Uint16Array(OLDER_EVENTS);
  private n = 0;
  /** the slot of the highest score kept, once full */
  private worst = 0;
  /** rows offered */
  seen = 0;

  /** a row offered, newest first: `digest` names its event */
  offer(row: number, digest: number, score: number): void {
    this.seen++;
    const s = score === score ? Math.min(1000, Math.max(0, Math.floor(score * 1000))) : 1001;
    const slot = this.slotOf.get(digest);
    if (slot !== undefined) {
      // (walked newest first: an equal score is an older row)
      if (s > this.scores[slot]) return;
      this.rows[slot] = row;
      if (s < this.scores[slot]) {
        this.scores[slot] = s;
        if (slot === this.worst) this.findWorst();
      }
      return;
    }
    if (this.n < OLDER_EVENTS) {
      this.put(this.n++, row, digest, s);
      if (this.n === OLDER_EVENTS) this.findWorst();
      return;
    }
    if (s >= this.scores[this.worst]) return;
    // the event of the highest score kept gives way; each such step lowers what a row must
    // score to enter, at most OLDER_EVENTS times for each thousandth
    this.slotOf.delete(this.digests[this.worst]);
    this.put(this.worst, row, digest, s);
    this.findWorst();
  }

  /** the rows kept, oldest first */
  sorted(): Float64Array {
    return this.rows.slice(0, this.n).sort();
  }

  private put(slot: number, row: number, digest: number, s: number): void {
    this.rows[slot] = row;
    this.digests[slot] = digest;
    this.scores[slot] = s;
    this.slotOf.set(digest, slot);
  }

  private findWorst(): void {
    if (this.n < OLDER_EVENTS) return;
    let w = 0;
    for (let k = 1; k < this.n; k++) if (this.scores[k] > this.scores[w]) w = k;
    this.worst = w;
  }
}
