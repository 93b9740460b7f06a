import { compareMarks, isQueuedMark, MODEL_NAMES, type QueuedMark, type ScoredEvent, type TakenMark, type Verdict } from '../scorer/types';
import { hashText, idSet, range, Retained, verdictIds, within, VERDICTS, LOW_SCORE, type RetainedKind, type RetainedOptions, type Walk } from './retained';
import type { AnswerShare, HeldBack } from './answer-share';
import { eventDigest } from './event-digest';
import { NumberCounts, rowNumber, runKey, runNumber } from './retained-runs';
import { readInSlices, SCORE_SLACK, shownKey, type RowIdentity, type ScoreFilter, type ScoreStore } from './store';

// The retained `anomaly_scores` rows: an index of typed columns and the rows in segment files
// (state/retained.ts), which anomaly_windows' store shares.

/**
 * The newest low-scored rows are also kept parsed in memory, up to this many bytes of their
 * JSON: the alert query returns them, and reading each from disk (a syscall and a parse per
 * row) was most of its cost. Normal rows are 1 % of this list; a flood of bad rows only
 * pushes older ones back to disk.
 */
const LOW_CACHE_BYTES = 8 << 20;
/** the last rows a replay after a crash can repeat: far more than 250 ms of scoring */
const REPLAY_IDS = 50_000;

export type RetainedScoresOptions = RetainedOptions & {
  /**
   * keep the number of each row's id as it is loaded (rowNumbers): 8 bytes a row loaded, for
   * the command line's ledgers; the extension keeps none
   */
  rowNumbers?: boolean;
};

/** the last second of year 9999, as results lines are bounded (scorer/parse/results.ts) */
const LAST_SECOND = 253_402_300_799;
const TEXT_FIELDS = ['id', 'host', 'subject', 'query', 'action', 'event', 'model', 'reasons', 'columns'] as const;

/**
 * A record of the shape the scorer writes. A segment line that parses but is not one (a bit
 * flip, an editor, another version) is skipped on load: one such row made every SELECT on
 * anomaly_scores fail (a value that is not text), and one with an absurd time retired every
 * other row (retention counts from the newest time).
 */
function isScoredEvent(r: unknown): r is ScoredEvent {
  if (!r || typeof r !== 'object' || Array.isArray(r)) return false;
  const e = r as Record<string, unknown>;
  for (const k of TEXT_FIELDS) if (typeof e[k] !== 'string') return false;
  const t = e.time;
  const s = e.score;
  return (
    typeof t === 'number' &&
    t >= 0 &&
    t <= LAST_SECOND &&
    (s === null || (typeof s === 'number' && s >= 0 && s <= 1)) &&
    VERDICTS.includes(e.verdict as Verdict)
  );
}

const SCORES: RetainedKind<ScoredEvent> = {
  what: 'retained scores',
  isRecord: isScoredEvent,
  time: (e) => e.time,
  score: (e) => e.score,
  verdict: (e) => e.verdict,
  subject: (e) => e.subject,
  host: (e) => e.host,
  tag: (e) => e.query,
  hashed: (e) => e.id,
  digest: (e) => eventDigest(e.query, e.event, e.columns),
  // (32 bits: it only orders what a summary names)
  group: (e) => eventDigest(e.query, e.event) >>> 0,
  // (a baseline's verdict is `host:rarity`, `fleet`; a learning subject's '')
  own: (e) => (MODEL_NAMES as readonly string[]).includes(e.model),
  bulk: (e) => e.columns.length,
  lowCacheBytes: LOW_CACHE_BYTES,
};

export class RetainedScores extends Retained<ScoredEvent> implements ScoreStore {
  /** ids of the last rows loaded, until the first row appended that is not among them (see append) */
  private replayIds: Map<string, number> | null = null;
  /** replayIds holds only the ids loaded (none of a batch scored again: scoredAgain) */
  private onlyLoadedIds = false;
  /** while loading: the ids and times of the last rows read */
  private lastIds: [string, number][] = [];
  /**
   * The queue place of the newest row loaded (ScoredEvent.queued), until the first row appended
   * past it. Rows are retained in queue order, so every replayed row at or before it is here
   * already, however long the replay: a damaged queue cursor replays a whole segment, 16 MB of
   * lines, and the ids of the last REPLAY_IDS rows loaded reached back over only part of it
   */
  private retainedThrough: QueuedMark | null = null;
  /** rowNumber of each row's id by its absolute row number, while loading with the option rowNumbers */
  private loadedNumbers: Float64Array | null;
  private loadedCount = 0;

  constructor(opts: RetainedScoresOptions, load = true) {
    super(SCORES, opts);
    this.loadedNumbers = opts.rowNumbers ? new Float64Array(1024) : null;
    if (load) for (const _ of this.loading());
  }

  /**
   * The store, loaded in slices with a turn of the event loop between them. A million rows
   * take seconds to parse (3.6–4.3 s on the 2-core development machine, more under load),
   * and osqueryd gives an extension's logger `--extensions_timeout` (3 s by default) to
   * register: the extension registers first and loads this meanwhile, answering pings and
   * acknowledging lines while it does.
   */
  static async open(opts: RetainedScoresOptions, between?: () => Promise<void>): Promise<RetainedScores> {
    const store = new RetainedScores(opts, false);
    await readInSlices(store.loading(), between);
    return store;
  }

  protected override indexed(row: number, ev: ScoredEvent, loading: boolean): void {
    if (!loading) return;
    if (this.loadedNumbers) {
      if (row >= this.loadedNumbers.length) {
        const grown = new Float64Array(Math.max(row + 1, this.loadedNumbers.length * 2));
        grown.set(this.loadedNumbers);
        this.loadedNumbers = grown;
      }
      this.loadedNumbers[row] = rowNumber(ev.id);
      this.loadedCount = Math.max(this.loadedCount, row + 1);
    }
    if (isQueuedMark(ev.queued)) this.retainedThrough = ev.queued;
    const lastIds = this.lastIds;
    lastIds.push([ev.id, ev.time]);
    if (lastIds.length > 2 * REPLAY_IDS) lastIds.splice(0, lastIds.length - REPLAY_IDS);
  }

  protected override loaded(): void {
    if (this.lastIds.length) {
      this.replayIds = new Map(this.lastIds.slice(-REPLAY_IDS));
      this.onlyLoadedIds = true;
    }
    this.lastIds = [];
  }

  /** Append scored events (see Retained.appendRecords); `since`: the first queue segment of this start */
  append(events: readonly ScoredEvent[], since?: number): void {
    if (this.retainedThrough) {
      const through = this.retainedThrough;
      const at = [through[1], through[2], through[3]] as const;
      let first = 0;
      for (; first < events.length; first++) {
        const q = events[first].queued;
        if (!q) continue;
        // a row of another epoch (the queue's places may repeat), of a segment begun since this
        // start (never retained before: a damaged mark that says otherwise must not drop it), or
        // past the mark ends the replay
        if (q[0] !== through[0] || (since !== undefined && q[1] >= since) || compareMarks([q[1], q[2], q[3]], at) > 0) {
          this.retainedThrough = null;
          // a place of the epoch retained through, past it, was never retained: the ids loaded
          // must not drop its row. The count of identical rows of a second starts empty at a
          // start (scorer/row-id.ts), and the second of two identical rows of one second a
          // restart fell between took the first one's id, and was dropped as its replay
          if (q[0] === through[0] && this.onlyLoadedIds) this.replayIds = null;
          break;
        }
      }
      const replayed = events.slice(0, first).filter((e) => e.queued);
      if (replayed.length) this.log('info', `${replayed.length} rows scored again were already retained; kept once`);
      events = events
        .slice(0, first)
        .filter((e) => !e.queued)
        .concat(events.slice(first));
    }
    if (this.replayIds) {
      // the queue's cursor is saved at most every 250 ms: after a crash the lines since are
      // scored again, and their rows, already here, would be kept twice (the alert query would
      // show each twice). Replayed lines come first and in order, so the first row not already
      // here ends the replay
      const ids = this.replayIds;
      // an id names the row's time and content (scorer.ts, idFor); its score may differ, as the
      // subject may resume from an older save
      const fresh = events.filter((e) => ids.get(e.id) !== e.time);
      if (fresh.length < events.length) this.log('info', `${events.length - fresh.length} rows scored again were already retained; kept once`);
      if (fresh.length) this.replayIds = null;
      events = fresh;
    }
    this.appendRecords(events);
  }

  /**
   * A batch whose rows the disk refused in part goes back to the queue and is scored again
   * whole (ScoringService.score): the rows of it this store took before the refusal are its
   * newest, and they come again first. Those are kept once, as a crash's replay is (append).
   * They are found among the newest rows by id hash and time, as the index holds them.
   */
  scoredAgain(events: readonly RowIdentity[]): void {
    const newest = new Set<string>();
    for (let i = this.end - 1; i >= Math.max(this.start, this.end - events.length); i--) newest.add(`${this.hash[i]} ${this.time[i]}`);
    const taken = events.filter((e) => newest.has(`${hashText(e.id)} ${e.time}`));
    if (!taken.length) return;
    this.replayIds ??= new Map();
    this.onlyLoadedIds = false;
    for (const e of taken) this.replayIds.set(e.id, e.time);
  }

  /**
   * The rows retained after the window scorer's `taken` mark, oldest first: rows are retained
   * in queue order, so they are the newest ones of its epoch past it. With no mark (no window
   * state saved yet), the newest rows of the newest row's epoch. Rows of earlier builds carry
   * no place and end the run.
   */
  *retainedAfter(taken: TakenMark | null, max: number): Generator<ScoredEvent | null> {
    let epoch = taken?.epoch;
    yield* this.newestWhile((e) => {
      const q = e.queued;
      if (!isQueuedMark(q)) return false;
      epoch ??= q[0];
      return q[0] === epoch && (!taken || compareMarks([q[1], q[2], q[3]], taken.at) > 0);
    }, max);
  }

  select(filter: ScoreFilter): ScoredEvent[] {
    return [...this.matching(filter)];
  }

  /** rows matching the filter, newest first, each read from disk only when it is reached */
  *matching(filter: ScoreFilter): Generator<ScoredEvent> {
    const m = this.matcher(filter);
    if (!m) return;
    for (const ev of this.scan(m)) if (m.wanted(ev)) yield ev;
  }

  /** matching's rows within an answer's share, and a summary of each subject's rows held back */
  *answer(filter: ScoreFilter, share: AnswerShare): Generator<ScoredEvent | HeldBack<ScoredEvent>> {
    const m = this.matcher(filter);
    if (!m) return;
    for (const ev of this.scanShared(m, share)) if ('held' in ev || m.wanted(ev)) yield ev;
  }

  /** the index test for a filter, or null when no row can match */
  private matcher(filter: ScoreFilter): (Walk & { wanted: (ev: ScoredEvent) => boolean }) | null {
    const subjects = idSet(filter.subject, this.subjects);
    const hosts = idSet(filter.host, this.hosts);
    const queries = idSet(filter.query, this.tags);
    const verdicts = verdictIds(filter.verdict);
    const ids = filter.id ? new Set(filter.id.map(hashText)) : null;
    // a value never stored matches nothing: no scan at all
    if (subjects?.size === 0 || hosts?.size === 0 || queries?.size === 0 || verdicts?.size === 0) return null;
    const times = range(filter.time);
    // scores are stored as float32 and shown rounded (SCORE_SLACK): the edges are widened
    const scores = range(filter.score, SCORE_SLACK);
    const hasScoreBound = Boolean(filter.score?.length);
    const matches = (i: number): boolean => {
      if (!within(this.time[i], times)) return false;
      // (NaN, a row without a score, is within no edges)
      if (hasScoreBound && !within(this.score[i], scores)) return false;
      if (subjects && !subjects.has(this.subject[i])) return false;
      if (hosts && !hosts.has(this.host[i])) return false;
      if (queries && !queries.has(this.tag[i])) return false;
      if (verdicts && !verdicts.has(this.verdict[i])) return false;
      if (ids && !ids.has(this.hash[i])) return false;
      return true;
    };
    // the ids themselves, for rows whose hash matched: a Set, as an IN list of n ids checked
    // with a scan of the list per row cost n² (200k ids: minutes of the main thread's CPU)
    const wanted = filter.id ? new Set(filter.id.map(shownKey)) : null;
    // only low scores can match: walk the list of them, newest first, instead of every row
    return { matches, lowOnly: hasScoreBound && scores[1].v < LOW_SCORE, hashes: ids, wanted: (ev) => !wanted || wanted.has(shownKey(ev.id)) };
  }

  /**
   * How many rows of each query run are retained: the runs the extension scored into this
   * state, which `anomaly score --log` must not score nor learn again (it keeps a ledger of
   * its own runs only). Read from the index, not the segments: 8 bytes a retained row.
   */
  runRows(): NumberCounts {
    const keys = new Float64Array(this.size);
    let n = 0;
    for (let i = this.start; i < this.end; i++)
      if (!this.isDead(i)) keys[n++] = runNumber(runKey({ host: this.hosts.values[this.host[i]], query: this.tags.values[this.tag[i]], time: this.time[i] }));
    return new NumberCounts(keys.subarray(0, n));
  }

  /**
   * The rows retained when the store was loaded, by the number of their ids (rowNumber): the
   * rows themselves, where runRows counts them. Needs the option rowNumbers; the numbers kept
   * while loading are let go.
   */
  rowNumbers(): NumberCounts {
    const loaded = this.loadedNumbers;
    if (!loaded) throw new Error('rowNumbers needs the store opened with the option rowNumbers');
    this.loadedNumbers = null;
    const keys = new Float64Array(this.size);
    let n = 0;
    for (let i = this.start; i < this.end; i++) {
      const row = this.base + i;
      if (!this.isDead(i) && row < this.loadedCount) keys[n++] = loaded[row];
    }
    return new NumberCounts(keys.subarray(0, n));
  }

  get(id: string): ScoredEvent | undefined {
    // (matching lets through ids a collation could equate: a label names one row exactly)
    for (const ev of this.matching({ id: [id] })) if (ev.id === id) return ev;
    return undefined;
  }
}
