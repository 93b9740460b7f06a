import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

// How osqueryd starts an extension (protocol doc §3.2, §4.2): the autoload safety checks,
// then execve of the file itself with exactly osqueryd's argv, OSQUERY_EXTENSION set to the
// child's own pid.

export interface LaunchOptions {
  socket: string;
  timeout: number;
  interval: number;
  verbose?: boolean;
  env?: NodeJS.ProcessEnv;
  /** osqueryd's --allow_unsafe: skip the permission checks */
  allowUnsafe?: boolean;
  /** where the child's stderr goes; default inherited */
  stderr?: 'inherit' | 'pipe' | 'ignore';
  /** the umask the extension starts with (osqueryd passes on its own) */
  umask?: number;
  /** RLIMIT_FSIZE in 512-byte blocks (`ulimit -f`): a disk that refuses to grow files */
  fileSizeBlocks?: number;
  /**
   * variables removed from the environment in the shell that execs the extension: a value set
   * in `env` can be rewritten at spawn (tap's process-info hook puts its own `--import` back
   * into every child's NODE_OPTIONS), an unset in the shell cannot
   */
  unsetEnv?: readonly string[];
}

/**
 * This project's anomaly.ext copied into DIR/extensions as osqueryd's autoload checks want
 * it (0755, in a directory no one else can write); the copy's path.
 */
export function installExtension(dir: string): string {
  const extDir = path.join(dir, 'extensions');
  fs.mkdirSync(extDir, { mode: 0o755 });
  fs.chmodSync(extDir, 0o755);
  const ext = path.join(extDir, 'anomaly.ext');
  fs.copyFileSync(path.resolve(__dirname, '../../extension/anomaly.ext'), ext);
  fs.chmodSync(ext, 0o755);
  return ext;
}

/** the checks osqueryd makes before every launch; the message is osqueryd's own wording */
export function checkExtensionFile(file: string): string | null {
  if (!file.endsWith('.ext')) return `Will not autoload extension not ending in one of '.ext': ${file}`;
  let st: fs.Stats;
  let dirSt: fs.Stats;
  try {
    st = fs.statSync(file);
    dirSt = fs.statSync(path.dirname(file));
  } catch {
    return `Cannot find extension: ${file}`;
  }
  if (dirSt.mode & 0o1000) return `Will not autoload extension with unsafe directory permissions: ${file}`;
  if (!st.isFile()) return `Extension binary has unsafe permissions: ${file}`;
  const uid = process.getuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== uid) return `Extension binary has unsafe permissions: ${file}`;
  if (!(st.mode & 0o100)) return `Extension binary has unsafe permissions: ${file}`;
  if (st.mode & 0o002) return `Extension binary has unsafe permissions: ${file}`;
  return null;
}

export function launchExtension(file: string, opts: LaunchOptions): ChildProcess {
  if (!opts.allowUnsafe) {
    const problem = checkExtensionFile(file);
    if (problem) throw new Error(problem);
  }
  const argv = [...(opts.verbose ? ['--verbose'] : []), '--socket', opts.socket, '--timeout', String(opts.timeout), '--interval', String(opts.interval)];
  // sh sets OSQUERY_EXTENSION to its own pid and execs the file, which keeps that pid:
  // the same environment osqueryd's fork+execve gives
  const umask = opts.umask === undefined ? '' : `umask ${opts.umask.toString(8).padStart(3, '0')}; `;
  const limit = opts.fileSizeBlocks === undefined ? '' : `ulimit -f ${Math.floor(opts.fileSizeBlocks)}; `;
  const names = (opts.unsetEnv ?? []).filter((name) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name));
  const unset = names.length ? `unset ${names.join(' ')}; ` : '';
  return spawn('/bin/sh', ['-c', `${umask}${limit}${unset}OSQUERY_EXTENSION=$$; export OSQUERY_EXTENSION; exec "$0" "$@"`, file, ...argv], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'ignore', opts.stderr ?? 'inherit'],
  });
}
