import * as fs from 'fs';
import * as path from 'path';
import { latestPlausible } from '../scorer/clock';
import { fnv1a32 as fnv } from '../scorer/hash';
import type { Verdict } from '../scorer/types';
import type { LogFn } from '../conf/log';
import { keptRows, ONSET_ROWS, type ToldEvent } from './answer-keep';
import { AnswerMarks, markKey } from './answer-marks';
import { OlderRows } from './older-rows';
import { holdBack, shareOut, tally, type AnswerShare, type HeldBack, type HeldEvent, type PairTally } from './answer-share';
import { APPEND_READ, fsyncDir, fsyncDirInBackground, makeDir, quarantine, READ, writeAll } from './atomic';
import { shownKey, textKey, type Bound } from './store';
import { jsonShown, oneLine, storedJson } from '../extension/hidden-chars';

// Retained records (anomaly_scores rows, anomaly_windows rows) as an index of typed columns
// in memory and the records themselves in append-only segment files. A million records must
// stay cheap to hold and fast to filter, so the columns that queries filter on live in typed
// arrays (a few dozen bytes a record), while each record's JSON lives on disk and is read
// back only for the records a query returns. Held as one object each, 1,000,000 retained
// windows grew resident memory by 666 MB.
//
// Age retention counts from the newest record's time rather than the wall clock, so replaying
// an old log keeps its records, and a live host behaves the same as "now minus max_days"; a
// record dated more than a day past the wall clock does not count (scorer/clock.ts).

/**
 * one cut subject's rows an answer chooses from (scanShared): absolute row numbers oldest
 * first, its ONSET_ROWS oldest and its CHOSEN_ROWS newest, and which are kept
 */
interface CutRows {
  rows: Float64Array;
  /** its rows between the oldest ONSET_ROWS and the newest CHOSEN_ROWS, of which a few are examined */
  older: OlderRows;
  /** its rows walked so far, newest first */
  seen: number;
  keep: Uint8Array;
  /** the held events to name, by absolute row */
  told: ToldEvent[];
  events: number;
  /** where the answer's walk is in `rows` */
  at: number;
}

/**
 * A cut subject's newest rows an answer chooses among (state/answer-keep.ts), its onset aside:
 * what it holds while it chooses is some 60 bytes a row (a million rows of one subject took
 * 61.5 MB), while the choice is about what came since the last interval; of older rows only
 * the lowest-scored row of each of a few events is examined (state/older-rows.ts), the rest
 * summed up
 */
export const CHOSEN_ROWS = 200_000;

export const VERDICTS: Verdict[] = ['good', 'ugly', 'bad', 'learning'];
/** the verdict column of a record replaced by a later one (a window closed again) */
const DEAD = 255;
const SEGMENT_ROWS = 100_000;
const SEGMENT_PREFIX = 'segment-';
/**
 * Records scored below this are also listed apart, so that the alert queries (score < 0.3)
 * read about 1 % of the records instead of scanning all of them: calibration makes
 * P(score < s) ≈ 10^(−4(1−s)) on normal records, 1 % below 0.5.
 */
export const LOW_SCORE = 0.5;
/** records parsed between two turns of the event loop when loading in slices (about 30 ms) */
const LOAD_SLICE = 10_000;
/**
 * bytes of records parsed between two turns of the event loop when a run of them is read back
 * (newestWhile): a user's rows of control characters are stored at 86 kB each, and 10,000 of
 * them held the thread that answers osqueryd for 1.2 s (review)
 */
const READ_SLICE_BYTES = 4 << 20;
/** bytes of a segment read at once when loading */
const LOAD_CHUNK = 4 << 20;
/** a record longer than this is not one the scorer wrote (a row keeps ~4 kB of its columns) */
const MAX_RECORD_BYTES = 16 << 20;
/**
 * The first line of each segment this version creates: its records are written by storedJson,
 * so their stored bytes bound what is shown of them, and a load need not measure each record's
 * shown size (noteShownSize: nearly free for ASCII records, 1.6–1.9 s of CPU for a million
 * with non-ASCII text, a third of their load: docs/benchmarks.md, `bench load`). A segment
 * without it (an earlier build's, or one whose first write was torn) is measured as before;
 * a first line that begins as a mark but is not this one is damaged: one unreadable line, and
 * its segment measured, which is right for a segment of any build.
 */
export const STORED_MARK = '{"segment":"retained records","stored":"storedJson"}';
/** how a first line that is meant as a mark begins (never a record: no kind has a `segment` member) */
const MARK_START = '{"segment":';
/** the mark's line, and its bytes (ASCII) */
const MARK_LINE = `${STORED_MARK}\n`;

export interface RetainedOptions {
  dir: string;
  maxRows: number;
  maxDays: number;
  log?: LogFn;
  /** bytes of low-scored records kept parsed in memory (default: the kind's) */
  lowCacheBytes?: number;
  /**
   * read the files as they are and never write, cut, move or remove one: 'anomaly report'
   * reads the store of a running extension, whose own appends continue meanwhile
   */
  readOnly?: boolean;
}

/** what a store needs to know of its records */
export interface RetainedKind<R> {
  /** what messages call them: 'retained scores' */
  what: string;
  isRecord(r: unknown): r is R;
  /** the time retention counts by */
  time(r: R): number;
  score(r: R): number | null;
  verdict(r: R): Verdict;
  subject(r: R): string;
  host(r: R): string;
  /** a second time kept in the index (a window's start), if any */
  start?(r: R): number;
  /** a third text kept interned (a row's query), if any */
  tag?(r: R): string;
  /** a text kept as its hash (a row's id), if any */
  hashed?(r: R): string;
  /**
   * the digest naming what happened (state/event-digest.ts), if records can repeat one: an
   * answer that must cut a subject's records keeps one of each (state/answer-keep.ts); without
   * it, and for records scored at or above LOW_SCORE, each record is an event of its own
   */
  digest?(r: R): number;
  /** the digest naming what a record's event is of (a program and its lineage): a summary names one held event of each first */
  group?(r: R): number;
  /**
   * whether the record was scored by its subject's own models (a subject past its learning),
   * not by a baseline's or while learning: an answer with no room for every subject ranks
   * those first (answer-share.ts)
   */
  own?(r: R): boolean;
  /**
   * the UTF-16 units of a cell few queries read (a row's `columns`), which its stored JSON
   * holds in at least as many bytes: an answer that does not read it does not pay for it
   * (AnswerShare.rowBytes), or a user's rows padded there cost it up to 8 times their wire
   * bytes (revfold)
   */
  bulk?(r: R): number;
  /**
   * link each record to the one before it of the same subject and host (previousOfPair): a
   * subclass that looks for an earlier record of the same key walks that pair's records only
   */
  pairs?: boolean;
  /** bytes of the newest low-scored records kept parsed */
  lowCacheBytes: number;
  /** a file of records of an earlier build, read as the first segment and never appended to */
  legacyFile?: string;
}

class Interner {
  private readonly ids = new Map<string, number>();
  /** the ids of the values of each shownKey (a collation, or the shown form, may equate them) */
  private readonly byKey = new Map<string, number[]>();
  readonly values: string[] = [];
  /** each value as the tables show it (oneLine): what an answer's cell costs */
  readonly shown: string[] = [];
  id(value: string): number {
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(value);
      this.shown.push(oneLine(value));
      this.ids.set(value, id);
      const key = shownKey(value);
      const same = this.byKey.get(key);
      if (same) same.push(id);
      else this.byKey.set(key, [id]);
    }
    return id;
  }
  /** the ids of every value SQLite may take for `value` (shown, or raw) under some collation */
  lookup(value: string): readonly number[] {
    return this.byKey.get(shownKey(value)) ?? [];
  }
}

interface Segment {
  n: number;
  file: string;
  fd: number;
  size: number;
  /** index (absolute row number) of its last row */
  lastRow: number;
  /** a refused write left part of a record at its end that could not be cut off */
  torn?: boolean;
  /** written since its last fdatasync */
  unsynced?: boolean;
  /** its fdatasyncs under way in libuv's pool: the descriptor is closed once they return */
  inPool?: number;
  /** dropped or closed while an fdatasync was in the pool */
  closing?: boolean;
  /** it begins with STORED_MARK */
  marked?: boolean;
}

type Column = Float64Array | Float32Array | Uint8Array | Uint32Array;

/** how a scan finds the records a filter can match */
export interface Walk {
  /** the test on a live slot */
  matches: (i: number) => boolean;
  /** no score at or above LOW_SCORE can match: only the list of low-scored records is walked */
  lowOnly: boolean;
  /**
   * only records whose `hash` column is one of these can match (a filter on ids): they are
   * found by a plain pass over that column, and only they are tested. osqueryd calls a table
   * once per value of an IN list and per row of a join, so `WHERE id IN (…)` or a join of
   * anomaly_feedback with anomaly_scores looks one id up per call, and each such call walked
   * and tested every slot: 57–74 ms of the main thread over a million retained rows
   */
  hashes?: ReadonlySet<number> | null;
}

/**
 * The index and the segments. A subclass says how its table's filter matches (`scan` with a
 * test on slots) and may look at each record as it is indexed (`indexed`), to drop repeats.
 */
/**
 * The row number of each record an answer yielded (extension/plugin/rowid.ts): unique among
 * the records of a store and the same for a record in every answer while the process runs,
 * so that a table's rowid of a record is both by construction
 */
const answeredRows = new WeakMap<object, number>();

/** the row number of a record an answer yielded, if it came from one */
export function answeredRowOf(record: object): number | undefined {
  return answeredRows.get(record);
}

export abstract class Retained<R> {
  protected readonly log: LogFn;
  private capacity = 0;
  /** absolute row number of index slot 0 */
  protected base = 0;
  /** first live slot and one past the last */
  protected start = 0;
  protected end = 0;
  /** slots in [start, end) replaced by a later record */
  private dead = 0;
  protected time = new Float64Array(0);
  protected score = new Float32Array(0);
  protected verdict = new Uint8Array(0);
  protected subject = new Uint32Array(0);
  protected host = new Uint32Array(0);
  /** kinds without the column keep it empty */
  protected startCol = new Float64Array(0);
  protected tag = new Uint32Array(0);
  protected hash = new Uint32Array(0);
  private digest = new Float64Array(0);
  private group = new Uint32Array(0);
  /** 1: scored by its subject's own models (RetainedKind.own) */
  private own = new Uint8Array(0);
  /** RetainedKind.bulk, capped at 2^32 - 1 */
  private bulk = new Uint32Array(0);
  /**
   * 1 once the record was sent in an answer on the alert route (AnswerShare.marks): a subject
   * cut from one takes its never-answered events first (answer-keep.ts); kept across restarts
   * in `marks`
   */
  private answered = new Uint8Array(0);
  private readonly marks: AnswerMarks;
  /** rows back to the record before of the same subject and host (0: none, or too far) */
  private pairBack = new Uint32Array(0);
  /** the newest row of each subject and host (by host id * 2^32 + subject id), with `pairs` */
  private lastOfPair = new Map<number, number>();
  private segOf = new Uint32Array(0);
  private offset = new Float64Array(0);
  private length = new Uint32Array(0);
  protected readonly subjects = new Interner();
  protected readonly hosts = new Interner();
  protected readonly tags = new Interner();
  private segments: Segment[] = [];
  /** absolute row numbers of the records scored below LOW_SCORE, oldest first, from lowHead */
  private low: number[] = [];
  private lowHead = 0;
  /** parsed low-scored records by absolute row number, oldest first (Map keeps insertion order) */
  private readonly lowCache = new Map<number, { r: R; bytes: number }>();
  /** segments (by number) of records stored raw by an earlier version: their ratio of shown to stored bytes */
  private readonly shownRatio = new Map<number, number>();
  private lowCacheBytes = 0;
  private newest = 0;
  /** a segment was created since the directory was last fsynced */
  private dirUnsynced = false;
  /**
   * segment files of which records could not be read at load (a read error, unreadable
   * records, not a file), each named in the log: rows retained there are not here, and a
   * caller that expected them says why (`anomaly score`, whose summary put it down to retention)
   */
  unreadableAtLoad = 0;
  /** records whose shown size a load measured (noteShownSize), for the tests and benchmarks */
  measuredAtLoad = 0;

  constructor(
    protected readonly kind: RetainedKind<R>,
    protected readonly opts: RetainedOptions,
  ) {
    this.log = opts.log ?? (() => {});
    // a reader ('anomaly report') creates nothing: a mistyped --state is no place for new directories
    if (!opts.readOnly) makeDir(opts.dir);
    this.marks = new AnswerMarks(opts.dir, Boolean(opts.readOnly), this.log);
  }

  get size(): number {
    return this.end - this.start - this.dead;
  }

  private columns(): Column[] {
    const k = this.kind;
    const cols: Column[] = [this.time, this.score, this.verdict, this.subject, this.host, this.segOf, this.offset, this.length, this.answered];
    if (k.start) cols.push(this.startCol);
    if (k.tag) cols.push(this.tag);
    if (k.hashed) cols.push(this.hash);
    if (k.digest) cols.push(this.digest);
    if (k.group) cols.push(this.group);
    if (k.own) cols.push(this.own);
    if (k.bulk) cols.push(this.bulk);
    if (k.pairs) cols.push(this.pairBack);
    return cols;
  }

  private grow(need: number): void {
    if (this.end + need <= this.capacity) return;
    const live = this.end - this.start;
    // compact first when most of the arrays are dropped rows
    if (this.start > 0 && this.start >= live) {
      this.shift();
      if (this.end + need <= this.capacity) return;
    }
    const cap = Math.max(1024, (live + need) * 2);
    const grown = <T extends Column>(a: T, make: new (n: number) => T): T => {
      const b = new make(cap);
      b.set(a.subarray(this.start, this.end) as never);
      return b;
    };
    const k = this.kind;
    this.time = grown(this.time, Float64Array);
    this.score = grown(this.score, Float32Array);
    this.verdict = grown(this.verdict, Uint8Array);
    this.subject = grown(this.subject, Uint32Array);
    this.host = grown(this.host, Uint32Array);
    if (k.start) this.startCol = grown(this.startCol, Float64Array);
    if (k.tag) this.tag = grown(this.tag, Uint32Array);
    if (k.hashed) this.hash = grown(this.hash, Uint32Array);
    if (k.digest) this.digest = grown(this.digest, Float64Array);
    if (k.group) this.group = grown(this.group, Uint32Array);
    if (k.own) this.own = grown(this.own, Uint8Array);
    if (k.bulk) this.bulk = grown(this.bulk, Uint32Array);
    this.answered = grown(this.answered, Uint8Array);
    if (k.pairs) this.pairBack = grown(this.pairBack, Uint32Array);
    this.segOf = grown(this.segOf, Uint32Array);
    this.offset = grown(this.offset, Float64Array);
    this.length = grown(this.length, Uint32Array);
    this.base += this.start;
    this.end -= this.start;
    this.start = 0;
    this.capacity = cap;
  }

  /** move the live rows to the front of the arrays, in place */
  private shift(): void {
    const s = this.start,
      e = this.end;
    for (const a of this.columns()) a.copyWithin(0, s, e);
    this.base += s;
    this.end = e - s;
    this.start = 0;
  }

  private currentSegment(): Segment {
    let seg = this.segments[this.segments.length - 1];
    const rowsInSeg = seg ? seg.lastRow - this.firstRowOf(seg) + 1 : Infinity;
    // (an earlier build's file is read, never appended to)
    if (!seg || rowsInSeg >= SEGMENT_ROWS || seg.n === 0) {
      const n = seg ? seg.n + 1 : 1;
      const file = path.join(this.opts.dir, `${SEGMENT_PREFIX}${String(n).padStart(8, '0')}.jsonl`);
      seg = { n, file, fd: fs.openSync(file, APPEND_READ, 0o600), size: 0, lastRow: this.base + this.end - 1 };
      this.segments.push(seg);
      this.dirUnsynced = true;
    }
    return seg;
  }

  private firstRowOf(seg: Segment): number {
    const i = this.segments.indexOf(seg);
    return i > 0 ? this.segments[i - 1].lastRow + 1 : this.base + this.start;
  }

  /**
   * Append records. They are indexed only once their bytes are written: a write that fails
   * (a full disk) is cut back out of the segment and throws, and the records written before
   * it stay.
   */
  protected appendRecords(records: readonly R[]): void {
    if (this.opts.readOnly) throw new Error(`${this.opts.dir}: opened read-only`);
    if (!records.length) return;
    this.grow(records.length);
    let done = 0;
    try {
      while (done < records.length) {
        const seg = this.currentSegment();
        const room = SEGMENT_ROWS - (seg.lastRow - this.firstRowOf(seg) + 1);
        done += this.appendChunk(seg, records.slice(done, done + Math.max(1, Math.min(room, 2000))));
      }
    } finally {
      this.retain();
    }
  }

  /** write one chunk of records to a segment, then index them; returns how many */
  private appendChunk(seg: Segment, records: readonly R[]): number {
    // (hidden characters as \u escapes: a record's stored bytes are what an answer is budgeted
    // by, and no cell shown of it takes more, extension/hidden-chars.ts oneLine)
    const lines = records.map((r) => `${storedJson(r)}\n`);
    // After a part that could not be cut off, the records go after it (O_APPEND), on a line
    // of their own: indexed at seg.size, they were read back as that part, missing from every
    // answer, and the first, glued to it, was skipped as unreadable at the next start. The
    // part is then one unreadable record, as failed.jsonl and the queue treat theirs
    const at = seg.torn ? fs.fstatSync(seg.fd).size : seg.size;
    // (a new segment's mark goes in its first write: a segment holds records only after it.
    // Torn before any record, it stays unmarked, and is measured at load as an earlier build's)
    const prefix = seg.torn ? '\n' : seg.size === 0 ? MARK_LINE : '';
    try {
      writeAll(seg.fd, Buffer.from(prefix + lines.join('')));
    } catch (err) {
      try {
        fs.ftruncateSync(seg.fd, at);
      } catch {
        seg.torn = true;
      }
      throw err;
    }
    if (prefix === MARK_LINE) seg.marked = true;
    seg.torn = false;
    seg.unsynced = true;
    let offset = at + prefix.length;
    const segIndex = this.segments.indexOf(seg);
    for (let k = 0; k < records.length; k++) {
      const bytes = Buffer.byteLength(lines[k]);
      const i = this.end++;
      this.index(i, records[k], segIndex, offset, bytes - 1);
      seg.lastRow = this.base + i;
      this.indexed(this.base + i, records[k], false);
      offset += bytes;
    }
    seg.size = offset;
    return records.length;
  }

  private index(i: number, r: R, segIndex: number, offset: number, length: number): void {
    const k = this.kind;
    const time = k.time(r);
    const score = k.score(r);
    this.time[i] = time;
    this.score[i] = score === null ? NaN : score;
    if (score !== null && score < LOW_SCORE) {
      this.low.push(this.base + i);
      this.cacheLow(this.base + i, r, length);
    }
    this.verdict[i] = Math.max(0, VERDICTS.indexOf(k.verdict(r)));
    this.subject[i] = this.subjects.id(k.subject(r));
    this.host[i] = this.hosts.id(k.host(r));
    if (k.start) this.startCol[i] = k.start(r);
    if (k.tag) this.tag[i] = this.tags.id(k.tag(r));
    if (k.hashed) this.hash[i] = hashText(k.hashed(r));
    // (only where an alert answer may cut: a digest reads the record's whole text, and the
    // others are each an event of their own)
    const low = score !== null && score < LOW_SCORE;
    if (k.digest) this.digest[i] = low ? k.digest(r) : NaN;
    if (k.group) this.group[i] = low ? k.group(r) : 0;
    if (k.own) this.own[i] = k.own(r) ? 1 : 0;
    if (k.bulk) this.bulk[i] = Math.min(0xffffffff, k.bulk(r));
    this.answered[i] = 0;
    if (k.pairs) {
      const pair = this.host[i] * 2 ** 32 + this.subject[i];
      const before = this.lastOfPair.get(pair);
      const back = before === undefined ? 0 : this.base + i - before;
      this.pairBack[i] = back <= 0xffffffff ? back : 0;
      this.lastOfPair.set(pair, this.base + i);
    }
    this.segOf[i] = this.segments[segIndex].n;
    this.offset[i] = offset;
    this.length[i] = length;
    // age retention counts from the newest record, so that an old log replayed keeps its
    // records; one dated in year 9999 (a host clock gone wrong, a hand-made log given to
    // 'anomaly score') retired every other one at once: such a record is kept but does not move it
    if (time > this.newest && time <= latestPlausible()) this.newest = time;
  }

  /**
   * A record written by a version before storedJson kept its hidden characters raw (DEL is 1
   * byte raw, 6 as `\u007f`): its stored bytes no longer bound what is shown of it, and an
   * answer budgeted by them passed its budget (2.1 times over for records of DEL). Its
   * segment's records are costed at the largest ratio of shown to stored bytes found in it
   * (1 for every segment written since), until it is retired. Segments that begin with
   * STORED_MARK are not measured: the ratio of each of their records is 1.
   */
  private noteShownSize(segment: number, text: string, bytes: number): void {
    this.measuredAtLoad++;
    const shown = jsonShown(text);
    if (shown === text) return;
    const ratio = Buffer.byteLength(shown) / bytes;
    if (ratio > (this.shownRatio.get(segment) ?? 1)) this.shownRatio.set(segment, ratio);
  }

  /** the bytes a record is budgeted at: stored, or as shown for a record stored raw (noteShownSize) */
  private shownLength(i: number): number {
    const ratio = this.shownRatio.get(this.segOf[i]);
    return ratio === undefined ? this.length[i] : Math.ceil(this.length[i] * ratio);
  }

  /** a record was indexed at absolute row `row` (read from a segment when `loading`) */
  protected indexed(_row: number, _r: R, _loading: boolean): void {}

  /** the reading is done */
  protected loaded(): void {}

  /** the records before absolute row `firstLive` have gone (a segment was removed) */
  protected retired(_firstLive: number): void {}

  /** the live slot of an absolute row number, or -1 */
  protected slotOf(row: number): number {
    const i = row - this.base;
    return i >= this.start && i < this.end ? i : -1;
  }

  /** a record replaced by a later one: no longer answered nor counted */
  protected kill(row: number): void {
    const i = this.slotOf(row);
    if (i < 0 || this.verdict[i] === DEAD) return;
    this.verdict[i] = DEAD;
    this.dead++;
    this.uncacheLow(row);
  }

  protected isDead(i: number): boolean {
    return this.verdict[i] === DEAD;
  }

  /** the absolute row of the live record before `row` of the same subject and host (kind `pairs`), or -1 */
  protected previousOfPair(row: number): number {
    const i = this.slotOf(row);
    if (i < 0 || this.pairBack[i] === 0) return -1;
    const before = row - this.pairBack[i];
    return this.slotOf(before) < 0 ? -1 : before;
  }

  private retain(): void {
    const oldest = this.newest - this.opts.maxDays * 86400;
    while (this.end - this.start > this.opts.maxRows || (this.start < this.end && this.time[this.start] < oldest)) {
      if (this.verdict[this.start] === DEAD) this.dead--;
      this.start++;
    }
    // whole segments whose rows are all dropped go away
    const firstLive = this.base + this.start;
    while (this.lowHead < this.low.length && this.low[this.lowHead] < firstLive) this.lowHead++;
    for (const row of this.lowCache.keys()) {
      if (row >= firstLive) break;
      this.uncacheLow(row);
    }
    if (this.lowHead > 1024 && this.lowHead * 2 > this.low.length) {
      this.low = this.low.slice(this.lowHead);
      this.lowHead = 0;
    }
    let dropped = false;
    while (this.segments.length > 1 && this.segments[0].lastRow < firstLive) {
      const seg = this.segments.shift()!;
      this.closeSegment(seg);
      this.shownRatio.delete(seg.n);
      if (!this.opts.readOnly) fs.rmSync(seg.file, { force: true });
      dropped = true;
    }
    // pairs whose records have all gone, forgotten a segment at a time rather than at every append
    if (dropped) for (const [pair, row] of this.lastOfPair) if (row < firstLive) this.lastOfPair.delete(pair);
    if (dropped) this.retired(firstLive);
  }

  /**
   * The newest live records for as long as `belongs` holds of each (read newest first, at most
   * `max`), given oldest first. Only their row numbers are held between the two passes, and
   * each record is read from disk when it is reached: a long run costs 8 bytes a record of
   * memory, not the records. Both passes yield null every LOAD_SLICE records or READ_SLICE_BYTES
   * read, where the caller may give the event loop a turn (a run of 500,000 read at once held it
   * for seconds).
   */
  protected *newestWhile(belongs: (r: R) => boolean, max: number): Generator<R | null> {
    const rows: number[] = [];
    let count = 0;
    let bytes = 0;
    /** whether the records read since the last turn are a slice's worth */
    const sliceRead = (i: number): boolean => {
      bytes += this.length[i];
      if (++count < LOAD_SLICE && bytes < READ_SLICE_BYTES) return false;
      count = 0;
      bytes = 0;
      return true;
    };
    for (let row = this.base + this.end - 1; rows.length < max; row--) {
      const i = row - this.base;
      if (i < this.start || i >= this.end) break;
      if (this.verdict[i] === DEAD) continue;
      const r = this.read(i);
      if (!r || !belongs(r)) break;
      rows.push(row);
      if (sliceRead(i)) yield null;
    }
    // records are followed by absolute number, as in scan: a retired one is passed over
    for (let k = rows.length - 1; k >= 0; k--) {
      const i = rows[k] - this.base;
      if (i < this.start || i >= this.end || this.verdict[i] === DEAD) continue;
      const r = this.read(i);
      if (r) yield r;
      if (sliceRead(i)) yield null;
    }
  }

  /**
   * live records whose slot passes `matches`, newest first, each read from disk only when it
   * is reached; with `lowOnly` (no score at or above LOW_SCORE can match) only the list of
   * low-scored ones is walked
   */
  protected *scan(walk: Walk): Generator<R> {
    for (const i of this.slots(walk)) {
      const r = this.read(i);
      if (r) yield r;
    }
  }

  /**
   * scan's records within an answer's share (state/answer-share.ts): the index is walked once
   * to tally each subject on a host, and where the answer would pass its budget, a second time
   * to list the rows of each subject that must be cut (8 bytes a row), of which it keeps the
   * ones that matter (state/answer-keep.ts); the others are summed up from the index, never
   * read, and come last as one HeldBack each, with a row read of each event they name
   */
  protected *scanShared(walk: Walk, share: AnswerShare): Generator<R | HeldBack<R>> {
    const pairs = new Map<number, PairTally>();
    const cost = (i: number): number =>
      share.rowBytes(
        this.shownLength(i),
        this.subjects.shown[this.subject[i]],
        this.hosts.shown[this.host[i]],
        this.kind.tag ? this.tags.shown[this.tag[i]] : '',
        this.kind.bulk ? this.bulk[i] : 0,
      );
    const pairOf = (i: number): number => this.host[i] * 2 ** 32 + this.subject[i];
    for (const i of this.slots(walk)) {
      const key = pairOf(i);
      let p = pairs.get(key);
      if (!p) pairs.set(key, (p = tally()));
      const c = cost(i);
      p.rows++;
      p.bytes += c;
      if (c > p.maxBytes) p.maxBytes = c;
      const score = this.score[i];
      if (score === score && !(score >= p.score)) p.score = score;
      if (this.kind.own && this.own[i]) p.own = true;
    }
    // (a subject's standing and whether the host lists it, when the pairs must be ranked: its
    // records retained in all)
    const retained = (): void => {
      for (let i = this.start; i < this.end; i++) {
        if (this.verdict[i] === DEAD) continue;
        const p = pairs.get(pairOf(i));
        if (p) p.retained++;
      }
      if (share.account) for (const [key, p] of pairs) p.account = share.account(this.subjects.values[key % 2 ** 32]);
    };
    if (!shareOut(pairs, share, retained)) {
      const sent: number[] = [];
      for (const i of this.slots(walk)) {
        const r = this.read(i);
        if (!r) continue;
        if (share.marks) sent.push(this.base + i);
        answeredRows.set(r as object, this.base + i);
        yield r;
      }
      this.handMarks(share, sent);
      return;
    }
    // (nothing is appended or retired until the first yield: slots are those of the tally)
    const tallyEnd = this.base + this.end;
    const cuts = new Map<PairTally, CutRows>();
    for (const p of pairs.values())
      if (p.cut)
        cuts.set(p, {
          rows: new Float64Array(Math.min(p.rows, CHOSEN_ROWS + ONSET_ROWS)),
          older: new OlderRows(),
          seen: 0,
          keep: new Uint8Array(0),
          told: [],
          events: 0,
          at: 0,
        });
    for (const i of this.slots(walk)) {
      const p = pairs.get(pairOf(i))!;
      const c = cuts.get(p);
      if (!c) continue;
      // newest first: the newest from the end of the list, the oldest ONSET_ROWS at its start
      const k = c.seen++;
      const size = c.rows.length;
      if (k < size - ONSET_ROWS) c.rows[size - 1 - k] = this.base + i;
      else if (k >= p.rows - ONSET_ROWS) c.rows[p.rows - 1 - k] = this.base + i;
      else {
        const d = this.kind.digest ? this.digest[i] : NaN;
        c.older.offer(this.base + i, d === d ? d : this.base + i, this.score[i], this.answered[i] === 1);
      }
    }
    for (const [p, c] of cuts) {
      if (c.older.seen) {
        // the onset, then the older rows examined, then the newest: still oldest first
        const older = c.older.sorted();
        const rows = new Float64Array(c.rows.length + older.length);
        rows.set(c.rows.subarray(0, ONSET_ROWS));
        rows.set(older, ONSET_ROWS);
        rows.set(c.rows.subarray(ONSET_ROWS), ONSET_ROWS + older.length);
        c.rows = rows;
      }
      const slot = (k: number) => c.rows[k] - this.base;
      const chosen = keptRows(
        {
          n: c.rows.length,
          digest: (k) => {
            const d = this.kind.digest ? this.digest[slot(k)] : NaN;
            return d === d ? d : c.rows[k];
          },
          // (a record without a digest is an event, and a group, of its own)
          group: (k) => {
            const d = this.kind.digest ? this.digest[slot(k)] : NaN;
            return d === d && this.kind.group ? this.group[slot(k)] : 2 ** 32 + c.rows[k];
          },
          time: (k) => this.time[slot(k)],
          score: (k) => this.score[slot(k)],
          cost: (k) => cost(slot(k)),
          answered: (k) => this.answered[slot(k)] === 1,
        },
        p.keepRows,
        p.keepBytes,
        // (a subject past its cap on the alert route has its flood's repeats summed up, one
        // cut only for the budget's sake keeps what fits: answer-keep.ts)
        p.rows <= share.perSubject,
      );
      c.keep = chosen.keep;
      c.told = chosen.told.map((t) => ({ ...t, at: c.rows[t.at] }));
      c.events = chosen.heldEvents;
      c.at = c.rows.length - 1;
    }
    const shared: { held: HeldBack | null } = { held: null };
    const sent: number[] = [];
    /** the folded pairs with a row in the answer (their summary must not say they have none) */
    const shownFolded = new Set<PairTally>();
    let folded = 0;
    for (const p of cuts.keys()) if (p.fold) folded++;
    for (const i of this.slots(walk)) {
      const p = pairs.get(pairOf(i));
      const row = this.base + i;
      // (a record appended since the tally is not in this answer)
      if (!p || row >= tallyEnd) continue;
      const c = cuts.get(p);
      if (c) {
        // the pair's list is walked down with the scan; a row not in it is held back
        while (c.at >= 0 && c.rows[c.at] > row) c.at--;
        if (c.at < 0 || c.rows[c.at] !== row || !c.keep[c.at]) {
          const start = this.kind.start ? this.startCol[i] : this.time[i];
          holdBack(
            p.fold ? shared : p,
            this.subjects.values[this.subject[i]],
            this.hosts.values[this.host[i]],
            this.kind.tag ? this.tags.values[this.tag[i]] : '',
            start,
            this.time[i],
            this.score[i],
            VERDICTS[this.verdict[i]],
          );
          continue;
        }
      }
      const r = this.read(i);
      if (!r) continue;
      if (share.marks) sent.push(row);
      if (p.fold) shownFolded.add(p);
      answeredRows.set(r as object, row);
      yield r;
    }
    this.handMarks(share, sent);
    for (const [p, c] of cuts) {
      if (p.fold || !p.held) continue;
      const h = p.held as HeldBack<R>;
      h.events = c.events;
      h.older = c.older.seen;
      h.told = this.toldOf(c.told);
      yield h;
    }
    if (shared.held) yield { ...(shared.held as HeldBack<R>), pairs: folded, shown: shownFolded.size };
  }

  /**
   * The records an answer on the alert route sent, once it has taken every one: their marks
   * are handed over as a commit, which its caller runs once the reader has them, so that an
   * answer left early, refused, made again or never delivered (osqueryd gone before the reply
   * was written) marks none of them
   */
  private handMarks(share: AnswerShare, rows: readonly number[]): void {
    if (share.marks && rows.length) share.marks(() => this.markAnswered(rows));
  }

  /**
   * The records marked answered, and the new marks to disk. By absolute number, as the arrays
   * may have moved meanwhile (one gone or replaced since is passed over)
   */
  private markAnswered(rows: readonly number[]): void {
    for (const row of rows) {
      const i = this.slotOf(row);
      if (i < 0 || this.answered[i] || this.verdict[i] === DEAD) continue;
      this.answered[i] = 1;
      this.marks.mark(markKey(this.segOf[i], this.offset[i]));
    }
    this.saveMarks();
  }

  /** the marks of the records loaded, from the file of them: the slots' keys ascend as the segments were read */
  private loadMarks(): void {
    const keys = this.marks.load();
    const matched: number[] = [];
    let k = 0;
    for (let i = this.start; i < this.end && k < keys.length; i++) {
      const key = markKey(this.segOf[i], this.offset[i]);
      while (k < keys.length && keys[k] < key) k++;
      if (keys[k] !== key) continue;
      this.answered[i] = 1;
      matched.push(key);
      k++;
    }
    // the others named records gone (a segment set aside or cut at a torn tail): dropped before
    // a record appended at their place is marked by them (review)
    if (matched.length < keys.length) this.marks.keepOnly(matched);
  }

  /** the marks of an answer, to disk (after it: a write per answer, none while it is sent) */
  private saveMarks(): void {
    this.marks.save(() => {
      const live: number[] = [];
      for (let i = this.start; i < this.end; i++) if (this.answered[i] && this.verdict[i] !== DEAD) live.push(markKey(this.segOf[i], this.offset[i]));
      return live;
    });
  }

  /** the events a summary names, each with its row read (one retired meanwhile is left out) */
  private toldOf(told: readonly ToldEvent[]): HeldEvent<R>[] {
    const out: HeldEvent<R>[] = [];
    for (const t of told) {
      const i = this.slotOf(t.at);
      const r = i < 0 || this.verdict[i] === DEAD ? undefined : this.read(i);
      if (r) out.push({ record: r, rows: t.rows, answered: t.answered });
    }
    return out;
  }

  /** slots a walk has tested (Walk.matches run), for the tests and benchmarks */
  slotsTested = 0;

  /** the live slots that pass the walk's test, newest first (see scan) */
  private *slots(walk: Walk): Generator<number> {
    const { matches } = walk;
    // records are followed by absolute number: a caller that pauses between them may see new
    // ones appended (and the arrays moved) or old ones retired in the meantime
    if (walk.hashes || walk.lowOnly) {
      // Compaction replaces this.low; the array held here keeps its absolute row numbers.
      const rows = walk.hashes ? this.rowsWithHash(walk.hashes) : this.low;
      for (let k = rows.length - 1; k >= 0; k--) {
        const i = rows[k] - this.base;
        if (i < this.start) return;
        if (i >= this.end || this.verdict[i] === DEAD) continue;
        this.slotsTested++;
        if (matches(i)) yield i;
      }
      return;
    }
    for (let row = this.base + this.end - 1; ; row--) {
      const i = row - this.base;
      if (i < this.start || i >= this.end) return;
      if (this.verdict[i] === DEAD) continue;
      this.slotsTested++;
      if (matches(i)) yield i;
    }
  }

  /** the absolute numbers of the live records whose hash is one of `hashes`, oldest first */
  private rowsWithHash(hashes: ReadonlySet<number>): number[] {
    const out: number[] = [];
    const hash = this.hash;
    if (hashes.size === 1) {
      const [h] = hashes;
      for (let i = this.start; i < this.end; i++) if (hash[i] === h) out.push(this.base + i);
    } else for (let i = this.start; i < this.end; i++) if (hashes.has(hash[i])) out.push(this.base + i);
    return out;
  }

  private cacheLow(row: number, r: R, bytes: number): void {
    this.lowCache.set(row, { r, bytes });
    this.lowCacheBytes += bytes;
    for (const old of this.lowCache.keys()) {
      if (this.lowCacheBytes <= (this.opts.lowCacheBytes ?? this.kind.lowCacheBytes)) break;
      this.uncacheLow(old);
    }
  }

  private uncacheLow(row: number): void {
    this.lowCacheBytes -= this.lowCache.get(row)?.bytes ?? 0;
    this.lowCache.delete(row);
  }

  private read(i: number): R | undefined {
    const cached = this.lowCache.get(this.base + i);
    if (cached) return cached.r;
    const seg = this.segments.find((s) => s.n === this.segOf[i]);
    if (!seg) return undefined;
    const buf = Buffer.allocUnsafe(this.length[i]);
    fs.readSync(seg.fd, buf, 0, buf.length, this.offset[i]);
    try {
      return JSON.parse(buf.toString('utf8')) as R;
    } catch {
      return undefined;
    }
  }

  /** reads the segments; yields every LOAD_SLICE records so that a caller may pause there */
  protected *loading(): Generator<void, void, void> {
    const what = this.kind.what;
    let names: string[];
    try {
      names = fs.readdirSync(this.opts.dir);
    } catch (err) {
      // (only a reader gets here without the directory: a writer made it)
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && this.opts.readOnly) return;
      throw err;
    }
    const files = names
      .filter((f) => f.startsWith(SEGMENT_PREFIX) && f.endsWith('.jsonl'))
      .sort()
      .map((f) => ({ f, n: Number(f.slice(SEGMENT_PREFIX.length, -'.jsonl'.length)) }));
    // an earlier build's one file comes first, as segment 0: its records are older than any segment's
    const legacy = this.kind.legacyFile;
    if (legacy && names.includes(legacy)) files.unshift({ f: legacy, n: 0 });
    for (const { f, n } of files) {
      const file = path.join(this.opts.dir, f);
      // Read in chunks and indexed record by record. A segment is 100,000 rows, and a row keeps
      // up to ~4 kB of its columns: a user whose processes have long command lines makes
      // segments of 400 MB, which were read whole into one buffer and all their rows parsed
      // before any was indexed: 935 MB of peak resident memory for one 420 MB segment at
      // every start, where osqueryd's watchdog allows 200 MB of growth. (O_NONBLOCK: a FIFO
      // in a segment's place no longer holds the start; it is not a regular file and is skipped.)
      let fd: number;
      let size: number;
      try {
        fd = this.opts.readOnly ? fs.openSync(file, READ | fs.constants.O_NONBLOCK) : fs.openSync(file, APPEND_READ | fs.constants.O_NONBLOCK, 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ELOOP' && !this.opts.readOnly) {
          // a link is never followed, and set aside as every other state file found to be one
          this.log('warn', `${file}: a symbolic link where a state file belongs; not followed, moved to ${quarantine(file)}`);
          this.unreadableAtLoad++;
          continue;
        }
        this.log('error', `${file}: cannot read ${what} (${(err as Error).message}); skipped`);
        this.unreadableAtLoad++;
        continue;
      }
      try {
        const st = fs.fstatSync(fd);
        if (!st.isFile()) throw new Error('not a regular file');
        size = st.size;
      } catch (err) {
        fs.closeSync(fd);
        this.log('error', `${file}: cannot read ${what} (${(err as Error).message}); skipped`);
        this.unreadableAtLoad++;
        continue;
      }
      const seg: Segment = { n, file, fd, size: 0, lastRow: 0 };
      this.segments.push(seg);
      const segIndex = this.segments.length - 1;
      const firstEnd = this.end;
      // one buffer for the whole read: a record cut by a read is moved to its start and the
      // next read goes after it (a new buffer per read is external memory the collector frees
      // late: 70 MB grown for 81 MB read)
      let buf = Buffer.allocUnsafe(LOAD_CHUNK);
      /** bytes at the start of buf: a record the last read cut */
      let kept = 0;
      /** within a record far too long for one: read past up to its newline */
      let skipping = false;
      let at = 0;
      let good = 0;
      let corrupt = 0;
      /** its first line began as a mark but was not STORED_MARK */
      let damagedMark = false;
      let failed: Error | null = null;
      while (at < size) {
        if (kept === buf.length) {
          if (buf.length >= MAX_RECORD_BYTES) {
            skipping = true;
            kept = 0;
          } else {
            const bigger = Buffer.allocUnsafe(buf.length * 2);
            buf.copy(bigger, 0, 0, kept);
            buf = bigger;
          }
        }
        let got: number;
        try {
          got = fs.readSync(fd, buf, kept, Math.min(buf.length - kept, size - at), at);
        } catch (err) {
          failed = err as Error;
          break;
        }
        if (got <= 0) break;
        const from = at - kept;
        at += got;
        const data = buf.subarray(0, kept + got);
        let pos = 0;
        for (;;) {
          const nl = data.indexOf(10, pos);
          if (nl < 0) break;
          if (skipping) {
            // the end of a record over MAX_RECORD_BYTES: one unreadable record
            skipping = false;
            corrupt++;
          } else if (from + pos === 0 && data.toString('latin1', pos, Math.min(nl, pos + MARK_START.length)) === MARK_START) {
            if (data.toString('latin1', pos, nl) === STORED_MARK) seg.marked = true;
            else {
              damagedMark = true;
              corrupt++;
            }
          } else if (nl > pos) {
            try {
              const text = data.toString('utf8', pos, nl);
              const r: unknown = JSON.parse(text);
              if (!this.kind.isRecord(r)) throw new Error('not a record');
              if (!seg.marked) this.noteShownSize(seg.n, text, nl - pos);
              this.grow(1);
              const i = this.end++;
              this.index(i, r, segIndex, from + pos, nl - pos);
              seg.lastRow = this.base + i;
              this.indexed(this.base + i, r, true);
            } catch {
              corrupt++;
            }
          }
          pos = nl + 1;
          good = from + pos;
          if ((this.end - firstEnd + corrupt) % LOAD_SLICE === 0) yield;
        }
        kept = skipping ? 0 : data.length - pos;
        if (kept) buf.copyWithin(0, pos, data.length);
      }
      if (failed) this.log('error', `${file}: cannot read ${what} past byte ${at} (${failed.message}); the rows before are kept`);
      else if (good < size) this.log('warn', `${file}: skipped a torn last record (${size - good} bytes) left by a crash`);
      const rows = this.end - firstEnd;
      if (failed || corrupt > 0) this.unreadableAtLoad++;
      if (corrupt > 0 && rows === 0) {
        this.segments.pop();
        fs.closeSync(fd);
        if (this.opts.readOnly) {
          this.log('warn', `${file}: not a ${what.replace(' ', '-')} segment (${corrupt} unreadable records); skipped`);
          continue;
        }
        const to = quarantine(file);
        this.log('error', `${file}: not a ${what.replace(' ', '-')} segment (${corrupt} unreadable records); moved to ${to}`);
        continue;
      }
      if (corrupt > 0) this.log('warn', `${file}: skipped ${corrupt} unreadable records`);
      if (damagedMark)
        this.log('warn', `${file}: its first line is a damaged mark (not ${STORED_MARK}): its records are budgeted by what they show, as an earlier build's`);
      // (a reader does not cut it: the part after `good` may be a record its writer is writing)
      if (good < size && !failed && !this.opts.readOnly) fs.ftruncateSync(fd, good);
      // (after a read error the rows before it are kept, and appends go after the file's end,
      // where O_APPEND puts them)
      seg.size = failed ? size : good;
      seg.lastRow = this.base + this.end - 1;
    }
    // an empty trailing segment would confuse row ownership; drop empty ones
    this.segments = this.segments.filter((s) => {
      const empty = s.size <= (s.marked ? MARK_LINE.length : 0);
      if (empty) {
        fs.closeSync(s.fd);
        if (!this.opts.readOnly) fs.rmSync(s.file, { force: true });
      }
      return !empty;
    });
    this.loadMarks();
    this.loaded();
    this.retain();
    if (this.size) this.log('info', `loaded ${this.size} ${what} from ${this.opts.dir}`);
  }

  /**
   * Make everything appended so far durable: the segments written since their last sync
   * (fdatasync: their size is part of what it syncs), and the directory once a segment was
   * created in it. Nothing written since, nothing done: an idle store does no I/O.
   */
  flush(): void {
    for (const s of this.segments) {
      if (!s.unsynced) continue;
      fs.fdatasyncSync(s.fd);
      s.unsynced = false;
    }
    if (this.dirUnsynced) {
      this.dirUnsynced = false;
      fsyncDir(this.opts.dir);
    }
  }

  /**
   * flush() in libuv's pool, for the thread that answers osqueryd. What is appended once this
   * is called is not covered (it marks its segment again). Rejects when a sync fails, the
   * segment then marked again, so that the queue does not save a cursor past rows the disk
   * may not have.
   */
  async syncInBackground(): Promise<void> {
    const syncs = this.segments.filter((s) => s.unsynced).map((s) => this.syncInPool(s));
    if (this.dirUnsynced) {
      this.dirUnsynced = false;
      syncs.push(fsyncDirInBackground(this.opts.dir));
    }
    await Promise.all(syncs);
  }

  private syncInPool(s: Segment): Promise<void> {
    s.unsynced = false;
    s.inPool = (s.inPool ?? 0) + 1;
    return new Promise((resolve, reject) =>
      fs.fdatasync(s.fd, (err) => {
        if (--s.inPool! === 0 && s.closing) fs.close(s.fd, () => {});
        if (!err) return resolve();
        if (!s.closing) s.unsynced = true;
        reject(err);
      }),
    );
  }

  /** closed now, or once its fdatasyncs in the pool return: a number closed meanwhile may be another file's */
  private closeSegment(s: Segment): void {
    if (s.inPool) s.closing = true;
    else fs.closeSync(s.fd);
  }

  close(): void {
    this.saveMarks();
    this.marks.close();
    this.flush();
    for (const s of this.segments) this.closeSegment(s);
    this.segments = [];
  }
}

/** the hash a text column is kept by (ids: a collation, or the shown form, may equate two, so by shownKey) */
export function hashText(value: string): number {
  return fnv(shownKey(value));
}

export function idSet(values: string[] | undefined, interner: { lookup(v: string): readonly number[] }): Set<number> | null {
  if (!values) return null;
  const s = new Set<number>();
  for (const v of values) for (const id of interner.lookup(v)) s.add(id);
  return s;
}

export interface Edge {
  v: number;
  strict: boolean;
}

/** whether `v` lies between the edges `range` gives; NaN (a record without a score) never does */
export function within(v: number, [lo, hi]: readonly [Edge, Edge]): boolean {
  return v === v && !(v < lo.v || (lo.strict && v === lo.v) || v > hi.v || (hi.strict && v === hi.v));
}

/** the verdict column's values for a filter's verdicts, by textKey (SQLite may compare with a collation, store.ts) */
export function verdictIds(verdicts: readonly string[] | undefined): Set<number> | null {
  return verdicts ? new Set(verdicts.map((v) => VERDICTS.indexOf(textKey(v) as Verdict)).filter((v) => v >= 0)) : null;
}

/**
 * the tightest lower and upper edges of a list of bounds (they are ANDed); with `slack`, each
 * edge moved out by it and not strict
 */
export function range(bounds: Bound[] | undefined, slack = 0): [Edge, Edge] {
  const lo: Edge = { v: -Infinity, strict: false };
  const hi: Edge = { v: Infinity, strict: false };
  for (const b of bounds ?? []) {
    if (b.op === '>' || b.op === '>=') {
      const v = b.value - slack;
      const strict = !slack && b.op === '>';
      if (v > lo.v || (v === lo.v && strict)) Object.assign(lo, { v, strict });
    } else {
      const v = b.value + slack;
      const strict = !slack && b.op === '<';
      if (v < hi.v || (v === hi.v && strict)) Object.assign(hi, { v, strict });
    }
  }
  return [lo, hi];
}
