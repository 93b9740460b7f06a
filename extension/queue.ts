import * as fs from 'fs';
import * as path from 'path';
import {
  APPEND,
  CREATE_NEW,
  fsyncDir,
  fsyncDirInBackground,
  makeDir,
  quarantine,
  READ,
  readStateFile,
  writeAll,
  writeStateFile,
  writeStateFileInBackground,
} from '../state/atomic';
import { randomBytes } from 'crypto';
import { checkCursor, checkEpoch } from '../state/schema';
import type { LineMarks } from '../scorer/types';
import { zeroCounters, type IngestCounters, type PersistedCounters } from './counters';
import { Throttled, type LogFn } from './log';

// The durable queue between the logger's answer and the scorer. A result line is appended
// to a segment file before osqueryd gets its answer, so a crash, SIGTERM or a restarted
// scorer loses nothing that was accepted; the consumer commits what it has scored, and
// everything after the committed position is replayed on the next start.
//
// Appends go to the OS page cache at once and are fsynced on a short timer and on close:
// an fsync per line would cap ingest at the disk's sync rate, and a process crash (the
// common case) loses nothing that reached the page cache. Only a power loss can cost the
// last ~200 ms, which osqueryd's own filesystem log shares.
//
// The timer's work (the fsync, the cursor's save, a finished segment's fsync and close, a
// consumed segment's removal) runs in libuv's thread pool, never on the event loop that
// answers osqueryd: on a busy disk the fsyncs took 11 to 30 ms on average (up to 171 ms), every 200 ms, and each call
// that arrived meanwhile waited that long for its answer. The append itself stays a
// synchronous write, so a line is in the page cache before its answer is sent.
//
// A disk that is full or refuses writes never becomes an exception on a timer: a line that
// cannot be appended is refused (the caller counts it dropped), the cursor is written again
// on the next tick, and appends simply work again once there is space.
//
// The line counters (extension/counters.ts) are saved in the cursor file, in the same write
// as the position they belong to, so after any stop they still add up.

const SEGMENT_BYTES = 16 * 1024 * 1024;
/**
 * Lines held in memory for the consumer. A backlog beyond it (a scorer paced under the
 * watchdog's CPU limit falls behind a burst; queue.max_bytes is 256 MB by default) stays in
 * its segments and is read back a chunk at a time: held in full, 240 MB of backlog took
 * 478 MB of resident memory, past the watchdog's 200 MB of growth, and all of it was read
 * before the extension registered.
 */
const MEMORY_BYTES = 8 * 1024 * 1024;
/** how much of a segment one read takes in; a longer line takes a larger read */
const CHUNK_BYTES = 256 * 1024;
const readBuffer = Buffer.allocUnsafe(CHUNK_BYTES);
/**
 * Reads of a backlog segment that fail in a row (an I/O error) before it is moved aside, and
 * the first wait between them; it doubles up to the last: about two minutes in all.
 */
const READ_TRIES = 6;
const READ_RETRY_MS = 2_000;
const MAX_READ_RETRY_MS = 60_000;
const CURSOR_KIND = 'queue-cursor';
/** the last segment number a file name holds (eight digits), less one for a segment after it */
const MAX_SEGMENT = 99_999_998;
const EPOCH_KIND = 'queue-epoch';
/** a failing disk is reported once a minute, not once a line */
const REPORT_EVERY_MS = 60_000;

interface Entry {
  line: string;
  segment: number;
  /** byte position just after this line in its segment */
  end: number;
  /** the line's bytes, its newline included */
  bytes: number;
}

/** lines of one segment that are on disk only, not yet read back */
interface Unread {
  segment: number;
  lines: number;
  /** their bytes, newlines included: given back to max_bytes if they cannot be read back */
  bytes: number;
}

/**
 * Where the consumer keeps what it made of the lines (the retained scores and windows). A
 * commit comes after the lines' results are written, and the cursor is saved every 200 ms,
 * while the results' files were synced only at close: after a power loss the cursor could
 * be past lines whose results the disk never got, and those lines were lost for good. So the
 * results are synced before each save of the cursor, when something was written since.
 */
export interface DurableResults {
  /** make what was written so far durable, in libuv's pool; rejects if the disk fails */
  syncInBackground(): Promise<void>;
  /** the same, at once; throws if the disk fails */
  flush(): void;
}

interface Cursor {
  segment: number;
  position: number;
  counters?: Partial<PersistedCounters>;
}

export class QueueWriteError extends Error {}

export class DurableQueue {
  /** line counters; the ingest updates them, the queue persists them */
  readonly counters: IngestCounters = zeroCounters();
  private pending: Entry[] = [];
  private head = 0;
  /** entries handed to the consumer and not yet committed */
  private inFlight = 0;
  /** where the last take() began in `pending` */
  private takenFrom = 0;
  private bytes = 0;
  /** bytes of the lines in `pending` from `head` on */
  private held = 0;
  /**
   * The backlog not in memory, oldest first: once one line goes to disk only, every later
   * one does too, until all are read back, so the order of lines is the order of appends.
   */
  private unread: Unread[] = [];
  private unreadLines = 0;
  /** where the first line not read back begins, in unread[0]'s segment */
  private unreadFrom = 0;
  /** reads of unread[0]'s segment that failed in a row, and when the next may be tried */
  private readFailures = 0;
  private readRetryAt = 0;
  private segment = 0;
  private fd = -1;
  private size = 0;
  private dirty = false;
  private timer: NodeJS.Timeout;
  private cursor: Cursor = { segment: 0, position: 0 };
  private cursorDirty = false;
  /** segments written to their end: fsynced, then closed, by the next flush */
  private retired: number[] = [];
  /** a segment was created since the directory was last fsynced */
  private dirDirty = false;
  /** the flush under way in the background, if any */
  private background: Promise<void> | null = null;
  private closed = false;
  /** cursor saves made on the calling thread: a background save begun before one is dropped */
  private cursorSaves = 0;
  /**
   * Names this queue's positions: a line's segment and end are unique under one epoch, and
   * grow as lines are appended. A subject records the last position it learned (scorer/
   * subject.ts), so a line replayed after a crash is scored but not learned again. Made anew
   * whenever positions could repeat (a new or emptied queue, a damaged cursor or segment):
   * a subject's mark of another epoch is then ignored, and a replayed line may be learned
   * twice rather than a new line never.
   */
  epoch = '';
  /** the first segment appended to since this start: lines before it were accepted before (LineMarks.since) */
  private since = 0;
  /** the error that stops appends, until one succeeds again */
  private failing: string | null = null;
  /** where the consumer keeps what it made of the lines: made durable before the cursor passes them */
  private results: readonly DurableResults[] = [];
  private readonly say: Throttled;

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
    private readonly log: LogFn = () => {},
    private readonly memoryBytes = MEMORY_BYTES,
    /** the clock the waits between read-back tries go by (a test's own) */
    readonly now: () => number = Date.now,
  ) {
    this.say = new Throttled(log, REPORT_EVERY_MS);
    makeDir(dir);
    this.recover();
    this.timer = setInterval(() => void this.flushInBackground(), 200);
    this.timer.unref();
  }

  get length(): number {
    return this.pending.length - this.head + this.unreadLines;
  }

  /** bytes of queued lines held in memory (the rest waits in the segments) */
  get heldBytes(): number {
    return this.held;
  }

  /** why appends fail now, or null */
  get problem(): string | null {
    return this.failing;
  }

  private segmentFile(n: number): string {
    return path.join(this.dir, `${String(n).padStart(8, '0')}.log`);
  }

  /** replay what was accepted but not committed before the last stop */
  private recover(): void {
    const cursorFile = path.join(this.dir, 'cursor.json');
    const epochFile = path.join(this.dir, 'epoch.json');
    /** positions may repeat ones handed out before: a new epoch */
    let renew = false;
    try {
      const e = readStateFile(epochFile, EPOCH_KIND, 1, checkEpoch) as { epoch: string } | undefined;
      if (e) this.epoch = e.epoch;
    } catch (err) {
      this.log('error', `${(err as Error).message}; lines replayed now may be learned a second time`);
    }
    try {
      const c = readStateFile(cursorFile, CURSOR_KIND, 1, checkCursor) as Cursor | undefined;
      if (c) this.cursor = c;
    } catch (err) {
      this.log('error', `${(err as Error).message}; replaying the whole queue (rows may be scored twice, none is lost)`);
    }
    Object.assign(this.counters, this.cursor.counters ?? {});
    const segments = fs
      .readdirSync(this.dir)
      .filter((f) => /^\d{8}\.log$/.test(f))
      .map((f) => Number(f.slice(0, 8)))
      .sort((a, b) => a - b);
    const newest = segments[segments.length - 1] ?? 0;
    /** new lines go past this segment, so that no position they get was handed out before */
    let handedOut = newest;
    if (segments.length && this.cursor.segment > newest) {
      // A cursor past every segment (a damaged number, or its segments removed behind the
      // queue's back) replays them all. The positions of the lines in them are as they were,
      // so they keep their epoch: the subjects', windows' and retained rows' marks recognise
      // what was learnt, taken in and kept before (a new epoch kept every row of a long replay
      // twice, the retained rows falling back to the ids of the last 50,000). What the cursor
      // names may have been handed out, so new lines go past it; a number too large to name a
      // segment after it cannot, and starts a new epoch as before.
      const past = this.cursor.segment < MAX_SEGMENT;
      this.log(
        'error',
        `${cursorFile}: points at segment ${this.cursor.segment}, but the newest is ${newest}; replaying the whole queue (${past ? 'rows scored before are recognised by their places in it' : 'rows may be scored twice'}, none is lost)`,
      );
      if (past) handedOut = this.cursor.segment;
      else renew = true;
      this.cursor = { segment: 0, position: 0 };
    }
    // No segment left: nothing is replayed, so no subject's mark needs to hold, and a new
    // epoch costs nothing. Going on after the cursor's numbers alone was not enough: the
    // cursor is saved at most every 200 ms, and one left in an older segment than the lines
    // learned (a kill just after the queue moved to a new segment, then the backlog cleared)
    // placed new lines before the subjects' marks, taken for lines learned already
    if (!segments.length) {
      this.segment = this.cursor.segment;
      renew = true;
    }
    for (const n of segments) {
      const file = this.segmentFile(n);
      if (n < this.cursor.segment) {
        fs.rmSync(file, { force: true });
        continue;
      }
      let fd: number;
      try {
        fd = fs.openSync(file, READ);
      } catch (err) {
        const to = quarantine(file);
        this.counters.set_aside++;
        this.log('error', `${file}: cannot read a queue segment (${(err as Error).message}); moved to ${to}, counted as one line set aside`);
        continue;
      }
      // what this segment adds, taken back if it cannot be read to its end
      const before = { pending: this.pending.length, held: this.held, bytes: this.bytes, unread: this.unread.length, unreadLines: this.unreadLines };
      let lines = 0;
      let failed: Error | null = null;
      try {
        const size = fs.fstatSync(fd).size;
        let pos = 0;
        if (n === this.cursor.segment) {
          pos = this.startOf(file, fd, size, this.cursor.position);
          if (pos !== this.cursor.position) renew = true;
        }
        if (size === 0) {
          // (each start begins a segment: empty ones would pile up over restarts without lines;
          // its number is not used again, as new segments go after the newest seen)
          fs.rmSync(file, { force: true });
          continue;
        }
        const end = scanLines(fd, pos, (chunk, start, nl, next) => {
          const bytes = nl + 1 - start;
          this.bytes += bytes;
          lines++;
          if (this.holds(bytes)) this.hold(chunk.toString('utf8', start, nl), n, next, bytes);
          else this.addUnread(n, next - bytes, bytes);
          return true;
        });
        if (end < size) this.setAsideTail(file, fd, end, size);
      } catch (err) {
        failed = err as Error;
      } finally {
        fs.closeSync(fd);
      }
      if (failed) {
        // An I/O error part way (EIO from a failing disk) threw out of the constructor: the
        // extension could not start, and osqueryd restarted it into the same error, with no
        // logger meanwhile. The segment is moved aside whole, its bytes kept for a person, and
        // none of its lines replayed (those read before the error are in that file too). The
        // lines past the error are not known: at least one is counted, as for a segment that
        // cannot be opened
        this.pending.length = before.pending;
        this.held = before.held;
        this.bytes = before.bytes;
        this.unread.length = before.unread;
        this.unreadLines = before.unreadLines;
        const to = quarantine(file);
        const counted = Math.max(1, lines);
        this.counters.set_aside += counted;
        this.log(
          'error',
          `${file}: cannot read a queue segment (${failed.message}) after ${lines} lines; ${to ? `moved to ${to} with all its bytes` : 'it could not be moved aside either and stays in place'}, counted as ${counted} lines set aside (lines past the error, if any, are not known)`,
        );
        continue;
      }
      this.segment = n;
    }
    // the counters were saved with the cursor: what the queue holds now is what is queued,
    // and lines appended after that save were accepted
    this.counters.queued = this.length;
    this.counters.accepted = this.counters.scored + this.counters.queued + this.counters.dropped + this.counters.set_aside;
    this.counters.received = this.counters.accepted + this.counters.rejected;
    if (this.length) this.log('info', `queue: ${this.length} accepted lines from before the last stop will be scored`);
    if (renew || !this.epoch) this.newEpoch(epochFile);
    // New lines go into a segment after the newest seen, never on at the end of one: a
    // subject may have learned lines that are no longer there, and its mark must stay below
    // every new line. The newest segment set aside unreadable (a link planted in its place, a
    // failing disk) had new lines continue the last one read, or segment 0; its last lines
    // lost (a power loss within the 200 ms between its syncs, while the subject that learned
    // them was saved and synced) had new lines take their places. Either way they were
    // taken for lines learned already, under the same epoch. (One more segment per start;
    // a consumed one is removed as the cursor passes it.)
    this.since = Math.max(this.segment, handedOut) + 1;
    this.openSegment(this.since);
  }

  /**
   * Saved before any line is scored under it, as it must outlive the cursor (which may fail
   * to save for a long while). A disk that refuses it leaves the epoch in memory only: after
   * a restart the lines replayed may be learned twice, which is what a damaged queue costs.
   */
  private newEpoch(file: string): void {
    this.epoch = randomBytes(8).toString('hex');
    try {
      writeStateFile(file, EPOCH_KIND, 1, { epoch: this.epoch });
    } catch (err) {
      // The old epoch must not outlive it: read again at the next start, it named positions
      // that may start again (an emptied queue), under which subjects still hold marks, and
      // new lines were taken for lines learned. Without a file, the next start makes a new one.
      // (unlink needs no free space)
      let removed = true;
      try {
        fs.rmSync(file, { force: true });
      } catch {
        removed = false;
      }
      this.log(
        'error',
        `queue: cannot save ${file} (${(err as Error).message}); lines replayed after a restart may be learned a second time${removed ? '' : ', and the old epoch could not be removed either: new lines may go unlearned after a restart'}`,
      );
    }
  }

  /** where the first `n` lines of the last take() sit in the queue, for the scorer (LineMarks) */
  marks(n: number): LineMarks {
    const segment: number[] = [];
    const end: number[] = [];
    const from = Math.max(this.takenFrom, this.head);
    for (let i = from; i < from + n && i < this.pending.length; i++) {
      segment.push(this.pending[i].segment);
      end.push(this.pending[i].end);
    }
    return { epoch: this.epoch, segment, end, since: this.since };
  }

  /** where replay starts in the cursor's segment; a cursor that cannot be right replays it all */
  private startOf(file: string, fd: number, size: number, position: number): number {
    if (position === 0) return 0;
    if (position > size) {
      this.log(
        'error',
        `${file}: the cursor is at byte ${position}, past the end of the segment (${size} bytes); replaying the segment from its start (rows may be scored twice, none is lost)`,
      );
      return 0;
    }
    const before = Buffer.alloc(1);
    fs.readSync(fd, before, 0, 1, position - 1);
    if (before[0] !== 10) {
      this.log(
        'error',
        `${file}: the cursor at byte ${position} is not at the start of a line; replaying the segment from its start (rows may be scored twice, none is lost)`,
      );
      return 0;
    }
    return position;
  }

  /** bytes after the last newline: a line torn by a crash mid-write, or corruption */
  private setAsideTail(file: string, fd: number, pos: number, size: number): void {
    const tail = path.join(path.dirname(file), 'quarantine', `${path.basename(file)}.tail-${Date.now()}`);
    const data = Buffer.alloc(size - pos);
    fs.readSync(fd, data, 0, data.length, pos);
    let kept = 'not kept';
    try {
      makeDir(path.dirname(tail));
      const out = fs.openSync(tail, CREATE_NEW, 0o600);
      writeAll(out, data);
      fs.closeSync(out);
      kept = `kept in ${tail}`;
    } catch (err) {
      kept = `could not be kept: ${(err as Error).message}`;
    }
    fs.truncateSync(file, pos);
    this.counters.set_aside++;
    this.log(
      'warn',
      `${file}: ${data.length} bytes after the last complete line (a line torn by a crash while it was written, or a damaged file); ${kept}; counted as one line set aside`,
    );
  }

  /** continue segment `n` (recovery) or start it new */
  private openSegment(n: number, fresh = true): void {
    if (this.fd >= 0) {
      // fsynced and closed by the next flush, off the event loop
      this.retired.push(this.fd);
      this.dirty = false;
      this.fd = -1;
    }
    const file = this.segmentFile(n);
    let fd: number;
    try {
      fd = fs.openSync(file, fresh ? CREATE_NEW : APPEND, 0o600);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ELOOP') throw err;
      // something already sits where a new segment goes (a planted link): move it aside
      const to = quarantine(file);
      this.log('error', `${file}: ${code === 'ELOOP' ? 'a symbolic link' : 'a file'} where the queue writes; moved to ${to}, not followed`);
      fd = fs.openSync(file, CREATE_NEW, 0o600);
    }
    this.fd = fd;
    this.segment = n;
    this.size = fs.fstatSync(fd).size;
    // the new name is made durable by the next flush, with the lines written to it
    this.dirDirty = true;
  }

  /**
   * Append one accepted line. False when the queue is full; throws QueueWriteError when the
   * disk refuses the write (both: the caller counts the line dropped). Nothing of a failed
   * write stays in the segment.
   */
  append(line: string): boolean {
    // a line is one record: stray newlines would split it on replay
    const clean = line.indexOf('\n') >= 0 ? line.replace(/[\r\n]+/g, ' ') : line;
    const record = `${clean}\n`;
    const bytes = Buffer.byteLength(record);
    if (this.bytes + bytes > this.maxBytes) return false;
    let at: number;
    try {
      if (this.fd < 0 || (this.size + bytes > SEGMENT_BYTES && this.size > 0)) this.openSegment(this.segment + 1);
      at = this.size;
      // the string straight to write(2), encoded in C++: no Buffer per line on the JS heap.
      // At this.size, not at the descriptor's offset: a write the full disk took part of is
      // cut off again (undoPartialWrite), while the offset stayed past it, and the next line
      // went there, after a hole of NULs: its place in the queue was not where the entry
      // said, and on replay the NULs made it no line at all
      const written = fs.writeSync(this.fd, record, this.size);
      for (let done = written; done < bytes;) {
        const rest = Buffer.from(record).subarray(done);
        done += fs.writeSync(this.fd, rest, 0, rest.length, this.size + done);
      }
    } catch (err) {
      this.undoPartialWrite();
      const why = (err as Error).message;
      if (!this.failing)
        this.log(
          'error',
          `queue: cannot append to ${this.segmentFile(this.segment)} (${why}); result lines are answered and counted dropped until the disk takes writes again`,
        );
      else this.say.say('append', 'error', `queue: still cannot append (${why}); ${this.counters.dropped} lines dropped so far`);
      this.failing = why;
      throw new QueueWriteError(why);
    }
    if (this.failing) {
      this.log('info', `queue: appends work again (after: ${this.failing})`);
      this.failing = null;
    }
    this.size += bytes;
    this.bytes += bytes;
    this.dirty = true;
    if (this.holds(bytes)) this.hold(clean, this.segment, this.size, bytes);
    else this.addUnread(this.segment, at, bytes);
    return true;
  }

  /** cut the segment back to its last complete line, so replay never sees half a line */
  private undoPartialWrite(): void {
    if (this.fd < 0) return;
    try {
      fs.ftruncateSync(this.fd, this.size);
    } catch {
      /* nothing was written, or the disk refuses even this: replay sets a torn tail aside */
    }
  }

  /**
   * Up to `max` lines after those already handed out, and no more than `maxBytes` of them
   * (newlines included) unless the first line alone is longer: the first line always comes.
   */
  take(max: number, maxBytes = Infinity): string[] {
    const from = this.head + this.inFlight;
    while (this.unreadLines > 0 && this.pending.length - from < max && this.held < this.memoryBytes && this.readBack());
    this.takenFrom = from;
    const last = Math.min(this.pending.length, from + max);
    let to = from;
    for (let bytes = 0; to < last && (to === from || bytes + this.pending[to].bytes <= maxBytes); to++) bytes += this.pending[to].bytes;
    this.inFlight = to - this.head;
    return this.pending.slice(from, to).map((e) => e.line);
  }

  /**
   * The first `n` handed-out lines are done (the caller has counted them). The position after
   * them is persisted at most every 250 ms (and on close): a crash in between means a few
   * lines are scored twice on the next start, never that one is lost, and it spares an fsync
   * per batch.
   */
  commit(n: number): void {
    if (n <= 0) return;
    const last = this.pending[this.head + n - 1];
    for (let i = this.head; i < this.head + n; i++) {
      const bytes = this.pending[i].bytes;
      this.bytes -= bytes;
      this.held -= bytes;
      // the entry stays until the array is compacted below (at 10,000), its line must not:
      // kept, committed lines of 32 kB held 18 MB past a bound of 1 MB
      this.pending[i].line = '';
    }
    this.head += n;
    this.inFlight = Math.max(0, this.inFlight - n);
    this.counters.queued = this.length;
    const previous = this.cursor.segment;
    this.cursor = { segment: last.segment, position: last.end };
    // saved by the next flush (within 200 ms): a crash before it means a few lines are
    // scored twice on the next start, never that one is lost
    this.cursorDirty = true;
    // consumed segments other than the one being written go away, in the background: an
    // unlink of 16 MB frees blocks, which can take a while on a busy disk
    for (let seg = previous; seg < last.segment; seg++) fs.rm(this.segmentFile(seg), { force: true }, () => {});
    if (this.head > 10_000 && this.head > this.pending.length / 2) {
      this.pending = this.pending.slice(this.head);
      this.takenFrom = Math.max(0, this.takenFrom - this.head);
      this.head = 0;
    }
  }

  /** whether a line of `bytes` is held in memory: while nothing waits on disk (see `unread`) and there is room */
  private holds(bytes: number): boolean {
    return this.unreadLines === 0 && this.held + bytes <= this.memoryBytes;
  }

  private hold(line: string, segment: number, end: number, bytes: number): void {
    this.pending.push({ line, segment, end, bytes });
    this.held += bytes;
  }

  /** a line left in its segment (it starts at byte `start`), to be read back when taken */
  private addUnread(segment: number, start: number, bytes: number): void {
    if (this.unreadLines === 0) this.unreadFrom = start;
    const last = this.unread[this.unread.length - 1];
    if (last?.segment === segment) {
      last.lines++;
      last.bytes += bytes;
    } else this.unread.push({ segment, lines: 1, bytes });
    this.unreadLines++;
  }

  /**
   * One chunk of the backlog back into memory; false when nothing could be read now. A
   * segment that is gone (removed or replaced by a link behind the queue's back) costs its
   * unread lines, counted as set aside; running out of descriptors only delays them. Any
   * other error (EIO from a failing disk, a network filesystem that went away) is tried
   * again after a wait that doubles, and after READ_TRIES failures in a row the segment is
   * moved to quarantine/ whole: its lines are counted set aside, and its bytes kept for a
   * person, never deleted.
   */
  private readBack(): boolean {
    const first = this.unread[0];
    const file = this.segmentFile(first.segment);
    if (this.now() < this.readRetryAt) return false;
    let taken = 0;
    try {
      let fd: number;
      try {
        fd = fs.openSync(file, READ);
      } catch (err) {
        // out of descriptors (the process's or the system's) passes: the lines wait for the
        // next take, instead of a whole segment of them being set aside
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EMFILE' && code !== 'ENFILE') throw err;
        this.say.say('read-back', 'warn', `${file}: cannot open it to read back queued lines now (${code}); they wait for the next try`);
        return false;
      }
      try {
        this.unreadFrom = scanLines(fd, this.unreadFrom, (chunk, start, nl, next) => {
          this.hold(chunk.toString('utf8', start, nl), first.segment, next, nl + 1 - start);
          taken += nl + 1 - start;
          first.bytes -= nl + 1 - start;
          first.lines--;
          this.unreadLines--;
          // where the next try begins, should a later read of this call fail: the lines held
          // so far are not read again
          this.unreadFrom = next;
          return first.lines > 0 && taken < CHUNK_BYTES && this.held < this.memoryBytes;
        });
      } finally {
        fs.closeSync(fd);
      }
      // a segment that ends before its counted lines do was cut behind the queue's back
      if (first.lines > 0 && taken === 0) throw Object.assign(new Error('it ends before the lines counted in it'), { code: 'ESHORT' });
      this.readFailures = 0;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const gone = code === 'ENOENT' || code === 'ELOOP' || code === 'ESHORT';
      if (!gone && taken === 0 && ++this.readFailures < READ_TRIES) {
        // A failing disk may read the next time (a sector remapped, a path that came back):
        // a set-aside segment was up to 16 MB of accepted lines lost for one EIO. The wait
        // doubles; meanwhile the ingest finds nothing to take and waits too.
        const wait = Math.min(READ_RETRY_MS * 2 ** (this.readFailures - 1), MAX_READ_RETRY_MS);
        this.readRetryAt = this.now() + wait;
        this.log(
          'error',
          `${file}: cannot read back ${first.lines} queued lines (${(err as Error).message}); tried again in ${wait / 1000} s (try ${this.readFailures} of ${READ_TRIES}), later lines wait behind them`,
        );
        return false;
      }
      if (taken > 0) {
        // lines came before the error: held, and the rest is tried at the next take
        this.readRetryAt = 0;
        return true;
      }
      this.readFailures = 0;
      this.readRetryAt = 0;
      const lines = first.lines;
      let kept = '';
      if (!gone) {
        // new lines must not go on into a file moved aside
        if (first.segment === this.segment && this.fd >= 0) this.openSegment(this.segment + 1);
        const to = quarantine(file);
        kept = to
          ? `; moved to ${to} with all its bytes (${lines} unread lines from byte ${this.unreadFrom}), for a person to look at`
          : `; it could not be moved aside either (not even beside itself): it stays in place until the lines after it are scored, which removes it as every segment passed`;
      }
      this.counters.set_aside += lines;
      this.unreadLines -= lines;
      // their bytes leave the queue with them: kept, each segment lost shrank the room for new
      // lines until the next start (a 16 MB segment, 16 MB of lines refused and dropped)
      this.bytes -= first.bytes;
      first.lines = 0;
      first.bytes = 0;
      // the count is saved with the cursor: marked by a commit only, it was lost to a kill
      // when these were the last lines queued (nothing committed after them)
      this.cursorDirty = true;
      this.log(
        'error',
        `${file}: cannot read back queued lines${gone ? '' : ` after ${READ_TRIES} tries`} (${(err as Error).message})${kept}; ${lines} lines counted set aside, ${this.counters.set_aside} so far`,
      );
    }
    if (first.lines === 0) {
      this.unread.shift();
      this.unreadFrom = 0;
    }
    return true;
  }

  /** hand the in-flight lines back, e.g. after scoring failed */
  release(): void {
    this.inFlight = 0;
  }

  /** sync `results` before every save of the cursor from now on */
  syncBeforeCursor(results: readonly DurableResults[]): void {
    this.results = results;
  }

  /** the counters changed without a commit (rejected or dropped lines): save them soon */
  touch(): void {
    this.cursorDirty = true;
  }

  private cursorPayload(): Cursor {
    const { queued: _queued, ...counters } = this.counters;
    return { segment: this.cursor.segment, position: this.cursor.position, counters };
  }

  private cursorFailed(err: unknown): void {
    // kept dirty: written on the next tick, once the disk takes it
    this.say.say('cursor', 'error', `queue: cannot save the cursor (${(err as Error).message}); lines scored since may be scored again after a restart`);
  }

  private saveCursor(): void {
    if (!this.cursorDirty) return;
    this.cursorSaves++;
    try {
      for (const r of this.results) r.flush();
      writeStateFile(path.join(this.dir, 'cursor.json'), CURSOR_KIND, 1, this.cursorPayload());
      this.cursorDirty = false;
    } catch (err) {
      this.cursorFailed(err);
    }
  }

  /**
   * What the timer does every 200 ms: the fsyncs and the cursor's save, in libuv's pool.
   * One at a time; a tick that finds the last one still at the disk waits for the next.
   * Never rejects.
   */
  flushInBackground(): Promise<void> {
    this.background ??= this.flush().finally(() => {
      this.background = null;
    });
    return this.background;
  }

  private async flush(): Promise<void> {
    // finished segments first: their lines are older than the current segment's
    while (this.retired.length && !this.closed) {
      const fd = this.retired[0];
      try {
        await fsyncInPool(fd);
      } catch (err) {
        this.say.say('fsync', 'error', `queue: fsync failed (${(err as Error).message})`);
        return;
      }
      if (this.closed) return; // close() synced it again and closes it
      this.retired.shift();
      fs.close(fd, () => {});
    }
    if (this.dirty && this.fd >= 0 && !this.closed) {
      const fd = this.fd;
      this.dirty = false;
      try {
        await fsyncInPool(fd);
      } catch (err) {
        this.dirty = true;
        this.say.say('fsync', 'error', `queue: fsync failed (${(err as Error).message})`);
      }
    }
    if (this.dirDirty && !this.closed) {
      this.dirDirty = false;
      await fsyncDirInBackground(this.dir);
    }
    if (this.cursorDirty && !this.closed) {
      this.cursorDirty = false;
      const saves = this.cursorSaves;
      // taken before the results' sync: the lines it passes were committed, so their results
      // written, before the sync begins, which therefore covers them
      const payload = this.cursorPayload();
      try {
        await Promise.all(this.results.map((r) => r.syncInBackground()));
        // sync() and close() save the cursor themselves: this save, begun before, is older
        // and is dropped rather than renamed over theirs
        await writeStateFileInBackground(path.join(this.dir, 'cursor.json'), CURSOR_KIND, 1, payload, () => this.closed || this.cursorSaves !== saves);
      } catch (err) {
        this.cursorDirty = true;
        this.cursorFailed(err);
      }
    }
  }

  /** the same as the timer's flush, on the calling thread, at once; never throws */
  sync(): void {
    this.saveCursor();
    for (const fd of this.retired) {
      try {
        fs.fsyncSync(fd);
      } catch (err) {
        this.say.say('fsync', 'error', `queue: fsync failed (${(err as Error).message})`);
      }
    }
    if (this.dirDirty) fsyncDir(this.dir);
    this.dirDirty = false;
    if (!this.dirty || this.fd < 0) return;
    try {
      fs.fsyncSync(this.fd);
      this.dirty = false;
    } catch (err) {
      this.say.say('fsync', 'error', `queue: fsync failed (${(err as Error).message})`);
    }
  }

  close(): void {
    clearInterval(this.timer);
    // no flush starts any more, and one under way stops at its next step
    this.closed = true;
    // everything is synced here, whatever a flush under way has done: a flush marks the
    // segment and the directory clean when it hands their fsyncs to the pool, not when they
    // are done, and the process may exit before the pool runs them
    this.cursorDirty = true;
    this.dirty = this.fd >= 0;
    this.dirDirty = true;
    this.sync();
    const fds = this.fd >= 0 ? [...this.retired, this.fd] : [...this.retired];
    this.retired = [];
    this.fd = -1;
    // a descriptor with an fsync still queued in the pool is closed once it returns: closed
    // now, its number could be reused and that fsync would land on another file
    const closeAll = () => {
      for (const fd of fds) fs.closeSync(fd);
    };
    if (this.background) void this.background.then(closeAll);
    else closeAll();
  }
}

/**
 * Hand each complete line from byte `from` on to `each` (its chunk, where it starts, its
 * newline, the position after it) until `each` says stop or the file ends; a chunk at a
 * time, so a whole segment is never in memory. Returns the position after the last line
 * handed over: short of the file's end, what follows is a line without its newline.
 */
function scanLines(fd: number, from: number, each: (chunk: Buffer, start: number, nl: number, next: number) => boolean): number {
  let pos = from;
  let want = CHUNK_BYTES;
  for (;;) {
    // one buffer for every read: lines are copied out of it as strings, and a new megabyte
    // per read made V8 collect for the external memory, 5 to 20 ms on the event loop
    const buf = want === CHUNK_BYTES ? readBuffer : Buffer.allocUnsafe(want);
    const got = fs.readSync(fd, buf, 0, want, pos);
    const chunk = buf.subarray(0, got);
    let start = 0;
    let nl = chunk.indexOf(10);
    if (nl < 0) {
      if (got < want) return pos;
      want *= 2; // a line longer than the chunk
      continue;
    }
    for (; nl >= 0; nl = chunk.indexOf(10, start)) {
      const more = each(chunk, start, nl, pos + nl + 1);
      start = nl + 1;
      if (!more) return pos + start;
    }
    pos += start;
    want = CHUNK_BYTES;
  }
}

/** fsync(2) in libuv's pool */
function fsyncInPool(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
}
