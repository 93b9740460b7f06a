import * as fs from 'fs';
import * as path from 'path';
import { fsyncDir, writeStateFile, readStateFile } from '../state/atomic';
import type { LogFn } from '../conf/log';

// The durable queue between the logger's answer and the scorer. A result line is appended
// to a segment file before osqueryd gets its answer, so a crash, SIGTERM or a restarted
// scorer loses nothing that was accepted; the consumer commits what it has scored, and
// everything after the committed position is replayed on the next start.
//
// Appends go to the OS page cache at once and are fsynced on a short timer and on close:
// an fsync per line would cap ingest at the disk's sync rate, and a process crash (the
// common case) loses nothing that reached the page cache. Only a power loss can cost the
// last ~200 ms, which osqueryd's own filesystem log shares.

const SEGMENT_BYTES = 16 * 1024 * 1024;
const CURSOR_KIND = 'queue-cursor';

interface Entry {
  line: string;
  segment: number;
  /** byte position just after this line in its segment */
  end: number;
}

interface Cursor {
  segment: number;
  position: number;
}

export class DurableQueue {
  private pending: Entry[] = [];
  private head = 0;
  /** entries handed to the consumer and not yet committed */
  private inFlight = 0;
  private bytes = 0;
  private segment = 0;
  private fd = -1;
  private size = 0;
  private dirty = false;
  private timer: NodeJS.Timeout;
  private cursor: Cursor = { segment: 0, position: 0 };
  private cursorDirty = false;
  private cursorWritten = 0;

  constructor(private readonly dir: string, private readonly maxBytes: number, private readonly log: LogFn = () => {}) {
    fs.mkdirSync(dir, { recursive: true });
    this.recover();
    this.timer = setInterval(() => this.sync(), 200);
    this.timer.unref();
  }

  get length(): number {
    return this.pending.length - this.head;
  }

  private segmentFile(n: number): string {
    return path.join(this.dir, `${String(n).padStart(8, '0')}.log`);
  }

  /** replay what was accepted but not committed before the last stop */
  private recover(): void {
    try {
      const c = readStateFile(path.join(this.dir, 'cursor.json'), CURSOR_KIND, 1) as Cursor | undefined;
      if (c) this.cursor = c;
    } catch (err) {
      this.log('error', `${(err as Error).message}; replaying the whole queue (rows may be scored twice, none is lost)`);
    }
    const segments = fs
      .readdirSync(this.dir)
      .filter((f) => /^\d{8}\.log$/.test(f))
      .map((f) => Number(f.slice(0, 8)))
      .sort((a, b) => a - b);
    for (const n of segments) {
      const file = this.segmentFile(n);
      if (n < this.cursor.segment) {
        fs.rmSync(file, { force: true });
        continue;
      }
      const data = fs.readFileSync(file);
      let pos = n === this.cursor.segment ? Math.min(this.cursor.position, data.length) : 0;
      while (pos < data.length) {
        const nl = data.indexOf(10, pos);
        if (nl < 0) {
          this.log('warn', `${file}: dropped a torn last line (${data.length - pos} bytes) left by a crash before it was acknowledged`);
          fs.truncateSync(file, pos);
          break;
        }
        const line = data.toString('utf8', pos, nl);
        this.pending.push({ line, segment: n, end: nl + 1 });
        this.bytes += nl + 1 - pos;
        pos = nl + 1;
      }
      this.segment = n;
    }
    if (this.pending.length) this.log('info', `queue: ${this.pending.length} accepted lines from before the last stop will be scored`);
    this.openSegment(this.segment || 1);
  }

  private openSegment(n: number): void {
    if (this.fd >= 0) {
      fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
    }
    this.segment = n;
    const file = this.segmentFile(n);
    this.fd = fs.openSync(file, 'a', 0o600);
    this.size = fs.fstatSync(this.fd).size;
    fsyncDir(this.dir);
  }

  /** append one accepted line; false when the queue is full (the caller counts it dropped) */
  append(line: string): boolean {
    // a line is one record: stray newlines would split it on replay
    const clean = line.indexOf('\n') >= 0 ? line.replace(/[\r\n]+/g, ' ') : line;
    const bytes = Buffer.byteLength(clean) + 1;
    if (this.bytes + bytes > this.maxBytes) return false;
    if (this.size + bytes > SEGMENT_BYTES && this.size > 0) this.openSegment(this.segment + 1);
    fs.writeSync(this.fd, `${clean}\n`);
    this.size += bytes;
    this.bytes += bytes;
    this.dirty = true;
    this.pending.push({ line: clean, segment: this.segment, end: this.size });
    return true;
  }

  /** up to `max` lines after those already handed out */
  take(max: number): string[] {
    const from = this.head + this.inFlight;
    const to = Math.min(this.pending.length, from + max);
    this.inFlight = to - this.head;
    return this.pending.slice(from, to).map((e) => e.line);
  }

  /**
   * The first `n` handed-out lines are done. The position after them is persisted at most
   * every 250 ms (and on close): a crash in between means a few lines are scored twice on
   * the next start, never that one is lost, and it spares an fsync per batch.
   */
  commit(n: number): void {
    if (n <= 0) return;
    const last = this.pending[this.head + n - 1];
    for (let i = this.head; i < this.head + n; i++) this.bytes -= Buffer.byteLength(this.pending[i].line) + 1;
    this.head += n;
    this.inFlight = Math.max(0, this.inFlight - n);
    const previous = this.cursor.segment;
    this.cursor = { segment: last.segment, position: last.end };
    this.cursorDirty = true;
    if (Date.now() - this.cursorWritten >= 250) this.saveCursor();
    // consumed segments other than the one being written go away
    for (let seg = previous; seg < last.segment; seg++) fs.rmSync(this.segmentFile(seg), { force: true });
    if (this.head > 10_000 && this.head > this.pending.length / 2) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
  }

  /** hand the in-flight lines back, e.g. after scoring failed */
  release(): void {
    this.inFlight = 0;
  }

  private saveCursor(): void {
    if (!this.cursorDirty) return;
    writeStateFile(path.join(this.dir, 'cursor.json'), CURSOR_KIND, 1, this.cursor);
    this.cursorDirty = false;
    this.cursorWritten = Date.now();
  }

  sync(): void {
    this.saveCursor();
    if (!this.dirty || this.fd < 0) return;
    fs.fsyncSync(this.fd);
    this.dirty = false;
  }

  close(): void {
    clearInterval(this.timer);
    this.sync();
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}
