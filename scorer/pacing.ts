// Pacing: keep the whole extension process inside osquery's CPU watchdog (design.md, "Live
// within osquery's budgets"). osqueryd's watcher (osquery/core/watcher.cpp) reads the
// extension's user+system time every 3 s; more than `limit` % of all cores in an interval is
// one strike, and strikes in a row for 12 s stop the extension. The scorer's long work
// (training, retraining, scoring a backlog) is done in slices; between slices `pace()` waits
// until the process is back under a share of that limit.
//
// The meter is the process's CPU time, every thread included (what the watcher reads from
// /proc/<pid>/stat), so the Thrift thread's work and V8's GC threads are charged too and
// the scorer leaves them room. Only the scorer waits: the thread that answers osqueryd never
// calls pace().

export interface CpuBudget {
  /** the watcher's limit: percent of all cores per interval */
  limitPercent: number;
  /** cores the watcher scales the limit by (physical cores: extension/budget.ts watcherCores) */
  cores: number;
  /** the watcher's check interval, ms */
  intervalMs: number;
  /** where the limit came from, for the log and anomaly_models */
  source: string;
}

/** what the pacer needs from the machine; tests inject a fake one */
export interface PacerEnv {
  /** monotonic wall time, ms */
  now(): number;
  /** CPU time of the whole process, all threads, user + system, ms */
  cpu(): number;
  sleep(ms: number): Promise<void>;
}

export const processEnv: PacerEnv = {
  now: () => performance.now(),
  cpu: () => {
    // getrusage(RUSAGE_SELF): every thread of the process, including threads that ended
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  },
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * The share of the watcher's limit the pacer aims at. The rest absorbs what it cannot pace:
 * the Thrift thread answering osqueryd, GC, and the slice already running when the budget
 * runs out. With the burst allowance below, no 3 s window of any phase can exceed
 * (TARGET_SHARE × (1 + BURST_MS / interval)) of the limit plus one slice.
 */
export const TARGET_SHARE = 0.7;
/** how much unused budget may be saved up, as wall time at the target rate */
export const BURST_MS = 300;
/** never wait longer than this for one slice: if the process's own unpaced threads alone use
 * the whole allowance, scoring still moves, slowly, instead of stopping for good */
export const MAX_WAIT_MS = 30_000;

/** CPU ms per wall ms the pacer allows the process under `budget` */
export function allowedShare(budget: CpuBudget): number {
  return (TARGET_SHARE * budget.limitPercent * budget.cores) / 100;
}

/** the same, per minute of wall time: what anomaly_models reports as budget_ms_per_min */
export function budgetMsPerMinute(budget: CpuBudget): number {
  return Math.round(allowedShare(budget) * 60_000);
}

export class Pacer {
  private budget: CpuBudget | null = null;
  /** CPU ms the scorer may still spend before it must wait (negative: owed) */
  private tokens = 0;
  private lastNow = 0;
  private lastCpu = 0;
  /** total ms spent waiting, and how many waits hit MAX_WAIT_MS */
  waitedMs = 0;
  starved = 0;
  /** called at every slice boundary, paced or not: the scorer thread's sign of progress, which
   * the thread that started it watches (scorer/service.ts, the row budget) */
  onSlice: () => void = () => {};
  /** called when a model's fit has returned (scorer/subject.ts): the scorer thread collects
   * the fit's garbage there (scorer/heap.ts) */
  onFitEnd: () => void = () => {};

  /** ends the wait under way, if any (release) */
  private wake: (() => void) | null = null;

  constructor(private readonly env: PacerEnv = processEnv) {}

  /**
   * Stop pacing at once, a wait under way included. On close the scorer thread finishes the
   * request under way before it saves; paced, that took 22.5 s after a SIGTERM, past the 15 s
   * systemd gives osqueryd's unit (TimeoutStopSec) before it kills the whole cgroup.
   */
  release(): void {
    this.budget = null;
    this.tokens = Infinity;
    this.wake?.();
  }

  /** set or clear (null: run flat out) the budget */
  configure(budget: CpuBudget | null): void {
    this.budget = budget && budget.limitPercent > 0 && budget.limitPercent < 100 ? budget : null;
    this.lastNow = this.env.now();
    this.lastCpu = this.env.cpu();
    this.tokens = this.capacity;
  }

  get current(): CpuBudget | null {
    return this.budget;
  }

  /** CPU ms per wall ms the pacer lets the process use */
  get rate(): number {
    return this.budget ? allowedShare(this.budget) : Infinity;
  }

  private get capacity(): number {
    return this.budget ? this.rate * BURST_MS : Infinity;
  }

  /** the budget the pacer keeps to, per minute of wall time (anomaly_models) */
  get budgetMsPerMinute(): number | null {
    return this.budget ? budgetMsPerMinute(this.budget) : null;
  }

  /** the watcher's own limit per interval, ms of CPU */
  get limitMsPerInterval(): number | null {
    const b = this.budget;
    return b ? (b.limitPercent * b.cores * b.intervalMs) / 100 : null;
  }

  private refill(): void {
    const now = this.env.now();
    const cpu = this.env.cpu();
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.lastNow) * this.rate - (cpu - this.lastCpu));
    this.lastNow = now;
    this.lastCpu = cpu;
  }

  /**
   * Call between slices of work. Returns at once while the process is within its budget;
   * otherwise waits until the CPU it used beyond the allowance has been paid back.
   */
  async slice(): Promise<void> {
    this.onSlice();
    if (!this.budget) return;
    this.refill();
    let waited = 0;
    while (this.tokens < 0) {
      if (waited >= MAX_WAIT_MS) {
        this.starved++;
        this.tokens = 0;
        break;
      }
      const ms = Math.min(Math.ceil(-this.tokens / this.rate), MAX_WAIT_MS - waited);
      await Promise.race([this.env.sleep(ms), new Promise<void>((resolve) => (this.wake = resolve))]);
      this.wake = null;
      waited += ms;
      if (!this.budget) break;
      this.refill();
    }
    this.waitedMs += waited;
  }
}

/** the scorer thread's pacer; unpaced until the worker configures it */
export const pacer = new Pacer();

/**
 * The hook long work calls between slices, e.g. `await pace()` after each training batch.
 * A slice should cost well under 100 ms of CPU: the budget on a 2-core host is 600 ms per
 * 3 s, and one slice runs to its end whatever the budget says.
 */
export function pace(): Promise<void> {
  return pacer.slice();
}

/** The hook a training calls when one model's fit has returned, before the next work starts. */
export function fitEnded(): void {
  pacer.onFitEnd();
}
