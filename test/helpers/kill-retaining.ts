import * as fs from 'fs';
import * as path from 'path';
import { resolveConfig, type AnomalyConfig } from '../../conf/config';
import { Ingest } from '../../extension/ingest';
import { DurableQueue } from '../../extension/queue';
import { createScoringService, type ScoringService } from '../../scorer/service';
import type { ScoredWindow } from '../../scorer/types';
import { RetainedScores } from '../../state/scores';
import { RetainedWindows } from '../../state/windows';
import { processLine } from './emulated';

// The extension's path from a queued line to anomaly_scores and anomaly_windows (as
// test/helpers/pipeline.ts), in a process of its own that SIGKILLs itself at one chosen moment:
// while the main thread retains the windows a batch closed, after the scorer thread has
// answered it. Run as a script, it is the first life of test/windows.test.ts's
// "kill-retaining" test; the test is the second.

/** one user's rows, a line a second from 1,790,000,000 (1,789,999,800 starts a 600 s window) */
export const FIRST = Array.from({ length: 150 }, (_, k) => k);
/** 700 s on: they close the first rows' window, and the subject starts monitoring with them */
export const SECOND = Array.from({ length: 150 }, (_, k) => 700 + k);
export const FIRST_WINDOW = 1_789_999_800;

export function killRetainingConfig(dir: string): AnomalyConfig {
  // 200 rows make the subject monitor: the second batch changes its state, and the scorer
  // thread saves at once what that batch changed, before it answers (scorer/worker.ts)
  return resolveConfig({ state_dir: dir, learning: { min_events: 200, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false } }, 'test', {});
}

export interface Life {
  scores: RetainedScores;
  windows: RetainedWindows;
  service: ScoringService;
  queue: DurableQueue;
  ingest: Ingest;
}

/** the stores, the scorer, the queue (replaying what was not committed) and the ingest over `dir` */
export async function life(dir: string, opts: { onWindows?: (w: readonly ScoredWindow[]) => void; saveEverySeconds?: number } = {}): Promise<Life> {
  const config = killRetainingConfig(dir);
  const scores = new RetainedScores({ dir: path.join(dir, 'scores'), maxRows: 100_000, maxDays: 3650 });
  const windows = new RetainedWindows({ dir: path.join(dir, 'window-scores'), maxRows: 100_000, maxDays: 3650 });
  const onWindows = opts.onWindows;
  if (onWindows) {
    const append = windows.append.bind(windows);
    windows.append = (w) => {
      onWindows(w);
      append(w);
    };
  }
  const service = await createScoringService({ config, log: () => {}, scores, windows, saveEverySeconds: opts.saveEverySeconds });
  const queue = new DurableQueue(path.join(dir, 'queue'), 1 << 20);
  const ingest = new Ingest(queue, service, config, () => {}, 500);
  return { scores, windows, service, queue, ingest };
}

export async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setTimeout(r, 20));
}

/** the window state's saved `taken` (scorer/windows/scorer.ts), null before the first save */
export function savedTaken(dir: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'windows', 'open.json'), 'utf8')).payload.taken ?? null;
  } catch {
    return null;
  }
}

async function firstLife(dir: string): Promise<void> {
  let armed = false;
  const l = await life(dir, {
    saveEverySeconds: 1,
    // the windows the second batch closed are about to be retained: the process dies here
    onWindows: () => {
      if (armed) process.kill(process.pid, 'SIGKILL');
    },
  });
  for (const i of FIRST) l.ingest.accept(processLine(i));
  l.ingest.start();
  await until(() => l.queue.counters.scored === FIRST.length);
  // the first batch's rows are in the saved window state (the minute's save, every second here)
  await until(() => savedTaken(dir) !== null);
  armed = true;
  for (const i of SECOND) l.ingest.accept(processLine(i));
  await until(() => l.queue.counters.scored === FIRST.length + SECOND.length);
  // not killed: the second batch closed no window
  process.exit(3);
}

if (require.main === module) {
  firstLife(process.argv[2]).catch((err) => {
    console.error(err);
    process.exit(2);
  });
}
