import * as fs from 'fs';
import * as path from 'path';
import type { ScoredWindow, Verdict } from '../scorer/types';
import { latestPlausible } from '../scorer/clock';
import { readInSlices, SCORE_SLACK, textKey, type Bound, type WindowFilter, type WindowStore } from './store';
import type { LogFn } from '../conf/log';
import { fsyncDir, JsonlAppender, jsonlRecords, replaceFile, writeAll } from './atomic';

// The retained `anomaly_windows` rows. A subject closes one window per window length (144 a
// day at 10 minutes), so even a month of a busy host's windows is a few tens of thousands of
// small records: they are held in memory, oldest first, and appended to one JSON-lines file.
// Retention follows anomaly_scores (state/scores.ts): at most max_rows, and no older than
// max_days before the newest window. Dropped records leave the file when it is compacted,
// which happens once it holds twice as many records as are live.

export interface RetainedWindowsOptions {
  dir: string;
  maxRows: number;
  maxDays: number;
  log?: LogFn;
  /**
   * read the file as it is and never write it: 'anomaly report' reads the store of a running
   * extension, and a compaction (a new file renamed over it) sent the extension's next
   * windows into the old, unlinked file, lost at its next start
   */
  readOnly?: boolean;
}

const FILE = 'windows.jsonl';
/** records read between two turns of the event loop when reading in slices */
const LOAD_SLICE = 10_000;
const VERDICTS: readonly Verdict[] = ['good', 'ugly', 'bad', 'learning'];

export class RetainedWindows implements WindowStore {
  private rows: ScoredWindow[] = [];
  /** the newest end of a window inserted, and its windows by start, host and subject */
  private tailEnd = -Infinity;
  private tail = new Map<string, ScoredWindow>();
  private fileRecords = 0;
  /** null after a compaction the disk refused: opened again at the next append */
  private appender: JsonlAppender | null;
  private readonly file: string;
  private readonly log: LogFn;

  constructor(
    private readonly opts: RetainedWindowsOptions,
    load = true,
  ) {
    this.log = opts.log ?? (() => {});
    if (!opts.readOnly) fs.mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    this.file = path.join(opts.dir, FILE);
    // A link in its place is never followed. The extension sets it aside (readJsonl moves it to
    // quarantine/ and says so) and goes on, as with every other state file: it refused to
    // start, after it had registered, at every start, and each exit took away the logger
    // osqueryd had just activated. 'anomaly report' (read-only) moves nothing: it refuses.
    if (opts.readOnly && fs.lstatSync(this.file, { throwIfNoEntry: false })?.isSymbolicLink()) {
      throw new Error(`${this.file} is a symbolic link; refusing to follow it (remove it, the windows it held are gone)`);
    }
    this.appender = null;
    if (load) for (const _ of this.loading());
  }

  /** reads the file; yields every LOAD_SLICE records so that a caller may pause there */
  private *loading(): Generator<void, void, void> {
    let records = 0;
    for (const r of jsonlRecords<unknown>(this.file, (msg) => this.log('warn', msg))) {
      if (isScoredWindow(r)) this.insert(r);
      else this.log('warn', `${this.file}: skipped a record that is not a scored window`);
      if (++records % LOAD_SLICE === 0) yield;
    }
    this.fileRecords = records;
    this.retain();
    if (this.opts.readOnly) return;
    if (this.fileRecords !== this.rows.length) {
      // the dropped records can wait in the file: a full disk must not stop the start
      try {
        this.compact();
      } catch (err) {
        this.log('warn', `${this.file}: not compacted (${(err as Error).message}); tried again later`);
      }
    }
    this.appender = new JsonlAppender(this.file);
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

  get size(): number {
    return this.rows.length;
  }

  append(windows: readonly ScoredWindow[]): void {
    if (this.opts.readOnly) throw new Error(`${this.file}: opened read-only`);
    for (const w of windows) {
      this.appender ??= new JsonlAppender(this.file);
      this.appender.append(w);
      this.fileRecords++;
      this.insert(w);
    }
    this.retain();
    if (this.fileRecords > 2 * this.rows.length + 1000) {
      this.appender?.close();
      this.appender = null;
      this.compact();
      this.appender = new JsonlAppender(this.file);
    }
  }

  private insert(w: ScoredWindow): void {
    // windows close in time order; one that closes late still goes where its end says. A
    // window closed again (the scorer restarted from a save older than its close, and the
    // queue gave it the same rows again) replaces the first record of it.
    let i = this.rows.length;
    while (i > 0 && this.rows[i - 1].end > w.end) i--;
    if (w.end >= this.tailEnd) {
      // The newest end: the window closed again is looked up among its windows by key. Found
      // by a scan of the windows of the same end, every subject closing at one boundary
      // scanned all the others: 10,000 window subjects (memory.max_subjects) made reading
      // 200,000 retained windows take 5.0 s, against 0.9 s for 400 subjects, after the
      // registration and before any ping was answered.
      if (w.end > this.tailEnd) {
        this.tailEnd = w.end;
        this.tail = new Map();
      }
      const key = `${w.start}\u0000${w.host}\u0000${w.subject}`;
      const old = this.tail.get(key);
      this.tail.set(key, w);
      if (old) {
        let j = i;
        while (j > 0 && this.rows[j - 1].end === w.end && this.rows[j - 1] !== old) j--;
        if (j > 0 && this.rows[j - 1] === old) {
          this.rows[j - 1] = w;
          return;
        }
      }
      this.rows.splice(i, 0, w);
      return;
    }
    let j = i;
    while (j > 0 && this.rows[j - 1].end === w.end && !sameWindow(this.rows[j - 1], w)) j--;
    if (j > 0 && sameWindow(this.rows[j - 1], w)) this.rows[j - 1] = w;
    else this.rows.splice(i, 0, w);
  }

  private retain(): void {
    // the newest window whose time is plausible (scorer/clock.ts): one from the far future
    // would retire all the others
    let k = this.rows.length - 1;
    const latest = latestPlausible();
    while (k >= 0 && this.rows[k].end > latest) k--;
    const newest = k >= 0 ? this.rows[k].end : 0;
    const oldest = newest - this.opts.maxDays * 86400;
    let drop = Math.max(0, this.rows.length - this.opts.maxRows);
    while (drop < this.rows.length && this.rows[drop].end < oldest) drop++;
    if (drop) this.rows.splice(0, drop);
  }

  /**
   * rewrite the file with the live records only: temp file, fsync, rename. Every byte is
   * written or the copy is thrown away: a disk that fills up takes part of a write without
   * an error (a short write), and renaming that part over the file lost the windows after it.
   */
  private compact(): void {
    replaceFile(this.file, (fd) => {
      const chunk: string[] = [];
      for (const w of this.rows) {
        chunk.push(`${JSON.stringify(w)}\n`);
        if (chunk.length >= 1000) writeAll(fd, chunk.splice(0).join(''));
      }
      if (chunk.length) writeAll(fd, chunk.join(''));
    });
    fsyncDir(this.opts.dir);
    this.fileRecords = this.rows.length;
  }

  select(filter: WindowFilter): ScoredWindow[] {
    // text compared by textKey: SQLite may compare with a collation (store.ts)
    const subjects = filter.subject ? new Set(filter.subject.map(textKey)) : null;
    const hosts = filter.host ? new Set(filter.host.map(textKey)) : null;
    const verdicts = filter.verdict ? new Set(filter.verdict.map(textKey)) : null;
    // A window's score is shown to six places (formatDouble) and SQLite compares that: each
    // edge is moved out by the rounding and SQLite decides, as for anomaly_scores
    // (state/scores.ts). Compared with the stored double, `score = 0.955977` copied from an
    // answer found no window, and `score <= 0.3` dropped one shown as 0.3
    const score = filter.score?.map((b): Bound =>
      b.op === '>' || b.op === '>=' ? { op: '>=', value: b.value - SCORE_SLACK } : { op: '<=', value: b.value + SCORE_SLACK },
    );
    const out: ScoredWindow[] = [];
    for (let i = this.rows.length - 1; i >= 0; i--) {
      const w = this.rows[i];
      if (filter.start && !within(w.start, filter.start)) continue;
      if (score && (w.score === null || !within(w.score, score))) continue;
      if (subjects && !subjects.has(textKey(w.subject))) continue;
      if (hosts && !hosts.has(textKey(w.host))) continue;
      if (verdicts && !verdicts.has(textKey(w.verdict))) continue;
      out.push(w);
    }
    return out;
  }

  flush(): void {
    this.appender?.sync();
  }

  close(): void {
    this.appender?.close();
  }
}

function sameWindow(a: ScoredWindow, b: ScoredWindow): boolean {
  return a.start === b.start && a.subject === b.subject && a.host === b.host;
}

function within(x: number, bounds: readonly Bound[]): boolean {
  for (const b of bounds) {
    if (b.op === '>' ? !(x > b.value) : b.op === '>=' ? !(x >= b.value) : b.op === '<' ? !(x < b.value) : !(x <= b.value)) return false;
  }
  return true;
}

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
