import * as fs from 'fs';
import * as path from 'path';
import { makeDir } from '../state/atomic';

// The state directory holds what the extension (root) writes. If anyone else could write
// into it, they could plant links or files for root to follow or trust; so it must be a
// real directory (not a link), owned by the user the extension runs as, and writable by
// nobody else. The extension refuses to start otherwise and says how to fix it.

export class StateDirError extends Error {}

/** `runsAs` of the command line's checks */
export const COMMAND_USER = 'this command runs as';

/** `runsAs`: who must own the directory, for the message (the CLI checks it too) */
export function prepareStateDir(dir: string, runsAs = 'the extension runs as'): void {
  // before anything is made there, and again once it is
  const where = () => {
    const problem = untrustedPlace(dir);
    if (problem) throw new StateDirError(`state directory ${dir}: ${problem}; choose a state_dir whose parents only root or the user ${runsAs} can change`);
  };
  where();
  try {
    makeDir(dir);
  } catch (err) {
    // something already there that is not a directory (a file, a dangling link): say what,
    // not mkdir's EEXIST
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') trustStateDir(dir, runsAs);
    throw new StateDirError(`state directory ${dir} cannot be created (${(err as Error).message}); set state_dir in the config or ANOMALY_STATE_DIR`);
  }
  where();
  trustStateDir(dir, runsAs);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (err) {
    throw new StateDirError(`state directory ${dir} is not writable (${(err as Error).message}); set state_dir in the config or ANOMALY_STATE_DIR`);
  }
}

/**
 * The checks on the directory itself, without making it or asking that it be writable: what a
 * reader needs (`anomaly report` of a state kept on a read-only mount), and a writer first
 */
export function trustStateDir(dir: string, runsAs = 'the extension runs as'): void {
  const st = fs.lstatSync(dir);
  if (st.isSymbolicLink()) throw new StateDirError(`state directory ${dir} is a symbolic link${linkTarget(dir)}; name the real directory in state_dir`);
  if (!st.isDirectory()) throw new StateDirError(`state directory ${dir} is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    // a command run without sudo on the extension's state (root's, as osqueryd runs it as
    // root): chown would lock the extension out of it (it refuses a directory not its user's,
    // and osqueryd shuts down without its logger)
    if (st.uid === 0 && runsAs === COMMAND_USER)
      throw new StateDirError(
        `state directory ${dir} is root's (the extension's, when osqueryd runs it as root), and this command runs as uid ${uid}: run it as root (sudo); do not chown it, the extension would refuse it`,
      );
    throw new StateDirError(`state directory ${dir} is owned by uid ${st.uid}, not by the user ${runsAs} (uid ${uid}); chown it or choose another state_dir`);
  }
  if (st.mode & 0o022)
    throw new StateDirError(
      `state directory ${dir} is writable by ${st.mode & 0o002 ? 'everyone' : 'its group'} (mode ${(st.mode & 0o777).toString(8)}); chmod 700 it`,
    );
}

/** where a link leads, for the message: the directory to name instead, or that it leads nowhere */
function linkTarget(link: string): string {
  try {
    return ` to ${fs.realpathSync(link)}`;
  } catch {
    try {
      return ` to ${fs.readlinkSync(link)}, which does not exist`;
    } catch {
      return '';
    }
  }
}

/**
 * What lets another user change what `target` names, or null. The checks on a directory itself
 * (owned by us, not a link, writable by no one else) hold only as long as nobody can rename
 * it away and put a link or a directory of their own in its place, which whoever can write
 * to the directory it is named in can do at any moment: root's `anomaly train --state
 * /home/eve/st` went on writing into the directory eve's link named once she swapped it. So
 * every directory looked up on the way, through links as the kernel follows them, must be
 * root's or ours and writable by no one else, or sticky (as /tmp) with the name in it root's
 * or ours. The missing end of the path is what we create: its parent is checked the same way.
 */
export function untrustedPlace(target: string): string | null {
  const uid = process.getuid?.();
  if (uid === undefined) return null;
  const trusted = (st: fs.Stats) => st.uid === 0 || st.uid === uid;
  let rest = path.resolve(target).split('/').filter(Boolean);
  let at = '/';
  let links = 0;
  while (rest.length) {
    const name = rest.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      at = path.dirname(at);
      continue;
    }
    const dir = fs.statSync(at);
    if (!trusted(dir)) return `${at} is owned by uid ${dir.uid}, who could replace what is in it`;
    const sticky = (dir.mode & 0o1000) !== 0;
    if (dir.mode & 0o022 && !sticky)
      return `${at} is writable by ${dir.mode & 0o002 ? 'everyone' : 'its group'} (mode ${(dir.mode & 0o777).toString(8)}), who could replace what is in it`;
    const next = path.join(at, name);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(next);
    } catch {
      // missing: made by us from here (its parent was just checked); not a directory or
      // not ours to look at: no use, and what tries to use it next says why
      return null;
    }
    if (dir.mode & 0o022 && !trusted(st)) return `${next} is owned by uid ${st.uid} in ${at}, which others can write to`;
    if (st.isSymbolicLink()) {
      if (++links > 40) return `${target}: too many links`;
      let to: string;
      try {
        to = fs.readlinkSync(next);
      } catch {
        // gone since the lstat: as missing
        return null;
      }
      rest = [...to.split('/').filter(Boolean), ...rest];
      if (path.isAbsolute(to)) at = '/';
      continue;
    }
    at = next;
  }
  return null;
}
