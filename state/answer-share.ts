import type { Verdict } from '../scorer/types';

// What one table answer may hold, shared fairly among the subjects (a subject on a host) whose
// rows it would carry. osquery's table call cannot be paged and the extension refuses an
// answer past 64 MB: a local user who makes their own bad rows fast enough, of the longest
// text they can, had the alert pack's `bad` query refused (rootsafe), and short of that buried
// every other account's alert among theirs and sent all of them to the SIEM. So an answer has
// a budget in bytes and rows; a subject whose rows do not fit its share keeps its oldest rows
// (a flood's onset; and rows that are in an answer once stay in the next, so osqueryd's
// differential log does not report a row each time the flood grows), and the rest is one
// summary row (HeldBack), which the same constraints still select.

export interface AnswerShare {
  /** wire bytes the answer may take, its summaries included */
  bytes: number;
  /** the most one summary row takes */
  heldBytes: number;
  /** rows the answer may hold, summaries aside */
  rows: number;
  /** rows one subject on one host may have in it (Infinity: as many as its share) */
  perSubject: number;
  /**
   * the most a record takes on the wire in this answer (its cells cut, the columns read), from
   * what the index knows of it: its stored JSON's bytes, its subject, host and tag (a row's query)
   */
  rowBytes(stored: number, subject: string, host: string, tag: string): number;
}

/** a record's cost on the wire beyond its stored JSON: the row's map header and each column's lengths */
export const WIRE_OVERHEAD = 6 + 4 * 16;

/** the rows of one subject on one host that an answer held back, from the index alone */
export interface HeldBack {
  held: true;
  subject: string;
  host: string;
  rows: number;
  /** the oldest and newest time held (a window's: start of the first, end of the last) */
  from: number;
  to: number;
  /** the lowest score held, null when none held had one */
  score: number | null;
  /** the most severe verdict held */
  verdict: Verdict;
}

/** what the index tells of one subject on one host in an answer */
export interface PairTally {
  rows: number;
  bytes: number;
  /** the rows and bytes it may keep (set by shareOut) */
  keepRows: number;
  keepBytes: number;
  /** the rows and bytes of it not yet walked, newest first */
  leftRows: number;
  leftBytes: number;
  held: HeldBack | null;
}

export function tally(): PairTally {
  return { rows: 0, bytes: 0, keepRows: 0, keepBytes: 0, leftRows: 0, leftBytes: 0, held: null };
}

/**
 * Max-min fair shares of a budget: each demand gets all it asks for if it asks no more than an
 * equal share of what the smaller demands leave; the larger ones split the rest evenly. A few
 * rows of one account are answered whole however many another account made.
 */
export function fairShares(demands: readonly number[], budget: number): number[] {
  const order = demands.map((_, i) => i).sort((a, b) => demands[a] - demands[b]);
  const out = new Array<number>(demands.length);
  let left = budget;
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    const even = left / (order.length - k);
    out[i] = Math.min(demands[i], even);
    left -= out[i];
  }
  return out;
}

/** set each pair's keepRows and keepBytes; false when every pair fits whole */
export function shareOut(pairs: ReadonlyMap<number, PairTally>, share: AnswerShare): boolean {
  const list = [...pairs.values()];
  let rows = 0;
  let bytes = 0;
  let over = false;
  for (const p of list) {
    rows += p.rows;
    bytes += p.bytes;
    if (p.rows > share.perSubject) over = true;
    p.leftRows = p.rows;
    p.leftBytes = p.bytes;
  }
  if (!over && rows <= share.rows && bytes <= share.bytes - share.heldBytes) return false;
  const rowShares = fairShares(
    list.map((p) => Math.min(p.rows, share.perSubject)),
    share.rows,
  );
  // each subject may need a summary; a host of thousands of subjects in one answer still
  // keeps half the budget for rows
  const byteShares = fairShares(
    list.map((p) => p.bytes),
    Math.max(share.bytes / 2, share.bytes - list.length * share.heldBytes),
  );
  list.forEach((p, k) => {
    p.keepRows = Math.floor(rowShares[k]);
    p.keepBytes = byteShares[k];
  });
  return true;
}

const SEVERITY: Record<Verdict, number> = { good: 0, learning: 1, ugly: 2, bad: 3 };

/** add a record the answer does not carry to its pair's summary */
export function holdBack(p: PairTally, subject: string, host: string, from: number, to: number, score: number, verdict: Verdict): void {
  const h = (p.held ??= { held: true, subject, host, rows: 0, from, to, score: null, verdict });
  h.rows++;
  if (from < h.from) h.from = from;
  if (to > h.to) h.to = to;
  // (NaN, a record without a score, lowers nothing)
  if (score === score && (h.score === null || score < h.score)) h.score = score;
  if (SEVERITY[verdict] > SEVERITY[h.verdict]) h.verdict = verdict;
}
