import { MIN_CALIBRATION } from '../calibration';
import type { Calibrator } from '../calibration';
import { EARLIEST_PLAUSIBLE, latestPlausible, plausibleTime } from '../clock';
import { currentEventKey } from '../features/kinds';
import type { WindowEvidence } from '../types';
import { windowCalibrator } from './calibration';
import { OTHER_KEY, internKey } from './keys';
import type { OpenRow } from './open';
import { MAX_HISTORY_FACTOR } from './options';
import type { WindowOptions } from './options';
import { HOP_FRACTION, fitHistoryReference, forEachSlidWindow, restoredReference, savedReference } from './reference';
import type { Reference, SavedReference } from './reference';
import { WINDOW_EVIDENCE, windowStatistics } from './statistics';

// A subject's windows (alice@web-01): the rows of its closed windows kept as history, what it
// usually does (reference.ts) and how its windows are calibrated (calibration.ts).
//
// The five statistics are calibrated together, exactly like a row's model evidence
// (scorer/calibration.ts), against windows slid over the subject's held-out recent history,
// so that a window's 0.3 means what a row's does. The reference (usual mix, order and pace) is fitted on the older part of
// the history, the held-out windows on the newer part: as for rows, fitted and held-out never
// overlap. Bad windows never enter the reference, so a repeated intrusion does not become usual.

/** window lengths the held-out history must span before the subject's windows are scored */
const MIN_HELD_OUT_LENGTHS = 20;

export interface WindowSubjectState {
  name: string;
  /** absent in files of earlier builds, which kept one window subject per name for all hosts */
  host?: string;
  keys: string[];
  /** absent in files of earlier builds: the oldest row kept stands in for it */
  first?: number;
  /** the window length its reference and calibration were fitted for (absent before) */
  seconds?: number;
  history: { t: number[]; k: number[]; ev: number[]; bad: number[] };
  closedThrough: number;
  lastFit: number;
  heldOut: Partial<Record<WindowEvidence, (number | null)[]>> | null;
  reference: SavedReference | null;
}

export class WindowSubject {
  keys: string[] = ['(other)'];
  private keyIds = new Map<string, number>();
  // The history: the rows of the subject's closed windows in time order, as columns (their
  // names are those of the saved file's `history`): time, key id, row evidence (−1 while the
  // subject was learning), and whether its window was bad
  t: number[] = [];
  k: number[] = [];
  ev: number[] = [];
  /** 1 for rows of a window that was bad: calibration sees them, the usual mix does not */
  bad: number[] = [];
  /**
   * time of the first row ever taken in: min_days counts from it, as a row subject's does, not
   * from the oldest row kept (20,000 rows of a busy subject span hours, never days)
   */
  first = Infinity;
  /** every window starting before this has closed */
  closedThrough = -Infinity;
  /** windows of this subject open now (not saved: counted again from open.json at load) */
  openWindows = 0;
  lastFit = 0;
  /** the window length of the reference and calibration */
  fittedSeconds = 0;
  reference: Reference | null = null;
  calibrator: Calibrator<WindowEvidence> | null = null;
  dirty = true;

  constructor(
    readonly name: string,
    private readonly opts: WindowOptions,
    /** '' for a subject loaded from an earlier build's file, until its first row names the host */
    public host: string,
  ) {}

  /** the subject's key and file name: rows are modelled per host (alice@web-01), windows too */
  get key(): string {
    return windowKey(this.name, this.host);
  }

  keyId(key: string): number {
    const known = this.keys.length;
    const id = internKey(this.keys, this.keyIds, key);
    if (this.keys.length > known) this.dirty = true;
    return id;
  }

  remember(rows: readonly OpenRow[], bad: boolean): void {
    for (const [t, k, ev] of rows) {
      this.t.push(t);
      this.k.push(k);
      this.ev.push(ev);
      this.bad.push(bad ? 1 : 0);
      if (t < this.first) this.first = t;
    }
    this.trim();
    this.dirty = true;
  }

  /** seconds of history whose newer part holds MIN_HELD_OUT_LENGTHS window lengths */
  private neededSpan(): number {
    return (MIN_HELD_OUT_LENGTHS * this.opts.seconds) / (this.opts.heldOutFraction ?? 0.3);
  }

  /**
   * Drop the oldest rows beyond `historyRows`, but keep those the calibration's span needs
   * (one window length to spare), up to MAX_HISTORY_FACTOR × historyRows rows.
   */
  private trim(): void {
    const rows = this.opts.historyRows;
    const n = this.t.length;
    if (n - rows <= rows * 0.25) return;
    const from = this.t[n - 1] - this.neededSpan() - this.opts.seconds;
    let needed = 0;
    while (needed < n && this.t[needed] < from) needed++;
    const drop = Math.max(Math.min(n - rows, needed), n - MAX_HISTORY_FACTOR * rows);
    if (drop <= 0) return;
    this.t.splice(0, drop);
    this.k.splice(0, drop);
    this.ev.splice(0, drop);
    this.bad.splice(0, drop);
  }

  /**
   * The subject's lifecycle minimums, and a history long enough that its held-out part spans
   * MIN_HELD_OUT_LENGTHS windows end to end: slid windows overlap, and a held-out hour of
   * 10-minute windows holds only six independent ones, too few for a tail at 0.16 %.
   */
  ready(): boolean {
    return this.waiting() === null;
  }

  /** what the subject's windows still wait for before they are scored, or null (`anyDays`: min_days aside) */
  waiting(anyDays = false): string | null {
    const n = this.t.length;
    if (n < this.opts.minEvents || n === 0) return `${n} of ${this.opts.minEvents} events of history`;
    const newest = this.t[n - 1];
    const known = newest - Math.min(this.first, this.t[0]);
    if (known < this.opts.minSeconds && !anyDays) return `${hours(known)} of ${hours(this.opts.minSeconds)} of history`;
    const span = newest - this.t[0];
    if (span < this.neededSpan()) {
      const full = n >= MAX_HISTORY_FACTOR * this.opts.historyRows;
      return `${n} rows kept span ${hours(span)} of the ${hours(this.neededSpan())} the calibration needs${full ? ` (it logs more rows in that time than the ${n} kept: its windows are not scored)` : ''}`;
    }
    return null;
  }

  /**
   * Not calibrated: once ready. Calibrated: every retrain interval, and only while ready too.
   * A history that no longer spans what calibration needs (retrain.window_events lowered, or
   * a subject that logs faster: at most MAX_HISTORY_FACTOR × window_events rows are kept)
   * keeps the calibration it has, fitted on enough, until it spans enough again; refitted
   * on 1,000 s of rows where 4,000 s are needed, its tail rested on a handful of windows.
   * (min_days aside: it was met when the subject was first calibrated, and a file of an
   * earlier build, without `first`, knows only its history's span, which may be shorter)
   */
  dueForRefit(now: number): boolean {
    if (!this.calibrator) return this.ready();
    return now - this.lastFit >= this.opts.retrainSeconds && this.waiting(true) === null;
  }

  /**
   * Fit the reference on the older part of the history and calibrate on windows slid over
   * the newer part. Leaves the subject as it was when the held-out part is too short.
   */
  fit(now: number): boolean {
    const n = this.t.length;
    if (n < 2) return false;
    const seconds = this.opts.seconds;
    const heldFrom = Math.floor(n * (1 - (this.opts.heldOutFraction ?? 0.3)));
    const cutTime = this.t[heldFrom];
    let fitEnd = heldFrom;
    while (fitEnd > 0 && this.t[fitEnd - 1] >= cutTime) fitEnd--;
    if (fitEnd < MIN_CALIBRATION) return false;
    // the usual mix, order and pace come from windows that were not bad, so an intrusion that
    // repeats does not become usual; the held-out windows keep every window, bad ones too, so
    // that calibration sees how often normal windows are as odd as those (a window holding
    // one bad row is bad by its peak: leaving such windows out would make peaks look rarer
    // than they are, and flag more of them)
    const fitK: number[] = [];
    const fitT: number[] = [];
    for (let i = 0; i < fitEnd; i++) {
      if (this.bad[i]) continue;
      fitK.push(this.k[i]);
      fitT.push(this.t[i]);
    }
    if (fitK.length < MIN_CALIBRATION) return false;
    const reference = fitHistoryReference(fitK, fitT, seconds);
    const samples: Array<Record<WindowEvidence, number | undefined>> = [];
    forEachSlidWindow(this.t, fitEnd, n, cutTime, this.t[n - 1] + 1, seconds, Math.max(1, seconds * HOP_FRACTION), (lo, hi) => {
      samples.push(windowStatistics(this.k.slice(lo, hi), this.ev.slice(lo, hi), reference));
    });
    if (samples.length < MIN_CALIBRATION) return false;
    // a statistic enters calibration only if every held-out window has it (row evidence is
    // missing for rows scored while the subject was learning)
    const heldOut: Partial<Record<WindowEvidence, number[]>> = {};
    for (const name of WINDOW_EVIDENCE) {
      if (samples.every((x) => x[name] !== undefined)) heldOut[name] = samples.map((x) => x[name]!);
    }
    this.reference = reference;
    this.calibrator = windowCalibrator(heldOut);
    this.fittedSeconds = seconds;
    this.lastFit = now;
    this.dirty = true;
    return true;
  }

  /** drop the reference and calibration: the next window to close refits them, if ready */
  forgetFit(): void {
    this.reference = null;
    this.calibrator = null;
    this.dirty = true;
  }

  toState(): WindowSubjectState {
    const r = this.reference;
    return {
      name: this.name,
      host: this.host,
      keys: this.keys,
      history: { t: this.t, k: this.k, ev: this.ev, bad: this.bad },
      first: Number.isFinite(this.first) ? this.first : undefined,
      seconds: this.reference ? this.fittedSeconds : undefined,
      closedThrough: Number.isFinite(this.closedThrough) ? this.closedThrough : -1,
      lastFit: this.lastFit,
      heldOut: this.calibrator?.toState().heldOut ?? null,
      reference: r ? savedReference(r) : null,
    };
  }

  static fromState(s: WindowSubjectState, opts: WindowOptions): WindowSubject {
    const w = new WindowSubject(s.name, opts, typeof s.host === 'string' ? s.host : '');
    if (!Array.isArray(s.keys) || s.keys[0] !== '(other)') throw new Error('window state: key table is malformed');
    // keys as this build spells them: a query no unit knows, saved in Fleet's whole name by the
    // build before newcomer3, was a key never seen after the upgrade, and its routine another
    // mix. Ids stay where they were; two spellings of one key become the first one's id
    const canonical: number[] = [];
    let merged = false;
    w.keys = s.keys.map((saved, id) => {
      const key = id === OTHER_KEY ? saved : currentEventKey(saved);
      const first = id === OTHER_KEY ? undefined : w.keyIds.get(key);
      if (first === undefined) {
        if (id !== OTHER_KEY) w.keyIds.set(key, id);
        canonical.push(id);
      } else {
        merged = true;
        canonical.push(first);
      }
      return key;
    });
    const { t, ev, bad } = s.history;
    const k = merged ? s.history.k.map((id) => canonical[id] ?? id) : s.history.k;
    if (t.length !== k.length || t.length !== ev.length || t.length !== bad?.length) throw new Error('window state: history columns differ in length');
    // an earlier build took rows dated 1970 into the history, which then spanned decades
    const keep = t.map((x) => x >= EARLIEST_PLAUSIBLE);
    const kept = <T>(xs: T[]) => (keep.every(Boolean) ? xs : xs.filter((_, i) => keep[i]));
    w.t = kept(t);
    w.k = kept(k);
    w.ev = kept(ev);
    w.bad = kept(bad);
    // like the rows, a first time from before 2001 or ahead of the clock is not believed
    if (typeof s.first === 'number' && plausibleTime(s.first, Date.now() / 1000)) w.first = s.first;
    // closed through a time the clock has not reached (it was ahead): as if nothing were closed
    w.closedThrough = s.closedThrough >= 0 && s.closedThrough <= latestPlausible() ? s.closedThrough : -Infinity;
    w.lastFit = s.lastFit;
    // (a reference that counted two spellings apart is refitted from the history)
    if (s.reference && s.heldOut && !merged) {
      w.reference = restoredReference(s.reference);
      w.calibrator = windowCalibrator(s.heldOut);
      w.fittedSeconds = typeof s.seconds === 'number' ? s.seconds : opts.seconds;
    }
    w.dirty = false;
    return w;
  }
}

/** a window subject's key: its name and host ('' for an earlier build's subject of every host) */
export function windowKey(name: string, host: string): string {
  return host ? `${name}\u0000${host}` : name;
}

/** "5.6 h", "3 days": spans in the reasons of windows still learning */
export function hours(seconds: number): string {
  const h = seconds / 3600;
  return h >= 48 ? `${Math.floor(h / 24)} days` : `${h < 10 ? Math.floor(h * 10) / 10 : Math.floor(h)} h`;
}
