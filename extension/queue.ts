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
  readNoFollow,
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
const CURSOR_KIND = 'queue-cursor';
const EPOCH_KIND = 'queue-epoch';
/** a failing disk is reported once a minute, not once a line */
const REPORT_EVERY_MS = 60_000;

/**
 * Where a line waiting in the queue is: its text stays in its segment, and is read back when
 * the line is taken (from the page cache, as a rule). Kept in memory as well, the lines of a
 * full queue (256 MB by default) were a heap of 237 MB, and all of them were read back into
 * it at the next start: over osqueryd's watchdog limit of 200 MB, killed and restarted, the
 * extension read them all again.
 */
interface Entry {
  segment: number;
  /** byte position of the line's first byte in its segment */
  start: number;
  /** byte position just after this line (its newline) in its segment */
  end: number;
}

/** bytes of a segment read at once when lines are taken */
const READ_BYTES = 4 * 1024 * 1024;
/** bytes of lines one take hands over, at most (but one line always) */
const TAKE_BYTES = 16 * 1024 * 1024;

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
  /** the error that stops appends, until one succeeds again */
  private failing: string | null = null;
  private readonly say: Throttled;

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
    private readonly log: LogFn = () => {},
  ) {
    this.say = new Throttled(log, REPORT_EVERY_MS);
    makeDir(dir);
    this.recover();
    this.timer = setInterval(() => void this.flushInBackground(), 200);
    this.timer.unref();
  }

  get length(): number {
    return this.pending.length - this.head;
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
    if (segments.length && this.cursor.segment > newest) {
      this.log(
        'error',
        `${cursorFile}: points at segment ${this.cursor.segment}, but the newest is ${newest}; replaying the whole queue (rows may be scored twice, none is lost)`,
      );
      this.cursor = { segment: 0, position: 0 };
      renew = true;
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
      let data: Buffer;
      try {
        data = readNoFollow(file);
      } catch (err) {
        const to = quarantine(file);
        this.counters.set_aside++;
        this.log('error', `${file}: cannot read a queue segment (${(err as Error).message}); moved to ${to}, counted as one line set aside`);
        continue;
      }
      let pos = 0;
      if (n === this.cursor.segment) {
        pos = this.startOf(file, data, this.cursor.position);
        if (pos !== this.cursor.position) renew = true;
      }
      if (data.length === 0) {
        // (each start begins a segment: empty ones would pile up over restarts without lines;
        // its number is not used again, as new segments go after the newest seen)
        fs.rmSync(file, { force: true });
        continue;
      }
      while (pos < data.length) {
        const nl = data.indexOf(10, pos);
        if (nl < 0) {
          this.setAsideTail(file, data, pos);
          break;
        }
        this.pending.push({ segment: n, start: pos, end: nl + 1 });
        this.bytes += nl + 1 - pos;
        pos = nl + 1;
      }
      this.segment = n;
    }
    // the counters were saved with the cursor: what the queue holds now is what is queued,
    // and lines appended after that save were accepted
    this.counters.queued = this.length;
    this.counters.accepted = this.counters.scored + this.counters.queued + this.counters.dropped + this.counters.set_aside;
    this.counters.received = this.counters.accepted + this.counters.rejected;
    if (this.pending.length) this.log('info', `queue: ${this.pending.length} accepted lines from before the last stop will be scored`);
    if (renew || !this.epoch) this.newEpoch(epochFile);
    // New lines go into a segment after the newest seen, never on at the end of one: a
    // subject may have learned lines that are no longer there, and its mark must stay below
    // every new line. The newest segment set aside unreadable (a link planted in its place, a
    // failing disk) had new lines continue the last one read, or segment 0; its last lines
    // lost (a power loss within the 200 ms between its syncs, while the subject that learned
    // them was saved and synced) had new lines take their places. Either way they were
    // taken for lines learned already, under the same epoch. (One more segment per start;
    // a consumed one is removed as the cursor passes it.)
    this.openSegment(Math.max(this.segment, newest) + 1);
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
    return { epoch: this.epoch, segment, end };
  }

  /** where replay starts in the cursor's segment; a cursor that cannot be right replays it all */
  private startOf(file: string, data: Buffer, position: number): number {
    if (position === 0) return 0;
    if (position > data.length) {
      this.log(
        'error',
        `${file}: the cursor is at byte ${position}, past the end of the segment (${data.length} bytes); replaying the segment from its start (rows may be scored twice, none is lost)`,
      );
      return 0;
    }
    if (data[position - 1] !== 10) {
      this.log(
        'error',
        `${file}: the cursor at byte ${position} is not at the start of a line; replaying the segment from its start (rows may be scored twice, none is lost)`,
      );
      return 0;
    }
    return position;
  }

  /** bytes after the last newline: a line torn by a crash mid-write, or corruption */
  private setAsideTail(file: string, data: Buffer, pos: number): void {
    const tail = path.join(path.dirname(file), 'quarantine', `${path.basename(file)}.tail-${Date.now()}`);
    let kept = 'not kept';
    try {
      makeDir(path.dirname(tail));
      const fd = fs.openSync(tail, CREATE_NEW, 0o600);
      writeAll(fd, data.subarray(pos));
      fs.closeSync(fd);
      kept = `kept in ${tail}`;
    } catch (err) {
      kept = `could not be kept: ${(err as Error).message}`;
    }
    fs.truncateSync(file, pos);
    this.counters.set_aside++;
    this.log(
      'warn',
      `${file}: ${data.length - pos} bytes after the last complete line (a line torn by a crash while it was written, or a damaged file); ${kept}; counted as one line set aside`,
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
    try {
      if (this.fd < 0 || (this.size + bytes > SEGMENT_BYTES && this.size > 0)) this.openSegment(this.segment + 1);
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
    this.pending.push({ segment: this.segment, start: this.size, end: this.size + bytes });
    this.size += bytes;
    this.bytes += bytes;
    this.dirty = true;
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

  /** up to `max` lines after those already handed out */
  take(max: number): string[] {
    const from = this.head + this.inFlight;
    this.takenFrom = from;
    // at most TAKE_BYTES of lines (one line, whatever its size, at least): 500 lines of up to
    // queue.max_line_bytes were 500 MB handed to the scorer thread at once, and copied there
    const last = Math.min(this.pending.length, from + max);
    let to = from;
    for (let bytes = 0; to < last; to++) {
      bytes += this.pending[to].end - this.pending[to].start;
      if (bytes > TAKE_BYTES && to > from) break;
    }
    this.inFlight = to - this.head;
    return this.read(from, to);
  }

  /**
   * The text of pending[from, to), read from their segments a few MB at a time. A line that
   * cannot be read (its segment removed or cut by hand, a failing disk) is given as '', which
   * the scorer sets aside as no longer a result line, rather than holding up the queue.
   */
  private read(from: number, to: number): string[] {
    const out: string[] = [];
    for (let i = from; i < to;) {
      const first = this.pending[i];
      let j = i + 1;
      while (j < to && this.pending[j].segment === first.segment && this.pending[j].end - first.start <= READ_BYTES) j++;
      const length = this.pending[j - 1].end - first.start;
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      try {
        const fd = fs.openSync(this.segmentFile(first.segment), READ);
        try {
          for (let r = -1; got < length && r !== 0; got += r) r = fs.readSync(fd, buf, got, length - got, first.start + got);
        } finally {
          fs.closeSync(fd);
        }
      } catch (err) {
        this.say.say('read', 'error', `queue: cannot read ${this.segmentFile(first.segment)} (${(err as Error).message}); its lines are set aside`);
      }
      for (let k = i; k < j; k++) {
        const e = this.pending[k];
        out.push(e.end - first.start <= got ? buf.toString('utf8', e.start - first.start, e.end - 1 - first.start) : '');
      }
      i = j;
    }
    return out;
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
    for (let i = this.head; i < this.head + n; i++) this.bytes -= this.pending[i].end - this.pending[i].start;
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

  /** hand the in-flight lines back, e.g. after scoring failed */
  release(): void {
    this.inFlight = 0;
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
      try {
        // sync() and close() save the cursor themselves: this save, begun before, is older
        // and is dropped rather than renamed over theirs
        await writeStateFileInBackground(
          path.join(this.dir, 'cursor.json'),
          CURSOR_KIND,
          1,
          this.cursorPayload(),
          () => this.closed || this.cursorSaves !== saves,
        );
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

/** fsync(2) in libuv's pool */
function fsyncInPool(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
}
