import * as fs from 'fs';
import * as path from 'path';
import { verdictOf } from '../calibration';
import { readStateFile, writeStateFile, StateFileError, quarantine } from '../../state/atomic';
import { subjectFileName } from '../scorer';
import { EARLIEST_PLAUSIBLE, latestPlausible, plausibleTime } from '../clock';
import type { RowMark, ScoredWindow, TakenMark, WindowEvidence, WindowRow } from '../types';
import { compareMarks } from '../types';
import { paceFor } from './pace';
import type { WindowScorerOptions } from './options';
import { MAX_OPEN_ROWS, isTaken, openWindowId, rebucketWindows, windowStartOf } from './open';
import type { OpenWindow } from './open';
import { OTHER_KEY } from './keys';
import { WindowSubject, windowKey } from './subject';
import type { WindowSubjectState } from './subject';
import { WindowPool, poolStatistics } from './pool';
import type { WindowPoolState } from './pool';
import { windowStatistics } from './statistics';
import { windowReasons } from './reasons';

// Window scores (design.md, `anomaly_windows`): what no single row shows. Each subject's rows
// are also cut into fixed windows (10 minutes by default), and a window is scored once it has
// closed, from its rows as a whole (statistics.ts: mix, sequence, rate, peak and mean).
//
// A subject's windows are judged by its own history (subject.ts); while it is still learning,
// by its host's window baseline (pool.ts).
//
// osqueryd logs a query's rows in batches once an interval, so rows arrive late and out of
// order. A window stays open until the newest row time seen on its host (the watermark) has
// passed its end by a grace period; rows are ordered by time when it closes. A row for a
// window that has already closed is counted as late and left out (it is still scored as a row).

/** the row ids a window names (top_ids): those of its rows with the strongest evidence */
const TOP_IDS = 5;

const STATE_KIND = 'windows';
const POOL_KIND = 'windows-pool';
const STATE_VERSION = 1;

/** The window unit: scored rows in, closed and scored windows out. */
export class WindowScorer {
  /** least recently active first, when subjects are bounded */
  private readonly subjects = new Map<string, WindowSubject>();
  private readonly maxSubjects: number;
  /** subjects forgotten, and rows left out, for memory.max_subjects (for the log) */
  private forgotten = 0;
  /** subjects adopted from an earlier build's file, whose old file goes once they are saved */
  private replaced: Array<{ subject: WindowSubject; file: string }> = [];
  private unwindowed = 0;
  /**
   * The last row of the extension's queue taken in (types.ts LineMarks), saved with the open
   * windows: rows the queue replays after a crash, up to it, are in the windows already.
   */
  private taken: TakenMark | null = null;
  private readonly open = new Map<string, OpenWindow>();
  /** each host's window baseline (WindowPool), by host */
  private readonly pools = new Map<string, WindowPool>();
  /**
   * the newest row time seen, per host: one for all let the first of several hosts' logs read
   * one after the other (train --log a.log --log b.log) close every window of the next at
   * each of its batches, partly filled, and leave the rest of their rows out as late
   */
  private readonly watermarks = new Map<string, number>();
  private arrival = 0;
  /** rows that arrived after their window had closed */
  late = 0;
  private openDirty = false;

  constructor(private readonly opts: WindowScorerOptions) {
    this.maxSubjects = opts.stateDir && opts.maxSubjects !== undefined ? opts.maxSubjects : Infinity;
    if (opts.stateDir) this.load(opts.stateDir);
  }

  /** the start of the window a time falls in */
  windowStart(time: number): number {
    return windowStartOf(time, this.opts.seconds);
  }

  /**
   * The subject, made the most recently active; a new one if there is room (`admit`: in any
   * case, for a window already open). A local user with a range of subordinate uids made a
   * window subject per uid, each with a file, all loaded at every start: 5,000 uids of one
   * row took 7.3 MB of heap and 5,001 files, kept for ever.
   */
  private subject(name: string, host: string, admit = false): WindowSubject | null {
    const key = windowKey(name, host);
    let s = this.subjects.get(key);
    if (!s) s = this.adopt(name, host);
    if (s) {
      if (this.maxSubjects !== Infinity) {
        this.subjects.delete(key);
        this.subjects.set(key, s);
      }
      return s;
    }
    if (this.subjects.size >= this.maxSubjects) this.forgetOne();
    if (this.subjects.size >= this.maxSubjects && !admit) {
      if (this.unwindowed++ % 100_000 === 0)
        this.opts.log?.(
          'warn',
          `rows of ${JSON.stringify(name.slice(0, 100))} make no windows: memory.max_subjects (${this.maxSubjects}) window subjects are kept, none idle and still learning (${this.unwindowed} such rows so far)`,
        );
      return null;
    }
    this.subjects.set(key, (s = new WindowSubject(name, this.opts, host)));
    return s;
  }

  /**
   * A subject an earlier build saved under its name alone (one for all hosts; the extension
   * sees one host) becomes the subject of the first host whose rows name it. Its old file is
   * removed once the new one is saved.
   */
  private adopt(name: string, host: string): WindowSubject | undefined {
    const legacy = this.subjects.get(windowKey(name, ''));
    if (!legacy || !host) return undefined;
    this.subjects.delete(windowKey(name, ''));
    legacy.host = host;
    legacy.dirty = true;
    this.subjects.set(legacy.key, legacy);
    this.replaced.push({ subject: legacy, file: subjectFileName(name) });
    return legacy;
  }

  /**
   * Forget the least recently active subject whose windows are not scored yet and that has
   * no window open. One whose windows are scored has earned its place and is kept (moved to
   * the end, so the next look starts past it); one with a window open is active, and so is
   * every subject after it.
   */
  private forgetOne(): void {
    let skipped = 0;
    for (const [key, s] of this.subjects) {
      const name = s.name;
      if (skipped >= this.subjects.size) return;
      if (s.calibrator) {
        this.subjects.delete(key);
        this.subjects.set(key, s);
        skipped++;
        continue;
      }
      if (s.openWindows > 0) return;
      this.subjects.delete(key);
      if (this.opts.stateDir) fs.rmSync(path.join(this.opts.stateDir, 'subjects', subjectFileName(key)), { force: true });
      if (this.forgotten++ % 10_000 === 0)
        this.opts.log?.(
          'warn',
          `${this.forgotten} window subject(s) forgotten, the least recently active (last ${JSON.stringify(name.slice(0, 100))}): more than memory.max_subjects (${this.maxSubjects}) were seen`,
        );
      return;
    }
  }

  /**
   * Take scored rows in (any order, any lateness) and return the windows that closed, scored.
   * Only row times move the watermark, never the wall clock: a replayed old log closes its
   * windows as a live one does, and a window open when the host stops logging closes when
   * rows come again (its state survives restarts).
   */
  add(events: readonly WindowRow[], replay?: { epoch: string; marks: readonly RowMark[] }): ScoredWindow[] {
    const now = Date.now() / 1000;
    const taken = replay && this.taken?.epoch === replay.epoch ? this.taken.at : null;
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      // taken in before a crash, and saved: a second copy would double the window's rows
      if (taken && replay && compareMarks(replay.marks[i], taken) <= 0) continue;
      const s = this.subject(e.subject, e.host);
      if (!s) continue;
      const start = this.windowStart(e.time);
      // the host's clock went back (set ahead, then put right by NTP): the watermark and what
      // the subject closed are no longer plausible, and kept they left every row late until the
      // rows caught up with them, months perhaps. A plausible row starts them again from its own
      // window (windows dated ahead that are still open wait, as windows do, for their time)
      if (plausibleTime(e.time, now)) {
        const ahead = latestPlausible(now);
        if ((this.watermarks.get(e.host) ?? -Infinity) > ahead) this.watermarks.set(e.host, e.time);
        if (s.closedThrough > ahead) s.closedThrough = start;
      }
      // a row dated far ahead (a clock gone wrong, year 9999) would move the watermark there:
      // every window would close at its first batch, and its own never. A row dated before
      // 2001 (a board without a clock logs in 1970 until NTP answers: a new subject's first
      // rows) would open a window that the next rows close at once, and that window would
      // begin the subject's history: a span of decades, min_days met within the hour. Both
      // are left out as late (the rows are still scored)
      if (start < s.closedThrough || !plausibleTime(e.time, now)) {
        this.late++;
        continue;
      }
      const id = openWindowId(e.subject, e.host, start);
      let w = this.open.get(id);
      if (!w) {
        this.open.set(id, (w = { subject: e.subject, host: e.host, start, events: 0, rows: [] }));
        s.openWindows++;
      }
      w.events++;
      if (w.rows.length < MAX_OPEN_ROWS) w.rows.push([e.time, s.keyId(e.event), e.score === null ? -1 : 4 * (1 - e.score), e.id, this.arrival++]);
      if (e.time > (this.watermarks.get(e.host) ?? -Infinity)) this.watermarks.set(e.host, e.time);
      this.openDirty = true;
    }
    const last = replay?.marks[events.length - 1];
    if (replay && last && !(taken && compareMarks(last, taken) <= 0)) {
      this.taken = { epoch: replay.epoch, at: [last[0], last[1], last[2]] };
      this.openDirty = true;
    }
    return this.closeDue();
  }

  /** the last queue row taken in (saved with the open windows), null before any */
  get takenThrough(): TakenMark | null {
    return this.taken && { epoch: this.taken.epoch, at: [...this.taken.at] };
  }

  /** close every window whose end plus grace is at or before `now`, by default its host's watermark */
  closeDue(now?: number): ScoredWindow[] {
    const due = [...this.open.values()].filter(
      (w) => w.start + this.opts.seconds + this.opts.graceSeconds <= (now ?? this.watermarks.get(w.host) ?? -Infinity),
    );
    return this.close(due);
  }

  /** close every open window (end of an offline log) */
  flush(): ScoredWindow[] {
    return this.close([...this.open.values()]);
  }

  private close(windows: OpenWindow[]): ScoredWindow[] {
    if (!windows.length) return [];
    windows.sort((a, b) => a.start - b.start || (a.subject < b.subject ? -1 : 1));
    const out: ScoredWindow[] = [];
    for (const w of windows) {
      this.open.delete(openWindowId(w.subject, w.host, w.start));
      this.openDirty = true;
      const s = this.subject(w.subject, w.host, true)!;
      s.openWindows = Math.max(0, s.openWindows - 1);
      const end = w.start + this.opts.seconds;
      s.closedThrough = Math.max(s.closedThrough, w.start + 1);
      // stable: rows of one second keep the order they arrived in
      w.rows.sort((a, b) => a[0] - b[0] || a[4] - b[4]);
      const pool = this.pool(w.host);
      let scored = this.score(s, w, end);
      // still learning its own windows: its host's windows judge it, as its rows are judged
      // by the host's row baseline
      if (scored.verdict === 'learning' && pool?.reference && pool.pace && pool.calibrator) scored = this.scoreByPool(pool, s, w, scored);
      // and when the host's baseline cannot judge yet either, the reasons say what it waits for
      else if (scored.verdict === 'learning' && pool)
        scored = { ...scored, reasons: `${scored.reasons}; ${pool.host}'s window baseline: ${pool.waiting() ?? 'fitting'}` };
      out.push(scored);
      s.remember(w.rows, scored.verdict === 'bad');
      if (s.dueForRefit(end)) s.fit(end);
      if (pool) {
        pool.remember(s, w, scored.verdict === 'bad');
        if (pool.dueForRefit(end)) pool.fit(end);
      }
    }
    return out;
  }

  /** the host's window baseline (created at its first window), or null when config.baselines.host is off */
  private pool(host: string): WindowPool | null {
    if (this.opts.hostBaseline === false || !host) return null;
    let p = this.pools.get(host);
    if (!p) this.pools.set(host, (p = new WindowPool(host, this.opts)));
    return p;
  }

  /**
   * A learning subject's window judged by its host's window baseline: the same statistics
   * against the host's usual mix, order and pace, calibrated over the host's held-out windows;
   * `model` names the baseline (`host:mix`) and the reasons end with the subject's progress
   */
  private scoreByPool(pool: WindowPool, s: WindowSubject, w: OpenWindow, learning: ScoredWindow): ScoredWindow {
    const { pace, own } = paceFor(pool.pace!, s.name);
    const stats = poolStatistics(
      pool.keysOf(s, w.rows),
      w.rows.map((r) => r[2]),
      pool.reference!,
      pace,
    );
    const evidence: Partial<Record<WindowEvidence, number>> = {};
    for (const name of pool.calibrator!.models) if (stats[name] !== undefined) evidence[name] = stats[name];
    const c = pool.calibrator!.calibrate(evidence);
    const score = Math.round(c.score * 1e6) / 1e6;
    const judged = `${s.name}, against the windows of every subject of ${pool.host} (host baseline)`;
    const why = windowReasons(
      {
        name: judged,
        keys: pool.keys,
        reference: { ...pool.reference!, medianEvents: pace.usual },
        paceOf: own ? `in ${s.name}'s own windows` : `for a subject of ${pool.host}`,
      },
      pool.keysOf(s, w.rows),
      w.events,
      this.opts.seconds,
      c.model,
      score,
    );
    return { ...learning, score, verdict: verdictOf(score), model: c.model ? `host:${c.model}` : 'host', reasons: `${why}; ${learning.reasons}` };
  }

  private score(s: WindowSubject, w: OpenWindow, end: number): ScoredWindow {
    const top = w.rows
      .filter((r) => r[2] >= 0)
      .sort((a, b) => b[2] - a[2])
      .slice(0, TOP_IDS)
      .map((r) => r[3]);
    const base = { subject: w.subject, host: w.host, start: w.start, end, events: w.events, top_ids: JSON.stringify(top) };
    if (!s.reference || !s.calibrator) {
      return {
        ...base,
        score: null,
        verdict: 'learning',
        model: '',
        reasons: `learning ${s.name}'s windows: ${s.waiting() ?? 'fitting its usual mix, order and pace'}`,
      };
    }
    const stats = windowStatistics(
      w.rows.map((r) => r[1]),
      w.rows.map((r) => r[2]),
      s.reference,
    );
    const evidence: Partial<Record<WindowEvidence, number>> = {};
    for (const name of s.calibrator.models) if (stats[name] !== undefined) evidence[name] = stats[name];
    const c = s.calibrator.calibrate(evidence);
    // six decimals, as the table prints it, so that pushed-down bounds see what SQLite sees
    const score = Math.round(c.score * 1e6) / 1e6;
    const keys = w.rows.map((r) => r[1]);
    return {
      ...base,
      score,
      verdict: verdictOf(score),
      model: c.model,
      reasons: windowReasons({ name: s.name, keys: s.keys, reference: s.reference }, keys, w.events, this.opts.seconds, c.model, score),
    };
  }

  /**
   * Fit every subject that has any history (evaluation), or (`minimums`, CLI `train`) every one
   * with the history its calibration needs, min_days aside, as train trains rows: a subject
   * of 199 rows was "still learning" by its rows and had its windows calibrated all the same
   */
  trainAll(opts: { minimums?: boolean } = {}): void {
    for (const s of this.subjects.values()) if (!opts.minimums || s.waiting(true) === null) s.fit(s.t.length ? s.t[s.t.length - 1] : 0);
    // a host's window baseline: with the windows its calibration needs in any case (they are
    // whole windows, each one value, where a subject's are slid)
    for (const p of this.pools.values())
      if (!opts.minimums || p.waiting(true) === null) p.fit(p.start.length ? p.start[p.start.length - 1] + this.opts.seconds : 0);
  }

  /** subjects whose windows are scored (not learning), named as anomaly_models names them (alice@web-01) */
  monitoring(): string[] {
    return [...this.subjects.values()].filter((s) => s.calibrator).map((s) => (s.host ? `${s.name}@${s.host}` : s.name));
  }

  /** how many subjects have windows kept */
  get subjectCount(): number {
    return this.subjects.size;
  }

  /** how many windows are open */
  get openWindows(): number {
    return this.open.size;
  }

  save(): void {
    const dir = this.opts.stateDir;
    if (!dir) return;
    const subjectsDir = path.join(dir, 'subjects');
    fs.mkdirSync(subjectsDir, { recursive: true, mode: 0o700 });
    // each subject on its own, under a hashed name (a user name can be longer than a file
    // name may be): one that fails is tried again next time and keeps no other from saving
    const failed: string[] = [];
    for (const s of this.subjects.values()) {
      if (!s.dirty) continue;
      try {
        writeStateFile(path.join(subjectsDir, subjectFileName(s.key)), STATE_KIND, STATE_VERSION, s.toState());
        s.dirty = false;
      } catch (err) {
        failed.push(`${JSON.stringify(s.name.slice(0, 100))}: ${(err as Error).message}`);
      }
    }
    // each host's window baseline, beside the subjects (a file of its own kind: a subject's
    // file can never be read as a baseline, or a baseline's as a subject)
    if (this.pools.size) fs.mkdirSync(path.join(dir, 'pools'), { recursive: true, mode: 0o700 });
    for (const p of this.pools.values()) {
      if (!p.dirty) continue;
      try {
        writeStateFile(path.join(dir, 'pools', subjectFileName(p.name)), POOL_KIND, STATE_VERSION, p.toState());
        p.dirty = false;
      } catch (err) {
        failed.push(`${JSON.stringify(p.name.slice(0, 100))}: ${(err as Error).message}`);
      }
    }
    // an earlier build's file of a subject now saved under its host's name
    this.replaced = this.replaced.filter(({ subject, file }) => {
      if (subject.dirty) return true;
      fs.rmSync(path.join(subjectsDir, file), { force: true });
      return false;
    });
    if (this.openDirty) {
      writeStateFile(path.join(dir, 'open.json'), `${STATE_KIND}-open`, STATE_VERSION, {
        // the newest of all, as earlier builds read it
        watermark: this.watermarks.size ? Math.max(...this.watermarks.values()) : null,
        watermarks: Object.fromEntries(this.watermarks),
        late: this.late,
        open: [...this.open.values()],
        taken: this.taken,
      });
      this.openDirty = false;
    }
    if (failed.length) throw new Error(`${failed.length} window subjects not saved (tried again at the next save): ${failed.slice(0, 5).join('; ')}`);
  }

  private load(dir: string): void {
    const log = this.opts.log ?? (() => {});
    const subjectsDir = path.join(dir, 'subjects');
    fs.mkdirSync(subjectsDir, { recursive: true, mode: 0o700 });
    const loaded = readEach(
      subjectsDir,
      STATE_KIND,
      (state: WindowSubjectState) => WindowSubject.fromState(state, this.opts),
      "that subject's windows start learning again",
      log,
    );
    const poolsDir = path.join(dir, 'pools');
    const pools = fs.existsSync(poolsDir)
      ? readEach(
          poolsDir,
          POOL_KIND,
          (state: WindowPoolState) => WindowPool.fromState(state, this.opts),
          "that host's window baseline starts learning again",
          log,
        )
      : [];
    for (const p of pools) this.pools.set(p.host, p);
    // windows.seconds changed since the save: the usual pace and the calibration are of windows
    // of another length (every window "more events than usual" until the next retraining).
    // A subject's history is rows, so it refits on it when its next window closes; a host
    // baseline's is windows of the old length, which are dropped: it learns again from the
    // windows of the new length (until then its subjects' learning windows are not scored)
    const stale = loaded.filter((s) => s.reference && s.fittedSeconds !== this.opts.seconds);
    for (const s of stale) s.forgetFit();
    for (const [host, p] of this.pools) if (p.seconds !== this.opts.seconds) this.pools.set(host, new WindowPool(host, this.opts));
    if (stale.length)
      log(
        'info',
        `windows.seconds is ${this.opts.seconds}, not ${stale[0].fittedSeconds} as when ${stale.length} subject(s) were fitted: their windows refit on their history`,
      );
    // least recently active first: the order in which subjects are forgotten
    const newest = (s: WindowSubject) => (s.t.length ? s.t[s.t.length - 1] : 0);
    for (const s of loaded.sort((a, b) => newest(a) - newest(b))) this.subjects.set(s.key, s);
    const openFile = path.join(dir, 'open.json');
    try {
      const saved = readStateFile(openFile, `${STATE_KIND}-open`, STATE_VERSION) as
        { watermark: number | null; watermarks?: Record<string, number>; late: number; open: OpenWindow[]; taken?: unknown } | undefined;
      if (saved) {
        this.late = saved.late;
        if (isTaken(saved.taken)) this.taken = saved.taken;
        // an earlier build let a row dated far ahead (year 9999) move the watermark and open a
        // window there: every window would close at its first batch, and that one never
        const ahead = latestPlausible();
        // (and one dated 1970 would close at once and begin its subject's history)
        const open = saved.open.filter((w) => w.start <= ahead && w.start + this.opts.seconds > EARLIEST_PLAUSIBLE);
        // (an earlier build saved one watermark for all hosts: the extension's one host)
        const hosts = new Set([...open.map((w) => w.host), ...Object.keys(saved.watermarks ?? {})]);
        for (const host of hosts) {
          let mark = saved.watermarks && typeof saved.watermarks[host] === 'number' ? saved.watermarks[host] : (saved.watermark ?? -Infinity);
          if (mark > ahead) {
            // the newest row time of the host's windows still open, as if that row had never come
            mark = -Infinity;
            for (const w of open) if (w.host === host) for (const r of w.rows) if (r[0] > mark) mark = r[0];
          }
          if (Number.isFinite(mark)) this.watermarks.set(host, mark);
        }
        let unknownKeys = 0;
        for (const w of rebucketWindows(open, this.opts.seconds)) {
          this.open.set(openWindowId(w.subject, w.host, w.start), w);
          const s = this.subject(w.subject, w.host, true)!;
          s.openWindows++;
          for (const r of w.rows) {
            this.arrival = Math.max(this.arrival, r[4] + 1);
            // open rows name keys by their subject's ids; a subject whose file was set aside
            // (or is older than open.json: a nearly full disk took the small file, not the
            // large one) lacks them. Such a row counts among the other keys: left as it was,
            // its id was no key (the host's window baseline saved a key table with a hole,
            // which the next start set aside) or, once the subject learnt new keys, another's
            if (!(Number.isInteger(r[1]) && r[1] >= 0 && r[1] < s.keys.length)) {
              r[1] = OTHER_KEY;
              unknownKeys++;
            }
          }
        }
        if (unknownKeys)
          log(
            'warn',
            `${unknownKeys} rows of windows open at the last save name keys their subject's saved file does not have; they count among its other keys`,
          );
      }
    } catch (err) {
      log('error', `${err instanceof StateFileError ? err.message : `${openFile}: ${(err as Error).message}`}; windows open at the last save are lost`);
      if (!(err instanceof StateFileError)) quarantine(openFile);
    }
  }
}

/**
 * The state files of `kind` in `dir`, each restored by `restore`, in the order the folder lists
 * them. One that cannot be read or restored is logged with what it costs (`lost`) and left out,
 * and set aside: readStateFile has set aside a corrupt or foreign file (its StateFileError), so
 * here only one whose payload `restore` refused.
 */
function readEach<S, T>(dir: string, kind: string, restore: (state: S) => T, lost: string, log: NonNullable<WindowScorerOptions['log']>): T[] {
  const restored: T[] = [];
  for (const file of fs.readdirSync(dir)) {
    if (!file.endsWith('.json')) continue;
    const full = path.join(dir, file);
    try {
      const state = readStateFile(full, kind, STATE_VERSION) as S | undefined;
      if (!state) continue;
      restored.push(restore(state));
    } catch (err) {
      log('error', `${err instanceof StateFileError ? err.message : `${full}: ${(err as Error).message}`}; ${lost}`);
      if (!(err instanceof StateFileError)) quarantine(full);
    }
  }
  return restored;
}
