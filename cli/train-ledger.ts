import * as fs from 'fs';
import * as path from 'path';
import { NumberCounts, rowNumber, runKey } from '../state/retained-runs';
import { APPEND_READ, fsyncDir, READ, replaceFile, writeAll } from '../state/atomic';
import { RowIds } from '../scorer/row-id';
import { CliError, EXIT } from './exit';
import type { ResultRow } from '../scorer/types';

// Which rows `anomaly train` has already learned, so training the same log twice does not
// double a subject's history (and, in a ledger of its own, which rows `anomaly score` has
// scored, so scoring a log again shows their retained scores instead of learning them twice).
//
// A row is known by its id (scorer/row-id.ts): its host, query, time, action and columns, and
// for a row identical to others of the same second, how many came before it. The rows are
// named, not counted: a run (one query on one host at one time) split by a log rotation, its
// head in osqueryd.results.log.1 and its tail in osqueryd.results.log, read by two commands,
// has each part known for what it holds. (The ledgers of before held "the first N rows of run
// R": the tail's first N rows were taken for the head's, never scored nor learnt; and two
// hosts with one hostIdentifier, whose runs share host, query and time, took each other's.)
// Rows identical in every column at the same second are one row to the ledger as they are to
// the scorer's id: the same counted again from the start (a rotation between them, a second
// host named as the first) is taken for the one kept.
//
// The file: one line a row, the first 52 bits of the 64-bit FNV-1a of its id as 13 hex digits,
// appended after each reading (14 bytes a row). Read at each start into one sorted typed array,
// 8 bytes a row. Past MAX_ROWS lines the file is written anew with the newest half, in the
// order they were appended: a row forgotten so is scored or learnt again if its log is read
// again, as it would be by a new state.
//
// A ledger written before the rows were named has one line a run, `<16 hex digits> <rows>
// <time>` (or the bare hash: the run whole): still read, and the first so many rows of its run
// met in a reading are known, as they were. Its lines are kept as they are until the file is
// written anew past its bound, as the oldest.

export const TRAINED_RUNS = 'trained-runs';
export const SCORED_RUNS = 'scored-runs';

/** an older ledger's entry of a run (runKey), with the rows kept and its time */
const RUN_ENTRY = /^([0-9a-f]{16})(?: ([0-9]{1,15})(?: (-?[0-9]{1,15}))?)?$/;
/** digits of a row's entry (52 bits of hex) */
const ROW_DIGITS = 13;
/** lines kept: 4M rows, 56 MB on disk, 32 MB in memory */
const MAX_ROWS = 4_000_000;
/** bytes of a ledger read at once */
const LINES_CHUNK = 1 << 20;

/** what is known of rows outside this ledger (another ledger, the retained scores) */
export interface KnownElsewhere {
  /** whether the row of this number (rowNumber of its id) is known */
  row(n: number): boolean;
  /** rows of a run another ledger of before counted (the first so many met), 0 if none */
  counted?(run: string): number;
  /** rows of a run the retained scores hold (RetainedScores.runRows) */
  retainedOfRun?(run: string): number;
}

export class TrainLedger {
  private rows = new NumberCounts(new Float64Array(0));
  /** an older ledger's runs: rows kept (Infinity: the whole run) */
  private readonly counted = new Map<string, number>();
  /** lines of the file that are entries */
  private entries = 0;
  private readonly ids = new RowIds();
  /** rows met in this reading of runs a count names, in order */
  private readonly metOfRun = new Map<string, number>();
  /** each row met, its id and the id's number: for note */
  private readonly met = new WeakMap<ResultRow, { id: string; n: number }>();
  /** numbers of the rows noted, to be saved */
  private added = new Float64Array(1024);
  private addedCount = 0;
  private elsewhere: KnownElsewhere = { row: () => false };
  private readonly file: string;

  constructor(
    private readonly stateDir: string,
    private readonly name = TRAINED_RUNS,
    private readonly maxRows = MAX_ROWS,
    warn: (msg: string) => void = () => {},
  ) {
    this.file = path.join(stateDir, name);
    let read = { damaged: 0, first: 0 };
    let fd = -1;
    try {
      fd = fs.openSync(this.file, READ);
      const size = fs.fstatSync(fd).size;
      read = this.load(linesOfFile(fd, size), size);
    } catch (err) {
      // a ledger that cannot be read would let every row be learned again: say so, not train
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new CliError(`cannot read the ledger of rows ${this.file}: ${(err as Error).message}`, EXIT.ioerr);
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
    const { damaged, first } = read;
    // Named, not skipped in silence: the rows such a line held are taken for new, scored and
    // learnt again, and nothing else would say why a subject's history had doubled (review12)
    if (damaged)
      warn(
        `${this.file}: ${damaged.toLocaleString('en-US')} line${damaged > 1 ? 's' : ''} not an entry (the first: line ${first}), torn by a crash or a full disk, or damaged: the rows they held are taken for new if their log is read again (scored or learnt twice)`,
      );
  }

  /** the entries of a file of `size` bytes, whole lines only (a torn last line is none) */
  private load(lines: LineWalk, size: number): { damaged: number; first: number } {
    const numbers = new Float64Array(Math.ceil(size / (ROW_DIGITS + 1)));
    let n = 0;
    let damaged = 0;
    let first = 0;
    let line = 0;
    this.counted.clear();
    lines((buf, at, end, whole) => {
      line++;
      // the piece after the last newline is a line torn by a crash or a full disk, whatever it
      // looks like: no entry, and cut off by the next save
      const row = whole && end - at === ROW_DIGITS ? hexNumber(buf, at, end) : -1;
      if (row >= 0) numbers[n++] = row;
      else if (!whole || !this.readRun(buf.toString('latin1', at, end))) {
        if (!damaged++) first = line;
      }
    });
    this.rows = new NumberCounts(numbers.subarray(0, n));
    this.entries = n + this.counted.size;
    return { damaged, first };
  }

  /** an older ledger's line of a run, noted; false when the line is no such entry */
  private readRun(line: string): boolean {
    const entry = RUN_ENTRY.exec(line);
    if (!entry) return false;
    const rows = entry[2] === undefined ? Infinity : Number(entry[2]);
    this.counted.set(entry[1], Math.max(rows, this.counted.get(entry[1]) ?? 0));
    return true;
  }

  /** whether the row of this number is in the ledger */
  has(n: number): boolean {
    return this.rows.has(n);
  }

  /**
   * Rows of a run an older ledger counted: the first so many met (Infinity: the whole run).
   * The rows score counted were retained: where the retained scores still hold as many rows of
   * the run (`retainedOfRun`), they name the rows themselves, and the count is not used.
   */
  rowsCounted(run: string, retainedOfRun?: (run: string) => number): number {
    const rows = this.counted.get(run) ?? 0;
    if (!rows || this.name !== SCORED_RUNS || !retainedOfRun) return rows;
    return retainedOfRun(run) >= rows ? 0 : rows;
  }

  /** whether this ledger holds counts of runs of an older ledger */
  get hasCounts(): boolean {
    return this.counted.size > 0;
  }

  /** rows known without this ledger are known too */
  alsoKnown(elsewhere: KnownElsewhere): void {
    this.elsewhere = elsewhere;
  }

  /**
   * Whether the row was kept before (by this ledger's command, or as `alsoKnown` says). Call
   * once a row, in the order of the log: identical rows of a second are told apart by it.
   */
  knows(row: ResultRow): boolean {
    const id = this.ids.next(row);
    const n = rowNumber(id);
    this.met.set(row, { id, n });
    if (this.counted.size || this.elsewhere.counted) {
      const run = runKey(row);
      const counted = Math.max(this.rowsCounted(run, this.elsewhere.retainedOfRun), this.elsewhere.counted?.(run) ?? 0);
      if (counted) {
        const nth = (this.metOfRun.get(run) ?? 0) + 1;
        this.metOfRun.set(run, nth);
        if (nth <= counted) return true;
      }
    }
    return this.rows.has(n) || this.elsewhere.row(n);
  }

  /** false when the row was kept before (knows); a new row is noted */
  isNew(row: ResultRow): boolean {
    if (this.knows(row)) return false;
    this.note(row);
    return true;
  }

  /** the row's number, as knows met it */
  numberOf(row: ResultRow): number {
    return this.metRow(row).n;
  }

  /**
   * The row's id, as knows counted it among every row read: the id the scorer must give it
   * (Scorer.scoreRows `ids`), or a row identical to one known at the same second is retained
   * under the known one's id (rev11)
   */
  idOf(row: ResultRow): string {
    return this.metRow(row).id;
  }

  private metRow(row: ResultRow): { id: string; n: number } {
    const met = this.met.get(row);
    if (met === undefined) throw new Error('a row is met (knows) before it is noted');
    return met;
  }

  /** note a row met (knows), to be saved: once what it was noted for is kept */
  note(row: ResultRow): void {
    const n = this.numberOf(row);
    if (this.addedCount === this.added.length) {
      const grown = new Float64Array(this.added.length * 2);
      grown.set(this.added);
      this.added = grown;
    }
    this.added[this.addedCount++] = n;
  }

  /**
   * Append the rows noted, whole and synced; O_NOFOLLOW and an explicit mode, as everything
   * in the state. A last line left torn by a crash or a full disk is cut off first: appended
   * to, it would glue itself to the first row saved now, and that row would be learned again
   * by the next training of the same log.
   */
  save(): void {
    const fresh = this.freshNoted();
    this.addedCount = 0;
    if (!fresh.length) return;
    if (this.entries + fresh.length > this.maxRows) {
      this.writeNewest(fresh);
      return;
    }
    const lines = fresh.map(rowLine).join('');
    const fd = fs.openSync(this.file, APPEND_READ, 0o600);
    try {
      // a torn last line is cut off (ftruncate needs no room): ended instead, it stayed a line
      // that is no entry, named at every reading after (review12)
      const size = fs.fstatSync(fd).size;
      const whole = wholeLinesBytes(fd, size);
      if (whole < size) fs.ftruncateSync(fd, whole);
      writeAll(fd, lines);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    this.rows = this.rows.with(fresh);
    this.entries += fresh.length;
  }

  /** the rows noted, in the order they were (the log's: the newest last), once each, and not those in the file already */
  private freshNoted(): number[] {
    const noted = this.added.subarray(0, this.addedCount);
    const sorted = new NumberCounts(noted.slice());
    const written = new Uint8Array(sorted.size);
    const fresh: number[] = [];
    for (const n of noted) {
      const at = sorted.indexOf(n);
      if (written[at] || this.rows.has(n)) continue;
      written[at] = 1;
      fresh.push(n);
    }
    return fresh;
  }

  /**
   * The file written anew with the newest half of its entries, the rows `fresh` the newest.
   * Built as bytes: the file's entries were once each a string in an array (4M of them, some
   * 40 bytes each), then joined, and the new text copied into a Buffer twice, and
   * `anomaly score` that passed the bound peaked at 613–691 MB resident against 270 MB just
   * under it (docs/benchmarks.md, "The ledgers at their bound").
   */
  private writeNewest(fresh: readonly number[]): void {
    const keep = Math.ceil(this.maxRows / 2);
    const newest = fresh.slice(Math.max(0, fresh.length - keep));
    /** entries of the file to keep, its newest */
    const fromFile = keep - newest.length;
    // the file's whole lines that are entries, in the order they were appended (the damaged
    // ones left out): counted, then the bytes of the newest `fromFile` of them, then those
    // copied; a chunk of the file at a time
    let fd = -1;
    let size = 0;
    if (fromFile > 0) {
      try {
        fd = fs.openSync(this.file, READ);
        size = fs.fstatSync(fd).size;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    let out: Buffer;
    let length = 0;
    try {
      const walk = fd < 0 ? null : linesOfFile(fd, size);
      const entriesOfFile = (each: (buf: Buffer, at: number, end: number) => void) =>
        walk?.((buf, at, end, whole) => {
          if (whole && isEntry(buf, at, end)) each(buf, at, end);
        });
      let entries = 0;
      entriesOfFile(() => entries++);
      const skip = Math.max(0, entries - fromFile);
      let k = 0;
      let bytes = 0;
      entriesOfFile((_buf, at, end) => {
        if (k++ >= skip) bytes += end + 1 - at;
      });
      out = Buffer.allocUnsafe(bytes + newest.length * (ROW_DIGITS + 1));
      k = 0;
      entriesOfFile((buf, at, end) => {
        if (k++ >= skip) length += buf.copy(out, length, at, end + 1);
      });
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
    for (const n of newest) length += out.write(rowLine(n), length, 'latin1');
    const text = out.subarray(0, length);
    replaceFile(this.file, (fd) => writeAll(fd, text));
    fsyncDir(this.stateDir);
    this.load(linesOf(text), text.length);
  }
}

/**
 * Calls `line` with each line of a file, from `at` to `end` (its newline, or the end of the
 * piece after the last newline, which is not `whole`), in the order of the file
 */
type LineWalk = (line: (buf: Buffer, at: number, end: number, whole: boolean) => void) => void;

/** the lines of a file's bytes */
function linesOf(text: Buffer): LineWalk {
  return (line) => {
    for (let at = 0; at < text.length;) {
      const nl = text.indexOf(10, at);
      line(text, at, nl < 0 ? text.length : nl, nl >= 0);
      if (nl < 0) break;
      at = nl + 1;
    }
  };
}

/**
 * the lines of the file open as `fd`, read LINES_CHUNK bytes at a time: read whole, each of
 * two ledgers at their bound was a Buffer of 56 MB beside its 32 MB of numbers, resident
 * together until a collection (docs/benchmarks.md, "The ledgers at their bound")
 */
function linesOfFile(fd: number, size: number): LineWalk {
  return (line) => {
    let buf = Buffer.allocUnsafe(Math.min(size, LINES_CHUNK));
    /** bytes at the start of buf: a line the last read cut */
    let kept = 0;
    for (let pos = 0; pos < size;) {
      // (a line longer than the buffer, a damaged one, grows it)
      if (kept === buf.length) buf = Buffer.concat([buf, Buffer.allocUnsafe(buf.length)]);
      const got = fs.readSync(fd, buf, kept, Math.min(buf.length - kept, size - pos), pos);
      if (got <= 0) break;
      pos += got;
      const data = buf.subarray(0, kept + got);
      let at = 0;
      for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10, at)) {
        line(data, at, nl, true);
        at = nl + 1;
      }
      kept = data.length - at;
      if (kept) data.copyWithin(0, at);
    }
    if (kept) line(buf, 0, kept, false);
  };
}

/** whether the line of `buf` from `at` to `end` is an entry: a row's, or an older ledger's run */
function isEntry(buf: Buffer, at: number, end: number): boolean {
  return (end - at === ROW_DIGITS && hexNumber(buf, at, end) >= 0) || RUN_ENTRY.test(buf.toString('latin1', at, end));
}

/** a row's entry: its number as ROW_DIGITS hex digits, a line */
function rowLine(n: number): string {
  return `${n.toString(16).padStart(ROW_DIGITS, '0')}\n`;
}

/** the number of `ROW_DIGITS` lowercase hex digits of `buf` from `from` to `to`, or -1 */
function hexNumber(buf: Buffer, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = buf[i];
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) return -1;
    n = n * 16 + d;
  }
  return n;
}

/** the bytes of the file open as `fd` (`size` bytes) up to its last newline: its whole lines */
function wholeLinesBytes(fd: number, size: number): number {
  const chunk = Buffer.alloc(4096);
  for (let end = size; end > 0;) {
    const from = Math.max(0, end - chunk.length);
    const n = fs.readSync(fd, chunk, 0, end - from, from);
    const at = chunk.subarray(0, n).lastIndexOf(10);
    if (at >= 0) return from + at + 1;
    end = from;
  }
  return 0;
}
