import type { LogFn } from '../conf/log';
import type { ScoreStore } from '../state/store';
import type { RowMark, TakenMark, WindowRow } from './types';

// The open windows after a stop that did not save them (a SIGKILL, a power loss, a scorer
// thread restarted over its row budget). The window state on disk says which queue row its
// windows took in last (`taken`) and is saved every minute; the queue commits a batch once its
// rows are retained and replays only what it had not committed. So the rows taken in since the
// last save were in no window after the start: the window closed with fewer events than were
// logged, scored from a part of its rows, and an attacker who can crash the extension could
// split a burst over two lives of it. The retained rows carry their place in the queue
// (ScoredEvent.queued) and are retained in queue order: those past `taken` are exactly the
// rows the windows lost, with the scores they had. They are given back to the windows once, in
// order, before any new line is scored; the window scorer's own `taken` then passes them, so
// the queue's replay after it does not take them in twice.

/**
 * The most rows given back at a start. The window state is saved every minute and whenever a
 * subject changes state, so what it lacks is about a minute of rows: at the 5,000 rows/s the
 * ingest is built for, 300,000. Past it (saves refused by a full disk for a long while) the
 * newest are given back and the older ones stay out of their windows, as all did before.
 */
export const MAX_REBUILD_ROWS = 500_000;
/** rows in one request to the scorer thread, paced there as a slice of scoring */
const ROWS_PER_REQUEST = 2_000;

/** one request's rows and their places, as the scorer thread takes them (worker.ts, 'rewindow') */
export interface RebuildRequest {
  rows: WindowRow[];
  epoch: string;
  marks: RowMark[];
}

/**
 * Give the scorer thread's windows the rows retained after `taken`, a request at a time
 * (`send` answers once its closed windows are retained), `between` after each: this runs on the
 * thread that answers osqueryd. Returns how many rows were given back.
 */
export async function rebuildOpenWindows(opts: {
  taken: TakenMark | null;
  scores: ScoreStore;
  send: (req: RebuildRequest) => Promise<void>;
  between: () => Promise<void>;
  log: LogFn;
}): Promise<number> {
  const { taken, scores, log } = opts;
  if (!scores.retainedAfter) return 0;
  let given = 0;
  let batch: RebuildRequest | null = null;
  const flush = async () => {
    if (!batch) return;
    await opts.send(batch);
    given += batch.rows.length;
    batch = null;
    await opts.between();
  };
  for (const e of scores.retainedAfter(taken, MAX_REBUILD_ROWS)) {
    if (!e) {
      await opts.between();
      continue;
    }
    const q = e.queued!;
    // (a run is of one epoch: retainedAfter ends it at another)
    batch ??= { rows: [], epoch: q[0], marks: [] };
    batch.rows.push({ id: e.id, time: e.time, host: e.host, subject: e.subject, event: e.event, score: e.score });
    batch.marks.push([q[1], q[2], q[3]]);
    if (batch.rows.length >= ROWS_PER_REQUEST) await flush();
  }
  await flush();
  if (given)
    log(
      given >= MAX_REBUILD_ROWS ? 'warn' : 'info',
      `${given} rows retained after the window state's last save were given back to their open windows (the last stop did not save it)${given >= MAX_REBUILD_ROWS ? `; that is the most given back at a start, older ones stay out of their windows` : ''}`,
    );
  return given;
}
