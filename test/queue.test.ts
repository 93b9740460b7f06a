import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t, { type Test } from 'tap';
import * as v8 from 'v8';
import * as vm from 'vm';
import fsModule = require('fs');
import { DurableQueue } from '../extension/queue';
import { readStateFile, writeStateFile } from '../state/atomic';
import { bareNode } from './helpers/bare-node';

// The durable queue on its own: what is appended comes back after a stop, commits survive,
// a full disk never throws from the timer and recovery needs nobody, and damaged segments or
// cursors cost replays, never silent loss; every byte not replayed is counted.

function dir(t: { teardown(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-queue-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return path.join(d, 'queue');
}

const logs = () => {
  const out: string[] = [];
  return { out, log: (l: string, m: string) => out.push(`${l} ${m}`) };
};

t.test('append, take, commit, replay after a stop', async (t) => {
  const d = dir(t);
  let q = new DurableQueue(d, 1 << 20);
  for (let i = 0; i < 10; i++) t.ok(q.append(`line ${i}`));
  t.ok(q.append('a\nb'), 'a line with a newline stays one line');
  t.same(q.take(3), ['line 0', 'line 1', 'line 2']);
  q.counters.scored += 3;
  q.commit(3);
  q.close();
  q = new DurableQueue(d, 1 << 20);
  t.equal(q.length, 8, 'the uncommitted lines come back');
  t.same(q.take(100).slice(-1), ['a b']);
  t.equal(q.counters.scored, 3, 'counters persist with the cursor');
  t.equal(q.counters.accepted, 11, 'accepted = scored + queued');
  q.close();
  const small = new DurableQueue(`${d}-small`, 20);
  t.ok(small.append('0123456789'));
  t.notOk(small.append('0123456789'), 'a full queue refuses');
  small.close();
});

t.test('a disk that refuses writes: append throws a QueueWriteError, sync never throws, appends resume', async (t) => {
  const d = dir(t);
  const { out, log } = logs();
  const q = new DurableQueue(d, 1 << 20, log);
  t.ok(q.append('before'));
  // the module object itself: `import * as fs` gives read-only getters over it
  const nodeFs = require('fs') as typeof fs;
  const realWrite = nodeFs.writeSync;
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  nodeFs.writeSync = () => {
    throw enospc();
  };
  const realOpen = nodeFs.openSync;
  nodeFs.openSync = (...a: Parameters<typeof fs.openSync>) => {
    if (String(a[0]).includes('.tmp')) throw enospc();
    return realOpen(...a);
  };
  try {
    t.throws(() => q.append('during'), { name: 'Error', message: /ENOSPC/ });
    t.equal(q.problem, 'ENOSPC: no space left on device, write');
    q.take(1);
    q.commit(1);
    t.doesNotThrow(() => q.sync(), 'the timer path swallows and reports');
  } finally {
    nodeFs.writeSync = realWrite;
    nodeFs.openSync = realOpen;
  }
  t.ok(q.append('after'), 'appends work again by themselves');
  t.equal(q.problem, null);
  q.close();
  t.ok(
    out.some((l) => /cannot append/.test(l)) && out.some((l) => /cannot save the cursor/.test(l)) && out.some((l) => /appends work again/.test(l)),
    'each step is logged',
  );
  const again = new DurableQueue(d, 1 << 20);
  t.same(again.take(10), ['after'], 'nothing of the failed write is replayed');
  again.close();
});

t.test('damaged segments and cursors: replayed or counted, never lost silently', async (t) => {
  const d = dir(t);
  let q = new DurableQueue(d, 1 << 20);
  for (let i = 0; i < 5; i++) q.append(`line ${i}`);
  q.close();
  // a cursor past the end of its segment
  writeStateFile(path.join(d, 'cursor.json'), 'queue-cursor', 1, { segment: 1, position: 10_000 });
  let { out, log } = logs();
  q = new DurableQueue(d, 1 << 20, log);
  t.equal(q.length, 5, 'a cursor past the end replays the segment');
  t.ok(out.some((l) => /past the end of the segment/.test(l)));
  q.close();
  // a cursor in the middle of a line
  writeStateFile(path.join(d, 'cursor.json'), 'queue-cursor', 1, { segment: 1, position: 3 });
  ({ out, log } = logs());
  q = new DurableQueue(d, 1 << 20, log);
  t.equal(q.length, 5, 'a cursor inside a line replays the segment');
  q.close();
  // a cursor naming a segment that does not exist would have deleted them all
  writeStateFile(path.join(d, 'cursor.json'), 'queue-cursor', 1, { segment: 99, position: 0 });
  q = new DurableQueue(d, 1 << 20, log);
  t.equal(q.length, 5, 'a cursor beyond the newest segment replays everything');
  q.close();
  // a cursor that is not a cursor
  writeStateFile(path.join(d, 'cursor.json'), 'queue-cursor', 1, { segment: 'x', position: 0 });
  ({ out, log } = logs());
  q = new DurableQueue(d, 1 << 20, log);
  t.equal(q.length, 5);
  t.ok(
    out.some((l) => /invalid queue-cursor state: \/segment must be integer/.test(l)),
    `the schema says what is wrong: ${out.join(' | ')}`,
  );
  q.close();
  // random bytes after the last line
  fs.appendFileSync(path.join(d, '00000001.log'), Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x41]));
  ({ out, log } = logs());
  q = new DurableQueue(d, 1 << 20, log);
  t.equal(q.length, 5, 'the good lines are kept');
  t.equal(q.counters.set_aside, 1, 'the tail is counted set aside');
  t.ok(
    out.some((l) => /6 bytes after the last complete line .* or a damaged file\); kept in .*quarantine/.test(l)),
    'the message does not guess a crash, and says where the bytes went',
  );
  t.notOk(out.some((l) => /before it was acknowledged/.test(l)));
  t.equal(q.counters.accepted, q.counters.scored + q.counters.queued + q.counters.dropped + q.counters.set_aside);
  q.close();
});

t.test('the background flush saves what sync() saves, and an older background save never replaces a newer one', async (t) => {
  const d = dir(t);
  const q = new DurableQueue(d, 1 << 20);
  for (let i = 0; i < 6; i++) t.ok(q.append(`line ${i}`));
  q.take(4);
  q.counters.scored += 4;
  q.commit(4);
  await q.flushInBackground();
  const saved = readStateFile(path.join(d, 'cursor.json'), 'queue-cursor', 1) as { segment: number; position: number; counters: { scored: number } };
  t.same(
    { segment: saved.segment, position: saved.position, scored: saved.counters.scored },
    { segment: 1, position: 28, scored: 4 },
    'the cursor after 4 lines of 7 bytes',
  );
  // a process that dies now, without close(): the next start replays the lines after it
  const next = new DurableQueue(d, 1 << 20);
  t.same(next.take(10), ['line 4', 'line 5']);
  next.close();
  // a background save begun before a synchronous one is dropped, not renamed over it
  q.take(1);
  q.counters.scored += 1;
  q.commit(1);
  const older = q.flushInBackground();
  q.take(1);
  q.counters.scored += 1;
  q.commit(1);
  q.sync();
  await older;
  const last = readStateFile(path.join(d, 'cursor.json'), 'queue-cursor', 1) as { position: number };
  t.equal(last.position, 42, 'the cursor after all 6 lines');
  t.same(
    fs.readdirSync(d).filter((f) => f.endsWith('.tmp')),
    [],
    'no temp file is left behind',
  );
  q.close();
});

t.test('close() fsyncs the segment itself even while a background fsync of it is under way', async (t) => {
  // the timer's flush marks the segment clean when it hands its fsync to the pool; close()
  // skipped a segment marked clean, so it returned with that fsync still queued, and the
  // extension's process.exit soon after can end the process before the pool runs it
  const d = dir(t);
  const q = new DurableQueue(d, 1 << 20);
  t.ok(q.append('line 0'));
  const synced: number[] = [];
  // the module itself, not this file's namespace copy of it (getters only), as queue.ts reads it
  const real = fsModule.fsyncSync;
  fsModule.fsyncSync = (fd: number) => {
    synced.push(fd);
    real(fd);
  };
  t.teardown(() => {
    fsModule.fsyncSync = real;
  });
  const segmentFd = () => {
    // the descriptor open on the segment, found through /proc as the kernel sees it
    for (const fd of fs.readdirSync('/proc/self/fd')) {
      try {
        if (fs.readlinkSync(`/proc/self/fd/${fd}`) === path.join(d, '00000001.log')) return Number(fd);
      } catch {
        /* closed meanwhile */
      }
    }
    return -1;
  };
  const fd = segmentFd();
  t.not(fd, -1, 'the segment is open');
  const background = q.flushInBackground();
  q.close();
  fsModule.fsyncSync = real;
  t.ok(synced.includes(fd), 'close() fsynced the segment on its own thread before returning');
  await background;
  const again = new DurableQueue(d, 1 << 20);
  t.same(again.take(10), ['line 0']);
  again.close();
});

t.test('line marks: replayed lines keep theirs, new lines get greater ones, and an emptied queue a new epoch', async (t) => {
  const d = dir(t);
  const after = (a: { segment: number; end: number }, b: { segment: number; end: number }) =>
    a.segment > b.segment || (a.segment === b.segment && a.end > b.end);
  const first = (q: DurableQueue) => {
    const m = q.marks(1);
    return { epoch: m.epoch, segment: m.segment[0], end: m.end[0] };
  };
  let q = new DurableQueue(d, 1 << 20);
  for (let i = 0; i < 5; i++) q.append(`line ${i}`);
  q.take(5);
  const given = q.marks(5);
  t.equal(given.segment.length, 5);
  t.ok(given.epoch.length > 0, 'an epoch');
  // scored, the process killed before the cursor was saved: a replay hands the same marks
  q.take(0);
  q.close();
  fs.rmSync(path.join(d, 'cursor.json'), { force: true });
  q = new DurableQueue(d, 1 << 20);
  t.same(q.take(5), ['line 0', 'line 1', 'line 2', 'line 3', 'line 4']);
  const { since: before, ...places } = given;
  const { since: now, ...replayed } = q.marks(5);
  t.same(replayed, places, 'the replayed lines have the marks they had');
  t.ok(now! > before! && now! > Math.max(...given.segment), 'and a segment of their own begins this start, after theirs (LineMarks.since)');
  q.commit(5);
  q.close();
  // every segment gone (removed by hand, or set aside), the cursor kept
  for (const f of fs.readdirSync(d)) if (f.endsWith('.log')) fs.rmSync(path.join(d, f));
  q = new DurableQueue(d, 1 << 20);
  q.append('line 5');
  q.take(1);
  const next = first(q);
  // (nothing to replay: a new epoch, so no mark saved before can cover a new line)
  t.not(next.epoch, given.epoch, 'a new epoch');
  t.ok(after(next, { segment: given.segment[4], end: given.end[4] }), `a new line is placed after every earlier one (${JSON.stringify(next)})`);
  q.commit(1);
  q.close();
  // the whole queue directory removed: positions start again, under another epoch
  fs.rmSync(d, { recursive: true });
  q = new DurableQueue(d, 1 << 20);
  q.append('line 6');
  q.take(1);
  t.not(first(q).epoch, given.epoch, 'a new epoch');
  q.close();
});

t.test('a newest segment that cannot be read: new lines are placed after every earlier one, and kept', async (t) => {
  const d = dir(t);
  const { out, log } = logs();
  let q = new DurableQueue(d, 1 << 20, log);
  for (let i = 0; i < 5; i++) q.append(`line ${i}`);
  q.take(5);
  const given = q.marks(5);
  // scored and learned (a subject saved its mark at the last line), then committed and stopped
  q.commit(5);
  q.close();
  // the segment comes back unreadable (a link planted in its place, a failing disk): moved aside
  const seg = fs.readdirSync(d).find((f) => f.endsWith('.log'))!;
  fs.rmSync(path.join(d, seg));
  fs.symlinkSync('/etc/passwd', path.join(d, seg));
  q = new DurableQueue(d, 1 << 20, log);
  t.ok(
    out.some((l) => l.includes('cannot read a queue segment')),
    'the link is set aside',
  );
  t.ok(q.append('line 5'), 'a new line accepted');
  q.take(1);
  const m = q.marks(1);
  const last = { segment: given.segment[4], end: given.end[4] };
  const placedAfter = m.epoch !== given.epoch || m.segment[0] > last.segment || (m.segment[0] === last.segment && m.end[0] > last.end);
  t.ok(placedAfter, `the new line is not taken for one learned before (${JSON.stringify(m)} after ${JSON.stringify(last)} of ${given.epoch})`);
  // stopped before it was scored: the next start scores it
  q.release();
  q.close();
  q = new DurableQueue(d, 1 << 20, log);
  t.same(q.take(5), ['line 5'], 'the acknowledged line is replayed, not removed as consumed');
  q.close();
});

t.test('every segment gone with a cursor older than the lines learned: new lines are not taken for learned ones', async (t) => {
  const d = dir(t);
  let q = new DurableQueue(d, 1 << 20);
  for (let i = 0; i < 3; i++) q.append(`line ${i}`);
  q.take(3);
  q.commit(3);
  q.close();
  const stale = fs.readFileSync(path.join(d, 'cursor.json'));
  // the queue went on into segment 2 (a segment fills at 16 MB; made here by hand)
  const seg2 = path.join(d, '00000002.log');
  fs.writeFileSync(seg2, Array.from({ length: 20 }, (_, i) => `later line ${i}\n`).join(''), { mode: 0o600 });
  q = new DurableQueue(d, 1 << 20);
  const lines = q.take(100);
  t.equal(lines.length, 20);
  const learned = q.marks(lines.length);
  t.equal(learned.segment[19], 2, 'the lines learned sit in segment 2');
  // scored and learned (a subject saved its mark at the last one), committed, then killed
  // before the cursor was saved (it is saved at most every 200 ms): the cursor on disk is
  // still in segment 1
  q.commit(lines.length);
  q.close();
  fs.writeFileSync(path.join(d, 'cursor.json'), stale);
  // the backlog cleared by hand
  for (const f of fs.readdirSync(d)) if (f.endsWith('.log')) fs.rmSync(path.join(d, f));
  q = new DurableQueue(d, 1 << 20);
  q.append('new line');
  q.take(1);
  const m = q.marks(1);
  const last = { segment: learned.segment[19], end: learned.end[19] };
  const placedAfter = m.epoch !== learned.epoch || m.segment[0] > last.segment || (m.segment[0] === last.segment && m.end[0] > last.end);
  t.ok(placedAfter, `the new line is not taken for one learned before (${JSON.stringify(m)} after ${JSON.stringify(last)} of ${learned.epoch})`);
  q.close();
});

t.test('a new epoch the disk refuses does not leave the old one to be read again over restarted positions', async (t) => {
  const d = dir(t);
  let q = new DurableQueue(d, 1 << 20);
  for (let i = 0; i < 20; i++) q.append(`line ${i} learned under the first epoch`);
  q.take(20);
  const learned = q.marks(20);
  q.commit(20);
  q.close();
  // the queue emptied and its cursor lost: positions start again at segment 1, under a new
  // epoch, which the disk refuses to save (full)
  for (const f of fs.readdirSync(d)) if (f.endsWith('.log') || f === 'cursor.json') fs.rmSync(path.join(d, f));
  const rename = fsModule.renameSync;
  fsModule.renameSync = (from: fs.PathLike, to: fs.PathLike) => {
    if (String(to).endsWith('epoch.json')) throw Object.assign(new Error('ENOSPC: no space left on device, rename'), { code: 'ENOSPC' });
    return rename(from, to);
  };
  try {
    q = new DurableQueue(d, 1 << 20);
  } finally {
    fsModule.renameSync = rename;
  }
  t.ok(q.append('a new line'));
  q.close();
  // restarted: the new line is replayed; a subject that learned the first epoch's lines and
  // none since still holds its mark (1, end of line 19)
  q = new DurableQueue(d, 1 << 20);
  t.same(q.take(5), ['a new line']);
  const m = q.marks(1);
  const last = { segment: learned.segment[19], end: learned.end[19] };
  const placedAfter = m.epoch !== learned.epoch || m.segment[0] > last.segment || (m.segment[0] === last.segment && m.end[0] > last.end);
  t.ok(placedAfter, `the new line is not taken for one learned before (${JSON.stringify(m)} after ${JSON.stringify(last)} of ${learned.epoch})`);
  q.close();
});

t.test('lines learned then lost from the newest segment (a power loss before its sync): new lines are not taken for them', async (t) => {
  const d = dir(t);
  let q = new DurableQueue(d, 1 << 20);
  for (let i = 0; i < 20; i++) q.append(`line ${i}`);
  q.take(5);
  q.commit(5);
  q.close();
  const cursor = fs.readFileSync(path.join(d, 'cursor.json'));
  q = new DurableQueue(d, 1 << 20);
  const lines = q.take(100);
  t.equal(lines.length, 15);
  // scored and learned (a subject saved its mark at line 19, fsynced as subjects are), then
  // the power went: the segment's last lines, appended within its 200 ms between syncs, are
  // gone, and the cursor is as last saved
  const learned = q.marks(lines.length);
  q.close();
  const seg = path.join(d, '00000001.log');
  const text = fs.readFileSync(seg, 'utf8');
  fs.writeFileSync(seg, text.slice(0, text.indexOf('line 11\n') + 'line 11\n'.length));
  fs.writeFileSync(path.join(d, 'cursor.json'), cursor);
  q = new DurableQueue(d, 1 << 20);
  t.same(q.take(100), ['line 5', 'line 6', 'line 7', 'line 8', 'line 9', 'line 10', 'line 11'], 'what the disk kept is replayed');
  q.append('a new line');
  const last = { segment: learned.segment[14], end: learned.end[14] };
  q.take(1);
  const n = q.marks(1);
  const placedAfter = n.epoch !== learned.epoch || n.segment[0] > last.segment || (n.segment[0] === last.segment && n.end[0] > last.end);
  t.ok(placedAfter, `the new line is not taken for one learned before (${JSON.stringify(n)} after ${JSON.stringify(last)} of ${learned.epoch})`);
  q.commit(8);
  q.close();
  // each start begins a segment: restarts without lines leave no pile of empty ones
  for (let i = 0; i < 5; i++) new DurableQueue(d, 1 << 20).close();
  const segs = fs.readdirSync(d).filter((f) => f.endsWith('.log'));
  t.ok(segs.length <= 2, `segments after 5 restarts without lines: ${segs.join(', ')}`);
  q = new DurableQueue(d, 1 << 20);
  q.append('after the restarts');
  q.take(1);
  const after = q.marks(1);
  t.ok(after.segment[0] > n.segment[0], 'numbers still go on');
  q.close();
});

t.test('a backlog larger than memory waits in its segments and comes back whole and in order', async (t) => {
  const d = dir(t);
  const memory = 16 * 1024;
  const line = (i: number) => `line ${String(i).padStart(6, '0')} ${'x'.repeat(90)}`;
  let q = new DurableQueue(d, 64 << 20, undefined, memory);
  // three starts, so the backlog spans segments (every start begins a new one)
  let appended = 0;
  for (let start = 0; start < 3; start++) {
    let refused = 0;
    for (let i = 0; i < 700; i++) if (!q.append(line(appended++))) refused++;
    t.equal(refused, 0);
    t.ok(q.heldBytes <= memory, `held ${q.heldBytes} bytes with ${q.length} lines queued`);
    q.close();
    q = new DurableQueue(d, 64 << 20, undefined, memory);
    t.equal(q.length, appended, 'every line is counted after a start');
    t.ok(q.heldBytes <= memory, `held ${q.heldBytes} bytes after a start`);
  }
  const got: string[] = [];
  let lastMark = [-1, -1];
  let peak = 0;
  while (q.length) {
    const lines = q.take(250);
    if (!lines.length) {
      t.fail(`take found no line while ${q.length} are queued`);
      break;
    }
    const marks = q.marks(lines.length);
    for (let i = 0; i < lines.length; i++) {
      const mark = [marks.segment[i], marks.end[i]];
      if (mark[0] < lastMark[0] || (mark[0] === lastMark[0] && mark[1] <= lastMark[1])) t.fail(`mark ${mark} after ${lastMark}`);
      lastMark = mark;
    }
    peak = Math.max(peak, q.heldBytes);
    got.push(...lines);
    // new lines keep arriving while the backlog drains: they come after it
    if (appended < 2600 && !q.append(line(appended++))) t.fail('a line refused');
    q.counters.scored += lines.length;
    q.commit(lines.length);
  }
  t.equal(got.length, appended);
  t.same(
    got,
    Array.from({ length: appended }, (_, i) => line(i)),
    'every line once, in the order appended',
  );
  t.ok(peak <= memory + 200, `never held much more than ${memory} bytes (peak ${peak})`);
  q.close();
  q = new DurableQueue(d, 64 << 20, undefined, memory);
  t.equal(q.length, 0, 'nothing is replayed after the backlog was committed');
  q.close();
});

t.test('a segment of the backlog removed behind the queue: its lines are counted set aside, the rest go on', async (t) => {
  const d = dir(t);
  const { out, log } = logs();
  let q = new DurableQueue(d, 64 << 20, log, 4096);
  for (let i = 0; i < 100; i++) q.append(`first ${i} ${'y'.repeat(100)}`);
  q.close();
  q = new DurableQueue(d, 64 << 20, log, 4096);
  for (let i = 0; i < 100; i++) q.append(`second ${i} ${'y'.repeat(100)}`);
  const segments = fs
    .readdirSync(d)
    .filter((f) => /^\d{8}\.log$/.test(f))
    .sort();
  t.equal(segments.length, 2);
  fs.rmSync(path.join(d, segments[0]));
  const got: string[] = [];
  for (let n = 0; n < 1000 && q.length; n++) {
    const lines = q.take(50);
    got.push(...lines);
    q.commit(lines.length);
  }
  t.equal(q.length, 0, 'the queue drains');
  t.same(got.filter((l) => l.startsWith('second')).length, 100, 'the lines of the segment still there all come back');
  t.equal(got.length + q.counters.set_aside, 200, 'every line is either read back or counted set aside');
  t.ok(
    out.some((l) => /cannot read back queued lines/.test(l)),
    out.join('\n'),
  );
  q.close();
});

t.test('a line the full disk took part of leaves no hole: the next line is where the queue says, and replays whole', async (t) => {
  // On a full disk write(2) may take part of a line and refuse the rest. The part is cut off
  // again, but the segment was written at its descriptor's offset, which stayed past the
  // part: the next line went after a hole of NULs, not where the queue had it, and on replay
  // after a restart the NULs made it no result line at all (set aside, lost)
  const d = dir(t);
  let q = new DurableQueue(d, 1 << 20);
  t.ok(q.append('line 0'));
  const real = fsModule.writeSync;
  let step = 0;
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  fsModule.writeSync = ((fd: number, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]) => {
    // the first write of the next line takes 4 bytes, the write of the rest is refused
    if (step === 0 && typeof data === 'string') {
      step = 1;
      return (real as (...a: unknown[]) => number)(fd, data.slice(0, 4), ...rest);
    }
    if (step === 1) {
      step = 2;
      throw enospc;
    }
    return (real as (...a: unknown[]) => number)(fd, data, ...rest);
  }) as typeof fs.writeSync;
  try {
    t.throws(() => q.append('line 1, refused'), /ENOSPC/, 'the refused line is reported');
  } finally {
    fsModule.writeSync = real;
  }
  t.ok(q.append('line 2'), 'the next line is taken');
  t.same(q.take(10), ['line 0', 'line 2'], 'taken as appended');
  q.close();
  q = new DurableQueue(d, 1 << 20);
  t.same(q.take(10), ['line 0', 'line 2'], 'and replayed whole after a restart');
  t.equal(q.counters.set_aside, 0, 'nothing set aside');
  q.close();
});

t.test('the lines waiting in the queue are kept on disk, not in memory as well', async (t) => {
  // queue.max_bytes is 256 MB by default, and every line waiting was also held in the heap:
  // a full queue (a backlog while the scorer is paced, or starting) was 237 MB of heap, and
  // recovery read all of it back at the next start (256 MB grown), over osqueryd's watchdog
  // limit of 200 MB: killed and restarted, it read it all again. Here 48 MB of lines, in a
  // child process: the heap after a collection, filled and then recovered
  const d = dir(t);
  const queue = path.join(__dirname, '..', 'extension', 'queue.js');
  const script = (mode: string) => `
    const { DurableQueue } = require(${JSON.stringify(queue)});
    const before = (global.gc(), process.memoryUsage().heapUsed);
    const q = new DurableQueue(${JSON.stringify(d)}, 64 * 1024 * 1024, () => {});
    let n = 0;
    if (${JSON.stringify(mode)} === 'fill')
      for (; n < 48 * 1024; n++) q.append(JSON.stringify({ name: 'p', unixTime: 1790000000 + n, columns: { cmdline: 'x'.repeat(1000), n } }));
    global.gc();
    const grown = process.memoryUsage().heapUsed - before;
    const first = q.take(2);
    process.stdout.write(JSON.stringify({ queued: q.length, grownMb: grown / 2 ** 20, first: first.map((l) => JSON.parse(l).columns.n) }));
    q.close();`;
  const run = (mode: string) => {
    const res = spawnSync(...bareNode(['--expose-gc', '-e', script(mode)]), { encoding: 'utf8' });
    t.equal(res.status, 0, `${mode}: ${res.stderr.slice(-300)}`);
    return JSON.parse(res.stdout) as { queued: number; grownMb: number; first: number[] };
  };
  const filled = run('fill');
  t.equal(filled.queued, 48 * 1024, '48 MB of lines queued');
  t.same(filled.first, [0, 1], 'and taken in order');
  t.ok(filled.grownMb < 12, `the heap grew ${filled.grownMb.toFixed(1)} MB holding them (bound: a quarter)`);
  const recovered = run('recover');
  t.equal(recovered.queued, 48 * 1024, 'all of them come back after a restart');
  t.same(recovered.first, [0, 1], 'in order');
  t.ok(recovered.grownMb < 12, `the heap grew ${recovered.grownMb.toFixed(1)} MB recovering them (bound: a quarter)`);
});

t.test('a take hands over at most 16 MB of lines, however many lines it may take', async (t) => {
  // the ingest takes 500 lines a batch, and a line may be up to queue.max_line_bytes (1 MB):
  // 500 MB handed to the scorer thread at once (copied into it), where osqueryd's watchdog
  // allows 200 MB of growth; a local user's long command lines make such lines
  const d = dir(t);
  const q = new DurableQueue(d, 256 << 20);
  const big = (i: number) => JSON.stringify({ n: i, cmdline: 'x'.repeat(900_000) });
  let appended = 0;
  for (let i = 0; i < 40; i++) if (q.append(big(i))) appended++;
  t.equal(appended, 40, '40 lines of 900 kB queued');
  const first = q.take(500);
  const bytes = first.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
  t.ok(first.length >= 1 && bytes <= 16 << 20, `${first.length} lines, ${(bytes / 2 ** 20).toFixed(1)} MB in one take (bound 16 MB)`);
  t.same(
    first.map((l) => (JSON.parse(l) as { n: number }).n),
    Array.from({ length: first.length }, (_, i) => i),
    'in order',
  );
  q.commit(first.length);
  const rest: string[] = [];
  for (let lines = q.take(500); lines.length; lines = q.take(500)) {
    rest.push(...lines);
    q.commit(lines.length);
  }
  t.equal(first.length + rest.length, 40, 'the next takes hand over the rest');
  t.equal((JSON.parse([...first, ...rest][39]) as { n: number }).n, 39, 'the last one last');
  // a single line over the bound still goes, alone
  t.ok(q.append(JSON.stringify({ n: 40, cmdline: 'y'.repeat(17 << 20) })), 'a line of 17 MB queued');
  t.equal(q.take(500).length, 1, 'a line larger than the bound is taken alone');
  q.close();
});

t.test('lines scored and committed do not stay in memory: the bound holds while a backlog drains', async (t) => {
  // The queue promises at most `memoryBytes` of lines in memory; `heldBytes` counts the lines
  // not yet committed. A committed line's string stayed referenced from the entries before
  // `head` until 10,000 of them had gathered: with lines of 32 kB (a snapshot's rows in one
  // line; max_line_bytes is 1 MB) that is up to 320 MB (at 1 MB a line, 10 GB) held past the
  // bound, far past the watchdog's 200 MB of growth.
  const gc = (() => {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  })();
  const d = dir(t);
  const memory = 1 << 20;
  const lines = 600;
  let q = new DurableQueue(d, 256 << 20, undefined, memory);
  let refused = 0;
  for (let i = 0; i < lines; i++) if (!q.append(`line ${i} ${String(i % 10).repeat(32 * 1024)}`)) refused++;
  t.equal(refused, 0);
  q.close();
  // read back from the segments: each line a string of its own
  q = new DurableQueue(d, 256 << 20, undefined, memory);
  t.equal(q.length, lines);
  gc();
  const base = process.memoryUsage().heapUsed;
  let peak = 0;
  let taken = 0;
  while (q.length) {
    const got = q.take(20);
    if (!got.length) {
      t.fail(`take found no line while ${q.length} are queued`);
      break;
    }
    taken += got.length;
    q.counters.scored += got.length;
    q.commit(got.length);
    gc();
    peak = Math.max(peak, process.memoryUsage().heapUsed - base);
  }
  t.equal(taken, lines, 'every line taken once');
  // 600 lines of 32 kB are 19.7 MB: held, the heap grows by that much
  t.ok(
    peak < 6 * memory,
    `the heap grew by at most ${(peak / 1048576).toFixed(1)} MB while ${((lines * 32) / 1024).toFixed(1)} MB of lines went through a queue bounded to ${memory / 1048576} MB`,
  );
  q.close();
});

t.test('the lines of a backlog segment that cannot be read back no longer count against queue.max_bytes', async (t) => {
  // The queue refuses a line once the bytes it holds would pass max_bytes. Lines set aside
  // because their segment was gone when read back were counted set aside, but their bytes
  // stayed in the queue's total: each such segment (up to 16 MB) shrank the room for new
  // lines until the next start, and the next lines were refused and dropped.
  const d = dir(t);
  const { log } = logs();
  const line = (what: string, i: number) => `${what} ${String(i).padStart(4, '0')} ${'y'.repeat(100)}`;
  const max = 32 * 1024;
  let q = new DurableQueue(d, max, log, 4096);
  for (let i = 0; i < 100; i++) t.ok(q.append(line('first', i)));
  q.close();
  q = new DurableQueue(d, max, log, 4096);
  for (let i = 0; i < 100; i++) t.ok(q.append(line('second', i)));
  const segments = fs
    .readdirSync(d)
    .filter((f) => /^\d{8}\.log$/.test(f))
    .sort();
  fs.rmSync(path.join(d, segments[0]));
  let got = 0;
  for (let n = 0; n < 1000 && q.length; n++) {
    const lines = q.take(50);
    got += lines.length;
    q.counters.scored += lines.length;
    q.commit(lines.length);
  }
  t.equal(q.length, 0, 'the queue drains');
  t.equal(got + q.counters.set_aside, 200);
  // empty again: it takes what max_bytes allows (250 lines of 112 bytes are 28,000 of 32,768)
  let refused = 0;
  for (let i = 0; i < 250; i++) if (!q.append(line('third', i))) refused++;
  t.equal(refused, 0, `an emptied queue takes ${250 - refused} of 250 lines that fit in queue.max_bytes`);
  q.close();
});

t.test('lines set aside while read back are counted in the cursor saved next, with nothing left to commit', async (t) => {
  // A segment that cannot be read back costs its lines, counted set aside. The count is saved
  // with the cursor, which was marked for saving only by a commit: when those were the last
  // lines queued, nothing was committed after, and a kill before the next line arrived lost
  // the count. The next start then counted the lines nowhere: received and accepted went
  // back by that many.
  const d = dir(t);
  const { log } = logs();
  let q = new DurableQueue(d, 1 << 20, log, 4096);
  for (let i = 0; i < 100; i++) q.append(`line ${i} ${'y'.repeat(100)}`);
  q.counters.accepted = q.counters.received = 100;
  q.counters.queued = q.length;
  const inMemory = q.take(1000);
  t.ok(inMemory.length > 0 && inMemory.length < 100, `${inMemory.length} lines in memory, the rest on disk only`);
  q.counters.scored += inMemory.length;
  q.commit(inMemory.length);
  await q.flushInBackground();
  const segments = fs.readdirSync(d).filter((f) => /^\d{8}\.log$/.test(f));
  for (const s of segments) fs.rmSync(path.join(d, s));
  t.same(q.take(1000), [], 'the rest cannot be read back');
  t.equal(q.counters.set_aside, 100 - inMemory.length, 'and is counted set aside');
  await q.flushInBackground();
  // killed here: no close()
  q = new DurableQueue(d, 1 << 20, log, 4096);
  const c = q.counters;
  t.equal(c.set_aside, 100 - inMemory.length, 'the next start still counts them set aside');
  t.equal(c.accepted, 100, `every accepted line is counted after the restart (${JSON.stringify(c)})`);
  q.close();
});

t.test('out of descriptors while a backlog is read back: its lines wait for the next take, none is set aside', async (t) => {
  const d = dir(t);
  let q = new DurableQueue(d, 64 << 20, undefined, 4096);
  for (let i = 0; i < 100; i++) q.append(`line ${i} ${'z'.repeat(100)}`);
  q.close();
  q = new DurableQueue(d, 64 << 20, undefined, 4096);
  const real = fsModule.openSync;
  let refused = 0;
  fsModule.openSync = ((file: fs.PathLike, ...rest: unknown[]) => {
    if (refused < 3 && String(file).endsWith('.log') && rest[0] === fs.constants.O_RDONLY + fs.constants.O_NOFOLLOW) {
      refused++;
      throw Object.assign(new Error('EMFILE: too many open files, open'), { code: 'EMFILE' });
    }
    return (real as (...a: unknown[]) => number)(file, ...rest);
  }) as typeof fs.openSync;
  const got: string[] = [];
  try {
    for (let n = 0; n < 1000 && q.length; n++) {
      const lines = q.take(20);
      got.push(...lines);
      q.commit(lines.length);
    }
  } finally {
    fsModule.openSync = real;
  }
  t.ok(refused > 0, `the open was refused ${refused} times`);
  t.equal(q.counters.set_aside, 0, 'nothing set aside');
  t.same(
    got.map((l) => Number(l.split(' ')[1])),
    Array.from({ length: 100 }, (_, i) => i),
    'every line, once, in order',
  );
  q.close();
});

/** make reads of queue segments opened for reading back fail with EIO while `failing()` says so */
function eioOnReadBack(failing: () => boolean): { restore(): void; tries(): number } {
  const realOpen = fsModule.openSync;
  const realRead = fsModule.readSync;
  const segmentFds = new Set<number>();
  let tries = 0;
  fsModule.openSync = ((file: fs.PathLike, ...rest: unknown[]) => {
    const fd = (realOpen as (...a: unknown[]) => number)(file, ...rest);
    if (String(file).endsWith('.log') && rest[0] === fs.constants.O_RDONLY + fs.constants.O_NOFOLLOW) segmentFds.add(fd);
    else segmentFds.delete(fd);
    return fd;
  }) as typeof fs.openSync;
  fsModule.readSync = ((fd: number, ...rest: unknown[]) => {
    if (segmentFds.has(fd)) {
      tries++;
      if (failing()) throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', errno: -5, syscall: 'read' });
    }
    return (realRead as (...a: unknown[]) => number)(fd, ...rest);
  }) as typeof fs.readSync;
  return {
    restore: () => {
      fsModule.openSync = realOpen;
      fsModule.readSync = realRead;
    },
    tries: () => tries,
  };
}

t.test('an I/O error while the backlog is read back: the lines wait and are tried again later, none is lost', async (t) => {
  const d = dir(t);
  const { out, log } = logs();
  let q = new DurableQueue(d, 64 << 20, log, 4096);
  for (let i = 0; i < 100; i++) q.append(`line ${i} ${'z'.repeat(100)}`);
  q.close();
  let clock = 1_000_000;
  q = new DurableQueue(d, 64 << 20, log, 4096, () => clock);
  let failures = 3;
  const fault = eioOnReadBack(() => failures-- > 0);
  const got: string[] = [];
  let emptyTakes = 0;
  try {
    for (let n = 0; n < 1000 && q.length; n++) {
      const lines = q.take(20);
      if (!lines.length) {
        emptyTakes++;
        // the wait before the next try, on the queue's clock; nothing is tried before it
        const before = fault.tries();
        t.same(q.take(20), [], 'nothing before the wait is over');
        t.equal(fault.tries(), before, 'and no read tried');
        clock += 60_000;
      }
      got.push(...lines);
      q.counters.scored += lines.length;
      q.commit(lines.length);
    }
  } finally {
    fault.restore();
  }
  t.equal(emptyTakes, 3, 'three reads failed, each a wait');
  t.equal(q.counters.set_aside, 0, 'nothing set aside');
  t.same(
    got.map((l) => Number(l.split(' ')[1])),
    Array.from({ length: 100 }, (_, i) => i),
    'every line, once, in order',
  );
  t.ok(
    out.some((l) => /EIO/.test(l) && /tried again/.test(l)),
    out.join('\n'),
  );
  q.close();
});

/**
 * A queue over a backlog segment of 100 lines (`first i`) whose reads fail with EIO until it
 * is given up on, then 20 lines (`second i`) in the segment written now; `before` runs on the
 * state directory first. Drained line by line, the clock moved on past each wait.
 */
function drainFailingBacklog(t: Test, before: (d: string) => void = () => {}) {
  const d = dir(t);
  const { out, log } = logs();
  let q = new DurableQueue(d, 64 << 20, log, 4096);
  for (let i = 0; i < 100; i++) q.append(`first ${i} ${'z'.repeat(100)}`);
  q.close();
  const segment = fs.readdirSync(d).filter((f) => /^\d{8}\.log$/.test(f));
  const bytes = fs.readFileSync(path.join(d, segment[0]));
  before(d);
  let clock = 1_000_000;
  q = new DurableQueue(d, 64 << 20, log, 4096, () => clock);
  // lines after the failing segment, in the segment written now: on disk only as well
  for (let i = 0; i < 20; i++) q.append(`second ${i} ${'z'.repeat(100)}`);
  let failing = true;
  const fault = eioOnReadBack(() => failing);
  const got: string[] = [];
  try {
    for (let n = 0; n < 1000 && q.length; n++) {
      const lines = q.take(20);
      if (!lines.length) clock += 60_000;
      // the failing segment is given up on; the later one reads
      if (out.some((l) => /cannot read back queued lines after/.test(l))) failing = false;
      got.push(...lines);
      q.counters.scored += lines.length;
      q.commit(lines.length);
    }
  } finally {
    fault.restore();
  }
  return { d, out, log, q, segment, bytes, got };
}

t.test('a backlog segment that keeps failing with I/O errors is moved aside whole, never deleted, and its lines counted', async (t) => {
  const { d, out, log, segment, bytes, got, ...rest } = drainFailingBacklog(t);
  let q = rest.q;
  t.equal(segment.length, 1);
  const inMemory = got.filter((l) => l.startsWith('first')).length;
  t.equal(q.length, 0, 'the queue drains');
  t.equal(got.filter((l) => l.startsWith('second')).length, 20, 'the later lines all come back');
  t.equal(q.counters.set_aside, 100 - inMemory, `the ${100 - inMemory} unread lines of the failing segment are counted set aside`);
  const aside = fs.existsSync(path.join(d, 'quarantine')) ? fs.readdirSync(path.join(d, 'quarantine')) : [];
  t.equal(aside.length, 1, `moved aside: ${aside.join(', ')}`);
  if (aside.length) t.same(fs.readFileSync(path.join(d, 'quarantine', aside[0])), bytes, 'with every byte');
  const said = out.find((l) => /moved to/.test(l)) ?? '';
  t.match(said, new RegExp(`${segment[0]}.*EIO.*moved to .*quarantine.*${100 - inMemory} lines`), said);
  q.close();
  // and a restart finds nothing of it to replay (it is not scored twice)
  q = new DurableQueue(d, 64 << 20, log, 4096);
  t.equal(q.length, 0, 'nothing replayed after a restart');
  q.close();
});

t.test('an I/O error while a segment is replayed at start: the queue still opens, the segment is moved aside whole', async (t) => {
  // the read at start threw out of the constructor: the extension could not start, and
  // osqueryd restarted it into the same error, with no logger meanwhile
  const d = dir(t);
  const { out, log } = logs();
  let q = new DurableQueue(d, 64 << 20, log, 4096);
  for (let i = 0; i < 100; i++) q.append(`first ${i} ${'z'.repeat(100)}`);
  q.close();
  const segment = fs.readdirSync(d).filter((f) => /^\d{8}\.log$/.test(f));
  const bytes = fs.readFileSync(path.join(d, segment[0]));
  let reads = 0;
  // the first chunk reads, the second fails: some lines were taken before the error
  const fault = eioOnReadBack(() => ++reads > 1);
  try {
    q = new DurableQueue(d, 64 << 20, log, 512);
  } finally {
    fault.restore();
  }
  t.equal(q.length, 0, 'nothing of it is replayed (its lines are all in the file moved aside)');
  t.ok(q.counters.set_aside >= 1, `counted set aside: ${q.counters.set_aside}`);
  const aside = fs.readdirSync(path.join(d, 'quarantine'));
  t.equal(aside.length, 1, aside.join(', '));
  t.same(fs.readFileSync(path.join(d, 'quarantine', aside[0])), bytes, 'with every byte');
  t.match(out.join('\n'), new RegExp(`${segment[0]}: cannot read a queue segment .*EIO.*moved to .*quarantine`));
  t.ok(q.append('after'), 'new lines are taken');
  t.same(q.take(10), ['after']);
  q.close();
});

t.test('a failing backlog segment that cannot go into quarantine/ is still kept, beside, and not removed as the queue passes it', async (t) => {
  // quarantine/ cannot be made (a file in its place here; a full disk refuses the mkdir as
  // well): the segment stayed in place, and the commit of the lines after it removed it, as
  // it removes every segment the cursor passes, so its bytes were gone for the person the
  // message promised them to
  const { d, out, log, segment, bytes, ...rest } = drainFailingBacklog(t, (d) => fs.writeFileSync(path.join(d, 'quarantine'), 'not a directory'));
  let q = rest.q;
  t.equal(q.length, 0, 'the queue drains');
  q.close();
  // a restart removes every segment before the cursor, at once
  q = new DurableQueue(d, 64 << 20, log, 4096);
  t.equal(q.length, 0, 'nothing replayed after a restart');
  q.close();
  const kept = fs.readdirSync(d).filter((f) => f.startsWith(`${segment[0]}.`));
  t.equal(kept.length, 1, `kept beside: ${kept.join(', ')}`);
  if (kept.length) t.same(fs.readFileSync(path.join(d, kept[0])), bytes, 'with every byte');
  const said = out.find((l) => /cannot read back queued lines after/.test(l)) ?? '';
  t.match(said, new RegExp(`moved to .*${kept[0] ?? 'nowhere'}`), said);
});
