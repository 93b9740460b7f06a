import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { loadConfig, type AnomalyConfig } from '../../conf/config';
import { readResultLogs } from '../../scorer/parse/results';
import type { LogFn } from '../../scorer/scorer';
import { rowBatches } from '../../scorer/parse/batches';
import type { LogItem } from '../../scorer/parse/results';
import type { ResultRow } from '../../scorer/types';
import { jsonShown, oneLine, showHidden } from '../../extension/hidden-chars';
import { COMMAND_USER, prepareStateDir, StateDirError, trustStateDir, untrustedPlace } from '../../extension/statedir';
import { CliError, EXIT } from '../exit';
import { lockStateDir, StateInUse } from '../../state/lock';
import { clearLeftoverCopies, untrustedFile } from '../../state/atomic';

export const STATE_FLAGS = {
  state: { kind: 'value' },
  config: { kind: 'value' },
  verbose: { kind: 'bool' },
  quiet: { kind: 'bool' },
} as const;

/** the state options' help, their text from `column` on, where the command's own options' text starts */
export function stateHelp(column = 19): string {
  const options: Array<[string, string[]]> = [
    ['--state DIR', ["state directory (default: ANOMALY_STATE_DIR, else the config's", 'state_dir, else /var/osquery/anomaly)']],
    ['--config FILE', ['config file (default: ANOMALY_CONFIG, else /etc/osquery/anomaly.json)']],
    ['--verbose', ['log debug messages to stderr']],
    ['--quiet', ['no progress output and no info messages (warnings and errors only)']],
  ];
  const lines = options.flatMap(([flag, text]) => text.map((t, i) => (i === 0 ? `  ${flag}`.padEnd(column) : ' '.repeat(column)) + t));
  return `${lines.join('\n')}\n`;
}

export const STATE_HELP = stateHelp();

/**
 * config with the state directory the flags ask for, checked to be writable, or with 'read'
 * to be one only root or the user can change (a reader writes nothing there: a state kept on a
 * read-only mount is reported all the same); with 'existing', checked as for 'write' when it
 * exists and never created, for a command that needs what is in it: a mistyped --state made
 * a tree wherever it pointed, as root, before the command found nothing there
 */
export function configFrom(flags: Record<string, unknown>, access: 'write' | 'read' | 'existing' = 'write'): AnomalyConfig {
  // --state is typed in the shell the command runs in: resolved there, once, and it stands in
  // for ANOMALY_STATE_DIR, which is then not looked at (a relative one is a config error)
  const config = loadConfig(flags.config as string | undefined, flags.state ? { ...process.env, ANOMALY_STATE_DIR: '' } : process.env);
  if (flags.state) config.state_dir = path.resolve(flags.state as string);
  if (access === 'read') {
    if (!lexists(config.state_dir)) return config;
    const problem = untrustedPlace(config.state_dir);
    try {
      if (problem) throw new StateDirError(`state directory ${config.state_dir}: ${problem}`);
      trustStateDir(config.state_dir, COMMAND_USER);
    } catch (err) {
      if (err instanceof StateDirError) throw new CliError(`${err.message}; or pass --state DIR`, EXIT.cantcreat);
      throw err;
    }
    return config;
  }
  // what the extension will load, and where root writes: the same rules as the extension's
  // (a link, or a directory others can write to, lets them plant links for root to follow),
  // checked before anything is written in it
  const check = () => {
    try {
      prepareStateDir(config.state_dir, COMMAND_USER);
    } catch (err) {
      if (err instanceof StateDirError) throw new CliError(`${err.message}; or pass --state DIR`, EXIT.cantcreat);
      throw err;
    }
  };
  const existed = lexists(config.state_dir);
  if (!existed && access === 'existing') return config;
  if (existed) check();
  const problem = writableDir(config.state_dir, 0o700);
  if (problem) throw new CliError(`state directory ${config.state_dir}: ${problem}; pass --state DIR or set ANOMALY_STATE_DIR`, EXIT.cantcreat);
  if (!existed) check();
  return config;
}

/**
 * Hold the state directory for this command until the process exits (state/lock.ts): a
 * running extension would save its own subjects over what train or score write there.
 */
export function holdState(config: AnomalyConfig, what: string, log: LogFn): void {
  let release: () => void;
  try {
    release = lockStateDir(config.state_dir, what);
  } catch (err) {
    if (err instanceof StateInUse)
      throw new CliError(`${err.message}: stop it first (it would save its own models over these), or pass --state DIR`, EXIT.tempfail);
    throw new CliError(`state directory ${config.state_dir}: cannot take its lock (${(err as Error).message})`, EXIT.cantcreat);
  }
  process.once('exit', release);
  // The copies a run killed mid-save left (a subject's file is megabytes), removed as the
  // extension removes them once it holds the lock: no other writer can be writing one now.
  // Only the extension did, and a state only the command line used kept one more for each
  // run killed while it saved (chaos3)
  clearLeftoverCopies(config.state_dir, log);
}

/** whether anything (a link too, even a dangling one) is at `p` */
export function lexists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Make `dir` a writable directory, creating missing parts one level at a time (a recursive
 * mkdir under /proc never returns); what is wrong with it, or null. With `create` false,
 * nothing is made: what would be wrong is told from the nearest part that exists (a command
 * that may yet find its input missing checks first and creates after, leaving no empty folder).
 */
export function writableDir(dir: string, mode = 0o755, create = true): string | null {
  // root writes there: whoever could swap a directory on the way for a link would choose where
  const untrusted = untrustedPlace(dir);
  if (untrusted) return untrusted;
  const missing: string[] = [];
  let existing = dir;
  while (!fs.existsSync(existing)) {
    missing.unshift(existing);
    const up = path.dirname(existing);
    if (up === existing) break;
    existing = up;
  }
  if (!fs.statSync(existing).isDirectory()) return `${existing} is not a directory`;
  if (!create) return missing.length ? writeProbe(existing, (code) => `cannot create ${missing[0]} (${code})`) : writeProbe(dir);
  for (const d of missing) {
    try {
      fs.mkdirSync(d, { mode: d === dir ? mode : 0o755 });
      // whatever the umask
      if (d === dir) fs.chmodSync(d, mode);
    } catch (err) {
      return `cannot create ${d} (${(err as NodeJS.ErrnoException).code})`;
    }
  }
  return untrustedPlace(dir) ?? writeProbe(dir);
}

/** whether a file can be written in `dir`: null, or `fault` of the error's code */
function writeProbe(dir: string, fault = (code: string | undefined) => `not writable (${code})`): string | null {
  // root passes access(W_OK) on read-only mounts such as /proc: only a real file tells. Its
  // name is random: a name of the pid, guessed and planted by whoever else may write in the
  // folder (/tmp), made every probe there EEXIST, a writable folder "not writable" (rev9).
  // 'wx' (O_EXCL) never follows a link planted at the name, nor opens a file that was there.
  for (let attempt = 0; ; attempt++) {
    const probe = path.join(dir, `.anomaly-probe-${crypto.randomBytes(12).toString('hex')}`);
    try {
      fs.writeFileSync(probe, '', { flag: 'wx', mode: 0o600 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && attempt < 3) continue;
      return fault(code);
    }
    try {
      fs.unlinkSync(probe);
    } catch (err) {
      // a folder where files are made but not removed (append-only) is no place for the state,
      // whose saves replace files; gone already (someone else's unlink) is no fault
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') return fault(code);
    }
    return null;
  }
}

export function stderrLog(flags: Record<string, unknown>): LogFn {
  const verbose = Boolean(flags.verbose);
  const quiet = Boolean(flags.quiet) && !verbose;
  return (level, msg) => {
    if ((level === 'debug' && !verbose) || (level === 'info' && quiet)) return;
    process.stderr.write(`${level}: ${printable(msg)}\n`);
  };
}

export interface RowStreamStats {
  lines: number;
  rows: number;
  errors: number;
  /** lines the extension would not score (`skip`): its own tables' rows, ignored queries */
  skipped: number;
}

/**
 * Rows of the given results logs in batches. Each file is checked up front (exists, is a file,
 * is text or real gzip) so a wrong path or a wrong file is one clear line. A bad line is
 * reported with its file and line and skipped, as the extension would count it rejected;
 * reports wait until the file has shown one good line, so a file that turns out not to be
 * osquery output at all ends with that one error and no warnings before it.
 */
export async function* logBatches(
  files: readonly string[],
  stats: RowStreamStats,
  onBadLine: (msg: string) => void,
  size = 2000,
  // the extension's queue.max_line_bytes: a line it would reject is not learned or scored here either
  maxLineBytes?: number,
  // lines the extension takes in but does not score (extension/own-output.ts notScored)
  skip?: (rows: readonly ResultRow[]) => boolean,
): AsyncGenerator<ResultRow[]> {
  for (const f of files) checkInputFile(f, 'learnt');
  let pending: string[] = [];
  let goodIn = '';
  const counted = async function* (): AsyncGenerator<LogItem> {
    for await (const item of readResultLogs([...files], { maxLineBytes })) {
      stats.lines++;
      if (item.rows && skip?.(item.rows)) {
        stats.skipped++;
        continue;
      }
      if (item.rows) {
        stats.rows += item.rows.length;
        if (goodIn !== item.file) {
          goodIn = item.file;
          for (const msg of pending) onBadLine(msg);
          pending = [];
        }
      }
      yield item;
    }
  };
  yield* rowBatches(counted(), size, (item) => {
    stats.errors++;
    const msg = item.error.message;
    if (/not osquery results output/.test(msg)) throw new CliError(msg, EXIT.dataerr);
    if (goodIn === item.file) onBadLine(msg);
    else pending.push(msg);
  });
  for (const msg of pending) onBadLine(msg);
}

const GZIP_MAGIC = [0x1f, 0x8b];

/**
 * The input files, each checked (checkInputFile) and each named once: the same file given
 * twice in one command (`--log a.log --log a.log`, `./a.log` and `a.log`, a link or a hard link
 * to it) was read twice, and its rows scored or learnt twice (a user's routine counted double,
 * or `score` printing every row twice). A file is known by the device and inode of the
 * descriptor its check opened, which is the file the links lead to (links are followed, where
 * checkInputFile's untrustedPlace lets them be); a repeat is said on stderr and left out.
 */
export function distinctInputs(files: readonly string[], use: 'learnt' | 'read', log: LogFn): string[] {
  const first = new Map<string, string>();
  const out: string[] = [];
  for (const f of files) {
    const { dev, ino } = checkInputFile(f, use);
    const key = `${dev}:${ino}`;
    const named = first.get(key);
    if (named === undefined) {
      first.set(key, f);
      out.push(f);
    } else log('warn', `${f} is ${named} again (the same file: device ${dev}, inode ${ino}): read once`);
  }
  return out;
}

/**
 * a missing, unreadable, non-file, binary or falsely named .gz input is one clear CliError;
 * else the identity (fstat) of the file its check opened and read
 */
export function checkInputFile(file: string, use: 'learnt' | 'read' = 'read'): { dev: bigint; ino: bigint } {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot read it (${code})`, EXIT.noinput);
  }
  if (st.isDirectory()) throw new CliError(`${file}: is a directory; name the results logs in it (for example ${path.join(file, '*.log')})`, EXIT.noinput);
  if (!st.isFile()) throw new CliError(`${file}: not a regular file`, EXIT.noinput);
  // What train and score learn decides what the models take for normal, as the config and the
  // fleet prior do, which are refused on the same terms: a log another user can write (theirs,
  // one everyone may write, or one in a directory where they could swap it) lets them make
  // their own rows normal for every account before root trains on it
  const untrusted = use === 'learnt' ? (untrustedPlace(file) ?? untrustedFile(st, file)) : null;
  if (untrusted) throw new CliError(`${file}: not learnt from: ${untrusted} (its rows would become every subject's normal)`, EXIT.noinput);
  const head = Buffer.alloc(4096);
  let n: number;
  let id: { dev: bigint; ino: bigint };
  try {
    const fd = fs.openSync(file, 'r');
    try {
      // (bigint: an inode number may pass 2^53)
      const { dev, ino } = fs.fstatSync(fd, { bigint: true });
      id = { dev, ino };
      n = fs.readSync(fd, head, 0, head.length, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    throw new CliError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code})`, EXIT.noinput);
  }
  const bytes = head.subarray(0, n);
  if (file.endsWith('.gz')) {
    if (n < 2 || bytes[0] !== GZIP_MAGIC[0] || bytes[1] !== GZIP_MAGIC[1]) throw new CliError(`${file}: named .gz but not gzip data`, EXIT.dataerr);
    return id;
  }
  if (looksBinary(bytes))
    throw new CliError(`${file}: binary data, not osquery results output (expected JSON lines, a JSON array or .gz of either)`, EXIT.dataerr);
  return id;
}

/** NUL bytes or many control characters: not a text log (UTF-8 text has neither) */
function looksBinary(bytes: Uint8Array): boolean {
  let control = 0;
  for (const b of bytes) {
    if (b === 0) return true;
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) control++;
  }
  return control > bytes.length / 100;
}

/**
 * control characters of untrusted text made visible, so an error never drives the terminal:
 * C0 but tab and newline, and the hidden characters of extension/hidden-chars.ts (DEL, C1,
 * bidi controls, format characters), as cellText (a message is several lines: newline and tab stay)
 */
export function printable(text: string): string {
  return showHidden(text);
}

/**
 * A table cell's text on one line and inert: every C0 control character (newline and tab
 * too: a cell is one line) and the hidden characters (extension/hidden-chars.ts: C1, bidi
 * overrides that reorder what a terminal shows, characters that show nothing).
 * Cells hold what the watched hosts sent (a program a local user named, a command line), and
 * printed raw they drive the reader's terminal or forge rows. The extension's tables show
 * their cells by the same rule (oneLine).
 */
export function cellText(text: string): string {
  return oneLine(text);
}

/**
 * JSON.stringify(value) for a terminal: it escapes U+0000–U+001F only, and the other
 * characters cellText escapes (DEL, the C1 controls, among them CSI U+009B that xterm obeys
 * like ESC [, line and paragraph separators, bidi overrides, characters that draw nothing) went
 * out raw in the JSON lines `score` prints by default. Outside strings JSON has none of them, so each becomes a \u
 * escape and the JSON means the same.
 */
export function jsonText(value: unknown): string {
  return jsonShown(JSON.stringify(value));
}

/** print rows as osqueryi prints a result set */
export function table(rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[], maxWidth = 80): string {
  const cell = (v: unknown) => {
    const s = cellText(v === null || v === undefined ? '' : String(v));
    return s.length > maxWidth ? `${s.slice(0, maxWidth - 1)}…` : s;
  };
  // folded, not spread as arguments: a busy host's log gives more rows than V8 takes (~125,000)
  const widths = columns.map((c) => rows.reduce((w, r) => Math.max(w, cell(r[c]).length), c.length));
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (vals: string[]) => `| ${vals.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`;
  return [rule, line([...columns]), rule, ...rows.map((r) => line(columns.map((c) => cell(r[c])))), rule].join('\n') + '\n';
}
