import { execFileSync } from 'child_process';
import * as fs from 'fs';

// osqueryd's extension watchdog, as osquery/core/watcher.cpp measures (getChange,
// exceededCyclesLimit, exceededMemoryLimit): every 3 s it reads the process's user and
// system time (/proc/<pid>/stat, converted to ms) and resident size (/proc/<pid>/status
// VmRSS). CPU time grown by more than limit% × physical cores × 3 s since the last check is one
// over-limit interval; over-limit intervals in a row for 12 s stop the process. Nothing is
// checked before --watchdog_delay after start, and the counters start at 0, so the first check
// counts all the CPU since launch as one interval. Memory is resident size minus the first
// check's; more than the memory limit stops it too.

export interface WatcherLimits {
  utilizationPercent: number;
  latencySeconds: number;
  memoryMb: number;
  intervalMs: number;
  delaySeconds: number;
  cores: number;
}

/** watchdog_level 0 (normal), the default */
export function defaultLimits(cores: number): WatcherLimits {
  return { utilizationPercent: 10, latencySeconds: 12, memoryMb: 200, intervalMs: 3000, delaySeconds: 60, cores };
}

export interface ProcSample {
  /** user + system time, ms, every thread */
  cpuMs: number;
  rssBytes: number;
}

let ticks = 0;
function msPerTick(): number {
  if (!ticks) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return 1000 / ticks;
}

/** what osquery's processes table reads for `pid` (tables/system/linux/processes.cpp) */
export function readProc(pid: number | 'self'): ProcSample {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // fields after "pid (comm) ": state is [0], utime [11], stime [12]
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  const tick = msPerTick();
  return { cpuMs: Math.floor(Number(f[11])) * tick + Math.floor(Number(f[12])) * tick, rssBytes: rss ? Number(rss[1]) * 1024 : 0 };
}

export interface Check {
  /** seconds since the process started */
  at: number;
  cpuMs: number;
  overLimit: boolean;
  /** the watcher's sustained_latency × interval, s */
  streakSeconds: number;
  /** resident growth over the first memory sample, MB (0 before it) */
  growthMb: number;
  /** resident size, MB */
  rssMb: number;
}

/** the watcher's state for one process: feed it a sample every interval */
export class WatcherModel {
  private userSys = 0;
  private streak = 0;
  private initialRss = 0;
  readonly checks: Check[] = [];
  /** when the watcher would have stopped the process, s after start, and why */
  stoppedAt: { at: number; why: string } | null = null;

  constructor(readonly limits: WatcherLimits) {}

  /** CPU ms one interval may use: cpuUtilizationTimeLimit() */
  get cpuLimitMs(): number {
    const l = this.limits;
    return (l.utilizationPercent * l.intervalMs * l.cores) / 100;
  }

  /**
   * One watcher pass at `at` s after launch; null before --watchdog_delay, when
   * watchExtensions() checks nothing (it returns while getUnixTime() < delayedTime())
   */
  check(at: number, s: ProcSample): Check | null {
    if (at < this.limits.delaySeconds) return null;
    // PerformanceState starts at 0: the first check counts all CPU since the process began
    const used = s.cpuMs - this.userSys;
    this.userSys = s.cpuMs;
    const overLimit = used > this.cpuLimitMs;
    this.streak = overLimit ? this.streak + 1 : 0;
    if (!this.initialRss) this.initialRss = s.rssBytes;
    const growth = Math.max(0, s.rssBytes - this.initialRss) / (1024 * 1024);
    const c: Check = {
      at,
      cpuMs: used,
      overLimit,
      streakSeconds: (this.streak * this.limits.intervalMs) / 1000,
      growthMb: growth,
      rssMb: s.rssBytes / (1024 * 1024),
    };
    this.checks.push(c);
    if (!this.stoppedAt) {
      if (c.streakSeconds >= this.limits.latencySeconds) this.stoppedAt = { at, why: `CPU over ${this.cpuLimitMs} ms per interval for ${c.streakSeconds} s` };
      else if (growth > this.limits.memoryMb) this.stoppedAt = { at, why: `memory grown by ${growth.toFixed(0)} MB` };
    }
    return c;
  }

  get longestStreakSeconds(): number {
    return Math.max(0, ...this.checks.map((c) => c.streakSeconds));
  }

  /** the first memory sample, MB (0 before it was taken) */
  get initialRssMb(): number {
    return this.initialRss / (1024 * 1024);
  }

  get largestGrowthMb(): number {
    return Math.max(0, ...this.checks.map((c) => c.growthMb));
  }

  /** the most CPU of one 3 s interval, after the first check (which holds all since launch) */
  get highestCpuMs(): number {
    return Math.max(0, ...this.checks.slice(1).map((c) => c.cpuMs));
  }
}
