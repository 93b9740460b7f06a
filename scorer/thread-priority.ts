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
