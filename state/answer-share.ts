import type { Verdict } from '../scorer/types';

// What one table answer may hold, shared fairly among the subjects (a subject on a host) whose
// rows it would carry. osquery's table call cannot be paged and the extension refuses an
// answer past 64 MB: a local user who makes their own bad rows fast enough, of the longest
// text they can, had the alert pack's `bad` query refused (rootsafe), and short of that buried
// every other account's alert among theirs and sent all of them to the SIEM. So an answer has
// a budget in bytes and rows; a subject whose rows do not fit its share keeps the rows that
// matter within it (state/answer-keep.ts: its lowest score, the onset, each distinct event),
// and the rest is one summary row (HeldBack) that names the events held back, which the same
// constraints still select. Summaries count against the budget: past MAX_SUMMARY_SHARE of it,
// the subjects that rank last share one summary.
//
// Each subject's lowest-scored row is given room first, in rank order, and only then is the
// rest shared fairly. Shared out evenly alone, a local user with tens of thousands of subjects
// (a rootless container's subuids, each `uid:N`) of one bad row each made every subject's
// share smaller than one row: no subject kept any, 652 had a summary and the rest were folded
// into one, by lowest score, so another account's alert scored above the flood's zeros was in
// no row of the answer (fold). Subjects rank first by whether they are an account the host's
// users table lists (a new account root made, still learning, is one; a crowd of subuids is
// not: foldacct), then by whether their rows were scored by their own models (past their
// learning: a crowd of new subjects is scored by the host's baseline),
// then by their standing (rank): the rows their host has retained of them beyond this answer,
// an established account's thousands before a crowd of new accounts' few, which retention
// bounds (max_rows in all, so a flood of N subjects has at most max_rows / N rows each) but
// which the flood's own rows also retire (revfold), then by lowest score, then by most rows.
/** the part of an answer's bytes its summaries may take at most */
export const MAX_SUMMARY_SHARE = 1 / 4;

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
   * the answer is on the alert route (the pack's `bad` and `ugly`): the records it sends are
   * marked answered, and a subject cut from a later answer takes its never-answered events
   * first (answer-keep.ts). osquery sends a table the constraints, not the query, so an ad hoc
   * query with the same constraints marks them too. Marked by the commit the answer hands this
   * once its last record is taken, which its caller runs once the reader has them (the server:
   * from the write of the reply, extension/plugin/types.ts PluginResponse.delivered), or never
   */
  marks?: (commit: () => void) => void;
  /**
   * the most a record takes on the wire in this answer (its cells cut, the columns read), from
   * what the index knows of it: its stored JSON's bytes, its subject, host and tag (a row's query),
   * and the units of a cell few queries read (RetainedKind.bulk: a row's `columns`)
   */
  rowBytes(stored: number, subject: string, host: string, tag: string, bulk: number): number;
  /**
   * the subject (as the scorer wrote it) is an account the host's users table lists
   * (extension/host-accounts.ts): asked of each subject only when they must be ranked (rank)
   */
  account?(subject: string): boolean;
}

/** a record's cost on the wire beyond its stored JSON: the row's map header and each column's lengths */
export const WIRE_OVERHEAD = 6 + 4 * 16;

/** a held-back event a summary names, with one of its rows (the lowest-scored held) */
export interface HeldEvent<R> {
  record: R;
  /** its rows held back */
  rows: number;
  /** whether a row of it is in the answer, or was in an earlier one on the alert route */
  answered: boolean;
}

/** the rows of one subject on one host that an answer held back */
export interface HeldBack<R = unknown> {
  held: true;
  /** '*' for a summary of several subjects (or hosts) */
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
  /**
   * the tag (an anomaly_scores row's query) of every record held, '' when they differ: a
   * constraint on `query` is pushed down, so the summary must meet it as its rows did
   */
  tag: string;
  /** distinct events held back (state/answer-keep.ts); 0 in a summary of several subjects */
  events: number;
  /** the most pressing of them (answer-keep.ts TOLD_EVENTS) */
  told: HeldEvent<R>[];
  /** the subjects on hosts it sums up: more than one when an answer had more to sum up than room for their summaries */
  pairs: number;
  /** its rows older than the newest an answer chooses among (state/older-rows.ts): counted, of which only a few are examined */
  older?: number;
  /** the first subjects on hosts (up to NAMED_SUBJECTS) whose rows it holds, in the order they came: who a shared summary stands for */
  names: [subject: string, host: string][];
  /**
   * of the subjects a shared summary stands for, those with rows in the answer too: folding
   * takes the subjects past the room for summaries, and those that had room for rows keep them
   */
  shown?: number;
}

/** subjects a summary of several names */
export const NAMED_SUBJECTS = 8;

/** what the index tells of one subject on one host in an answer */
export interface PairTally {
  rows: number;
  bytes: number;
  /** the most one of its rows takes: the room its lowest-scored row is given first */
  maxBytes: number;
  /** its lowest score (NaN: none): which subjects keep a summary of their own */
  score: number;
  /** its records retained in all, this answer's and others (set by the store when shareOut asks: rank) */
  retained: number;
  /** a row of it in this answer was scored by its subject's own models, past its learning (rank) */
  own: boolean;
  /** its subject is an account the host lists (AnswerShare.account; set by the store when shareOut asks: rank) */
  account: boolean;
  /** the rows and bytes it may keep (set by shareOut) */
  keepRows: number;
  keepBytes: number;
  /** its rows must be cut; `fold`: into the summary shared by the subjects that have no room for their own */
  cut: boolean;
  fold: boolean;
  held: HeldBack | null;
}

export function tally(): PairTally {
  return {
    rows: 0,
    bytes: 0,
    maxBytes: 0,
    score: NaN,
    retained: 0,
    own: false,
    account: false,
    keepRows: 0,
    keepBytes: 0,
    cut: false,
    fold: false,
    held: null,
  };
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

/** summaries an answer has room for (each at most share.heldBytes) */
export function summaryRoom(share: AnswerShare): number {
  return share.heldBytes > 0 ? Math.max(1, Math.floor((share.bytes * MAX_SUMMARY_SHARE) / share.heldBytes)) : Infinity;
}

/**
 * A pair's standing in an answer that has no room for every subject: its rows retained beyond
 * this answer's, by powers of two (a thousand rows of history are not outranked by a
 * thousand and one). The alert a flood of new subjects would hide is an established
 * account's; a subject with no history is one of the crowd, however low its score
 */
const standing = (p: PairTally): number => Math.floor(Math.log2(1 + Math.max(0, p.retained - p.rows)));
const lowest = (p: PairTally): number => (p.score === p.score ? p.score : 2);
/**
 * the order in which pairs get room for their lowest row and for a summary of their own: an
 * account the host lists first, then a subject scored by its own models, then standing, lowest
 * score, most rows. Standing alone is the attacker's to lower: retention is one queue for every
 * subject (max_rows, oldest first), so their own ordinary rows retire an account's history, and
 * its standing with it, until a crowd of new subjects ties it (revfold). Being past its
 * learning is not retired with rows: a crowd must each reach learning.min_events and min_days,
 * within memory.max_subjects. Neither helps a new account: a backdoor root made an hour ago is
 * still learning, its rows scored by the host's baseline as a crowd's are, and its history is
 * as short as theirs. Being an account is neither earned nor retired with rows: the users table
 * lists only what root made, so the tier is as large as the host's passwd, however many
 * subjects a local user makes (foldacct)
 */
const rank = (a: PairTally, b: PairTally): number =>
  Number(b.account) - Number(a.account) || Number(b.own) - Number(a.own) || standing(b) - standing(a) || lowest(a) - lowest(b) || b.rows - a.rows;

/**
 * Set each pair's keepRows, keepBytes, cut and fold; false when every pair fits whole.
 * `retained` sets each pair's PairTally.retained, called only when the pairs must be ranked
 * (a walk of the whole index)
 */
export function shareOut(pairs: ReadonlyMap<number, PairTally>, share: AnswerShare, retained: () => void = () => {}): boolean {
  const list = [...pairs.values()];
  let rows = 0;
  let bytes = 0;
  let maxBytes = 0;
  let over = false;
  for (const p of list) {
    rows += p.rows;
    bytes += p.bytes;
    maxBytes += p.maxBytes;
    if (p.rows > share.perSubject) over = true;
  }
  if (!over && rows <= share.rows && bytes <= share.bytes - share.heldBytes) return false;
  // every subject may need a summary, up to the room for them; the rest is the rows'
  const summaries = Math.min(list.length, summaryRoom(share));
  let rowsLeft = share.rows;
  let bytesLeft = share.bytes - summaries * share.heldBytes;
  // each subject's lowest-scored row first (answer-keep.ts takes it first), in rank order
  // when there is no room for all of them
  const ranked = list.length > share.rows || maxBytes > bytesLeft || list.length > summaries;
  if (ranked) {
    retained();
    list.sort(rank);
  }
  const first: PairTally[] = [];
  for (const p of list) {
    if (rowsLeft < 1 || p.maxBytes > bytesLeft) continue;
    first.push(p);
    rowsLeft--;
    bytesLeft -= p.maxBytes;
  }
  // then the rest of the budget, fairly
  const rowShares = fairShares(
    first.map((p) => Math.min(p.rows, share.perSubject) - 1),
    rowsLeft,
  );
  const byteShares = fairShares(
    first.map((p) => p.bytes - p.maxBytes),
    bytesLeft,
  );
  first.forEach((p, k) => {
    p.keepRows = 1 + Math.floor(rowShares[k]);
    p.keepBytes = p.maxBytes + byteShares[k];
  });
  const cut: PairTally[] = [];
  for (const p of list) {
    p.cut = p.rows > p.keepRows || p.bytes > p.keepBytes + 1e-6;
    if (p.cut) cut.push(p);
  }
  // the first in rank keep their own summary, the others share the last one (cut is in rank
  // order whenever it is longer than the room)
  if (cut.length > summaries) for (const p of cut.slice(summaries - 1)) p.fold = true;
  return true;
}

const SEVERITY: Record<Verdict, number> = { good: 0, learning: 1, ugly: 2, bad: 3 };

/** add a record the answer does not carry to a summary (a pair's, or one that several share) */
export function holdBack(
  into: { held: HeldBack | null },
  subject: string,
  host: string,
  tag: string,
  from: number,
  to: number,
  score: number,
  verdict: Verdict,
): void {
  const h = (into.held ??= { held: true, subject, host, rows: 0, from, to, score: null, verdict, tag, events: 0, told: [], pairs: 1, names: [] });
  h.rows++;
  if (h.names.length < NAMED_SUBJECTS && !h.names.some(([s, o]) => s === subject && o === host)) h.names.push([subject, host]);
  if (subject !== h.subject) h.subject = '*';
  if (host !== h.host) h.host = '*';
  if (tag !== h.tag) h.tag = '';
  if (from < h.from) h.from = from;
  if (to > h.to) h.to = to;
  // (NaN, a record without a score, lowers nothing)
  if (score === score && (h.score === null || score < h.score)) h.score = score;
  if (SEVERITY[verdict] > SEVERITY[h.verdict]) h.verdict = verdict;
}
