import type { Worker } from 'worker_threads';
import { threadCpuMs } from './thread-cpu';
import { ownThreadId } from './thread-priority';

// The row budget (config budget.row_cpu_ms): a row whose scoring takes more CPU than that
// is set aside instead of stalling every row behind it. A hung row cannot be interrupted
// from inside its thread, so the thread that started the scorer watches it and stops it.
//
// The two threads share a few integers. The scorer thread says which lines it is scoring and
// beats at every slice boundary (a new slice of rows, or any pace() inside training). The
// watcher measures the scorer thread's own CPU time since the last beat, never wall time: a
// loaded machine makes a slice slow, not costly, so it cannot be mistaken for a hung row.

const BEAT = 0;
/** the request being scored; 0 while the thread does anything else (not watched) */
const REQUEST = 1;
/** the request's lines in the current slice: [FROM, TO) */
const FROM = 2;
const TO = 3;
/** the scorer thread's kernel thread id, for its CPU time; 0 where there is none */
const TID = 4;
const CELLS = 5;

export function progressBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(CELLS * Int32Array.BYTES_PER_ELEMENT);
}

/** the scorer thread's side: where it is */
export class Progress {
  private readonly cells: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.cells = new Int32Array(buffer);
    Atomics.store(this.cells, TID, ownThreadId() ?? 0);
  }

  /** request `request` now scores its lines [from, to) */
  scoring(request: number, from: number, to: number): void {
    Atomics.store(this.cells, FROM, from);
    Atomics.store(this.cells, TO, to);
    Atomics.store(this.cells, REQUEST, request);
    this.beat();
  }

  beat(): void {
    Atomics.add(this.cells, BEAT, 1);
  }

  /** scoring is over; what follows (saving, windows) is not a row's cost */
  idle(): void {
    Atomics.store(this.cells, REQUEST, 0);
    this.beat();
  }
}

export interface OverBudget {
  request: number;
  /** the request's lines being scored: [from, to) */
  from: number;
  to: number;
  cpuMs: number;
}

/**
 * The watcher's side. Every `pollMs` it reads the shared cells; a slice that has not beaten
 * while the scorer thread spent more than `budgetMs` of CPU on it is reported, once.
 * Without /proc (not Linux) it falls back to the thread's event-loop active time, which
 * counts waiting for a core as work: there a loaded machine can raise a false alarm, which
 * costs a retry (scorer/service.ts), never a row.
 */
export class SliceWatch {
  private readonly cells: Int32Array;
  private readonly timer: NodeJS.Timeout;
  private beat = -1;
  private cpuAtBeat = 0;
  private reported = false;

  constructor(
    buffer: SharedArrayBuffer,
    private readonly worker: Worker,
    private readonly budgetMs: number,
    private readonly onOverBudget: (o: OverBudget) => void,
  ) {
    this.cells = new Int32Array(buffer);
    this.timer = setInterval(() => this.check(), Math.min(1000, Math.max(50, budgetMs / 10)));
    this.timer.unref();
  }

  /** the scorer thread's CPU time so far, ms (its event-loop active time without /proc) */
  cpuMs(): number {
    const tid = Atomics.load(this.cells, TID);
    return (tid ? threadCpuMs(tid) : null) ?? this.worker.performance.eventLoopUtilization().active;
  }

  private check(): void {
    const request = Atomics.load(this.cells, REQUEST);
    if (request === 0 || this.reported) return;
    const beat = Atomics.load(this.cells, BEAT);
    if (beat !== this.beat) {
      this.beat = beat;
      this.cpuAtBeat = this.cpuMs();
      return;
    }
    const cpuMs = this.cpuMs() - this.cpuAtBeat;
    if (cpuMs <= this.budgetMs) return;
    this.reported = true;
    this.onOverBudget({ request, from: Atomics.load(this.cells, FROM), to: Atomics.load(this.cells, TO), cpuMs });
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
