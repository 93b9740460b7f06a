import { MIN_CALIBRATION } from '../calibration';
import type { Calibrator } from '../calibration';
import { hostBaselineName } from '../baseline';
import { plausibleTime } from '../clock';
import { currentEventKey } from '../features/kinds';
import type { WindowEvidence } from '../types';
import { paceDistance, fitPoolPace, paceFor, savedPoolPace, restoredPoolPace } from './pace';
import type { Pace, PoolPace, SavedPoolPace } from './pace';
import { windowsToDrop } from './pool-trim';
import { windowCalibrator } from './calibration';
import { OTHER_KEY, internKey } from './keys';
import type { OpenWindow } from './open';
import { MAX_HISTORY_FACTOR } from './options';
import type { WindowOptions } from './options';
import { fitReference, restoredReference, savedReference } from './reference';
import type { Reference, SavedReference } from './reference';
import { windowStatistics } from './statistics';
import { hours } from './subject';
import type { WindowSubject } from './subject';

// A host's window baseline (`*@web-01`, WindowPool): the closed windows of all its subjects,
// which judge the windows of a subject still learning its own.

/**
 * Closed windows a host's window baseline must hold out before it scores: its windows are
 * cut, not slid, so each is an independent value (a subject's 20 held-out window lengths are
 * about 20), and the tail at 0.16 % is extrapolated from the top tenth of them
 */
const MIN_POOL_HELD_OUT = 100;

/**
 * What a host's window baseline judges a window by: what compares across the host's subjects.
 * The rows' evidence (peak, mean) is the host's row baseline's for a learning subject, which
 * weighs who acted; and a pace above the host's usual (a burst). Not the mix and the order:
 * those of the host's windows are its busiest subjects', and against them every window of a
 * sparse account read "keys seldom seen 100 %" (a DBA's one morning on the database host,
 * `du`, `df`, `vacuumdb`: 0.09 to 0.47 by `host:mix`, on the 12-day scenario set 8 of its 212
 * routine windows below 0.5 where there had been 2). Nor fewer events than the host's usual
 * window: that is what a quiet subject's every window is.
 */
const POOL_EVIDENCE: readonly WindowEvidence[] = ['rate', 'peak', 'mean'];

/**
 * a window's statistics as a host's window baseline sees them (POOL_EVIDENCE): the rate
 * against its own subject's usual pace (or a typical subject's, pace.ts), one-sided
 */
export function poolStatistics(
  keys: readonly number[],
  evidence: readonly number[],
  ref: Reference,
  pace: Pace,
): Partial<Record<WindowEvidence, number | undefined>> {
  const all = windowStatistics(keys, evidence, ref);
  return { rate: keys.length > pace.usual ? paceDistance(keys.length, pace) : 0, peak: all.peak, mean: all.mean };
}

export interface WindowPoolState {
  host: string;
  keys: string[];
  /** time of the first row taken in: min_days counts from it, as for the row baseline */
  first?: number;
  /** the window length its windows were cut at */
  seconds?: number;
  /**
   * the closed windows kept, oldest first: their start, rows, verdict (1: bad) and subject
   * (`who`, an index into `subjects`; both absent in files of the build before winpace)
   */
  windows: { start: number[]; size: number[]; bad: number[]; who?: number[] };
  subjects?: string[];
  /** the rows of those windows, each window's in time order, one window after another */
  rows: { k: number[]; ev: number[] };
  lastFit: number;
  heldOut: Partial<Record<WindowEvidence, (number | null)[]>> | null;
  reference: SavedReference | null;
  /** each subject's usual pace (absent before winpace: the baseline fits again) */
  pace?: SavedPoolPace | null;
}

/**
 * A host's window baseline (`*@web-01`): the closed windows of every subject of the host, so
 * that a subject whose own windows are still learning (a deploy account that logs in twice a
 * week, a nightly backup, a new person) is not blind, as the host baseline keeps its rows from
 * being blind (scorer/baseline.ts). The windows are the subjects' own, as they closed (a
 * subject's rows are never mixed with another's in one window); the usual mix and order are
 * the host's over them, the usual pace each subject's own (pace.ts), and the
 * calibration is its newest windows' evidence against those,
 * under the same contract as a subject's. Who acted is not a key here: a learning subject's
 * rows were scored by the host's row baseline, which weighs who acted, and that evidence is
 * the window's peak and mean; the pace says how far above its own subject's usual a window
 * is, which a burst shows (POOL_EVIDENCE: the mix and order are fitted, not judged by).
 */
export class WindowPool {
  keys: string[] = ['(other)'];
  private keyIds = new Map<string, number>();
  start: number[] = [];
  size: number[] = [];
  bad: number[] = [];
  /** each window's subject, an index into `subjects` (names of the windows kept, no others) */
  who: number[] = [];
  subjects: string[] = [];
  private subjectIds = new Map<string, number>();
  k: number[] = [];
  ev: number[] = [];
  first = Infinity;
  lastFit = 0;
  /** the window length its windows were cut at */
  seconds: number;
  reference: Reference | null = null;
  /** each subject's usual pace, fitted with the reference */
  pace: PoolPace | null = null;
  calibrator: Calibrator<WindowEvidence> | null = null;
  dirty = true;

  constructor(
    readonly host: string,
    private readonly opts: WindowOptions,
  ) {
    this.seconds = opts.seconds;
  }

  get name(): string {
    return hostBaselineName(this.host);
  }

  private keyId(key: string): number {
    return internKey(this.keys, this.keyIds, key);
  }

  /** the window's keys in the pool's ids (a subject's ids are its own) */
  keysOf(subject: WindowSubject, rows: OpenWindow['rows']): number[] {
    return rows.map((r) => this.keyId(subject.keys[r[1]]));
  }

  remember(subject: WindowSubject, w: OpenWindow, bad: boolean): void {
    if (!w.rows.length) return;
    const keys = this.keysOf(subject, w.rows);
    this.start.push(w.start);
    this.size.push(keys.length);
    this.bad.push(bad ? 1 : 0);
    this.who.push(this.subjectId(subject.name));
    for (let i = 0; i < keys.length; i++) {
      this.k.push(keys[i]);
      this.ev.push(w.rows[i][2]);
    }
    if (w.rows[0][0] < this.first) this.first = w.rows[0][0];
    this.trim();
    this.dirty = true;
  }

  /** windows the history keeps at least (while within MAX_HISTORY_FACTOR × historyRows rows) */
  private neededWindows(): number {
    return Math.ceil(MIN_POOL_HELD_OUT / (this.opts.heldOutFraction ?? 0.3)) + 1;
  }

  /**
   * Drop windows beyond `historyRows` rows, but keep the windows calibration needs, up to
   * MAX_HISTORY_FACTOR × historyRows rows: bounded like a subject's history. The oldest
   * window of the subject that holds the most rows goes first (pool-trim.ts),
   * so one account's flood of rows does not push the others' windows out
   */
  private trim(): void {
    const rows = this.opts.historyRows;
    if (this.k.length - rows <= rows * 0.25) return;
    // held at the windows calibration needs, every new window would drop one, copying every
    // row kept: as rows, it waits for a quarter more first
    if (this.size.length <= this.neededWindows() * 1.25 && this.k.length <= MAX_HISTORY_FACTOR * rows) return;
    const drop = windowsToDrop(this.who, this.size, (kept, windows) => (kept > rows && windows > this.neededWindows()) || kept > MAX_HISTORY_FACTOR * rows);
    if (!drop.some(Boolean)) return;
    const rowDrop: boolean[] = [];
    for (let i = 0; i < this.size.length; i++) for (let j = 0; j < this.size[i]; j++) rowDrop.push(drop[i]);
    const keep = <T>(xs: T[], gone: boolean[]) => xs.filter((_, i) => !gone[i]);
    this.start = keep(this.start, drop);
    this.size = keep(this.size, drop);
    this.bad = keep(this.bad, drop);
    this.k = keep(this.k, rowDrop);
    this.ev = keep(this.ev, rowDrop);
    this.setWho(keep(this.who, drop).map((id) => this.subjects[id]));
  }

  /** each window's subject by name: the table of names holds those of the windows kept */
  private setWho(names: readonly string[]): void {
    this.subjects = [];
    this.subjectIds = new Map();
    this.who = names.map((name) => this.subjectId(name));
  }

  private subjectId(name: string): number {
    let id = this.subjectIds.get(name);
    if (id === undefined) {
      id = this.subjects.push(name) - 1;
      this.subjectIds.set(name, id);
    }
    return id;
  }

  /** what the baseline still waits for before it scores, or null (`anyDays`: min_days aside) */
  waiting(anyDays = false): string | null {
    const n = this.k.length;
    if (n < this.opts.minEvents || n === 0) return `${n} of ${this.opts.minEvents} events of history`;
    const known = this.start[this.start.length - 1] + this.opts.seconds - this.first;
    if (known < this.opts.minSeconds && !anyDays) return `${hours(known)} of ${hours(this.opts.minSeconds)} of history`;
    if (this.size.length < this.neededWindows()) return `${this.size.length} of ${this.neededWindows()} windows`;
    return null;
  }

  dueForRefit(now: number): boolean {
    if (!this.calibrator) return this.waiting() === null;
    return now - this.lastFit >= this.opts.retrainSeconds && this.waiting(true) === null;
  }

  /**
   * The usual mix, order and pace from the older windows that were not bad, the calibration
   * from the newer windows, every one (as a subject's: a window bad by its peak is as normal
   * for calibration as the held-out windows are)
   */
  fit(now: number): boolean {
    const n = this.size.length;
    const heldFrom = Math.floor(n * (1 - (this.opts.heldOutFraction ?? 0.3)));
    if (n - heldFrom < MIN_POOL_HELD_OUT) return false;
    const offset: number[] = [];
    let rowsBefore = 0;
    for (const size of this.size) {
      offset.push(rowsBefore);
      rowsBefore += size;
    }
    const fitted: Array<[number, number]> = [];
    let fittedRows = 0;
    for (let i = 0; i < heldFrom; i++)
      if (!this.bad[i]) {
        fitted.push([offset[i], offset[i] + this.size[i]]);
        fittedRows += this.size[i];
      }
    if (fittedRows < MIN_CALIBRATION) return false;
    const reference = fitReference(this.k, fitted, (visit) => {
      for (const [lo, hi] of fitted) visit(lo, hi);
    });
    // each subject's usual pace from its own fitted windows (pace.ts)
    const sizes = new Map<string, number[]>();
    for (let i = 0; i < heldFrom; i++) {
      if (this.bad[i]) continue;
      const name = this.subjects[this.who[i]];
      let own = sizes.get(name);
      if (!own) sizes.set(name, (own = []));
      own.push(this.size[i]);
    }
    const pace = fitPoolPace(sizes);
    const samples: Array<Partial<Record<WindowEvidence, number | undefined>>> = [];
    for (let i = heldFrom; i < n; i++) {
      const lo = offset[i];
      const hi = lo + this.size[i];
      samples.push(poolStatistics(this.k.slice(lo, hi), this.ev.slice(lo, hi), reference, paceFor(pace, this.subjects[this.who[i]]).pace));
    }
    const heldOut: Partial<Record<WindowEvidence, number[]>> = {};
    for (const name of POOL_EVIDENCE) {
      if (samples.every((x) => x[name] !== undefined)) heldOut[name] = samples.map((x) => x[name]!);
    }
    this.reference = reference;
    this.pace = pace;
    this.calibrator = windowCalibrator(heldOut, 1);
    this.lastFit = now;
    this.dirty = true;
    return true;
  }

  toState(): WindowPoolState {
    return {
      host: this.host,
      keys: this.keys,
      first: Number.isFinite(this.first) ? this.first : undefined,
      seconds: this.seconds,
      windows: { start: this.start, size: this.size, bad: this.bad, who: this.who },
      subjects: this.subjects,
      rows: { k: this.k, ev: this.ev },
      lastFit: this.lastFit,
      heldOut: this.calibrator?.toState().heldOut ?? null,
      reference: this.reference ? savedReference(this.reference) : null,
      pace: this.pace ? savedPoolPace(this.pace) : null,
    };
  }

  static fromState(s: WindowPoolState, opts: WindowOptions): WindowPool {
    if (typeof s.host !== 'string' || !s.host) throw new Error('window baseline state: no host');
    const p = new WindowPool(s.host, opts);
    if (!Array.isArray(s.keys) || s.keys[0] !== '(other)' || !s.keys.every((x) => typeof x === 'string'))
      throw new Error('window baseline state: key table is malformed');
    const { start, size, bad } = s.windows ?? {};
    const { k, ev } = s.rows ?? {};
    if (![start, size, bad, k, ev].every((x) => Array.isArray(x) && x.every((v) => typeof v === 'number' && Number.isFinite(v))))
      throw new Error('window baseline state: history is malformed');
    if (start.length !== size.length || start.length !== bad.length || k.length !== ev.length)
      throw new Error('window baseline state: history columns differ in length');
    if (!size.every((z) => Number.isInteger(z) && z > 0) || size.reduce((a, b) => a + b, 0) !== k.length)
      throw new Error('window baseline state: window sizes do not add up to the rows kept');
    if (!k.every((id) => Number.isInteger(id) && id >= 0 && id < s.keys.length)) throw new Error('window baseline state: a row names no key');
    // each window's subject; a file of the build before winpace has none: its windows count as
    // one subject's, and the baseline fits again with each subject's pace at its next window
    const who = s.windows.who;
    const names = s.subjects;
    const named = Array.isArray(who) && Array.isArray(names);
    if (named) {
      if (who.length !== start.length || !names.every((x) => typeof x === 'string') || !who.every((id) => Number.isInteger(id) && id >= 0 && id < names.length))
        throw new Error('window baseline state: a window names no subject');
      p.setWho(who.map((id) => names[id]));
    } else p.setWho(start.map(() => ''));
    p.keys = s.keys.map((key, id) => (id === OTHER_KEY ? key : currentEventKey(key)));
    p.keys.forEach((key, id) => {
      if (id !== OTHER_KEY && !p.keyIds.has(key)) p.keyIds.set(key, id);
    });
    p.start = start;
    p.size = size;
    p.bad = bad;
    p.k = k;
    p.ev = ev;
    if (typeof s.first === 'number' && plausibleTime(s.first, Date.now() / 1000)) p.first = s.first;
    else if (start.length) p.first = start[0];
    p.lastFit = typeof s.lastFit === 'number' ? s.lastFit : 0;
    const pace = named ? restoredPoolPace(s.pace) : null;
    if (s.reference && s.heldOut && pace) {
      p.reference = restoredReference(s.reference);
      p.pace = pace;
      p.calibrator = windowCalibrator(s.heldOut, 1);
    }
    if (typeof s.seconds === 'number') p.seconds = s.seconds;
    p.dirty = false;
    return p;
  }
}
