import * as fs from 'fs';
import * as path from 'path';
import type { ScoredWindow, Verdict } from '../scorer/types';
import { idSet, range, Retained, verdictIds, within, VERDICTS, LOW_SCORE, type RetainedKind, type RetainedOptions } from './retained';
import { readInSlices, SCORE_SLACK, type WindowFilter, type WindowStore } from './store';
import type { AnswerShare, HeldBack } from './answer-share';

// The retained `anomaly_windows` rows, held as the retained scores are (state/retained.ts): an
// index of typed columns in memory, the windows in segment files. A subject closes one window
// per window length (144 a day at 10 minutes), and held as objects, 1,000,000 windows
// (retention.max_rows: 230 subjects for 30 days) grew resident memory by 666 MB. Retention
// follows anomaly_scores: at most max_rows, and no older than max_days before the newest
// window's end; a segment goes when all its windows have.
//
// Earlier builds kept every window in one file, windows.jsonl, compacted now and then: it is
// read as the first segment, never appended to, and removed once all its windows have aged out.

export type RetainedWindowsOptions = RetainedOptions;

/** the one file of earlier builds, in the same JSON lines */
const LEGACY_FILE = 'windows.jsonl';
/**
 * bytes of the newest low-scored windows kept parsed: the bad_windows query returns them, but
 * an answer holds few windows beside the rows the alert query returns
 */
const LOW_CACHE_BYTES = 1 << 20;

function isScoredWindow(r: unknown): r is ScoredWindow {
  if (!r || typeof r !== 'object') return false;
  const w = r as Record<string, unknown>;
  return (
    typeof w.subject === 'string' &&
    typeof w.host === 'string' &&
    Number.isFinite(w.start) &&
    Number.isFinite(w.end) &&
    Number.isFinite(w.events) &&
    (w.score === null || Number.isFinite(w.score)) &&
    VERDICTS.includes(w.verdict as Verdict) &&
    typeof w.model === 'string' &&
    typeof w.reasons === 'string' &&
    typeof w.top_ids === 'string'
  );
}

const WINDOWS: RetainedKind<ScoredWindow> = {
  what: 'retained windows',
  isRecord: isScoredWindow,
  // retention and "newest" count by the end, as before
  time: (w) => w.end,
  score: (w) => w.score,
  verdict: (w) => w.verdict,
  subject: (w) => w.subject,
  host: (w) => w.host,
  start: (w) => w.start,
  // (a baseline's verdict is `host:mix`, `host`; a learning subject's '')
  own: (w) => w.model !== '' && w.model !== 'host' && !w.model.includes(':'),
  lowCacheBytes: LOW_CACHE_BYTES,
  legacyFile: LEGACY_FILE,
  pairs: true,
};

export class RetainedWindows extends Retained<ScoredWindow> implements WindowStore {
  /** the newest end of a window indexed, and the rows of its windows by start, host and subject */
  private tailEnd = -Infinity;
  private tail = new Map<string, number>();
  /** rows of windows closed again (or closed out of order for their subject), kept until they retire */
  private again = new Set<number>();

  constructor(opts: RetainedWindowsOptions, load = true) {
    super(WINDOWS, opts);
    // A link in its place is never followed. The extension sets it aside (the reading moves it
    // to quarantine/ and says so) and goes on, as with every other state file: it refused to
    // start, after it had registered, at every start, and each exit took away the logger
    // osqueryd had just activated. 'anomaly report' (read-only) moves nothing: it refuses.
    const legacy = path.join(opts.dir, LEGACY_FILE);
    if (opts.readOnly && fs.lstatSync(legacy, { throwIfNoEntry: false })?.isSymbolicLink()) {
      throw new Error(`${legacy} is a symbolic link; refusing to follow it (remove it, the windows it held are gone)`);
    }
    if (load) for (const _ of this.loading());
  }

  /**
   * The store, read in slices with a turn of the event loop between them, as RetainedScores.open
   * reads its rows: the extension reads both after registering, on the thread that answers
   * osqueryd, and 1,000,000 windows (retention.max_rows) took 4.5 s at load 5 read at once.
   */
  static async open(opts: RetainedWindowsOptions, between?: () => Promise<void>): Promise<RetainedWindows> {
    const store = new RetainedWindows(opts, false);
    await readInSlices(store.loading(), between);
    return store;
  }

  append(windows: readonly ScoredWindow[]): void {
    this.appendRecords(windows);
  }

  /**
   * A window closed again (the scorer restarted from a save older than its close, and the
   * queue gave it the same rows again) replaces the record of its first close. At the newest
   * end it is looked up by key among the windows of that end: found by a scan of them, every
   * subject closing at one boundary scanned all the others (10,000 window subjects made
   * reading 200,000 windows take 5.0 s). One of an older end is looked for among the earlier
   * windows of its own subject and host, newest first: they closed in time order, so the walk
   * stops at one that ended before it, except at one closed again itself. A restart closes a
   * subject's windows again oldest first, so the one before each is the one closed again
   * just before it; a walk over all windows that stopped at the first older end (as did this
   * store's first version) found the first and missed the others, kept twice. (A walk over
   * the subject's windows, not all: the windows of a host whose rows come late are not in
   * time order with the others.)
   */
  protected override indexed(row: number, w: ScoredWindow): void {
    const i = this.slotOf(row);
    if (w.end >= this.tailEnd) {
      if (w.end > this.tailEnd) {
        this.tailEnd = w.end;
        this.tail = new Map();
      }
      const key = `${w.start}\u0000${this.host[i]}\u0000${this.subject[i]}`;
      const old = this.tail.get(key);
      this.tail.set(key, row);
      if (old !== undefined) this.kill(old);
      return;
    }
    const previous = this.previousOfPair(row);
    if (previous >= 0 && this.time[this.slotOf(previous)] > w.end) this.again.add(row);
    for (let at = previous; at >= 0; at = this.previousOfPair(at)) {
      const j = this.slotOf(at);
      if (this.time[j] === w.end && this.startCol[j] === w.start && !this.isDead(j)) {
        this.kill(at);
        this.again.add(row);
        return;
      }
      if (this.time[j] < w.end && !this.again.has(at)) return;
    }
  }

  protected override retired(firstLive: number): void {
    for (const row of this.again) if (row < firstLive) this.again.delete(row);
  }

  select(filter: WindowFilter): ScoredWindow[] {
    return [...this.matching(filter)];
  }

  /** windows matching the filter, newest first, each read from disk only when it is reached */
  *matching(filter: WindowFilter): Generator<ScoredWindow> {
    const m = this.matcher(filter);
    if (m) yield* this.scan(m);
  }

  /** matching's windows within an answer's share, and a summary of each subject's windows held back */
  *answer(filter: WindowFilter, share: AnswerShare): Generator<ScoredWindow | HeldBack<ScoredWindow>> {
    const m = this.matcher(filter);
    if (m) yield* this.scanShared(m, share);
  }

  /** the index test for a filter, or null when no window can match */
  private matcher(filter: WindowFilter): { matches: (i: number) => boolean; lowOnly: boolean } | null {
    // text compared by shownKey: SQLite compares the shown cell, maybe with a collation (store.ts)
    const subjects = idSet(filter.subject, this.subjects);
    const hosts = idSet(filter.host, this.hosts);
    const verdicts = verdictIds(filter.verdict);
    if (subjects?.size === 0 || hosts?.size === 0 || verdicts?.size === 0) return null;
    const starts = range(filter.start);
    const ends = range(filter.end);
    // A window's score is shown to six places (formatDouble) and SQLite compares that: each
    // edge is moved out by the rounding and SQLite decides, as for anomaly_scores. Compared
    // with the stored value, `score = 0.955977` copied from an answer found no window, and
    // `score <= 0.3` dropped one shown as 0.3
    const scores = range(filter.score, SCORE_SLACK);
    const hasScoreBound = Boolean(filter.score?.length);
    const matches = (i: number): boolean => {
      // (the index's time of a window is its end)
      if (!within(this.startCol[i], starts) || !within(this.time[i], ends)) return false;
      // (NaN, a learning window's score, is within no edges)
      if (hasScoreBound && !within(this.score[i], scores)) return false;
      if (subjects && !subjects.has(this.subject[i])) return false;
      if (hosts && !hosts.has(this.host[i])) return false;
      if (verdicts && !verdicts.has(this.verdict[i])) return false;
      return true;
    };
    return { matches, lowOnly: hasScoreBound && scores[1].v < LOW_SCORE };
  }
}
