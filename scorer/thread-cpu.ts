import * as fs from 'fs';

/** the kernel's USER_HZ: /proc reports CPU time in these ticks (100 on every Linux build) */
const TICKS_PER_SECOND = 100;

/** CPU time (user + system) of thread `tid` of this process, ms; null where /proc cannot say */
export function threadCpuMs(tid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
    // fields after the command name, which is in parentheses and may hold spaces
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/**
 * A clock of the main thread's CPU time, ms (its kernel thread id is the process id), for
 * the main thread to bound its own work by; where /proc cannot say, wall time. On a loaded
 * host wall time runs on while the thread waits for a core: a bound in wall time cut work
 * short that had cost next to nothing.
 */
export function mainThreadCpuClock(): () => number {
  if (threadCpuMs(process.pid) === null) return () => performance.now();
  let last = 0;
  return () => (last = threadCpuMs(process.pid) ?? last);
}
