import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Test } from 'tap';
import fsModule = require('fs');
import { resolveConfig, type AnomalyConfig } from '../../conf/config';
import { Ingest } from '../../extension/ingest';
import { DurableQueue } from '../../extension/queue';
import { createScoringService, type ScoringService } from '../../scorer/service';
import { RetainedScores } from '../../state/scores';
import { RetainedWindows } from '../../state/windows';

// The extension's path from an acknowledged line to anomaly_scores, in this process: the
// durable queue, the ingest that scores its batches in the background, the scoring service
// and the retained stores, over one state folder. Subjects stay learning, so every row scored
// is learnt and what each learnt can be counted.

export interface Pipeline {
  dir: string;
  config: AnomalyConfig;
  scores: RetainedScores;
  windows: RetainedWindows;
  service: ScoringService;
  queue: DurableQueue;
  ingest: Ingest;
  logs: string[];
}

export async function pipeline(t: Test, batchLines: number): Promise<Pipeline> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-pipeline-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = resolveConfig({ state_dir: dir, learning: { min_events: 1_000_000_000, min_days: 0 } }, 'test', {});
  const scores = new RetainedScores({ dir: path.join(dir, 'scores'), maxRows: 100_000, maxDays: 3650 });
  const windows = new RetainedWindows({ dir: path.join(dir, 'window-scores'), maxRows: 100_000, maxDays: 3650 });
  const service = await createScoringService({ config, log: () => {}, scores, windows });
  t.teardown(() => service.close());
  const queue = new DurableQueue(path.join(dir, 'queue'), 1 << 20);
  const logs: string[] = [];
  const ingest = new Ingest(queue, service, config, (_level, m) => logs.push(m), batchLines);
  return { dir, config, scores, windows, service, queue, ingest, logs };
}

/** an error as fs gives it: `code` (ENOSPC, EIO, …) and its message */
export function fsError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}, write`), { code });
}

/**
 * Start the ingest with every write that `refuse` returns an error for failing with it, and
 * stop it once `done` (by default: the queue drained). No deadline: a queue that never drains
 * is reported by tap's timeout.
 */
export async function runRefusing(p: Pipeline, refuse: (data: Buffer) => NodeJS.ErrnoException | null, done = () => p.queue.length === 0): Promise<void> {
  const realWriteSync = fsModule.writeSync;
  fsModule.writeSync = ((fd: number, data: unknown, ...rest: unknown[]) => {
    const err = Buffer.isBuffer(data) ? refuse(data) : null;
    if (err) throw err;
    return (realWriteSync as (...a: unknown[]) => number)(fd, data, ...rest);
  }) as typeof fs.writeSync;
  try {
    p.ingest.start();
    while (!done()) await new Promise((r) => setTimeout(r, 50));
  } finally {
    fsModule.writeSync = realWriteSync;
    await p.ingest.stop();
    p.queue.close();
  }
}
