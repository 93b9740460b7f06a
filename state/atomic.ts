import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { stringifyInPieces } from './json-pieces';
import type { LogFn } from '../conf/log';

// State files are written so that a crash at any moment leaves either the old file or the
// new one, never half of one: temp file in the same directory, fsync, rename, fsync of the
// directory. Every file says what it is and in which format version, so that a file from
// another program or another version is recognised instead of misread.
//
// The extension runs as root: every file here is opened without following a symlink, new
// files are created exclusively with mode 0600 and directories with 0700, so a link planted
// in the state directory cannot make it write (or truncate) a file elsewhere.

export const FORMAT = 'anomaly-ext';

export class StateFileError extends Error {
  constructor(
    readonly file: string,
    readonly quarantinedTo: string | null,
    detail: string,
  ) {
    super(`${file}: ${detail}${quarantinedTo ? `; moved to ${quarantinedTo}` : ''}`);
    this.name = 'StateFileError';
  }
}

const { O_WRONLY, O_RDONLY, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW, O_RDWR } = fs.constants;
/** flags for a file that must be new: never an existing file, never through a link */
export const CREATE_NEW = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
/** flags for appending to a file of ours, created if missing, never through a link */
export const APPEND = O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW;
/** flags for appending and reading back (retained-score segments) */
export const APPEND_READ = O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW;
export const READ = O_RDONLY | O_NOFOLLOW;

/** a directory of ours: created 0700 whatever the umask */
export function makeDir(dir: string): void {
  // one level at a time: Node's recursive mkdir never returns where mkdir answers ENOENT
  // with the parent present (/proc, sysfs), so a state_dir named there would hang start-up
  const missing: string[] = [];
  for (let d = path.resolve(dir); !fs.existsSync(d);) {
    missing.unshift(d);
    const up = path.dirname(d);
    if (up === d) break;
    d = up;
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d, { mode: 0o700 });
    } catch (err) {
      // another creator won the race; anything else there (a dangling link) is an error, as before
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !isDir(d)) throw err;
    }
  }
  if (!missing.length && !isDir(dir)) throw Object.assign(new Error(`EEXIST: file already exists, mkdir '${dir}'`), { code: 'EEXIST' });
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** the whole file, not through a link (ELOOP if it is one) */
export function readNoFollow(file: string): Buffer {
  const fd = fs.openSync(file, READ);
  try {
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** write all of `data` at the fd's position, or throw having written nothing the caller keeps */
export function writeAll(fd: number, data: string | Buffer): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
}

/**
 * writeAll for a string, without a Buffer of it for the collector to free: node encodes it
 * into memory of its own, freed as the call returns. A short write (which a regular file
 * makes only when the disk is full, and then the next write fails) writes the rest as bytes.
 */
function writeString(fd: number, text: string): void {
  const written = fs.writeSync(fd, text);
  if (written < Buffer.byteLength(text)) writeAll(fd, Buffer.from(text).subarray(written));
}

function stateFileHeader(kind: string, version: number): string {
  return `{"format":${JSON.stringify(FORMAT)},"kind":${JSON.stringify(kind)},"version":${version},"written":${Math.floor(Date.now() / 1000)},"payload":`;
}

function tmpFileFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
}

/** a copy tmpFileFor names (not the state lock's own, state/lock.ts, which another process may be about to link) */
const COPY = /^\.(?!lock\.).+\.[0-9a-f]{12}\.tmp$/;
/** the directories of a state directory that state files are written in */
const STATE_SUBDIRS = ['.', 'subjects', 'windows', path.join('windows', 'subjects'), path.join('windows', 'pools'), 'queue', 'window-scores', 'scores'];

/** removeLeftoverCopies, saying what it removed: for the extension, `anomaly score` and `train`, each once it holds the lock */
export function clearLeftoverCopies(stateDir: string, log: LogFn): void {
  const left = removeLeftoverCopies(stateDir);
  if (left.files)
    log(
      'warn',
      `removed ${left.files} copies of state files (${left.bytes} bytes) left by a stop in the middle of a save; the files they were to replace are as last saved`,
    );
}

/**
 * Remove the copies that writes killed in the middle left in `stateDir` (a SIGKILL while the
 * subjects are saved, a power loss): each is up to a host baseline's 15–20 MB, and nothing
 * else ever removes one. Only for the holder of the state directory's lock, before it writes
 * anything: another writer's copy in progress would otherwise be taken away. Links and
 * anything but a regular file are unlinked, never followed; a subdirectory that is a link is
 * skipped.
 */
export function removeLeftoverCopies(stateDir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const sub of STATE_SUBDIRS) {
    const dir = path.join(stateDir, sub);
    let names: string[];
    try {
      if (!fs.lstatSync(dir).isDirectory()) continue;
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!COPY.test(name)) continue;
      const file = path.join(dir, name);
      try {
        const st = fs.lstatSync(file);
        if (st.isDirectory()) continue;
        fs.unlinkSync(file);
        files++;
        if (st.isFile()) bytes += st.size;
      } catch {
        /* gone meanwhile, or not ours to remove: left */
      }
    }
  }
  return { files, bytes };
}

export function writeStateFile(file: string, kind: string, version: number, payload: unknown): void {
  const dir = path.dirname(file);
  makeDir(dir);
  replaceFile(file, (fd) => {
    writeAll(fd, stateFileHeader(kind, version));
    // in pieces: a host baseline's window is 15–20 MB of JSON (json-pieces.ts); of 64 k
    // characters, so that each piece and its bytes die young instead of in the old generation
    if (!stringifyInPieces(payload, (piece) => writeString(fd, piece))) throw new TypeError(`${kind} state is not JSON`);
    writeAll(fd, '}\n');
  });
  fsyncDir(dir);
}

/**
 * Write `file` anew: a new file beside it (O_EXCL, so never an existing one and never through
 * a link), mode 0600, filled by `fill`, synced unless `sync` is false, and renamed over `file`.
 * On any error the copy is removed and `file` is as it was. The caller syncs the directory
 * when the rename must survive a crash.
 */
export function replaceFile(file: string, fill: (fd: number) => void, sync = true): void {
  const tmp = tmpFileFor(file);
  const fd = fs.openSync(tmp, CREATE_NEW, 0o600);
  let open = true;
  try {
    fill(fd);
    if (sync) fs.fsyncSync(fd);
    open = false;
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
  } catch (err) {
    // closed once only: once closed, the number may already be another file's (libuv's pool
    // and the scorer's thread open files meanwhile), and a second close would close that one
    if (open) {
      try {
        fs.closeSync(fd);
      } catch {
        /* the disk's error is the one to report */
      }
    }
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * writeStateFile for a thread that must not wait on the disk (the one that answers osqueryd):
 * the same file, written the same way, with the writes and fsyncs in libuv's pool. The
 * rename alone is done on the calling thread, right after `abandon()` is asked: a caller
 * that wrote the file itself in the meantime (a synchronous save at close) says so, and
 * this older content is dropped rather than renamed over it. Resolves false when abandoned.
 * The directory must exist.
 */
export async function writeStateFileInBackground(file: string, kind: string, version: number, payload: unknown, abandon: () => boolean): Promise<boolean> {
  const tmp = tmpFileFor(file);
  const data = `${stateFileHeader(kind, version)}${JSON.stringify(payload)}}\n`;
  const handle = await fs.promises.open(tmp, CREATE_NEW, 0o600);
  let open = true;
  try {
    await handle.writeFile(data);
    await handle.sync();
    // a close that fails (the error of a deferred write: EIO on NFS, a quota) leaves a copy
    // not to be trusted; it is removed like any other failed copy, as replaceFile does, and
    // the handle is not closed a second time
    open = false;
    await handle.close();
  } catch (err) {
    if (open) await handle.close().catch(() => {});
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  if (abandon()) {
    await fs.promises.rm(tmp, { force: true });
    return false;
  }
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDirInBackground(path.dirname(file));
  return true;
}

/** fsyncDir in libuv's pool; never rejects (some filesystems refuse directory fsync) */
export async function fsyncDirInBackground(dir: string): Promise<void> {
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(dir, READ);
    await handle.sync();
  } catch {
    /* the rename is still atomic */
  } finally {
    await handle?.close().catch(() => {});
  }
}

/**
 * The payload of a state file, or undefined when there is none. A corrupt, foreign or
 * incompatible file is moved to `<dir>/quarantine/` and reported with a StateFileError;
 * `readOnly` (a command that only reads, such as `anomaly report`) leaves it where it is.
 */
export function readStateFile(file: string, kind: string, version: number, validate?: PayloadCheck, readOnly = false): unknown {
  const moveAside = () => (readOnly ? null : quarantine(file));
  let text: string;
  try {
    text = readNoFollow(file).toString('utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new StateFileError(file, moveAside(), 'is a symbolic link, not a state file; not followed');
    throw new StateFileError(file, null, `cannot read: ${(err as Error).message}`);
  }
  return parseStateFile(text, file, kind, version, validate, moveAside);
}

/**
 * A state file that is not ours but the administrator's (a fleet prior): read through a link
 * as a configuration management tool or a Kubernetes ConfigMap places it, trusted only if
 * `trust` finds nothing wrong with the file opened (checked on its descriptor), and never moved
 * when it is bad: it may be on every host, or on a read-only mount.
 */
export function readForeignStateFile(file: string, kind: string, version: number, trust: (st: fs.Stats) => string | null, validate?: PayloadCheck): unknown {
  let text: string;
  try {
    // without waiting: a FIFO no one writes to is refused by `trust` instead of blocking
    const fd = fs.openSync(file, O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const problem = trust(fs.fstatSync(fd));
      if (problem) throw new StateFileError(file, null, `not loaded: ${problem}`);
      text = fs.readFileSync(fd).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    if (err instanceof StateFileError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateFileError(file, null, `cannot read: ${(err as Error).message}`);
  }
  return parseStateFile(text, file, kind, version, validate, () => null);
}

function parseStateFile(
  text: string,
  file: string,
  kind: string,
  version: number,
  validate: PayloadCheck | undefined,
  moveAside: () => string | null,
): unknown {
  let doc: { format?: unknown; kind?: unknown; version?: unknown; payload?: unknown };
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new StateFileError(file, moveAside(), `corrupt (not complete JSON: ${(err as Error).message})`);
  }
  if (!doc || typeof doc !== 'object' || doc.format !== FORMAT) {
    throw new StateFileError(file, moveAside(), `not an ${FORMAT} state file`);
  }
  if (doc.kind !== kind) {
    throw new StateFileError(file, moveAside(), `holds ${JSON.stringify(doc.kind)} state where ${JSON.stringify(kind)} was expected`);
  }
  if (doc.version !== version) {
    throw new StateFileError(file, moveAside(), `format version ${JSON.stringify(doc.version)}, this build reads version ${version}`);
  }
  const problem = validate?.(doc.payload);
  if (problem) throw new StateFileError(file, moveAside(), `invalid ${kind} state: ${problem}`);
  return doc.payload;
}

/** null when the payload is well formed, else what is wrong with it (see state/schema.ts) */
export type PayloadCheck = (payload: unknown) => string | null;

/**
 * move a bad file aside, keeping it for inspection; returns where it went. Into quarantine/
 * beside it, or, when that cannot be made (a full disk refuses the mkdir; something else
 * has the name), renamed beside it, which needs no new directory: left in place under its
 * own name, a queue segment was removed as the cursor passed it, bytes and all, and any
 * other file was read again at the next start. The new name (the old one, the time and a
 * random part) never ends as the names the stores read do (.log, .json, .jsonl)
 */
export function quarantine(file: string): string | null {
  const dir = path.join(path.dirname(file), 'quarantine');
  // the time says when; the random part keeps two quarantines in one millisecond apart
  const name = `${path.basename(file)}.${new Date().toISOString().replace(/[:.]/g, '-')}.${randomBytes(3).toString('hex')}`;
  for (const target of [path.join(dir, name), path.join(path.dirname(file), name)]) {
    try {
      if (target.startsWith(dir + path.sep)) makeDir(dir);
      fs.renameSync(file, target);
      return target;
    } catch {
      /* the next place, or none */
    }
  }
  return null;
}

export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, READ);
    fs.fsyncSync(fd);
  } catch {
    /* some filesystems refuse directory fsync; the rename is still atomic */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * An append-only JSON-lines file (feedback, segments): appends are written at once and
 * fsynced on a short timer and on close, so a burst of appends costs one fsync.
 *
 * A full disk takes part of a line and refuses the rest: the part is cut off again, or the
 * next record would be glued to it and both skipped as one corrupt line when the file is
 * read, losing a record that was acknowledged. A file whose last line is torn already (a
 * crash mid-write) gets a newline first, for the same reason.
 */
export class JsonlAppender {
  private fd: number;
  /** bytes in the file: the whole lines written so far */
  private size: number;
  private dirty = false;
  private timer: NodeJS.Timeout;

  constructor(
    readonly file: string,
    syncEveryMs = 200,
  ) {
    makeDir(path.dirname(file));
    this.fd = fs.openSync(file, APPEND_READ, 0o600);
    try {
      this.size = fs.fstatSync(this.fd).size;
      if (this.size > 0) {
        const last = Buffer.alloc(1);
        fs.readSync(this.fd, last, 0, 1, this.size - 1);
        if (last[0] !== 10) this.write('\n');
      }
    } catch (err) {
      fs.closeSync(this.fd);
      throw err;
    }
    this.timer = setInterval(() => this.sync(), syncEveryMs);
    this.timer.unref();
  }

  append(record: unknown): void {
    if (this.fd < 0) throw new Error(`${this.file}: appended to after close`);
    this.write(`${JSON.stringify(record)}\n`);
    this.dirty = true;
  }

  /** all of `text` or, having cut back what was written of it, an exception */
  private write(text: string): void {
    const data = Buffer.from(text);
    try {
      writeAll(this.fd, data);
    } catch (err) {
      try {
        fs.ftruncateSync(this.fd, this.size);
      } catch {
        /* the disk refuses even this: readJsonl skips the torn line */
      }
      throw err;
    }
    this.size += data.length;
  }

  sync(): void {
    if (!this.dirty || this.fd < 0) return;
    try {
      fs.fsyncSync(this.fd);
      this.dirty = false;
    } catch {
      /* a failing disk: tried again on the next tick and on close */
    }
  }

  close(): void {
    if (this.fd < 0) return;
    clearInterval(this.timer);
    this.sync();
    // the number is given back to the process: an append after this must not write into
    // whatever file is opened next under it
    const fd = this.fd;
    this.fd = -1;
    fs.closeSync(fd);
  }
}

/** records of a JSON-lines file; a torn or corrupt line is skipped and reported */
export function readJsonl<T>(file: string, warn: (msg: string) => void = () => {}, check: PayloadCheck = () => null): T[] {
  return [...jsonlRecords<T>(file, warn, check)];
}

/** readJsonl's records one at a time, so that a caller may pause between them */
export function* jsonlRecords<T>(file: string, warn: (msg: string) => void = () => {}, check: PayloadCheck = () => null): Generator<T, void, void> {
  let text: string;
  try {
    text = readNoFollow(file).toString('utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ELOOP') {
      warn(`${file}: a symbolic link where a state file belongs; not followed, moved to ${quarantine(file)}`);
      return;
    }
    throw err;
  }
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]) continue;
    let record: unknown;
    try {
      record = JSON.parse(lines[i]);
    } catch {
      warn(`${file}:${i + 1}: skipped a ${i === lines.length - 1 ? 'torn last' : 'corrupt'} line`);
      continue;
    }
    const problem = check(record);
    if (problem) warn(`${file}:${i + 1}: skipped a line that is not a record: ${problem}`);
    else yield record as T;
  }
}

/**
 * Why a file root is about to trust (the config, a fleet prior) could have been written by
 * anyone, or null: it must belong to root or to the user reading it, and not be writable by
 * everyone. Whoever can edit the config can switch detection off for everyone (a query
 * ignored, a model off) or point state_dir anywhere. The rule is osqueryd's for extension
 * binaries; a group-writable file passes, as there (umask 002 is common with per-user groups).
 */
export function untrustedFile(st: fs.Stats, file: string): string | null {
  // a FIFO (opened without waiting, then read as long as its writer likes) or a device
  // (/dev/zero read whole never ends) is not an administrator's file
  if (!st.isFile()) return `${file} is not a regular file`;
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== 0 && st.uid !== uid)
    return `${file} is owned by uid ${st.uid}, neither root nor the user reading it (uid ${uid}); chown it`;
  if (st.mode & 0o002) return `${file} is writable by everyone (mode ${(st.mode & 0o777).toString(8)}); chmod o-w it`;
  return null;
}
