import * as fs from 'fs';
import * as path from 'path';
import type { AnomalyConfig } from '../conf/config';
import { parseResultLine } from '../scorer/parse/results';
import type { LineMarks, ResultRow } from '../scorer/types';
import { APPEND_READ, makeDir, writeAll } from '../state/atomic';
import { RowsNotRetained } from '../state/store';
import type { IngestCounters } from './counters';
import { Throttled, type LogFn } from './log';
import { shrinkLine } from './shrink-line';
import type { DurableQueue } from './queue';
import { isOwnOutput } from './own-output';

// The `anomaly` logger's work: judge each result line at once (osqueryd is waiting for the
// answer), put the accepted ones in the durable queue, and feed the scorer from the queue
// in the background. Scoring never runs on the reply path.

/** what the ingest needs from the scoring side */
export interface LineScorer {
  /**
   * score result lines; `setAside` are the lines, by index, that were not scored, and why.
   * `stopping` says the extension is shutting down: a batch that would need retries fails
   * instead, and its lines stay queued for the next start. `marks` say where the lines sit
   * in the queue, so that a line replayed after a crash is not learned twice.
   */
  score(lines: readonly string[], stopping?: () => boolean, marks?: LineMarks): Promise<{ setAside: ReadonlyArray<{ index: number; why: string }> }>;
}

/** scoring failures in a row before a batch is set aside */
const SET_ASIDE_AFTER = 3;
const MAX_BACKOFF_MS = 30_000;
/**
 * queue/failed.jsonl grows to this, then becomes failed.jsonl.1 (replacing the one before):
 * set-aside lines are kept for a person to look at, and months of them must not fill the
 * disk the queue needs. Two files at most: 128 MB.
 */
const FAILED_FILE_BYTES = 64 * 1024 * 1024;
/**
 * Bytes of lines in one batch (at least one line). A batch is held whole on both threads until
 * it is scored and retained: its lines, their copy to the scorer thread, their rows parsed and
 * scored, the reply's bytes and its rows made into objects. 500 lines of 600 bytes are 300 kB;
 * 500 of a user's flood of long values (90 kB each) were all the queue held in memory (8 MB):
 * a backlog of 200 such lines scored in-process peaked at 281-291 MB resident, 256 MB with
 * this bound (docs/benchmarks.md, "The flood's batches and the scorer's free pages").
 */
export const BATCH_BYTES = 1024 * 1024;

export class Ingest {
  readonly counters: IngestCounters;
  private stopped = false;
  private wake: (() => void) | null = null;
  /** whether an accepted line ends the current wait (a gathering one), or only stop() does (a backoff) */
  private wakeOnLine = false;
  private running: Promise<void> | null = null;
  private readonly say: Throttled;

  constructor(
    private readonly queue: DurableQueue,
    private readonly scorer: LineScorer,
    private readonly config: AnomalyConfig,
    private readonly log: LogFn,
    private readonly batchLines = 500,
    private readonly failedFileBytes = FAILED_FILE_BYTES,
    private readonly batchBytes = BATCH_BYTES,
  ) {
    this.counters = queue.counters;
    this.say = new Throttled(log, 60_000);
  }

  /** judge one result line; never throws, the logger answers 0 whatever happens here */
  accept(given: unknown): void {
    this.counters.received++;
    this.queue.touch();
    try {
      if (typeof given !== 'string') return this.reject('not a string');
      let line = given;
      const max = this.config.queue.max_line_bytes;
      if (line.length > max / 3 && Buffer.byteLength(line) > max) {
        const bytes = Buffer.byteLength(line);
        const cut = shrinkLine(line, max);
        if (cut === null) return this.reject(`a line of ${bytes} bytes is over queue.max_line_bytes (${max}), even with its values cut as they are kept`);
        this.say.say(
          'shrunk',
          'info',
          `a result line of ${bytes} bytes, over queue.max_line_bytes (${max}), is scored with its values cut as anomaly_scores keeps them (${Buffer.byteLength(cut)} bytes)`,
        );
        line = cut;
      }
      let rows: ResultRow[];
      try {
        rows = parseResultLine(line);
      } catch (err) {
        return this.reject((err as Error).message);
      }
      if (rows.length === 0) return this.reject('no rows');
      if (this.config.queries[rows[0].query]?.ignore) return this.reject(`query ${rows[0].query} is ignored by the config`, false);
      if (isOwnOutput(rows[0])) return this.reject(`query ${rows[0].query} returns rows of this extension's tables, our own output`, false);
      this.counters.accepted++;
      let queued = false;
      try {
        queued = this.queue.append(line);
      } catch (err) {
        // the queue has said why; a disk error must not become an answer osqueryd dies of
        this.counters.dropped++;
        return;
      }
      if (!queued) {
        this.counters.dropped++;
        this.say.say(
          'full',
          'warn',
          `durable queue is full (queue.max_bytes ${this.config.queue.max_bytes}); dropped a line of ${rows[0].query} (${this.counters.dropped} dropped so far)`,
        );
        return;
      }
      this.counters.queued = this.queue.length;
      if (this.wakeOnLine) this.wake?.();
    } catch (err) {
      this.say.say('accept', 'error', `ingest: ${(err as Error).message}`);
    }
  }

  /** a line too large to read: the server read past it and only knows its size */
  oversize(bytes: number): void {
    this.counters.received++;
    this.queue.touch();
    this.reject(`a line of ${bytes} bytes is over the server's read limit`);
  }

  private reject(why: string, loud = true): void {
    this.counters.rejected++;
    this.say.say(loud ? 'rejected' : 'ignored', loud ? 'warn' : 'debug', `rejected a result line: ${why} (${this.counters.rejected} rejected so far)`);
  }

  start(): void {
    this.running ??= this.pump();
  }

  private async pump(): Promise<void> {
    let failures = 0;
    /** batches in a row whose rows the disk refused: the wait grows with them, but they are never set aside */
    let refusals = 0;
    while (!this.stopped) {
      try {
        if (this.queue.length < this.batchLines && this.queue.heldBytes < this.batchBytes) {
          // let a batch gather: one scoring round trip per line would cost more than the line
          await this.pause(250);
          if (!this.stopped) await new Promise((r) => setTimeout(r, 25).unref());
        }
        const lines = this.queue.take(this.batchLines, this.batchBytes);
        if (!lines.length) {
          // lines queued and none to take: the queue could not read its backlog back just now
          // (out of descriptors, or an I/O error it tries again after a wait); wait rather than spin
          if (this.queue.length) await this.pause(250);
          continue;
        }
        try {
          const { setAside } = await this.scorer.score(lines, () => this.stopped, this.queue.marks(lines.length));
          // all in one write: one per reason, the disk could take the first and refuse the
          // next, and the batch tried again wrote and counted the first reason's lines again
          if (setAside.length) this.setAside(setAside.map((s) => ({ line: lines[s.index], why: s.why })));
          this.counters.scored += lines.length - setAside.length;
          this.queue.commit(lines.length);
          failures = 0;
          refusals = 0;
        } catch (err) {
          this.queue.release();
          // a disk that refuses their rows is no fault of the lines: they wait for it (set
          // aside, their rows would never be kept), and each try scores the batch again, so
          // the waits grow to MAX_BACKOFF_MS rather than stay at the set-aside cap's 2 s
          if (err instanceof RowsNotRetained) refusals++;
          else failures++;
          this.log('error', `scoring ${lines.length} lines failed (${failures + refusals}): ${(err as Error).message}`);
          if (failures >= SET_ASIDE_AFTER) {
            // a batch that fails every time would stop the whole queue: set it aside
            this.setAside(lines.map((line) => ({ line, why: `scoring failed ${failures} times` })));
            this.queue.take(lines.length);
            this.queue.commit(lines.length);
            failures = 0;
          }
        }
      } catch (err) {
        // setting aside failed too (the disk is full): the lines stay queued; try later
        this.queue.release();
        this.say.say('pump', 'error', `ingest: ${(err as Error).message}; the queued lines wait until it works`);
        failures = Math.min(failures, SET_ASIDE_AFTER - 1);
      }
      // a backoff only stop() ends: ended by each line that arrived, the batch was scored again
      // as often as osqueryd sent lines, whatever the wait had grown to
      if (failures + refusals && !this.stopped) await this.pause(Math.min(MAX_BACKOFF_MS, 500 * 2 ** (failures + refusals)), false);
      this.counters.queued = this.queue.length;
    }
  }

  /** wait `ms`, or less when stop() is called or (`onLine`) a line arrives */
  private pause(ms: number, onLine = true): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wake = null;
        resolve();
      };
      const t = setTimeout(done, ms);
      t.unref();
      this.wake = done;
      this.wakeOnLine = onLine;
    });
  }

  /** keep lines in queue/failed.jsonl; counts them set aside, all or none (throws if the disk refuses) */
  private setAside(lines: ReadonlyArray<{ line: string; why: string }>): void {
    const dir = path.join(this.config.state_dir, 'queue');
    makeDir(dir);
    const file = path.join(dir, 'failed.jsonl');
    const text = lines.map((l) => `${l.line}\n`).join('');
    let fd = fs.openSync(file, APPEND_READ, 0o600);
    let size = 0;
    try {
      size = fs.fstatSync(fd).size;
      if (size > 0 && size + Buffer.byteLength(text) > this.failedFileBytes) {
        fs.closeSync(fd);
        fd = -1;
        // rename(2) replaces the name, whatever it is (a planted link included), never its target
        fs.renameSync(file, `${file}.1`);
        this.log('warn', `${file} reached ${size} bytes: moved to ${file}.1 (replacing the one before)`);
        fd = fs.openSync(file, APPEND_READ, 0o600);
        size = fs.fstatSync(fd).size;
      }
      // A line left without its end (a kill mid-append, or a part the full disk took that
      // could not be cut off) is ended first: appended to, it glued itself to the first line
      // written now, one line that is neither, which a reader can only skip whole
      writeAll(fd, (size > 0 && !endsLine(fd, size) ? '\n' : '') + text);
    } catch (err) {
      // a full disk takes part of a write and refuses the rest: the part is cut off again,
      // as the batch is tried again whole (ftruncate needs no space; if it fails, the next
      // append ends the fragment instead)
      if (fd >= 0)
        try {
          fs.ftruncateSync(fd, size);
        } catch {
          /* ended by the next append */
        }
      throw err;
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
    this.counters.set_aside += lines.length;
    for (const why of new Set(lines.map((l) => l.why)))
      this.log('error', `set ${lines.filter((l) => l.why === why).length} result lines aside in ${file}: ${why}`);
  }

  /** finish the batch being scored; lines not yet scored stay in the queue for next time */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
  }
}

/** whether the file open as `fd`, of `size` > 0 bytes, ends with a newline */
function endsLine(fd: number, size: number): boolean {
  const last = Buffer.alloc(1);
  return fs.readSync(fd, last, 0, 1, size - 1) === 1 && last[0] === 10;
}
