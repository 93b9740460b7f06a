import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { APPEND_READ, fsyncDir, readNoFollow, writeAll } from '../state/atomic';
import { RUN_EPOCH, type RowMark } from '../scorer/types';
import { CliError, EXIT } from './exit';

// The rows a run of `anomaly score` (or `train`) has begun to score and not yet committed to
// its ledger, in the order it scored them: what a run killed without warning (SIGKILL, the
// OOM killer, a power cut) leaves to the next one.
//
// A run writes, in this order: the rows' numbers here (synced), before it scores them; the
// rows' scores to the retained store, as it goes; a subject's file whenever it unloads one,
// and every file at the end; then its ledger; then it removes this file. Killed anywhere in
// between, the rows it retained were neither in its ledger nor, perhaps, learnt by the
// subjects as saved, and the next run took them for scored by the extension (they were
// retained) and never learnt them (crashlearn). Now the next run finds them here: it scores
// them again, under the same run (epoch) and at the places they had, so that each subject
// (and the feature extractor), which saves with its state the last place of this run it
// learnt (Subject.markLearned), learns those it had not saved and judges again those it had;
// the rows already retained are not retained twice.
//
// The file: `run <epoch>` on the first line, then one line a row, its number (rowNumber of
// its id) as 13 hex digits; a row's place is its line. A torn last line is no row, and is cut
// off before the next append.

export const SCORING_RUN = 'scoring-run';
export const TRAINING_RUN = 'training-run';

const ROW_DIGITS = 13;
const HEAD = /^run ([0-9a-f]{16})$/;

export class RunJournal {
  /** the run's epoch (Scorer.scoreRows `replay`): a resumed run keeps the crashed one's */
  readonly epoch: string;
  /** the rows a killed run left, by number, and their places */
  private readonly left = new Map<number, number>();
  /** the rows a killed run left that this run met again */
  private readonly met = new Set<number>();
  /** the latest place of a killed run's row met so far, and how many were met before one of a later place */
  private lastLeft = -1;
  private reordered = 0;
  /** rows of the run so far (the next row's place) */
  private rows = 0;
  private readonly file: string;
  private written = false;
  /** the file's whole lines, when a killed run left it: a torn last line is cut off at the first append */
  private wholeBytes: number | null = null;

  constructor(
    private readonly stateDir: string,
    name: string,
  ) {
    this.file = path.join(stateDir, name);
    let text = '';
    try {
      text = readNoFollow(this.file).toString('latin1');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        // (every later run would stop here too: say what ends it)
        throw new CliError(
          `cannot read the journal of the run under way ${this.file}: ${(err as Error).message}; ` +
            `${(err as NodeJS.ErrnoException).code === 'ELOOP' ? 'it is a symbolic link, which is never followed; ' : ''}` +
            'remove it to start afresh (a killed run it recorded is then not resumed: its rows may be learnt twice or not at all)',
          EXIT.ioerr,
        );
    }
    const lines = text.split('\n');
    // (the piece after the last newline is torn, whatever it looks like)
    lines.pop();
    const head = HEAD.exec(lines[0] ?? '');
    // A whole first line that is no head is damage: taken for no journal, the run got a new
    // epoch and wrote over the killed run's rows, which, retained, were then taken for the
    // extension's and never learnt by the subjects that had not saved them (chaos3). Without
    // the epoch they cannot be resumed; the run stops, as for a journal it cannot read. (A head
    // torn by a kill in the run's first write has no newline: nothing was scored after it.)
    if (!head && lines.length)
      throw new CliError(
        `the journal of the run under way ${this.file} is damaged (its first line is not \`run <epoch>\`): ` +
          'remove it to start afresh (a killed run it recorded is then not resumed: its rows may be learnt twice or not at all)',
        EXIT.dataerr,
      );
    this.epoch = `${RUN_EPOCH}${head ? head[1] : crypto.randomBytes(8).toString('hex')}`;
    if (head) {
      this.written = true;
      this.wholeBytes = text.lastIndexOf('\n') + 1;
      for (const line of lines.slice(1)) {
        // (a damaged line keeps its place: the places after it are the rows' own)
        const n = line.length === ROW_DIGITS && /^[0-9a-f]+$/.test(line) ? parseInt(line, 16) : -1;
        if (n >= 0 && !this.left.has(n)) this.left.set(n, this.rows);
        this.rows++;
      }
    }
  }

  /** whether a run was killed with this row scored and not committed: it is scored again */
  leftByCrash(n: number): boolean {
    return this.left.has(n);
  }

  /** a row this run found kept already (a killed run saved its ledger, not yet removed this file): met, not left */
  known(n: number): void {
    if (this.left.has(n)) this.met.add(n);
  }

  /** whether a killed run left rows to score again */
  get resumed(): boolean {
    return this.left.size > 0;
  }

  /**
   * The places of rows about to be scored (numbers: rowNumber of their ids), each the one a
   * killed run gave it or a new one; the new ones are written, synced, before this returns.
   */
  placesOf(numbers: readonly number[]): RowMark[] {
    const fresh: number[] = [];
    const marks = numbers.map((n): RowMark => {
      // (a row met once a run: the ledger's ids tell identical rows apart)
      let at = this.left.get(n);
      if (at !== undefined) {
        if (!this.met.has(n)) {
          if (at < this.lastLeft) this.reordered++;
          else this.lastLeft = at;
        }
        this.met.add(n);
      } else {
        at = this.rows++;
        fresh.push(n);
      }
      return [0, at, 0];
    });
    if (fresh.length) this.append(fresh.map((n) => `${n.toString(16).padStart(ROW_DIGITS, '0')}\n`).join(''));
    return marks;
  }

  private append(lines: string): void {
    const fd = fs.openSync(this.file, APPEND_READ, 0o600);
    try {
      if (!this.written) {
        fs.ftruncateSync(fd, 0);
        writeAll(fd, `run ${this.epoch.slice(RUN_EPOCH.length)}\n`);
      } else if (this.wholeBytes !== null) {
        // a line torn by the kill would glue itself to the first row appended now
        if (this.wholeBytes < fs.fstatSync(fd).size) fs.ftruncateSync(fd, this.wholeBytes);
        this.wholeBytes = null;
      }
      writeAll(fd, lines);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (!this.written) fsyncDir(this.stateDir);
    this.written = true;
  }

  /**
   * How many rows a killed run left that this run did not meet: it read other logs, or not
   * all of them. Committing forgets them; being retained, a later score of their logs takes
   * them for the extension's and does not learn them where the killed run had not saved them
   * (a loss the command names, since nothing else would tell it).
   */
  get unmet(): number {
    return this.left.size - this.met.size;
  }

  /**
   * How many rows a killed run left this run met after one the killed run had met later (the
   * logs given in another order). A subject's mark is the last place it learnt: met out of
   * order, a row of a place before it was taken for learnt (lost), or one after the place the
   * saved subject had reached learnt again, so the command says so.
   */
  get outOfOrder(): number {
    return this.reordered;
  }

  /** the run's rows are in its ledger, and what learnt them saved: the run is over */
  commit(): void {
    this.met.clear();
    this.lastLeft = -1;
    this.reordered = 0;
    if (!this.written) return;
    fs.rmSync(this.file, { force: true });
    fsyncDir(this.stateDir);
    this.written = false;
    this.left.clear();
    this.rows = 0;
  }
}

/**
 * What a run says when a killed run's journal named rows it did not meet (RunJournal.unmet).
 * A later score of the killed run's logs takes its retained rows for the extension's and
 * learns none (lost where it had not saved them); a later train, its ledger not knowing them,
 * learns them all again (twice where it had saved them).
 */
export function killedRunUnmet(rows: number, command: 'score' | 'train'): string {
  const then = command === 'score' ? 'does not learn those it had not saved' : 'learns again those it had saved';
  return `${rows.toLocaleString('en-US')} rows a ${command} that ended before it finished (killed, or stopped by an error) had begun are not in these logs (it read others, or more): its journal is cleared, and a later ${command} of its logs ${then}`;
}

/** what a run says when it met a killed run's rows in another order than it had (RunJournal.outOfOrder) */
export function killedRunReordered(rows: number, command: 'score' | 'train'): string {
  return `${rows.toLocaleString('en-US')} rows a ${command} that ended before it finished (killed, or stopped by an error) had begun were read in another order than it read them (the logs given in another order): those a subject had not saved may be learnt twice or not at all; give the logs in the order of that run`;
}
