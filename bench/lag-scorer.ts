import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

// The scorer thread made to lag, on purpose: heapmem's runs that missed the watchdog's memory
// rule were the ones where the machine's load (~20 on 2 cores) left the scorer thread behind
// the lines osqueryd logged, and a run could only wait for such a load. Reniced to 19 alone,
// it lags only while its own process's threads want the same core (the kernel's autogroups
// share the CPU between sessions first, nice counts within one): at load 11 a reniced scorer
// still kept up with 5 flood lines a second, as it needs ~15 % of a core for them. So where
// the cgroup v1 cpu controller is writable (root), the thread is also capped at a share of a
// core in a cgroup of its own, which lags it by the same amount at any load.

/** where the cgroup v1 cpu controller is mounted */
const CPU_CGROUP = '/sys/fs/cgroup/cpu';
/** the cap's accounting period, µs */
const PERIOD_US = 100_000;

/** the thread of process `pid` named `name` (scorer/thread-priority.ts nameThisThread), or null */
export function threadNamed(pid: number, name: string): number | null {
  let tids: string[] = [];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  for (const tid of tids) {
    try {
      if (fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() === name) return Number(tid);
    } catch {
      /* the thread ended while listed */
    }
  }
  return null;
}

/** renice thread `tid` to 19 (Linux sets a thread's priority by its id); the error's message if refused */
export function lowerThread(tid: number): string | null {
  try {
    os.setPriority(tid, 19);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Cap thread `tid` at `percent` % of one core: a cgroup v1 cpu group of its own, with a
 * quota (a thread can be placed alone in v1). Returns how to take the group away once the
 * thread has ended (a group with a thread in it cannot be removed), or why it could not.
 */
export function capThread(tid: number, percent: number): { remove(): void } | string {
  const group = path.join(CPU_CGROUP, `anomaly-bench-lag-${process.pid}-${tid}`);
  try {
    fs.mkdirSync(group);
  } catch (err) {
    return `no cgroup v1 cpu controller to cap it in (${(err as Error).message})`;
  }
  const remove = () => {
    try {
      fs.rmdirSync(group);
    } catch {
      /* a thread still in it, or gone already */
    }
  };
  try {
    fs.writeFileSync(path.join(group, 'cpu.cfs_period_us'), String(PERIOD_US));
    fs.writeFileSync(path.join(group, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round((PERIOD_US * percent) / 100))));
    fs.writeFileSync(path.join(group, 'tasks'), String(tid));
  } catch (err) {
    remove();
    return `the cgroup refused it (${(err as Error).message})`;
  }
  return { remove };
}
