import * as path from 'path';
import { Worker } from 'worker_threads';
import type { AnomalyConfig } from '../conf/config';
import type { LogFn } from '../conf/log';
import type { CpuBudget } from './pacing';
import { RetainedScores } from '../state/scores';
import type { ScoreStore, WindowStore } from '../state/store';
import { RetainedWindows } from '../state/windows';
import type { SubjectOptions } from './subject';
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker';
import type { FeedbackRecord, ModelSummary, ScoredEvent, ScoredWindow } from './types';

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
  usersRefreshSeconds?: number;
}

export interface ScoreResult {
  events: ScoredEvent[];
  /** windows that these rows closed */
  windows: ScoredWindow[];
  /** indices of lines that no longer parse (altered on disk since they were accepted) */
  unreadable: number[];
}

/** a request before it is numbered; distributes over the union so each variant keeps its fields */
type Unnumbered<T> = T extends unknown ? Omit<T, 'id'> : never;
type Done = Extract<WorkerReply, { type: 'done' }>;

/** the worker thread: started, restarted if it dies, and asked one request at a time */
class ScorerThread {
  backend = 'unknown';
  /** what the worker's pacer holds the process to, as it reported when ready */
  budgetMsPerMinute: number | null = null;
  summaries: ModelSummary[] = [];
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Done) => void; reject: (e: Error) => void }>();
  private closing = false;

  constructor(
    private readonly init: WorkerInit,
    private readonly log: LogFn,
  ) {}

  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const worker = new Worker(path.join(__dirname, 'worker.js'), { workerData: this.init });
      this.worker = worker;
      let ready = false;
      worker.on('message', (msg: WorkerReply) => {
        if (msg.type === 'log') return this.log(msg.level, `scorer: ${msg.msg}`);
        if (msg.type === 'ready') {
          ready = true;
          this.backend = msg.backend;
          this.budgetMsPerMinute = msg.budgetMsPerMinute;
          this.summaries = msg.summaries;
          this.log('info', `scorer ready (tfjs backend: ${this.backend}, ${new Set(this.summaries.map((s) => s.subject)).size} subjects)`);
          return resolve();
        }
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.type === 'failed') return p.reject(new Error(msg.message));
        this.summaries = msg.summaries;
        p.resolve(msg);
      });
      worker.on('error', (err) => this.log('error', `scorer worker: ${err.stack ?? err.message}`));
      worker.on('exit', (code) => {
        const err = new Error(`scorer worker exited with code ${code}`);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        if (!ready) return reject(err);
        // rows it was scoring are still in the durable queue; a new worker picks them up
        if (!this.closing) {
          this.log('error', `${err.message}; restarting it`);
          this.start().catch((e) => this.log('error', `scorer worker restart failed: ${(e as Error).message}`));
        }
      });
    });
  }

  request(req: Unnumbered<WorkerRequest>): Promise<Done> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.worker!.postMessage({ ...req, id } as WorkerRequest);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    try {
      await this.request({ type: 'close' });
    } finally {
      await this.worker?.terminate();
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
  const refresh = async () => {
    if (!lookup) return;
    try {
      await thread.request({ type: 'users', rows: await lookup() });
    } catch (err) {
      log('warn', `could not read users from osqueryd (uids stay numeric): ${(err as Error).message}`);
    }
  };
  const timer = setInterval(refresh, seconds * 1000);
  timer.unref();
  return { first: refresh(), stop: () => clearInterval(timer) };
}

export class ScoringService {
  private constructor(
    private readonly thread: ScorerThread,
    readonly scores: ScoreStore,
    readonly windows: WindowStore,
    private readonly users: { stop(): void },
    private readonly log: LogFn,
    /** stores given by the caller are the caller's to close */
    private readonly ownsStores: boolean,
  ) {}

  static async start(opts: ScoringServiceOptions): Promise<ScoringService> {
    const { config, log } = opts;
    const thread = new ScorerThread(
      { config, stateDir: config.state_dir, modelOptions: opts.modelOptions, saveEverySeconds: opts.saveEverySeconds ?? 60, budget: opts.budget ?? null },
      log,
    );
    await thread.start();
    const scores =
      opts.scores ??
      new RetainedScores({ dir: path.join(config.state_dir, 'scores'), maxRows: config.retention.max_rows, maxDays: config.retention.max_days, log });
    const windows =
      opts.windows ??
      new RetainedWindows({ dir: path.join(config.state_dir, 'window-scores'), maxRows: config.retention.max_rows, maxDays: config.retention.max_days, log });
    const users = refreshUsersEvery(opts.usersRefreshSeconds ?? 600, thread, opts.lookupUsers, log);
    await users.first;
    return new ScoringService(thread, scores, windows, users, log, !opts.scores);
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

  /**
   * Score osquery result lines (validated when accepted) in the worker, and retain what was
   * scored. A store that cannot take the rows (a full disk) costs the retained rows, not the
   * scoring: the models have learned them, so the lines count as scored.
   */
  async score(lines: readonly string[]): Promise<ScoreResult> {
    if (lines.length === 0) return { events: [], windows: [], unreadable: [] };
    const reply = await this.thread.request({ type: 'score', lines: lines as string[] });
    const events = reply.events ?? [];
    const windows = reply.windows ?? [];
    try {
      this.scores.append(events);
      if (windows.length) this.windows.append(windows);
    } catch (err) {
      this.log('error', `${events.length} scored rows not retained in anomaly_scores or anomaly_windows: ${(err as Error).message}`);
    }
    return { events, windows, unreadable: reply.unreadable ?? [] };
  }

  /** label a scored event; rejects with a clear message when the id is unknown */
  async feedback(record: FeedbackRecord): Promise<void> {
    const scored = this.scores.get(record.id);
    if (!scored) throw new Error(`no retained anomaly_scores row has id ${JSON.stringify(record.id.slice(0, 100))}`);
    await this.thread.request({ type: 'feedback', scored, record });
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
