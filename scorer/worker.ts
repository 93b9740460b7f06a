import * as fs from 'fs';
import * as os from 'os';
import { parentPort, workerData } from 'worker_threads';
import type { AnomalyConfig } from '../conf/config';
import * as path from 'path';
import { pace, pacer, type CpuBudget } from './pacing';
import { Scorer } from './scorer';
import { WindowScorer, windowOptionsFrom } from './windows';
import type { SubjectOptions } from './subject';
import { parseResultLine } from './parse/results';
import type { FeedbackRecord, ResultRow, ScoredEvent, ScoredWindow } from './types';
import type { LogFn, LogLevel } from '../conf/log';

// The scorer's thread. Everything that can take long (LSTM and SVM training, LSTM inference)
// happens here, so the extension's Thrift event loop keeps answering osqueryd's pings.
// Requests are handled one at a time, in order: the scorer's state is not shared.

export interface WorkerInit {
  config: AnomalyConfig;
  stateDir: string;
  modelOptions?: SubjectOptions['modelOptions'];
  saveEverySeconds: number;
  /** the CPU budget to pace to (scorer/pacing.ts); null or absent: unpaced */
  budget?: CpuBudget | null;
}

/** rows scored between two pacing checks: a few ms of work for the whole ensemble */
const ROWS_PER_SLICE = 32;

export type WorkerRequest =
  | { type: 'score'; id: number; lines: string[] }
  | { type: 'feedback'; id: number; scored: ScoredEvent; record: FeedbackRecord }
  | { type: 'users'; id: number; rows: Array<{ uid: string; username: string }> }
  | { type: 'close'; id: number };

export type WorkerReply =
  | { type: 'ready'; backend: string; summaries: ReturnType<Scorer['summaries']>; budgetMsPerMinute: number | null }
  | { type: 'done'; id: number; events?: ScoredEvent[]; windows?: ScoredWindow[]; unreadable?: number[]; summaries: ReturnType<Scorer['summaries']> }
  | { type: 'failed'; id: number; message: string }
  | { type: 'log'; level: LogLevel; msg: string };

/**
 * Run this thread at nice 10. On a small host, training competes for the same cores as the
 * Thrift thread that must answer osqueryd at once; the kernel should always prefer the
 * answer. Linux lets a thread renice itself by its thread id; elsewhere this does nothing.
 */
function yieldCpuToTheProtocolThread(): void {
  try {
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) os.setPriority(tid, Math.max(os.getPriority(tid), 10));
  } catch {
    /* not Linux, or not allowed: scoring still works, just at the thread's default priority */
  }
}

/**
 * Lines were validated when accepted; one altered on disk since is not fatal, but it is
 * reported back by index so the queue can set it aside and count it.
 */
function parseQueuedLines(lines: readonly string[]): { rows: ResultRow[]; unreadable: number[] } {
  const rows: ResultRow[] = [];
  const unreadable: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    try {
      for (const row of parseResultLine(lines[i])) rows.push(row);
    } catch {
      unreadable.push(i);
    }
  }
  return { rows, unreadable };
}

/**
 * Score rows a slice at a time, pacing between slices. Scores do not depend on how rows are
 * cut into batches (Subject.scoreEvents), so slicing changes only when the work happens.
 */
async function scoreInSlices(scorer: Scorer, rows: ResultRow[]): Promise<ScoredEvent[]> {
  if (!pacer.current) return scorer.scoreRows(rows);
  const out: ScoredEvent[] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_SLICE) {
    await pace();
    for (const e of await scorer.scoreRows(rows.slice(i, i + ROWS_PER_SLICE))) out.push(e);
  }
  return out;
}

async function main(): Promise<void> {
  yieldCpuToTheProtocolThread();
  const port = parentPort!;
  const init = workerData as WorkerInit;
  pacer.configure(init.budget ?? null);
  const log: LogFn = (level, msg) => port.postMessage({ type: 'log', level, msg } satisfies WorkerReply);
  const scorer = await Scorer.open({ config: init.config, stateDir: init.stateDir, log, modelOptions: init.modelOptions });
  const windows = new WindowScorer(windowOptionsFrom(init.config, path.join(init.stateDir, 'windows'), log));
  // each saves on its own: one that fails does not keep the other from saving
  const save = () => {
    for (const [what, run] of [
      ['scorer', () => scorer.save()],
      ['window', () => windows.save()],
    ] as const) {
      try {
        run();
      } catch (err) {
        log('error', `saving ${what} state failed: ${(err as Error).message}`);
      }
    }
  };
  let chain: Promise<void> = Promise.resolve();
  // the periodic save takes its turn between requests, a subject per pacing slice
  const timer = setInterval(() => {
    chain = chain.then(async () => {
      try {
        await scorer.saveInSlices(pace);
        await pace();
        windows.save();
      } catch (err) {
        log('error', `saving scorer state failed: ${(err as Error).message}`);
      }
    });
  }, init.saveEverySeconds * 1000);
  timer.unref();

  port.on('message', (req: WorkerRequest) => {
    chain = chain.then(async () => {
      try {
        let events: ScoredEvent[] | undefined;
        let closed: ScoredWindow[] | undefined;
        let unreadable: number[] | undefined;
        switch (req.type) {
          case 'score': {
            const parsed = parseQueuedLines(req.lines);
            unreadable = parsed.unreadable;
            events = await scoreInSlices(scorer, parsed.rows);
            closed = windows.add(events);
            // a subject that started monitoring or retrained is saved now, not at the next timer
            if (scorer.changedState) save();
            break;
          }
          case 'feedback':
            scorer.feedback(req.scored, req.record);
            save();
            break;
          case 'users':
            scorer.setUsers(req.rows);
            break;
          case 'close':
            clearInterval(timer);
            save();
            break;
        }
        port.postMessage({ type: 'done', id: req.id, events, windows: closed, unreadable, summaries: scorer.summaries() } satisfies WorkerReply);
      } catch (err) {
        port.postMessage({ type: 'failed', id: req.id, message: (err as Error).message } satisfies WorkerReply);
      }
    });
  });
  port.postMessage({ type: 'ready', backend: scorer.backend, summaries: scorer.summaries(), budgetMsPerMinute: pacer.budgetMsPerMinute } satisfies WorkerReply);
}

main().catch((err) => {
  // the service sees the worker exit with this message and reports it
  console.error(`scorer worker failed to start: ${(err as Error).stack ?? err}`);
  process.exit(70);
});
