import * as path from 'path';
import { Worker } from 'worker_threads';
import type { AnomalyConfig } from '../conf/config';
import type { LogFn } from '../conf/log';
import type { CpuBudget } from './pacing';
import { RetainedScores } from '../state/scores';
import { RowsNotRetained, type RowIdentity, type ScoreStore, type WindowStore } from '../state/store';
import { RetainedWindows } from '../state/windows';
import type { SubjectOptions } from './subject';
import { progressBuffer, SliceWatch, type OverBudget } from './watch';
import { fromBytes, fromSlice } from './reply-slices';
import type { WorkerInit, WorkerReply, WorkerRequest, WorkerSignal } from './worker';
import type { FeedbackRecord, LineMarks, ModelSummary, ScoredEvent, ScoredWindow, TakenMark } from './types';
import { rebuildOpenWindows } from './window-rebuild';
import { nextTurn } from '../state/store';

// The extension's handle on the scorer. The scorer itself lives in a worker thread
// (ScorerThread); this side appends what it scored to the retained scores (ScoreStore) and
// keeps the latest model summaries on the main thread, so a SELECT never waits for training.

export interface ScoringServiceOptions {
  config: AnomalyConfig;
  log: LogFn;
  /** where scored rows go; by default the retained scores in the state directory */
  scores?: ScoreStore;
  /** where closed windows go; by default the retained windows in the state directory */
  windows?: WindowStore;
  /** `SELECT uid, username FROM users` through the manager, for uid → name */
  lookupUsers?: () => Promise<Array<{ uid: string; username: string }>>;
  modelOptions?: SubjectOptions['modelOptions'];
  saveEverySeconds?: number;
  /** the CPU budget the scorer thread paces to (extension/budget.ts); absent: unpaced */
  budget?: CpuBudget | null;
  /** whether osqueryd's watcher may count the process's resident memory (extension/budget.ts memoryWatched); absent: it may */
  memoryWatched?: boolean;
  usersRefreshSeconds?: number;
  /** awaited between two steps of work on the calling thread (a start's window rebuild); a turn of the event loop by default */
  between?: () => Promise<void>;
  /** ends the start (the extension stopping while its scorer starts): its worker is ended, unsaved, and start() rejects */
  signal?: AbortSignal;
}

export interface ScoreResult {
  /** rows the batch scored (they are in the store; the batch does not keep them to its end) */
  rows: number;
  /** windows that these rows closed */
  windows: ScoredWindow[];
  /** lines not scored, by index, and why: they no longer parse (altered on disk since they
   * were accepted), or their rows went over the row budget */
  setAside: Array<{ index: number; why: string }>;
}

/** a request before it is numbered; distributes over the union so each variant keeps its fields */
type Unnumbered<T> = T extends unknown ? Omit<T, 'id'> : never;
type Done = Extract<WorkerReply, { type: 'done' }>;

/** a score request stopped because one slice of it went over the row budget */
export class OverRowBudget extends Error {
  constructor(
    /** the request's lines in that slice: [from, to) */
    readonly from: number,
    readonly to: number,
    readonly cpuMs: number,
  ) {
    super(`scoring lines ${from}..${to - 1} of a batch took over ${Math.round(cpuMs)} ms of CPU`);
  }
}

/** a reply slice let go (its rows retained) */
const EMPTY = new Uint8Array(0);

/** the scorer thread's young generation: 2 MB semi-spaces (V8 sizes it at three of them) */
const YOUNG_GENERATION_MB = 6;

type Pending = Map<number, { resolve: (r: Done) => void; reject: (e: Error) => void }>;

/** one running worker and the requests it owes an answer */
interface Live {
  worker: Worker;
  pending: Pending;
  watch: SliceWatch;
  /** the worker has exited: a request to it would never be answered */
  exited: boolean;
}

/**
 * The worker thread: started, restarted if it dies or a row goes over its budget, and asked
 * one request at a time. A request made while it restarts waits for the new one.
 */
class ScorerThread {
  backend = 'unknown';
  /** what the worker's pacer holds the process to, as it reported when ready */
  budgetMsPerMinute: number | null = null;
  /** the latest summaries as the worker sent them, and as objects once asked for */
  private summaryBytes: Uint8Array | null = null;
  private summaryObjects: ModelSummary[] | null = null;
  /** the worker requests go to, once it is ready */
  private live: Promise<Live> | null = null;
  /** the same, when it is ready and not being replaced */
  private current: Live | null = null;
  private nextId = 1;
  private closing = false;
  /** the worker last started, ready or not (abandon) */
  private newest: Worker | null = null;
  /**
   * run on each worker once it is ready and before any request reaches it: the window rows
   * its saved state lacks are given back (scorer/window-rebuild.ts). Requests made meanwhile
   * wait, as they do while a worker starts.
   */
  prepare: ((live: Live, taken: TakenMark | null) => Promise<void>) | null = null;

  constructor(
    /** not readonly: release() clears its budget for a worker started after it */
    private init: Omit<WorkerInit, 'progress'>,
    /** CPU ms one slice of rows may take before the worker is stopped (budget.row_cpu_ms) */
    private readonly rowBudgetMs: number,
    private readonly log: LogFn,
  ) {}

  async start(): Promise<void> {
    await (this.live = this.spawn());
  }

  private spawn(): Promise<Live> {
    return new Promise<Live>((resolve, reject) => {
      const progress = progressBuffer();
      const worker = new Worker(path.join(__dirname, 'worker.js'), {
        workerData: { ...this.init, progress } satisfies WorkerInit,
        // V8 grows a busy thread's young generation to 2 × 16 MB of semi-spaces, resident
        // for good; the scorer allocates fast but keeps little (heap.ts), and 2 MB semi-spaces
        // cost it about 5 % more CPU in scavenges (in-process replay of the watchdog stream:
        // 15.9 s against 15.1 s of CPU) for 27 MB less resident
        resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
      });
      const pending: Pending = new Map();
      const watch = new SliceWatch(progress, worker, this.rowBudgetMs, (over) => this.overBudget(live, over));
      const live: Live = { worker, pending, watch, exited: false };
      this.newest = worker;
      let ready = false;
      worker.on('message', (msg: WorkerReply) => {
        if (msg.type === 'log') return this.log(msg.level, `scorer: ${msg.msg}`);
        if (msg.type === 'ready') {
          ready = true;
          this.current = live;
          this.backend = msg.backend;
          this.budgetMsPerMinute = msg.budgetMsPerMinute;
          this.setSummaries(msg.summaries);
          this.log('info', `scorer ready (tfjs backend: ${this.backend}, ${new Set(this.summaries.map((s) => s.subject)).size} subjects)`);
          if (!this.prepare) return resolve(live);
          // a rebuild that fails leaves those rows out of their windows, as before it: the
          // worker still scores
          return void this.prepare(live, msg.taken)
            .catch((err) => {
              if (!this.closing) this.log('error', `the open windows could not be given their rows retained since the last save: ${(err as Error).message}`);
            })
            .then(() => resolve(live));
        }
        const p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        if (msg.type === 'failed') return p.reject(new Error(msg.message));
        this.setSummaries(msg.summaries);
        p.resolve(msg);
      });
      worker.on('error', (err) => this.log('error', `scorer worker: ${err.stack ?? err.message}`));
      worker.on('exit', (code) => {
        live.exited = true;
        watch.stop();
        const err = new Error(`scorer worker exited with code ${code}`);
        for (const p of pending.values()) p.reject(err);
        pending.clear();
        if (!ready) return reject(err);
        // rows it was scoring are still in the durable queue; a new worker picks them up
        if (!this.closing && this.current === live) {
          this.log('error', `${err.message}; restarting it`);
          this.restart();
        }
      });
    });
  }

  /** the models' summaries (anomaly_models); made into objects here, when asked for, not on every answer */
  get summaries(): ModelSummary[] {
    if (!this.summaryObjects) this.summaryObjects = this.summaryBytes ? fromBytes<ModelSummary[]>(this.summaryBytes) : [];
    return this.summaryObjects;
  }

  private setSummaries(bytes: Uint8Array): void {
    this.summaryBytes = bytes;
    this.summaryObjects = null;
  }

  private restart(): void {
    this.current = null;
    const next = (this.live = this.spawn());
    next.catch((e) => {
      this.log('error', `scorer worker restart failed: ${(e as Error).message}; trying again at the next request`);
      if (this.live === next) this.live = null;
    });
  }

  /**
   * A slice of rows went over budget: its thread cannot be interrupted, so stop it and start
   * another from the saved state. The request gets OverRowBudget with the lines to retry;
   * anything queued behind it fails as it would if the worker had died.
   */
  private overBudget(live: Live, over: OverBudget): void {
    if (this.closing || this.current !== live) return;
    const p = live.pending.get(over.request);
    this.log(
      'warn',
      `scorer: a slice of lines took over ${Math.round(over.cpuMs)} ms of the scorer thread's CPU (budget.row_cpu_ms ${this.rowBudgetMs}); restarting the scorer thread from its saved state`,
    );
    this.restart();
    live.pending.delete(over.request);
    void live.worker.terminate();
    p?.reject(new OverRowBudget(over.from, over.to, over.cpuMs));
  }

  /** CPU ms the running scorer thread has used since it started; null while none runs */
  cpuMs(): number | null {
    return this.current ? this.current.watch.cpuMs() : null;
  }

  async request(req: Unnumbered<WorkerRequest>): Promise<Done> {
    if (!this.live) this.restart();
    return this.requestOf(await this.live!, req);
  }

  /** a request to this worker, whether or not requests wait for it (prepare) */
  requestOf(live: Live, req: Unnumbered<WorkerRequest>): Promise<Done> {
    if (live.exited) return Promise.reject(new Error('the scorer worker has exited'));
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      live.pending.set(id, { resolve, reject });
      live.worker.postMessage({ ...req, id } as WorkerRequest);
    });
  }

  /**
   * Stop pacing now, a wait under way included, for this worker and any started after it:
   * at shutdown the request under way must end before the state is saved, and osqueryd's
   * systemd unit kills the whole cgroup 15 s after SIGTERM (TimeoutStopSec)
   */
  /** the windows these score requests closed are retained: the worker may save its window state (worker.ts) */
  retained(ids: number[]): void {
    // (a worker started since does not know these requests: nothing of it waits for them)
    this.current?.worker.postMessage({ type: 'retained', ids } satisfies WorkerSignal);
  }

  release(): void {
    this.init = { ...this.init, budget: null };
    void this.live?.then((live) => live.worker.postMessage({ type: 'release' } satisfies WorkerSignal)).catch(() => undefined);
  }

  /**
   * End the worker now, ready or not, without a save: a start abandoned (the extension stopped
   * while its scorer started) has scored nothing, and the state it loaded is on disk as it was
   */
  async abandon(): Promise<void> {
    this.closing = true;
    await this.newest?.terminate();
  }

  async close(): Promise<void> {
    this.closing = true;
    const live = await this.live?.catch(() => null);
    if (!live) return;
    try {
      await this.request({ type: 'close' });
    } finally {
      live.watch.stop();
      await live.worker.terminate();
    }
  }
}

/** hands the manager's users table to the scorer now and every `seconds` */
function refreshUsersEvery(
  seconds: number,
  thread: ScorerThread,
  lookup: ScoringServiceOptions['lookupUsers'],
  log: LogFn,
): { first: Promise<void>; stop(): void } {
  let stopped = false;
  const refresh = async () => {
    if (!lookup) return;
    try {
      await thread.request({ type: 'users', rows: await lookup() });
    } catch (err) {
      if (!stopped) log('warn', `could not read users from osqueryd (uids stay numeric): ${(err as Error).message}`);
    }
  };
  const timer = setInterval(refresh, seconds * 1000);
  timer.unref();
  return {
    first: refresh(),
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}

export class ScoringService {
  /**
   * the last batch, whose rows were not all retained: the queue gives it back and it is scored
   * again, unless the ingest set it aside, and then the next batch is another one
   */
  private notRetained: { first: string; last: string; count: number } | null = null;

  private constructor(
    private readonly thread: ScorerThread,
    readonly scores: ScoreStore,
    readonly windows: WindowStore,
    private users: { stop(): void },
    private readonly log: LogFn,
    /** stores given by the caller are the caller's to close */
    private readonly ownsStores: boolean,
    private readonly rowBudgetMs: number,
  ) {}

  static async start(opts: ScoringServiceOptions): Promise<ScoringService> {
    const { config, log } = opts;
    opts.signal?.throwIfAborted();
    const thread = new ScorerThread(
      {
        config,
        stateDir: config.state_dir,
        modelOptions: opts.modelOptions,
        saveEverySeconds: opts.saveEverySeconds ?? 60,
        budget: opts.budget ?? null,
        memoryWatched: opts.memoryWatched ?? true,
      },
      config.budget.row_cpu_ms,
      log,
    );
    const scores =
      opts.scores ??
      new RetainedScores({ dir: path.join(config.state_dir, 'scores'), maxRows: config.retention.max_rows, maxDays: config.retention.max_days, log });
    const windows =
      opts.windows ??
      new RetainedWindows({ dir: path.join(config.state_dir, 'window-scores'), maxRows: config.retention.max_rows, maxDays: config.retention.max_days, log });
    const service = new ScoringService(thread, scores, windows, { stop: () => {} }, log, !opts.scores, config.budget.row_cpu_ms);
    thread.prepare = (live, taken) => service.rebuild(live, taken, opts.between ?? nextTurn).then(() => undefined);
    const { signal } = opts;
    // every wait below ends with the signal: the worker's start, its rebuild and the users'
    // lookup (a call to the manager, which may be stopping too and never answer)
    const abandoned = new Promise<never>((_, reject) => {
      if (!signal) return;
      const abandon = () => reject(signal.reason);
      signal.addEventListener('abort', abandon, { once: true });
      if (signal.aborted) abandon();
    });
    abandoned.catch(() => undefined);
    const started = thread.start();
    started.catch(() => undefined);
    try {
      await Promise.race([started, abandoned]);
      const users = refreshUsersEvery(opts.usersRefreshSeconds ?? 600, thread, opts.lookupUsers, log);
      service.users = users;
      await Promise.race([users.first, abandoned]);
      signal?.throwIfAborted();
      return service;
    } catch (err) {
      service.users.stop();
      await thread.abandon();
      throw err;
    }
  }

  /**
   * A worker's windows given the rows retained since its window state was saved (scorer/
   * window-rebuild.ts); the windows those rows close are retained as a batch's are, and the
   * worker told so.
   */
  private rebuild(live: Live, taken: TakenMark | null, between: () => Promise<void>): Promise<number> {
    return rebuildOpenWindows({
      taken,
      scores: this.scores,
      between,
      log: this.log,
      send: async (req) => {
        const reply = await this.thread.requestOf(live, { type: 'rewindow', ...req });
        if (!reply.windows?.length) return;
        this.retainWindows(reply.windows.flatMap((s) => fromSlice<ScoredWindow>(s)));
        this.thread.retained([reply.id]);
      },
    });
  }

  get backend(): string {
    return this.thread.backend;
  }

  get budgetMsPerMinute(): number | null {
    return this.thread.budgetMsPerMinute;
  }

  models(): ModelSummary[] {
    return this.thread.summaries;
  }

  /** CPU ms the scorer thread has used since it (re)started, null while it restarts: how the
   * ingest benchmark tells whether training really ran while it measured */
  scorerCpuMs(): number | null {
    return this.thread.cpuMs();
  }

  /**
   * Score osquery result lines (validated when accepted) in the worker, and retain what was
   * scored. When the store cannot take the rows (a full disk) the batch fails with
   * RowsNotRetained and its lines stay queued: scored again later, they are not learned twice.
   *
   * The row budget: when a slice of lines goes over it, the worker is restarted and the lines
   * are scored again: those before the slice as they were, the slice's lines one per slice,
   * those after it as they were. Only a line that goes over the budget alone, a second time,
   * is set aside. One line per slice rather than halving: each time a row goes over, it
   * costs the whole budget and a restart, and this way a hung row costs it twice, not once
   * per halving. Nothing is retained until the whole batch is scored, so a retry never
   * retains a row twice. When `stopping` says so, there are no retries: the batch fails and
   * its lines wait in the queue, so a shutdown waits for one budget at most.
   *
   * The windows the batch closed are retained whatever happens to its rows, and then the
   * worker is told so: it saves its window state only once they are (worker.ts).
   */
  async score(lines: readonly string[], stopping: () => boolean = () => false, marks?: LineMarks): Promise<ScoreResult> {
    const closed: ClosedWindows = { slices: [], by: [], kept: false };
    try {
      return await this.scoreBatch(lines, stopping, marks, closed);
    } finally {
      // a part that failed after another had closed windows: those are closed all the same
      if (!closed.kept && closed.slices.length) this.retainWindows(closed.slices.flatMap((s) => fromSlice<ScoredWindow>(s)));
      if (closed.by.length) this.thread.retained(closed.by);
    }
  }

  private async scoreBatch(lines: readonly string[], stopping: () => boolean, marks: LineMarks | undefined, closed: ClosedWindows): Promise<ScoreResult> {
    // the replies' rows and windows as the worker sent them: slices of bytes, made into objects
    // one slice a turn below, as they are retained (scorer/reply-slices.ts)
    const eventSlices: Uint8Array[] = [];
    const windowSlices = closed.slices;
    const setAside: ScoreResult['setAside'] = [];
    const todo: Array<{ from: number; to: number; lineByLine: boolean }> = [{ from: 0, to: lines.length, lineByLine: false }];
    let first = true;
    for (let part = todo.shift(); part; part = todo.shift()) {
      const { from, to, lineByLine } = part;
      if (from >= to) continue;
      try {
        const part = marks && { epoch: marks.epoch, segment: marks.segment.slice(from, to), end: marks.end.slice(from, to) };
        // the first request says whether this batch is the one before, scored again
        const batch = first ? (sameLines(this.notRetained, lines) ? 'again' : 'new') : undefined;
        first = false;
        this.notRetained = null;
        const reply = await this.thread.request({ type: 'score', lines: lines.slice(from, to), lineByLine, marks: part, batch });
        for (const s of reply.events ?? []) eventSlices.push(s);
        for (const s of reply.windows ?? []) windowSlices.push(s);
        if (reply.windows?.length) closed.by.push(reply.id);
        for (const i of reply.unreadable ?? []) setAside.push({ index: from + i, why: 'no longer a valid result line on replay' });
      } catch (err) {
        if (!(err instanceof OverRowBudget)) throw err;
        if (stopping()) throw new Error(`${err.message}; shutting down, so the lines stay queued for the next start`);
        const a = from + err.from;
        const b = from + err.to;
        if (lineByLine) {
          setAside.push({
            index: a,
            why: `its rows took over budget.row_cpu_ms (${this.rowBudgetMs} ms) of the scorer thread's CPU, twice, the second time alone`,
          });
          todo.unshift({ from, to: a, lineByLine: false }, { from: a + 1, to, lineByLine: true });
        } else todo.unshift({ from, to: a, lineByLine: false }, { from: a, to: b, lineByLine: true }, { from: b, to, lineByLine: false });
      }
    }
    // Of the rows retained, only what names them (for scoredAgain) is kept to the batch's end,
    // and each reply slice is let go once retained: a batch of a flood's rows as objects was
    // held whole, beside its bytes, on the thread that answers osqueryd
    const scored: RowIdentity[] = [];
    const windows: ScoredWindow[] = [];
    if (eventSlices.length === 0 && windowSlices.length === 0) return { rows: 0, windows, setAside };
    const identify = (slice: readonly ScoredEvent[]) => {
      for (const e of slice) scored.push({ id: e.id, time: e.time });
    };
    /** slices of eventSlices made into objects and retained so far */
    let unpacked = 0;
    const unpackWindows = async () => {
      for (let k = 0; k < windowSlices.length; k++) {
        if (k > 0 || unpacked > 0) await new Promise((r) => setImmediate(r));
        for (const w of fromSlice<ScoredWindow>(windowSlices[k])) windows.push(w);
      }
    };
    try {
      // a slice a turn, with a turn of the event loop between them: this thread answers
      // osqueryd, and a batch of 500 rows in one go (JSON, a 300 kB write, the index) held its
      // calls for 2 to 7 ms, every batch, as did making the reply's 500 rows into objects
      for (; unpacked < eventSlices.length; unpacked++) {
        if (unpacked > 0) await new Promise((r) => setImmediate(r));
        const slice = fromSlice<ScoredEvent>(eventSlices[unpacked]);
        identify(slice);
        eventSlices[unpacked] = EMPTY;
        this.scores.append(slice, marks?.since);
      }
    } catch (err) {
      // (the rows of the slices not reached yet are needed below, as all the batch's rows are)
      for (unpacked++; unpacked < eventSlices.length; unpacked++) identify(fromSlice<ScoredEvent>(eventSlices[unpacked]));
      // The lines were acknowledged to osqueryd: their rows are what anomaly_scores promises.
      // The batch fails and its lines stay queued, to be scored again when the disk has room;
      // the models do not learn them twice (their queue marks), the rows kept already are kept
      // once (scoredAgain). Counting them scored instead lost them for good (the chaos harness)
      this.scores.scoredAgain(scored);
      await unpackWindows();
      closed.kept = true;
      this.retainWindows(windows);
      this.notRetained = { first: lines[0], last: lines[lines.length - 1], count: lines.length };
      // Only room comes back by itself: another refusal (EIO, EACCES, a segment replaced by a
      // directory) fails the batch as any failure does, tried a few times, then set aside. Kept
      // queued for it, nothing after it was scored until someone acted (review11)
      const why = `${scored.length} scored rows not retained in anomaly_scores (${(err as Error).message})`;
      if (noRoom(err)) throw new RowsNotRetained(`${why}: their lines stay queued`);
      throw new Error(why);
    }
    await unpackWindows();
    if (scored.length && windows.length) await new Promise((r) => setImmediate(r));
    closed.kept = true;
    this.retainWindows(windows);
    return { rows: scored.length, windows, setAside };
  }

  /**
   * Keep the windows a batch closed, whether or not its rows were kept: a window is closed once
   * (scorer/windows/scorer.ts takes each row in once), so the batch scored again closes none, and
   * windows dropped with a batch whose rows the disk refused were gone for good (review11)
   */
  private retainWindows(windows: readonly ScoredWindow[]): void {
    if (!windows.length) return;
    try {
      this.windows.append(windows);
    } catch (err) {
      this.log('error', `${windows.length} closed windows not retained in anomaly_windows: ${(err as Error).message}`);
    }
  }

  /** label a scored event; rejects with a clear message when the id is unknown */
  async feedback(record: FeedbackRecord): Promise<void> {
    const scored = this.scores.get(record.id);
    if (!scored) throw new Error(`no retained anomaly_scores row has id ${JSON.stringify(record.id.slice(0, 100))}`);
    await this.thread.request({ type: 'feedback', scored, record });
  }

  /** stop pacing the scorer thread at once (a shutdown begins: see ScorerThread.release) */
  hurry(): void {
    this.thread.release();
  }

  /** persist state and stop the worker */
  async close(): Promise<void> {
    this.users.stop();
    try {
      await this.thread.close();
    } finally {
      if (this.ownsStores) {
        this.scores.close();
        this.windows.close();
      } else {
        this.scores.flush();
        this.windows.flush();
      }
    }
  }
}

export function createScoringService(opts: ScoringServiceOptions): Promise<ScoringService> {
  return ScoringService.start(opts);
}

/** the windows a batch's replies closed: their slices, the requests that closed them, and whether they were retained */
interface ClosedWindows {
  slices: Uint8Array[];
  by: number[];
  kept: boolean;
}

/** the batch refused before, given back by the queue: the same lines */
function sameLines(batch: { first: string; last: string; count: number } | null, lines: readonly string[]): boolean {
  return batch !== null && batch.count === lines.length && batch.first === lines[0] && batch.last === lines[lines.length - 1];
}

/** the disk, the quota or the file size limit has no room: it comes back once files go */
function noRoom(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG';
}
