import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { Test } from 'tap';
import { emulated, type Emulated } from './emulated';

// A full disk, for real: a small tmpfs mounted where a test wants it, filled to the last byte.

/** a small tmpfs at `dir`, or null where this machine does not allow mounting */
export function smallDisk(dir: string, size: string): (() => void) | null {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return null;
  }
  return () => {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  };
}

/**
 * an emulated osqueryd whose extension keeps its state on an 8 MB tmpfs (nothing learnt, so
 * that only what a test writes fills it), torn down with `t`; null where no tmpfs can be mounted
 */
export async function emulatedOnSmallDisk(t: Test): Promise<Emulated | null> {
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  const unmount = smallDisk(e.stateDir, '8m');
  t.teardown(async () => {
    await e.emu.shutdown(5000);
    unmount?.();
    await e.close();
  });
  return unmount ? e : null;
}

/** write until the filesystem says it is full; returns the filler's path */
export function fill(dir: string): string {
  const file = path.join(dir, 'filler');
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (err) {
    if (!['ENOSPC', 'EFBIG'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    fs.closeSync(fd);
  }
  // the last few bytes too
  const small = fs.openSync(file, 'a');
  try {
    for (;;) fs.writeSync(small, 'x');
  } catch {
    /* full */
  } finally {
    fs.closeSync(small);
  }
  return file;
}
