import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { CREATE_NEW, READ, writeAll } from './atomic';

// One writer per state directory. The extension keeps its subjects, baselines, windows and
// retained scores in memory and saves them over their files; 'anomaly train' or 'score' run
// into the directory of a running extension (the default /var/osquery/anomaly is both's)
// wrote files that the extension then saved over: a host baseline train had trained was
// replaced by the extension's own of one row, without a word.
//
// The lock is a file naming its holder by pid and by the process's start time (from
// /proc/<pid>/stat), made whole under another name and linked into place, so that it is
// never seen half written. A holder that died (SIGKILL, a power loss) left it: a lock whose
// pid is gone, or is now another process (another start time), is taken over.
//
// A pid means something only in its PID namespace: a container that shares the state
// directory (a volume) numbers its processes apart, and its pid 1 is the host's init seen
// from the host. So the lock also names the holder's PID namespace (the inode of
// /proc/self/ns/pid), and a holder of another namespace is looked for as the kernel shows it
// from here: a process in that namespace whose pid there (the last of NSpid) and start time
// match. Not found, it is gone only if every process of the host can be seen from here (the
// initial namespace, with its own /proc); from inside a container another namespace's holder
// cannot be seen, and is taken for live. Node offers no flock(2) or fcntl(2) lock without a
// native module, which the kernel would release at the holder's death whatever its namespace.

export class StateInUse extends Error {
  constructor(
    message: string,
    /** what holds it, as it named itself ('anomaly.ext', 'anomaly train', …), when known */
    readonly holder?: string,
  ) {
    super(message);
  }
}

interface Holder {
  pid: number;
  /** start time of the process in clock ticks since boot; null where /proc is not */
  start: string | null;
  /** what holds it, for the message */
  what: string;
  /** the kernel's boot id when it took the lock; null in locks of earlier builds */
  boot: string | null;
  /** its PID namespace (`pid:[4026531836]`); null in locks of earlier builds, or without /proc */
  ns: string | null;
}

/** the inode of the initial PID namespace (PROC_PID_INIT_INO): the host's */
const INITIAL_NS = 'pid:[4026531836]';

const FILE = 'lock';

/** of `pid` as /proc shows it; 'self' for this process (its pid may be another in /proc's namespace) */
function startTime(pid: number | string): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count from the last ')';
    // field 3 follows it, and the start time is field 22
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function bootId(): string | null {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
  } catch {
    return null;
  }
}

function pidNamespace(pid: number | string): string | null {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
}

/** a process's pids from /proc's PID namespace inward (NSpid, readable by anyone); null if unreadable */
function nsPids(pid: string): number[] | null {
  try {
    const line = /^NSpid:\s*(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return line ? line[1].trim().split(/\s+/).map(Number) : null;
  } catch {
    return null;
  }
}

/** whether the holder, of the same boot but another PID namespace, runs (see the top) */
function aliveInAnotherNamespace(h: Holder, mine: string): boolean {
  // /proc of this process's namespace (its own mount, not the host's seen from a container)
  let procIsOurs = false;
  try {
    procIsOurs = fs.readlinkSync('/proc/self') === String(process.pid);
  } catch {
    /* no /proc */
  }
  let blind = !procIsOurs || mine !== INITIAL_NS;
  let entries: string[] = [];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    blind = true;
  }
  for (const p of entries) {
    if (!/^\d+$/.test(p)) continue;
    const pids = nsPids(p);
    if (pids === null) {
      // gone meanwhile, or unreadable: then it may be the holder
      if (fs.existsSync(`/proc/${p}`)) blind = true;
      continue;
    }
    // one pid: a process of /proc's namespace, this one's, which is not the holder's; else
    // the last is its pid in its own namespace
    if (pids.length < 2 || pids[pids.length - 1] !== h.pid) continue;
    if (h.start !== null && startTime(p) !== h.start) continue;
    try {
      if (fs.readlinkSync(`/proc/${p}/ns/pid`) === h.ns) return true;
    } catch (err) {
      // its namespace cannot be read (a process of another user namespace): it has the
      // holder's pid and start time, so it may be the holder
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') return true;
    }
  }
  return blind;
}

function alive(h: Holder): boolean {
  // A lock left by a power loss names a pid and start tick of the boot before, and a
  // deterministic boot order gives them again, to this very process at worst: the extension
  // then waited for itself for ever. A holder of another boot is gone.
  const boot = bootId();
  if (h.boot !== null && boot !== null && h.boot !== boot) return false;
  const mine = pidNamespace('self');
  if (h.ns !== null && mine !== null && h.ns !== mine) return aliveInAnotherNamespace(h, mine);
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (h.start === null) return true;
  const now = startTime(h.pid);
  return now === null || now === h.start;
}

function holderOf(text: string): Holder | null {
  try {
    const h = JSON.parse(text) as Partial<Holder>;
    if (typeof h.pid !== 'number' || !Number.isInteger(h.pid) || h.pid <= 0) return null;
    return {
      pid: h.pid,
      start: typeof h.start === 'string' ? h.start : null,
      what: typeof h.what === 'string' ? h.what.slice(0, 100) : 'another process',
      boot: typeof h.boot === 'string' ? h.boot : null,
      ns: typeof h.ns === 'string' ? h.ns : null,
    };
  } catch {
    return null;
  }
}

/** a holder's record is under 200 bytes: anything far larger is not one */
const MAX_LOCK_BYTES = 4096;

function readLock(file: string): string | null {
  let fd: number;
  try {
    // O_NONBLOCK: open(2) of a FIFO for reading waits for a writer, which held the start
    // (and 'anomaly train') for ever; on a regular file it changes nothing
    fd = fs.openSync(file, READ | fs.constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    // a link or something unreadable where the lock goes: not a holder
    return '';
  }
  try {
    const st = fs.fstatSync(fd);
    // a FIFO, a device, a directory or a huge file (read whole before) is not a holder
    if (!st.isFile() || st.size > MAX_LOCK_BYTES) return '';
    const buf = Buffer.alloc(MAX_LOCK_BYTES);
    return buf.toString('utf8', 0, fs.readSync(fd, buf, 0, MAX_LOCK_BYTES, 0));
  } catch {
    return '';
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Hold the state directory `dir` (which must exist and be ours) for `what`; returns the
 * release. Throws StateInUse, naming the holder, while a live process holds it.
 */
export function lockStateDir(dir: string, what: string): () => void {
  const file = path.join(dir, FILE);
  // (this process's start as /proc/self shows it: under a container's runtime that mounts the
  // host's /proc, /proc/<its pid> is another process)
  const me: Holder = { pid: process.pid, start: startTime('self'), what, boot: bootId(), ns: pidNamespace('self') };
  const text = JSON.stringify(me);
  const tmp = path.join(dir, `.${FILE}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, CREATE_NEW, 0o600);
  try {
    writeAll(fd, text);
  } catch (err) {
    // (a full disk: the empty copy was left, one per try)
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        // link(2) fails if anything is there, a dangling link too: never two holders
        fs.linkSync(tmp, file);
        return () => {
          if (readLock(file) === text) fs.rmSync(file, { force: true });
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const found = readLock(file);
      if (found === null) continue;
      const holder = holderOf(found);
      if (holder && alive(holder)) {
        const elsewhere = holder.ns !== null && holder.ns !== me.ns && me.ns !== null;
        throw new StateInUse(
          `state directory ${dir} is in use by ${holder.what} (pid ${holder.pid}${elsewhere ? ` in another PID namespace, ${holder.ns}, which may not be visible from here; if nothing of it runs any more, remove ${file}` : ''})`,
          holder.what,
        );
      }
      // Its holder is gone: taken over, unless another process took it over meanwhile. It
      // is moved aside and looked at there, not removed after a look: two processes that
      // both read the dead holder's lock both removed it, the second one the lock the first
      // had just linked in its place, and both held the directory.
      const aside = `${tmp}.old`;
      try {
        fs.renameSync(file, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      try {
        // another's fresh lock moved aside: put back (unless a third took the place meanwhile,
        // whose lock the next turn finds)
        if (readLock(aside) !== found) fs.linkSync(aside, file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        fs.rmSync(aside, { force: true });
      }
    }
    throw new StateInUse(`state directory ${dir}: its lock changed hands three times while this process tried to take it`);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
