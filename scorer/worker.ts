import { parentPort, workerData } from 'worker_threads';
import type { AnomalyConfig } from '../conf/config';
import * as path from 'path';
import { HeapKeeper } from './heap';
import { pace, pacer, type CpuBudget } from './pacing';
import { Progress } from './watch';
import { nameThisThread, yieldCpuToTheProtocolThread } from './thread-priority';
import { Scorer, type IdCount } from './scorer';
import { WindowScorer, windowOptionsFrom } from './windows';
import type { SubjectOptions } from './subject';
import { parseResultLine } from './parse/results';
import { toBytes, toSlices, transferOf } from './reply-slices';
import type { FeedbackRecord, LineMarks, ResultRow, RowMark, ScoredEvent, ScoredWindow, TakenMark, WindowRow } from './types';
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
  /** whether osqueryd's watcher may count the process's resident memory; absent: it may */
  memoryWatched?: boolean;
  /** where this thread says which lines it scores, for the row budget (scorer/watch.ts) */
  progress: SharedArrayBuffer;
}

/** rows scored between two pacing checks: a few ms of work for the whole ensemble */
const ROWS_PER_SLICE = 32;

export type WorkerRequest =
  /**
   * `lineByLine`: one line per slice, so a line over the row budget is measured alone.
   * `batch`: the first request of a batch: 'new', or 'again' when the batch before failed
   * (its rows not retained) and is scored again whole. Absent: a later part of a batch.
   */
  | { type: 'score'; id: number; lines: string[]; lineByLine?: boolean; marks?: LineMarks; batch?: 'new' | 'again' }
  /**
   * rows retained since the window state on disk was saved, given back to the windows after
   * a start (scorer/service.ts, WindowRebuild): `marks` are their places in the queue
   */
  | { type: 'rewindow'; id: number; rows: WindowRow[]; epoch: string; marks: RowMark[] }
  | { type: 'feedback'; id: number; scored: ScoredEvent; record: FeedbackRecord }
  | { type: 'users'; id: number; rows: Array<{ uid: string; username: string }> }
  | { type: 'close'; id: number };

/**
 * A message acted on at once, not queued behind the request under way, and not answered.
 * `retained`: the main thread has retained the windows these score requests closed.
 */
export type WorkerSignal = { type: 'release' } | { type: 'retained'; ids: number[] };

export type WorkerReply =
  /** `summaries`: the models' summaries as bytes (scorer/reply-slices.ts, toBytes), transferred; read only when asked for */
  /** `taken`: the last queue row the window state on disk took in (scorer/windows/scorer.ts) */
  | { type: 'ready'; backend: string; summaries: Uint8Array; budgetMsPerMinute: number | null; taken: TakenMark | null }
  /** `events`, `windows`: the scored rows and closed windows in slices (scorer/reply-slices.ts), transferred */
  | { type: 'done'; id: number; events?: Uint8Array[]; windows?: Uint8Array[]; unreadable?: number[]; summaries: Uint8Array }
  | { type: 'failed'; id: number; message: string }
  | { type: 'log'; level: LogLevel; msg: string };

/**
 * Lines were validated when accepted; one altered on disk since is not fatal, but it is
 * reported back by index so the queue can set it aside and count it.
 */
function parseQueuedLines(lines: readonly string[], marks?: LineMarks): Parsed {
  const rows: ResultRow[] = [];
  const lineOf: number[] = [];
  const unreadable: number[] = [];
  const rowMarks: RowMark[] = [];
  for (let i = 0; i < lines.length; i++) {
    try {
      const parsed = parseResultLine(lines[i]);
      for (let k = 0; k < parsed.length; k++) {
        rows.push(parsed[k]);
        lineOf.push(i);
        // a batch line's rows may fall in two slices: each row has a place of its own
        if (marks) rowMarks.push([marks.segment[i], marks.end[i], k]);
      }
    } catch {
      unreadable.push(i);
    }
  }
  return { rows, lineOf, unreadable, replay: marks && marks.segment.length === lines.length ? { epoch: marks.epoch, marks: rowMarks } : undefined };
}

interface Parsed {
  rows: ResultRow[];
  lineOf: number[];
  unreadable: number[];
  /** where each row sits in the queue, when the lines came from it */
  replay?: { epoch: string; marks: RowMark[] };
}

/**
 * Test-only: a row holding this text never finishes scoring (test/budget.test.ts), so the
 * row budget is shown on a row that truly hangs this thread. No known input does that since
 * fields are capped and patterns linear; unset in production.
 */
const HANG_ON = process.env.ANOMALY_TEST_HANG_ON || '';

function hangIfAsked(rows: readonly ResultRow[]): void {
  if (HANG_ON && rows.some((r) => JSON.stringify(r.columns).includes(HANG_ON))) for (;;);
}

/**
 * Score rows a slice at a time, pacing between slices, and say which lines each slice holds
 * (the row budget). Scores do not depend on how rows are cut into batches
 * (Subject.scoreEvents), so slicing changes only when the work happens. Unpaced, a slice is
 * the whole request, as before; line by line, a slice is one line.
 */
async function scoreInSlices(scorer: Scorer, parsed: Parsed, request: number, lineByLine: boolean, progress: Progress): Promise<ScoredEvent[]> {
  const { rows, lineOf, replay } = parsed;
  const out: ScoredEvent[] = [];
  try {
    for (let i = 0; i < rows.length;) {
      let end = lineByLine ? i + 1 : pacer.current ? i + ROWS_PER_SLICE : rows.length;
      if (lineByLine) while (end < rows.length && lineOf[end] === lineOf[i]) end++;
      end = Math.min(end, rows.length);
      await pace();
      const slice = rows.slice(i, end);
      progress.scoring(request, lineOf[i], lineOf[end - 1] + 1);
      hangIfAsked(slice);
      const marks = replay && { epoch: replay.epoch, marks: replay.marks.slice(i, end) };
      const scored = await scorer.scoreRows(slice, marks);
      // each row retained with its place in the queue (ScoredEvent.queued)
      if (marks) for (let j = 0; j < scored.length; j++) scored[j].queued = [marks.epoch, marks.marks[j][0], marks.marks[j][1], marks.marks[j][2]];
      for (const e of scored) out.push(e);
      i = end;
    }
  } finally {
    progress.idle();
  }
  return out;
}

async function main(): Promise<void> {
  yieldCpuToTheProtocolThread();
  nameThisThread('anomaly-scorer');
  const port = parentPort!;
  const init = workerData as WorkerInit;
  const progress = new Progress(init.progress);
  pacer.configure(init.budget ?? null);
  // between slices is where garbage of training and scoring is collected (heap.ts)
  const heap = new HeapKeeper();
  pacer.onSlice = () => {
    progress.beat();
    heap.check();
  };
  // The collection after a fit only keeps a fit's garbage from counting as growth under
  // osqueryd's watcher: in the demo's run (unwatched) those were 84 full collections, 3-5 s of
  // CPU of ~58 (docs/benchmarks.md, "The demo's CPU: the heap keeper after fits"). Unwatched,
  // the slack alone bounds the heap as above.
  if (init.memoryWatched !== false) pacer.onFitEnd = () => heap.afterFit();
  const log: LogFn = (level, msg) => port.postMessage({ type: 'log', level, msg } satisfies WorkerReply);
  const scorer = await Scorer.open({
    config: init.config,
    stateDir: init.stateDir,
    log,
    modelOptions: init.modelOptions,
    maxSubjects: init.config.memory.max_subjects,
  });
  // bounded as the subjects are: offline commands keep every subject, the extension does not
  const windows = new WindowScorer({
    ...windowOptionsFrom(init.config, path.join(init.stateDir, 'windows'), log),
    maxSubjects: init.config.memory.max_subjects,
  });
  // The window state is saved only when every window it has closed is retained: it says which
  // queue rows its windows took in (`taken`) and no longer holds the windows they closed, so
  // saved while the main thread retained a batch's closed windows and then killed, it lost
  // them: the batch, scored again at the next start, was not taken in again (chaos2). Until
  // the main thread says so, the window state on disk stays at the batch before, and the
  // queue, not committed either, gives the batch back to close those windows again.
  const closedNotRetained = new Set<number>();
  let windowSaveHeld = false;
  const saveWindows = () => {
    if (closedNotRetained.size) windowSaveHeld = true;
    else windows.save();
  };
  // each saves on its own: one that fails does not keep the other from saving
  const save = () => {
    for (const [what, run] of [
      ['scorer', () => scorer.save()],
      ['window', saveWindows],
    ] as const) {
      try {
        run();
      } catch (err) {
        log('error', `saving ${what} state failed: ${(err as Error).message}`);
      }
    }
  };
  let chain: Promise<void> = Promise.resolve();
  /** the ids' count where the last batch began (see the 'score' request) */
  let idsBeforeBatch: IdCount | null = null;
  // the periodic save takes its turn between requests, a subject per pacing slice
  const timer = setInterval(() => {
    chain = chain.then(async () => {
      try {
        await scorer.saveInSlices(pace);
        await pace();
        saveWindows();
      } catch (err) {
        log('error', `saving scorer state failed: ${(err as Error).message}`);
      }
    });
  }, init.saveEverySeconds * 1000);
  timer.unref();

  port.on('message', (req: WorkerRequest | WorkerSignal) => {
    // a shutdown begins: the request under way runs to its end unpaced, so that the save that
    // follows it is not a budget's wait away (osqueryd's systemd unit kills 15 s after SIGTERM)
    if (req.type === 'release') return pacer.release();
    if (req.type === 'retained') {
      for (const id of req.ids) closedNotRetained.delete(id);
      // (at once, between two awaits of a request: the window state changes only
      // synchronously, at a request's end, so it is as it was when those windows closed)
      if (windowSaveHeld && closedNotRetained.size === 0) {
        windowSaveHeld = false;
        try {
          windows.save();
        } catch (err) {
          log('error', `saving window state failed: ${(err as Error).message}`);
        }
      }
      return;
    }
    chain = chain.then(async () => {
      try {
        let events: ScoredEvent[] | undefined;
        let closed: ScoredWindow[] | undefined;
        let unreadable: number[] | undefined;
        switch (req.type) {
          case 'score': {
            // a batch scored again gives its rows the ids it gave them the first time: the rows
            // retained then are known by them (RetainedScores.scoredAgain). The count of rows
            // alike at one time goes on from batch to batch, so it is put back where it stood
            if (req.batch === 'again' && idsBeforeBatch) scorer.restoreIdCount(idsBeforeBatch);
            else if (req.batch === 'new') idsBeforeBatch = scorer.idCount();
            const parsed = parseQueuedLines(req.lines, req.marks);
            unreadable = parsed.unreadable;
            events = await scoreInSlices(scorer, parsed, req.id, req.lineByLine ?? false, progress);
            closed = windows.add(events, parsed.replay);
            if (closed.length) closedNotRetained.add(req.id);
            // a subject that started monitoring or retrained is saved now, not at the next timer
            if (scorer.changedState) save();
            break;
          }
          case 'rewindow':
            // paced as scoring is: a start's rebuild shares the budget with the rows behind it
            await pace();
            closed = windows.add(req.rows, { epoch: req.epoch, marks: req.marks });
            if (closed.length) closedNotRetained.add(req.id);
            break;
          case 'feedback':
            scorer.feedback(req.scored, req.record);
            // the INSERT is answered success only once the label is in the subject's file: a
            // full disk that refused it would lose the label at the next kill, while
            // feedback.jsonl, whose short line may still fit, would list it as given
            try {
              scorer.save();
            } catch (err) {
              throw new Error(`the label was applied but not saved (${(err as Error).message}); try again when there is space`);
            }
            try {
              saveWindows();
            } catch (err) {
              log('error', `saving window state failed: ${(err as Error).message}`);
            }
            break;
          case 'users':
            scorer.setUsers(req.rows);
            break;
          case 'close':
            clearInterval(timer);
            save();
            break;
        }
        const eventSlices = events?.length ? toSlices(events) : undefined;
        const windowSlices = closed?.length ? toSlices(closed) : undefined;
        const summaries = toBytes(scorer.summaries());
        port.postMessage(
          { type: 'done', id: req.id, events: eventSlices, windows: windowSlices, unreadable, summaries } satisfies WorkerReply,
          transferOf(eventSlices, windowSlices, [summaries]),
        );
        heap.check();
      } catch (err) {
        // windows it closed, if any, never reach the main thread: a save must not wait for them
        closedNotRetained.delete(req.id);
        port.postMessage({ type: 'failed', id: req.id, message: (err as Error).message } satisfies WorkerReply);
      }
    });
  });
  const summaries = toBytes(scorer.summaries());
  port.postMessage(
    { type: 'ready', backend: scorer.backend, summaries, budgetMsPerMinute: pacer.budgetMsPerMinute, taken: windows.takenThrough } satisfies WorkerReply,
    [summaries.buffer as ArrayBuffer],
  );
}

main().catch((err) => {
  // the service sees the worker exit with this message and reports it
  console.error(`scorer worker failed to start: ${(err as Error).stack ?? err}`);
  process.exit(70);
});
