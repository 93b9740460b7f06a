import * as fs from 'fs';
import * as path from 'path';
import type { LogFn } from '../conf/log';
import { APPEND, quarantine, READ, replaceFile, writeAll } from './atomic';

// Which retained records an answer on the alert route sent (Retained's `answered` marks), kept
// across restarts: without them, a restart after an hour of one user's flood of distinct bad
// events had every one of them answered again, 117,989 rows to the SIEM in the hour after
// (`scripts/alert-burst.js --restart`). A record is named by its segment's number and its byte
// offset in it, which never change (segments are only appended to, and cut only at a torn tail
// as they are loaded): an append-only file of one float64 key per mark, rewritten with the live
// marks once it holds mostly retired ones. Nothing here is synced: a lost or damaged file costs
// repeats of rows sent before, never a row hidden. A key that names no record loaded is dropped
// from the file at load (keepOnly), before a later record can take its place.

export const ANSWERED_FILE = 'answered.bin';
const KEY_BYTES = 8;
/** a file larger than this is not one a store wrote (a million live marks are 8 MB) */
const MAX_FILE_BYTES = 64 << 20;
/** the file is rewritten once it holds this many keys and more than twice the live marks */
const REWRITE_FROM = 65_536;

/** the key of a record: its segment (< 2^20) and offset (< 2^33) in one exact float64; -1 past them */
export function markKey(segment: number, offset: number): number {
  return segment < 2 ** 20 && offset < 2 ** 33 ? segment * 2 ** 33 + offset : -1;
}

export class AnswerMarks {
  private readonly file: string;
  private fd = -1;
  /** keys in the file */
  private keys = 0;
  private checkAt = REWRITE_FROM;
  private pending: number[] = [];
  /** closed with its store: a mark made after (an answer delivered as the store closed) is dropped */
  private closed = false;

  constructor(
    dir: string,
    private readonly readOnly: boolean,
    private readonly log: LogFn,
  ) {
    this.file = path.join(dir, ANSWERED_FILE);
  }

  /** the keys in the file, sorted (a link, a file too large or not a file: none, and set aside) */
  load(): Float64Array {
    let buf: Buffer;
    try {
      const fd = fs.openSync(this.file, READ | fs.constants.O_NONBLOCK);
      try {
        const st = fs.fstatSync(fd);
        if (!st.isFile() || st.size > MAX_FILE_BYTES) throw new Error(st.isFile() ? 'larger than a store writes' : 'not a regular file');
        buf = fs.readFileSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') return new Float64Array(0);
      const what = e.code === 'ELOOP' ? 'a symbolic link where a state file belongs; not followed' : `not read (${e.message})`;
      this.log(
        'warn',
        `${this.file}: ${what}, ${this.readOnly ? 'left as it is' : `moved to ${quarantine(this.file)}`}; rows answered before count as never answered`,
      );
      return new Float64Array(0);
    }
    const n = Math.floor(buf.length / KEY_BYTES);
    // a key cut by a crash (or bytes that are not keys) at the end: cut off, or every key
    // appended after it would be read across two
    if (n * KEY_BYTES !== buf.length && !this.readOnly) this.cutTo(n * KEY_BYTES);
    const keys = new Float64Array(n);
    for (let k = 0; k < n; k++) keys[k] = buf.readDoubleLE(k * KEY_BYTES);
    this.keys = n;
    this.checkAt = Math.max(REWRITE_FROM, 2 * n);
    // (NaN sorts last and matches nothing)
    return keys.sort();
  }

  private cutTo(bytes: number): void {
    try {
      const fd = fs.openSync(this.file, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
      try {
        fs.ftruncateSync(fd, bytes);
      } finally {
        fs.closeSync(fd);
      }
    } catch (err) {
      this.log('warn', `${this.file}: ${(err as Error).message}; moved to ${quarantine(this.file)}`);
    }
  }

  /** a record newly marked */
  mark(key: number): void {
    if (key >= 0 && !this.readOnly && !this.closed) this.pending.push(key);
  }

  /**
   * The marks since the last save appended; `live` gives every live mark's key when the file
   * is due a rewrite. A write that fails (a full disk) is logged and its marks dropped: they
   * cost repeats after a restart, nothing else
   */
  save(live: () => number[]): void {
    if (!this.pending.length) return;
    const keys = this.pending;
    this.pending = [];
    try {
      if (this.fd < 0) this.fd = fs.openSync(this.file, APPEND, 0o600);
      const buf = Buffer.allocUnsafe(keys.length * KEY_BYTES);
      keys.forEach((k, i) => buf.writeDoubleLE(k, i * KEY_BYTES));
      writeAll(this.fd, buf);
      this.keys += keys.length;
      if (this.keys < this.checkAt) return;
      const all = live();
      if (this.keys > 2 * all.length) this.rewrite(all);
      this.checkAt = Math.max(REWRITE_FROM, 2 * this.keys);
    } catch (err) {
      this.log('warn', `${this.file}: ${(err as Error).message}; ${keys.length} rows answered will count as never answered after a restart`);
    }
  }

  /**
   * At load, before any record is appended: the file holds the keys of loaded records only.
   * A key that names no record loaded would otherwise land on a later one at the same place,
   * never sent (a last segment set aside gives its number to the next; a segment cut at a torn
   * tail is appended to at the cut). Synced, as the records appended after it are not yet;
   * where it cannot be written the file is removed: every mark lost, none misplaced
   */
  keepOnly(keys: number[]): void {
    if (this.readOnly) return;
    try {
      this.rewrite(keys, true);
    } catch (err) {
      fs.rmSync(this.file, { force: true });
      this.keys = 0;
      this.log('warn', `${this.file}: ${(err as Error).message}; removed, rows answered before count as never answered after a restart`);
    }
  }

  private rewrite(keys: number[], sync = false): void {
    const buf = Buffer.allocUnsafe(keys.length * KEY_BYTES);
    keys.forEach((k, i) => buf.writeDoubleLE(k, i * KEY_BYTES));
    this.closeFile();
    replaceFile(this.file, (fd) => writeAll(fd, buf), sync);
    this.keys = keys.length;
  }

  close(): void {
    this.closed = true;
    this.closeFile();
  }

  private closeFile(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}
