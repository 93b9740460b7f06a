import * as fs from 'fs';
import * as path from 'path';
import { latestPlausible } from '../scorer/clock';
import { fnv1a32 as hash32 } from '../scorer/hash';
import type { ScoredEvent, Verdict } from '../scorer/types';
import type { LogFn } from '../conf/log';
import { APPEND_READ, makeDir, quarantine, READ, writeAll } from './atomic';
import { readInSlices, SCORE_SLACK, textKey, type Bound, type ScoreFilter, type ScoreStore } from './store';

// The retained `anomaly_scores` rows. A million rows must stay cheap to hold and fast to
// filter, so the columns that queries filter on live in typed arrays (a few dozen bytes a
// row), while each row's full record lives in append-only segment files on disk and is read
// back only for the rows a query returns.
//
// Age retention counts from the newest row's time rather than the wall clock, so replaying
// an old log keeps its rows, and a live host behaves the same as "now minus max_days"; a
// row dated more than a day past the wall clock does not count (scorer/clock.ts).

const VERDICTS: Verdict[] = ['good', 'ugly', 'bad', 'learning'];
const SEGMENT_ROWS = 100_000;
const SEGMENT_PREFIX = 'segment-';
/**
 * Rows scored below this are also listed apart, so that the alert query (score < 0.3) reads
 * about 1 % of the rows instead of scanning all of them: calibration
 * makes P(score < s) ≈ 10^(−4(1−s)) on normal rows, 1 % below 0.5.
 */
const LOW_SCORE = 0.5;
/**
 * The newest low-scored rows are also kept parsed in memory, up to this many bytes of their
 * JSON: the alert query returns them, and reading each from disk (a syscall and a parse per
 * row) was most of its cost. Normal rows are 1 % of this list; a flood of bad rows only
 * pushes older ones back to disk.
 */
const LOW_CACHE_BYTES = 8 << 20;
/** the last rows a replay after a crash can repeat: far more than 250 ms of scoring */
const REPLAY_IDS = 50_000;
/** rows parsed between two turns of the event loop when loading in slices (about 30 ms) */
const LOAD_SLICE = 10_000;
/** bytes of a segment read at once when loading */
const LOAD_CHUNK = 4 << 20;
/** a record longer than this is not one the scorer wrote (a row keeps ~4 kB of its columns) */
const MAX_RECORD_BYTES = 16 << 20;

export interface RetainedScoresOptions {
  dir: string;
  maxRows: number;
  maxDays: number;
  log?: LogFn;
  /** bytes of low-scored rows kept parsed in memory (default LOW_CACHE_BYTES) */
  lowCacheBytes?: number;
  /**
   * read the files as they are and never write, cut, move or remove one: 'anomaly report'
   * reads the store of a running extension, whose own appends continue meanwhile
   */
  readOnly?: boolean;
}

class Interner {
  private readonly ids = new Map<string, number>();
  /** the ids of the values of each textKey (a collation may equate them) */
  private readonly byKey = new Map<string, number[]>();
  readonly values: string[] = [];
  id(value: string): number {
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(value);
      this.ids.set(value, id);
      const key = textKey(value);
      const same = this.byKey.get(key);
      if (same) same.push(id);
      else this.byKey.set(key, [id]);
    }
    return id;
  }
  /** the ids of every value SQLite may take for `value` under some collation */
  lookup(value: string): readonly number[] {
    return this.byKey.get(textKey(value)) ?? [];
  }
}

interface Segment {
  n: number;
  file: string;
  fd: number;
  size: number;
  /** index (absolute row number) of its last row */
  lastRow: number;
}

export class RetainedScores implements ScoreStore {
  private readonly log: LogFn;
  /** ids of the last rows loaded, until the first row appended that is not among them (see append) */
  private replayIds: Map<string, number> | null = null;
  private capacity = 0;
  /** absolute row number of index slot 0 */
  private base = 0;
  /** first live slot and one past the last */
  private start = 0;
  private end = 0;
  private time = new Float64Array(0);
  private score = new Float32Array(0);
  private verdict = new Uint8Array(0);
  private subject = new Uint32Array(0);
  private host = new Uint32Array(0);
  private query = new Uint32Array(0);
  private idHash = new Uint32Array(0);
  private segOf = new Uint32Array(0);
  private offset = new Float64Array(0);
  private length = new Uint32Array(0);
  private readonly subjects = new Interner();
  private readonly hosts = new Interner();
  private readonly queries = new Interner();
  private segments: Segment[] = [];
  /** absolute row numbers of the rows scored below LOW_SCORE, oldest first, from lowHead */
  private low: number[] = [];
  private lowHead = 0;
  /** parsed low-scored rows by absolute row number, oldest first (Map keeps insertion order) */
  private readonly lowCache = new Map<number, { ev: ScoredEvent; bytes: number }>();
  private lowCacheBytes = 0;
  private newest = 0;
  private unsynced = false;

  constructor(
    private readonly opts: RetainedScoresOptions,
    load = true,
  ) {
    this.log = opts.log ?? (() => {});
    // a reader ('anomaly report') creates nothing: a mistyped --state is no place for new directories
    if (!opts.readOnly) makeDir(opts.dir);
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

  get size(): number {
    return this.end - this.start;
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
    const grown = <T extends Float64Array | Float32Array | Uint8Array | Uint32Array>(a: T, make: new (n: number) => T): T => {
      const b = new make(cap);
      b.set(a.subarray(this.start, this.end));
      return b;
    };
    this.time = grown(this.time, Float64Array);
    this.score = grown(this.score, Float32Array);
    this.verdict = grown(this.verdict, Uint8Array);
    this.subject = grown(this.subject, Uint32Array);
    this.host = grown(this.host, Uint32Array);
    this.query = grown(this.query, Uint32Array);
    this.idHash = grown(this.idHash, Uint32Array);
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
    for (const a of [this.time, this.score, this.verdict, this.subject, this.host, this.query, this.idHash, this.segOf, this.offset, this.length])
      a.copyWithin(0, s, e);
    this.base += s;
    this.end = e - s;
    this.start = 0;
  }

  private currentSegment(): Segment {
    let seg = this.segments[this.segments.length - 1];
    const rowsInSeg = seg ? seg.lastRow - this.firstRowOf(seg) + 1 : Infinity;
    if (!seg || rowsInSeg >= SEGMENT_ROWS) {
      const n = seg ? seg.n + 1 : 1;
      const file = path.join(this.opts.dir, `${SEGMENT_PREFIX}${String(n).padStart(8, '0')}.jsonl`);
      seg = { n, file, fd: fs.openSync(file, APPEND_READ, 0o600), size: 0, lastRow: this.base + this.end - 1 };
      this.segments.push(seg);
    }
    return seg;
  }

  private firstRowOf(seg: Segment): number {
    const i = this.segments.indexOf(seg);
    return i > 0 ? this.segments[i - 1].lastRow + 1 : this.base + this.start;
  }

  /**
   * Append scored events. Rows are indexed only once their bytes are written: a write that
   * fails (a full disk) is cut back out of the segment and throws, and the rows written
   * before it stay.
   */
  append(events: readonly ScoredEvent[]): void {
    if (this.opts.readOnly) throw new Error(`${this.opts.dir}: opened read-only`);
    if (this.replayIds) {
      // the queue's cursor is saved at most every 250 ms: after a crash the lines since are
      // scored again, and their rows, already here, would be kept twice (the alert query would
      // show each twice). Replayed lines come first and in order, so the first row not already
      // here ends the replay
      const ids = this.replayIds;
      // an id names the row's time and content (scorer.ts, idFor); its score may differ, as the
      // subject may resume from an older save
      const fresh = events.filter((e) => ids.get(e.id) !== e.time);
      if (fresh.length < events.length) this.log('info', `${events.length - fresh.length} rows scored again after a restart were already retained; kept once`);
      if (fresh.length) this.replayIds = null;
      events = fresh;
    }
    if (!events.length) return;
    this.grow(events.length);
    let done = 0;
    try {
      while (done < events.length) {
        const seg = this.currentSegment();
        const room = SEGMENT_ROWS - (seg.lastRow - this.firstRowOf(seg) + 1);
        done += this.appendChunk(seg, events.slice(done, done + Math.max(1, Math.min(room, 2000))));
      }
    } finally {
      if (done) this.unsynced = true;
      this.retain();
    }
  }

  /** write one chunk of rows to a segment, then index them; returns how many */
  private appendChunk(seg: Segment, events: readonly ScoredEvent[]): number {
    const lines = events.map((ev) => `${JSON.stringify(ev)}\n`);
    const data = Buffer.from(lines.join(''));
    try {
      writeAll(seg.fd, data);
    } catch (err) {
      try {
        fs.ftruncateSync(seg.fd, seg.size);
      } catch {
        /* load() skips a torn record */
      }
      throw err;
    }
    let offset = seg.size;
    for (let k = 0; k < events.length; k++) {
      const bytes = Buffer.byteLength(lines[k]);
      const i = this.end++;
      this.index(i, events[k], this.segments.indexOf(seg), offset, bytes - 1);
      offset += bytes;
      seg.lastRow = this.base + i;
    }
    seg.size = offset;
    return events.length;
  }

  private index(i: number, ev: ScoredEvent, segIndex: number, offset: number, length: number): void {
    this.time[i] = ev.time;
    this.score[i] = ev.score === null ? NaN : ev.score;
    if (ev.score !== null && ev.score < LOW_SCORE) {
      this.low.push(this.base + i);
      this.cacheLow(this.base + i, ev, length);
    }
    this.verdict[i] = Math.max(0, VERDICTS.indexOf(ev.verdict));
    this.subject[i] = this.subjects.id(ev.subject);
    this.host[i] = this.hosts.id(ev.host);
    this.query[i] = this.queries.id(ev.query);
    this.idHash[i] = hash32(textKey(ev.id));
    this.segOf[i] = this.segments[segIndex].n;
    this.offset[i] = offset;
    this.length[i] = length;
    // age retention counts from the newest row, so that an old log replayed keeps its rows;
    // one row dated in year 9999 (a host clock gone wrong, a hand-made log given to 'anomaly
    // score') retired every other row at once: such a row is kept but does not move it
    if (ev.time > this.newest && ev.time <= latestPlausible()) this.newest = ev.time;
  }

  private retain(): void {
    const oldest = this.newest - this.opts.maxDays * 86400;
    while (this.end - this.start > this.opts.maxRows || (this.start < this.end && this.time[this.start] < oldest)) this.start++;
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
    while (this.segments.length > 1 && this.segments[0].lastRow < firstLive) {
      const seg = this.segments.shift()!;
      fs.closeSync(seg.fd);
      if (!this.opts.readOnly) fs.rmSync(seg.file, { force: true });
    }
  }

  select(filter: ScoreFilter): ScoredEvent[] {
    return [...this.matching(filter)];
  }

  /** rows matching the filter, newest first, each read from disk only when it is reached */
  *matching(filter: ScoreFilter): Generator<ScoredEvent> {
    const subjects = idSet(filter.subject, this.subjects);
    const hosts = idSet(filter.host, this.hosts);
    const queries = idSet(filter.query, this.queries);
    // (text compared by textKey: SQLite may compare with a collation, store.ts)
    const verdicts = filter.verdict ? new Set(filter.verdict.map((v) => VERDICTS.indexOf(textKey(v) as Verdict)).filter((v) => v >= 0)) : null;
    const ids = filter.id ? new Set(filter.id.map((id) => hash32(textKey(id)))) : null;
    // a value never stored matches nothing: no scan at all
    if (subjects?.size === 0 || hosts?.size === 0 || queries?.size === 0 || verdicts?.size === 0) return;
    const [tLo, tHi] = range(filter.time);
    const [sLo, sHi] = range(filter.score, SCORE_SLACK);
    const hasScoreBound = Boolean(filter.score?.length);
    const matches = (i: number): boolean => {
      const t = this.time[i];
      if (t < tLo.v || (tLo.strict && t === tLo.v) || t > tHi.v || (tHi.strict && t === tHi.v)) return false;
      if (hasScoreBound) {
        const s = this.score[i];
        if (s !== s) return false;
        // scores are stored as float32 and shown rounded (SCORE_SLACK): the edges are widened
        if (s < sLo.v || (sLo.strict && s === sLo.v) || s > sHi.v || (sHi.strict && s === sHi.v)) return false;
      }
      if (subjects && !subjects.has(this.subject[i])) return false;
      if (hosts && !hosts.has(this.host[i])) return false;
      if (queries && !queries.has(this.query[i])) return false;
      if (verdicts && !verdicts.has(this.verdict[i])) return false;
      if (ids && !ids.has(this.idHash[i])) return false;
      return true;
    };
    // the ids themselves, for rows whose hash matched: a Set, as an IN list of n ids checked
    // with a scan of the list per row cost n² (200k ids: minutes of the main thread's CPU)
    const wanted = filter.id ? new Set(filter.id.map(textKey)) : null;
    const read = (i: number): ScoredEvent | undefined => {
      const ev = this.read(i);
      return ev && (!wanted || wanted.has(textKey(ev.id))) ? ev : undefined;
    };
    // rows are followed by absolute number: a caller that pauses between rows may see new
    // rows appended (and the arrays moved) or old ones retired in the meantime
    if (hasScoreBound && sHi.v < LOW_SCORE) {
      // only low scores can match: walk the list of them, newest first, instead of every row.
      // Compaction replaces this.low; the array held here keeps its absolute row numbers.
      const low = this.low;
      for (let k = low.length - 1; k >= 0; k--) {
        const i = low[k] - this.base;
        if (i < this.start) return;
        if (i < this.end && matches(i)) {
          const ev = read(i);
          if (ev) yield ev;
        }
      }
      return;
    }
    for (let row = this.base + this.end - 1; ; row--) {
      const i = row - this.base;
      if (i < this.start || i >= this.end) return;
      if (!matches(i)) continue;
      const ev = read(i);
      if (ev) yield ev;
    }
  }

  get(id: string): ScoredEvent | undefined {
    // (matching lets through ids a collation could equate: a label names one row exactly)
    for (const ev of this.matching({ id: [id] })) if (ev.id === id) return ev;
    return undefined;
  }

  private cacheLow(row: number, ev: ScoredEvent, bytes: number): void {
    this.lowCache.set(row, { ev, bytes });
    this.lowCacheBytes += bytes;
    for (const old of this.lowCache.keys()) {
      if (this.lowCacheBytes <= (this.opts.lowCacheBytes ?? LOW_CACHE_BYTES)) break;
      this.uncacheLow(old);
    }
  }

  private uncacheLow(row: number): void {
    this.lowCacheBytes -= this.lowCache.get(row)?.bytes ?? 0;
    this.lowCache.delete(row);
  }

  private read(i: number): ScoredEvent | undefined {
    const cached = this.lowCache.get(this.base + i);
    if (cached) return cached.ev;
    const seg = this.segments.find((s) => s.n === this.segOf[i]);
    if (!seg) return undefined;
    const buf = Buffer.allocUnsafe(this.length[i]);
    fs.readSync(seg.fd, buf, 0, buf.length, this.offset[i]);
    try {
      return JSON.parse(buf.toString('utf8')) as ScoredEvent;
    } catch {
      return undefined;
    }
  }

  /** reads the segments; yields every LOAD_SLICE rows so that a caller may pause there */
  private *loading(): Generator<void, void, void> {
    const lastIds: [string, number][] = [];
    let names: string[];
    try {
      names = fs.readdirSync(this.opts.dir);
    } catch (err) {
      // (only a reader gets here without the directory: a writer made it)
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && this.opts.readOnly) return;
      throw err;
    }
    const files = names.filter((f) => f.startsWith(SEGMENT_PREFIX) && f.endsWith('.jsonl')).sort();
    for (const f of files) {
      const file = path.join(this.opts.dir, f);
      const n = Number(f.slice(SEGMENT_PREFIX.length, -'.jsonl'.length));
      // Read in chunks and indexed row by row. A segment is 100,000 rows, and a row keeps up to
      // ~4 kB of its columns: a user whose processes have long command lines makes segments of
      // 400 MB, which were read whole into one buffer and all their rows parsed before any was
      // indexed: 935 MB of peak resident memory for one 420 MB segment at every start, where
      // osqueryd's watchdog allows 200 MB of growth. (O_NONBLOCK: a FIFO in a segment's place
      // no longer holds the start; it is not a regular file and is skipped.)
      let fd: number;
      let size: number;
      try {
        fd = this.opts.readOnly ? fs.openSync(file, READ | fs.constants.O_NONBLOCK) : fs.openSync(file, APPEND_READ | fs.constants.O_NONBLOCK, 0o600);
      } catch (err) {
        this.log('error', `${file}: cannot read retained scores (${(err as Error).message}); skipped`);
        continue;
      }
      try {
        const st = fs.fstatSync(fd);
        if (!st.isFile()) throw new Error('not a regular file');
        size = st.size;
      } catch (err) {
        fs.closeSync(fd);
        this.log('error', `${file}: cannot read retained scores (${(err as Error).message}); skipped`);
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
          } else {
            try {
              const ev: unknown = JSON.parse(data.toString('utf8', pos, nl));
              if (!isScoredEvent(ev)) throw new Error('not a scored event');
              this.grow(1);
              this.index(this.end++, ev, segIndex, from + pos, nl - pos);
              lastIds.push([ev.id, ev.time]);
              if (lastIds.length > 2 * REPLAY_IDS) lastIds.splice(0, lastIds.length - REPLAY_IDS);
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
      if (failed) this.log('error', `${file}: cannot read retained scores past byte ${at} (${failed.message}); the rows before are kept`);
      else if (good < size) this.log('warn', `${file}: skipped a torn last record (${size - good} bytes) left by a crash`);
      const rows = this.end - firstEnd;
      if (corrupt > 0 && rows === 0) {
        this.segments.pop();
        fs.closeSync(fd);
        if (this.opts.readOnly) {
          this.log('warn', `${file}: not a retained-scores segment (${corrupt} unreadable records); skipped`);
          continue;
        }
        const to = quarantine(file);
        this.log('error', `${file}: not a retained-scores segment (${corrupt} unreadable records); moved to ${to}`);
        continue;
      }
      if (corrupt > 0) this.log('warn', `${file}: skipped ${corrupt} unreadable records`);
      // (a reader does not cut it: the part after `good` may be a record its writer is writing)
      if (good < size && !failed && !this.opts.readOnly) fs.ftruncateSync(fd, good);
      // (after a read error the rows before it are kept, and appends go after the file's end,
      // where O_APPEND puts them)
      seg.size = failed ? size : good;
      seg.lastRow = this.base + this.end - 1;
    }
    // an empty trailing segment would confuse row ownership; drop empty ones
    this.segments = this.segments.filter((s, i) => {
      const empty = s.size === 0;
      if (empty && i < this.segments.length) {
        fs.closeSync(s.fd);
        if (!this.opts.readOnly) fs.rmSync(s.file, { force: true });
      }
      return !empty;
    });
    if (lastIds.length) this.replayIds = new Map(lastIds.slice(-REPLAY_IDS));
    this.retain();
    if (this.size) this.log('info', `loaded ${this.size} retained scores from ${this.opts.dir}`);
  }

  flush(): void {
    if (!this.unsynced) return;
    for (const s of this.segments) fs.fsyncSync(s.fd);
    this.unsynced = false;
  }

  close(): void {
    this.flush();
    for (const s of this.segments) fs.closeSync(s.fd);
    this.segments = [];
  }
}

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

function idSet(values: string[] | undefined, interner: Interner): Set<number> | null {
  if (!values) return null;
  const s = new Set<number>();
  for (const v of values) for (const id of interner.lookup(v)) s.add(id);
  return s;
}

interface Edge {
  v: number;
  strict: boolean;
}

/**
 * the tightest lower and upper edges of a list of bounds (they are ANDed); with `slack`, each
 * edge moved out by it and not strict
 */
function range(bounds: Bound[] | undefined, slack = 0): [Edge, Edge] {
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
