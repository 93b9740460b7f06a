import * as fs from 'fs';
import * as path from 'path';
import { runKey } from '../state/retained-runs';
import { APPEND_READ, fsyncDir, readNoFollow, replaceFile, writeAll } from '../state/atomic';
import { CliError, EXIT } from './exit';
import type { ResultRow } from '../scorer/types';

// Which query runs `anomaly train` has already learned, so training the same log twice does
// not double a subject's history (and, in a ledger of its own, which runs `anomaly score` has
// scored, so scoring a log again shows those runs' retained scores instead of learning them
// twice). A run is one query on one host at one time: osqueryd logs
// every row of a run with the same host, name, counter and unixTime, and no two runs of a
// query on a host share a second; the parser keeps no counter, so host, name and time name it.
// The ledger is a file of 64-bit FNV-1a hashes, one per line with the number of the run's rows
// kept, appended after each training. osqueryd writes a differential run one line a row, so a
// log read while it writes holds part of a run: the rows of a run beyond those counted are
// new (the rest of a run read in part was taken for scored, and never scored nor learnt). A
// line without a count, of a ledger written before the counts, stands for its run whole. Each
// entry has its run's time too: past MAX_RUNS entries the file is written anew with the newest
// half (one line a run, read whole at each start: a year of a host's runs is millions, a
// fleet's log a hundred times that). A run forgotten so is scored or learnt again if its log
// is read again, as it would be by a new state.

export const TRAINED_RUNS = 'trained-runs';
export const SCORED_RUNS = 'scored-runs';

/** a whole entry: a line cut short by a crash or a full disk is not one */
const ENTRY = /^([0-9a-f]{16})(?: ([0-9]{1,15})(?: (-?[0-9]{1,15}))?)?$/;
/** entries kept: 1M lines of 35 bytes, some 100 MB in memory */
const MAX_RUNS = 1_000_000;

interface Run {
  /** rows kept; Infinity for an entry without a count (the whole run) */
  rows: number;
  /** the run's time; 0 for an entry without one (forgotten first) */
  time: number;
}

export class TrainLedger {
  /** rows of each run kept by earlier runs of the command */
  private readonly known = new Map<string, Run>();
  /** rows of each run met in this reading, in order */
  private readonly met = new Map<string, number>();
  /** rows of each run kept now, beyond the known ones */
  private readonly added = new Map<string, Run>();
  /** rows of a run kept by something else than the command (the extension's retained scores) */
  private keptElsewhere: (key: string) => number = () => 0;

  constructor(
    private readonly stateDir: string,
    private readonly file = TRAINED_RUNS,
    private readonly maxRuns = MAX_RUNS,
    warn: (msg: string) => void = () => {},
  ) {
    const ledger = path.join(stateDir, file);
    let text = '';
    try {
      text = readNoFollow(ledger).toString('utf8');
    } catch (err) {
      // a ledger that cannot be read would let every run be learned again: say so, not train
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new CliError(`cannot read the ledger of runs ${ledger}: ${(err as Error).message}`, EXIT.ioerr);
    }
    const lines = text.split('\n');
    // (the piece after the last newline is '' when the file ends whole, else a torn line)
    if (lines[lines.length - 1] === '') lines.pop();
    let damaged = 0;
    let first = 0;
    for (let i = 0; i < lines.length; i++) {
      const entry = ENTRY.exec(lines[i]);
      if (!entry) {
        if (!damaged++) first = i + 1;
        continue;
      }
      const rows = entry[2] === undefined ? Infinity : Number(entry[2]);
      const time = entry[3] === undefined ? 0 : Number(entry[3]);
      const was = this.known.get(entry[1]);
      this.known.set(entry[1], { rows: Math.max(rows, was?.rows ?? 0), time: Math.max(time, was?.time ?? 0) });
    }
    // Named, not skipped in silence: the runs such a line held are taken for new, scored and
    // learnt again, and nothing else would say why a subject's history had doubled (review12)
    if (damaged)
      warn(
        `${ledger}: ${damaged.toLocaleString('en-US')} line${damaged > 1 ? 's' : ''} not a run's entry (the first: line ${first}), torn by a crash or a full disk, or damaged: the runs they held are taken for new if their log is read again (scored or learnt twice)`,
      );
  }

  /** false when an earlier training learned this row's run; new runs are noted */
  isNew(row: ResultRow): boolean {
    if (this.knows(row)) return false;
    this.note(row);
    return true;
  }

  /**
   * whether earlier runs of the command kept this row: it is counted as the next row met of
   * its run (call once a row, in the order of the log), and known when they kept as many
   */
  knows(row: ResultRow): boolean {
    const key = runKey(row);
    const n = (this.met.get(key) ?? 0) + 1;
    this.met.set(key, n);
    return n <= Math.max(this.known.get(key)?.rows ?? 0, this.keptElsewhere(key));
  }

  /** rows of the run named `key` (runKey) this ledger's command kept: Infinity for a whole run */
  rowsKept(key: string): number {
    return this.known.get(key)?.rows ?? 0;
  }

  /** rows of runs kept without this ledger (`rowsOf`: how many of the run named by a runKey) are known too */
  alsoKnown(rowsOf: (key: string) => number): void {
    this.keptElsewhere = rowsOf;
  }

  /** note the row, to be saved: once what it was noted for is kept */
  note(row: ResultRow): void {
    const key = runKey(row);
    this.added.set(key, { rows: (this.added.get(key)?.rows ?? 0) + 1, time: row.time });
  }

  /**
   * Append the runs learned now, whole and synced; O_NOFOLLOW and an explicit mode, as
   * everything in the state. A last line left torn by a crash or a full disk is cut off
   * first: appended to, it would glue itself to the first run saved now, and that run would be
   * learned again by the next training of the same log.
   */
  save(): void {
    if (!this.added.size) return;
    const totals = [...this.added].map(([key, run]) => [key, { rows: (this.known.get(key)?.rows ?? 0) + run.rows, time: run.time }] as const);
    if (this.known.size + totals.filter(([key]) => !this.known.has(key)).length > this.maxRuns) {
      for (const [key, run] of totals) this.known.set(key, run);
      this.added.clear();
      this.forgetOldest();
      return;
    }
    const fd = fs.openSync(path.join(this.stateDir, this.file), APPEND_READ, 0o600);
    try {
      // a torn last line is cut off (ftruncate needs no room): ended instead, it stayed a line
      // that is no entry, named at every reading after (review12)
      const size = fs.fstatSync(fd).size;
      const whole = wholeLinesBytes(fd, size);
      if (whole < size) fs.ftruncateSync(fd, whole);
      writeAll(fd, totals.map(([key, run]) => entryLine(key, run)).join('\n') + '\n');
      fs.fsyncSync(fd);
      for (const [key, run] of totals) this.known.set(key, run);
    } finally {
      fs.closeSync(fd);
    }
    this.added.clear();
  }

  /** the file written anew with the newest half of the runs (by their time) */
  private forgetOldest(): void {
    const newest = [...this.known].sort((a, b) => b[1].time - a[1].time).slice(0, Math.ceil(this.maxRuns / 2));
    this.known.clear();
    for (const [key, run] of newest) this.known.set(key, run);
    replaceFile(path.join(this.stateDir, this.file), (fd) => writeAll(fd, newest.map(([key, run]) => entryLine(key, run)).join('\n') + '\n'));
    fsyncDir(this.stateDir);
  }
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

function entryLine(key: string, run: Run): string {
  return run.rows === Infinity ? key : `${key} ${run.rows} ${run.time}`;
}
