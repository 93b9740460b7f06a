import * as fs from 'fs';
import { makeDir } from '../state/atomic';

// The state directory holds what the extension (root) writes. If anyone else could write
// into it, they could plant links or files for root to follow or trust; so it must be a
// real directory (not a link), owned by the user the extension runs as, and writable by
// nobody else. The extension refuses to start otherwise and says how to fix it.

export class StateDirError extends Error {}

/** `runsAs`: who must own the directory, for the message (the CLI checks it too) */
export function prepareStateDir(dir: string, runsAs = 'the extension runs as'): void {
  try {
    makeDir(dir);
  } catch (err) {
    throw new StateDirError(`state directory ${dir} cannot be created (${(err as Error).message}); set state_dir in the config or ANOMALY_STATE_DIR`);
  }
  const st = fs.lstatSync(dir);
  if (st.isSymbolicLink()) throw new StateDirError(`state directory ${dir} is a symbolic link; name the real directory in state_dir`);
  if (!st.isDirectory()) throw new StateDirError(`state directory ${dir} is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid)
    throw new StateDirError(`state directory ${dir} is owned by uid ${st.uid}, not by the user ${runsAs} (uid ${uid}); chown it or choose another state_dir`);
  if (st.mode & 0o022)
    throw new StateDirError(
      `state directory ${dir} is writable by ${st.mode & 0o002 ? 'everyone' : 'its group'} (mode ${(st.mode & 0o777).toString(8)}); chmod 700 it`,
    );
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (err) {
    throw new StateDirError(`state directory ${dir} is not writable (${(err as Error).message}); set state_dir in the config or ANOMALY_STATE_DIR`);
  }
}
