import * as path from 'path';
import { Worker } from 'worker_threads';
import type { AnomalyConfig } from '../conf/config';
import { RetainedScores } from '../state/scores';
import { RetainedWindows } from '../state/windows';
import type { CpuBudget } from './pacing';
import type { LogFn } from './scorer';
import type { SubjectOptions } from './subject';
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker';
import type { FeedbackRecord, ModelSummary, ScoredEvent, ScoringService } from './types';

// The extension's handle on the scorer. The scorer itself lives in a worker thread; this side
// keeps what the tables read (retained scores, the latest model summaries) on the main
// thread, so a SELECT never waits for training either.

export interface ScoringServiceOptions {
  config: AnomalyConfig;
  log: LogFn;
  /** `SELECT uid, username FROM users` through the manager, for uid → name */
  lookupUsers?: () => Promise<Array<{ uid: string; username: string }>>;
  modelOptions?: SubjectOptions['modelOptions'];
  saveEverySeconds?: number;
  usersRefreshSeconds?: number;
  /** the CPU budget the scorer thread paces to (extension/budget.ts); absent: unpaced */
  budget?: CpuBudget | null;
}

/** a request before it is numbered; distributes over the union so each variant keeps its fields */
type Unnumbered<T> = T extends unknown ? Omit<T, 'id'> : never;

interface Pending {
  resolve: (reply: Extract<WorkerReply, { type: 'done' }>) => void;
  reject: (err: Error) => void;
}

export async function createScoringService(opts: ScoringServiceOptions): Promise<ScoringService & { backend: string; budgetMsPerMinute: number | null }> {
  const { config, log } = opts;
  const scores = new RetainedScores({
    dir: path.join(config.state_dir, 'scores'),
    maxRows: config.retention.max_rows,
    maxDays: config.retention.max_days,
    log,
  });
  const windows = new RetainedWindows({
    dir: path.join(config.state_dir, 'window-scores'),
    maxRows: config.retention.max_rows,
    maxDays: config.retention.max_days,
    log,
  });
  const init: WorkerInit = {
    config,
    stateDir: config.state_dir,
    modelOptions: opts.modelOptions,
    saveEverySeconds: opts.saveEverySeconds ?? 60,
    budget: opts.budget ?? null,
  };

  let summaries: ModelSummary[] = [];
  let backend = 'unknown';
  /** what the worker's pacer holds the process to, as it reported when ready */
  let budgetMsPerMinute: number | null = null;
  let nextId = 1;
  const pending = new Map<number, Pending>();
  let worker: Worker;
  let closing = false;

  const start = () =>
    new Promise<void>((resolve, reject) => {
      worker = new Worker(path.join(__dirname, 'worker.js'), { workerData: init });
      let ready = false;
      worker.on('message', (msg: WorkerReply) => {
        if (msg.type === 'log') return log(msg.level, `scorer: ${msg.msg}`);
        if (msg.type === 'ready') {
          ready = true;
          backend = msg.backend;
          summaries = msg.summaries;
          budgetMsPerMinute = msg.budgetMsPerMinute;
          log('info', `scorer ready (tfjs backend: ${backend}, ${new Set(summaries.map((s) => s.subject)).size} subjects)`);
          return resolve();
        }
        const p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        if (msg.type === 'failed') return p.reject(new Error(msg.message));
        summaries = msg.summaries;
        p.resolve(msg);
      });
      worker.on('error', (err) => log('error', `scorer worker: ${err.stack ?? err.message}`));
      worker.on('exit', (code) => {
        const err = new Error(`scorer worker exited with code ${code}`);
        for (const p of pending.values()) p.reject(err);
        pending.clear();
        if (!ready) return reject(err);
        // rows it was scoring are still in the durable queue; a new worker picks them up
        if (!closing) {
          log('error', `${err.message}; restarting it`);
          start().catch((e) => log('error', `scorer worker restart failed: ${(e as Error).message}`));
        }
      });
    });

  const request = (req: Unnumbered<WorkerRequest>): Promise<Extract<WorkerReply, { type: 'done' }>> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...req, id } as WorkerRequest);
    });

  await start();

  const refreshUsers = async () => {
    if (!opts.lookupUsers) return;
    try {
      const rows = await opts.lookupUsers();
      await request({ type: 'users', rows });
    } catch (err) {
      log('warn', `could not read users from osqueryd (uids stay numeric): ${(err as Error).message}`);
    }
  };
  await refreshUsers();
  const usersTimer = setInterval(refreshUsers, (opts.usersRefreshSeconds ?? 600) * 1000);
  usersTimer.unref();

  return {
    get backend() {
      return backend;
    },
    get budgetMsPerMinute() {
      return budgetMsPerMinute;
    },
    scores,
    windows,
    async score(lines: readonly string[]): Promise<ScoredEvent[]> {
      if (lines.length === 0) return [];
      const reply = await request({ type: 'score', lines: lines as string[] });
      const events = reply.events ?? [];
      scores.append(events);
      if (reply.windows?.length) windows.append(reply.windows);
      return events;
    },
    models(): ModelSummary[] {
      return summaries;
    },
    async feedback(record: FeedbackRecord): Promise<void> {
      const scored = scores.get(record.id);
      if (!scored) throw new Error(`no retained anomaly_scores row has id ${JSON.stringify(record.id)}`);
      await request({ type: 'feedback', scored, record });
    },
    async close(): Promise<void> {
      closing = true;
      clearInterval(usersTimer);
      try {
        await request({ type: 'close' });
      } finally {
        await worker.terminate();
        scores.flush();
        scores.close();
        windows.close();
      }
    },
  };
}
