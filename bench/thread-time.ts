import * as fs from 'fs';
import { ownThreadId } from '../scorer/thread-priority';

// Where a thread's wall time went, from the kernel's scheduler statistics
// (/proc/self/task/TID/schedstat: ns on a CPU, ns runnable but waiting on a run queue). They
// tell the work a thread did from the time the machine made it wait for a core, which a
// latency percentile on a shared 2-core host mixes up.

export interface ThreadTime {
  /** ms on a CPU */
  runMs: number;
  /** ms runnable, waiting for a CPU */
  waitMs: number;
}

export interface ProcessThreadTimes {
  /** the calling thread */
  self: ThreadTime;
  /** every other thread of the process, summed */
  others: ThreadTime;
}

function read(tid: string): ThreadTime | null {
  try {
    const [run, wait] = fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
    return { runMs: run / 1e6, waitMs: wait / 1e6 };
  } catch {
    return null; // not Linux, no schedstats, or the thread ended while listed
  }
}

/** this process's threads' times so far; null where the kernel does not keep them */
export function processThreadTimes(): ProcessThreadTimes | null {
  const self = String(ownThreadId());
  const own = read(self);
  if (!own) return null;
  const others: ThreadTime = { runMs: 0, waitMs: 0 };
  for (const tid of fs.readdirSync('/proc/self/task')) {
    if (tid === self) continue;
    const t = read(tid);
    if (t) {
      others.runMs += t.runMs;
      others.waitMs += t.waitMs;
    }
  }
  return { self: own, others };
}

/** b − a, each field */
export function since(a: ProcessThreadTimes, b: ProcessThreadTimes): ProcessThreadTimes {
  const d = (x: ThreadTime, y: ThreadTime) => ({ runMs: y.runMs - x.runMs, waitMs: y.waitMs - x.waitMs });
  return { self: d(a.self, b.self), others: d(a.others, b.others) };
}
