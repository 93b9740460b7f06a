import * as fs from 'fs';
import * as os from 'os';

/** this thread's kernel id (Linux), or null */
export function ownThreadId(): number | null {
  try {
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}

/**
 * Run the calling thread at nice 10: the scorer thread and the LSTM's fit helper. On a small
 * host, training competes for the same cores as the Thrift thread that must answer osqueryd
 * at once; the kernel should always prefer the answer. Linux lets a thread renice itself by
 * its thread id; elsewhere this does nothing.
 */
export function yieldCpuToTheProtocolThread(): void {
  try {
    const tid = ownThreadId();
    if (tid) os.setPriority(tid, Math.max(os.getPriority(tid), 10));
  } catch {
    /* not Linux, or not allowed: the work still gets done, at the thread's default priority */
  }
}

/**
 * Give the calling thread a name the kernel shows (`top -H`, `ps -L`, /proc/PID/task/TID/comm;
 * 15 characters at most): every thread of node is `node`, so the scorer thread could only be
 * told from V8's own threads by its CPU, and not at all while it waited for a core. Linux lets
 * a thread rename itself through its comm file; elsewhere this does nothing.
 */
export function nameThisThread(name: string): void {
  try {
    fs.writeFileSync('/proc/thread-self/comm', name.slice(0, 15));
  } catch {
    /* not Linux: the thread keeps its name */
  }
}
