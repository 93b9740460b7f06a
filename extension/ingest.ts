import * as fs from 'fs';
import * as path from 'path';
import type { AnomalyConfig } from '../conf/config';
import { parseResultLine } from '../scorer/parse/results';
import type { IngestCounters, ResultRow, ScoringService } from '../scorer/types';
import type { DurableQueue } from './queue';
import type { LogFn } from '../conf/log';

// The `anomaly` logger's work: judge each result line at once (osqueryd is waiting for the
// answer), put the accepted ones in the durable queue, and feed the scorer from the queue
// in the background. Scoring never runs on the reply path.

/** columns of anomaly_scores and anomaly_windows: rows that carry them are our own output coming back */
const OWN_OUTPUT = ['score', 'verdict', 'model', 'reasons'];

export class Ingest {
  readonly counters: IngestCounters = { accepted: 0, rejected: 0, queued: 0, scored: 0, dropped: 0 };
  private stopped = false;
  private wake: (() => void) | null = null;
  private running: Promise<void> | null = null;
  private lastWarning = 0;
  private suppressed = 0;

  constructor(
    private readonly queue: DurableQueue,
    private readonly service: ScoringService,
    private readonly config: AnomalyConfig,
    private readonly log: LogFn,
    private readonly batchLines = 500,
  ) {
    this.counters.queued = queue.length;
  }

  /** judge one result line; never throws, the logger answers 0 whatever happens here */
  accept(line: unknown): void {
    try {
      if (typeof line !== 'string') return this.reject('not a string');
      const max = this.config.queue.max_line_bytes;
      if (line.length > max / 3 && Buffer.byteLength(line) > max) return this.reject(`line of ${Buffer.byteLength(line)} bytes is over queue.max_line_bytes (${max})`);
      let rows: ResultRow[];
      try {
        rows = parseResultLine(line);
      } catch (err) {
        return this.reject((err as Error).message);
      }
      this.counters.accepted++;
      if (rows.length === 0 || this.config.queries[rows[0].query]?.ignore || isOwnOutput(rows[0])) return;
      if (!this.queue.append(line)) {
        this.counters.dropped++;
        this.warn(`durable queue is full (queue.max_bytes ${this.config.queue.max_bytes}); dropped a line of ${rows[0].query}`);
        return;
      }
      this.counters.queued = this.queue.length;
      this.wake?.();
    } catch (err) {
      // a disk error while queueing must not become an answer osqueryd would die of
      this.counters.dropped++;
      this.warn(`could not queue a result line: ${(err as Error).message}`);
    }
  }

  private reject(why: string): void {
    this.counters.rejected++;
    this.warn(`rejected a result line: ${why}`);
  }

  /** at most one warning a second, so a flood of bad lines does not flood the log */
  private warn(msg: string): void {
    const now = Date.now();
    if (now - this.lastWarning < 1000) {
      this.suppressed++;
      return;
    }
    this.log('warn', this.suppressed ? `${msg} (and ${this.suppressed} similar warnings)` : msg);
    this.lastWarning = now;
    this.suppressed = 0;
  }

  start(): void {
    this.running ??= this.pump();
  }

  private async pump(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      if (this.queue.length < this.batchLines) {
        // let a batch gather: one scoring round trip per line would cost more than the line
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, 250).unref();
        });
        this.wake = null;
        if (!this.stopped) await new Promise((r) => setTimeout(r, 25).unref());
      }
      const lines = this.queue.take(this.batchLines);
      if (!lines.length) continue;
      try {
        const scored = await this.service.score(lines);
        this.queue.commit(lines.length);
        this.counters.scored += scored.length;
        failures = 0;
      } catch (err) {
        this.queue.release();
        failures++;
        this.log('error', `scoring ${lines.length} lines failed (${failures}): ${(err as Error).message}`);
        if (failures >= 3) {
          // a batch that fails every time would stop the whole queue: set it aside
          this.setAside(lines);
          this.queue.take(lines.length);
          this.queue.commit(lines.length);
          failures = 0;
        } else if (!this.stopped) {
          await new Promise((r) => setTimeout(r, 500 * failures).unref());
        }
      }
      this.counters.queued = this.queue.length;
    }
  }

  private setAside(lines: string[]): void {
    const file = path.join(this.config.state_dir, 'queue', 'failed.jsonl');
    fs.appendFileSync(file, lines.map((l) => `${l}\n`).join(''));
    this.log('error', `set ${lines.length} result lines aside in ${file} after repeated scoring failures`);
  }

  /** finish the batch being scored; lines not yet scored stay in the queue for next time */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
  }
}

function isOwnOutput(row: ResultRow): boolean {
  const c = row.columns;
  for (const k of OWN_OUTPUT) if (!(k in c)) return false;
  return true;
}
