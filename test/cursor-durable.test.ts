import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import fsModule = require('fs');
import { DurableQueue } from '../extension/queue';
import { RetainedScores } from '../state/scores';
import { plainRow } from './helpers/scored';

// A power loss cannot be made in a test, so the order of the durable operations is what is
// checked: the queue's cursor is saved every 200 ms, past lines whose rows the retained
// scores wrote at once; a cursor that reached the disk before those rows did would, after a
// power loss, point past rows that are gone, and their lines are never scored again. Every
// save of the cursor must come after an fdatasync of each segment written since the last.

interface Op {
  op: 'sync' | 'cursor';
  file: string;
}

/** the file an fd names now (Linux) */
const fileOf = (fd: number) => {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return `fd ${fd}`;
  }
};

/** record fsyncs, fdatasyncs and renames onto the cursor, in their order */
function spy(t: { teardown(fn: () => void): void }): Op[] {
  const ops: Op[] = [];
  const f = fsModule as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const name of ['fsync', 'fdatasync', 'fsyncSync', 'fdatasyncSync']) {
    const real = f[name];
    f[name] = (fd: unknown, ...rest: unknown[]) => {
      ops.push({ op: 'sync', file: fileOf(fd as number) });
      return real.call(fsModule, fd, ...rest);
    };
    t.teardown(() => (f[name] = real));
  }
  const rename = fsModule.renameSync;
  fsModule.renameSync = (from: fs.PathLike, to: fs.PathLike) => {
    if (String(to).endsWith('cursor.json')) ops.push({ op: 'cursor', file: String(to) });
    return rename(from, to);
  };
  t.teardown(() => (fsModule.renameSync = rename));
  return ops;
}

t.test('the cursor is saved past retained rows only after their segment is synced (durable)', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-cursor-durable-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const queue = new DurableQueue(path.join(root, 'queue'), 1 << 20);
  const scores = new RetainedScores({ dir: path.join(root, 'scores'), maxRows: 100_000, maxDays: 3650 });
  queue.syncBeforeCursor([scores]);
  const ops = spy(t);
  let next = 0;
  // three lines as the ingest runs them: accepted, scored, their rows retained, committed,
  // then the timer's flush; a line of differential results holds many rows, and the last two
  // lines' rows reach a new segment of the store (a segment holds 100,000)
  for (const rows of [10, 99_995, 20]) {
    queue.append(`line of ${rows} rows`);
    const taken = queue.take(1);
    scores.append(Array.from({ length: rows }, (_, i) => plainRow(next + i)));
    next += rows;
    queue.commit(taken.length);
    await queue.flushInBackground();
  }
  // a flush with nothing new does no I/O
  const before = ops.length;
  await queue.flushInBackground();
  t.equal(ops.length, before, 'an idle flush syncs nothing and saves no cursor');

  const cursorSaves = ops.flatMap((o, k) => (o.op === 'cursor' ? [k] : []));
  t.equal(cursorSaves.length, 3, 'the cursor is saved once a batch');
  // between one save and the next, each segment written in that round is synced once, and
  // no other: the first round wrote the first segment, the second both, the third the second
  const written = [['segment-00000001.jsonl'], ['segment-00000001.jsonl', 'segment-00000002.jsonl'], ['segment-00000002.jsonl']];
  for (let s = 0; s < cursorSaves.length; s++) {
    const from = s ? cursorSaves[s - 1] : 0;
    const synced = ops
      .slice(from, cursorSaves[s])
      .filter((o) => o.op === 'sync' && /segment-\d+\.jsonl$/.test(o.file))
      .map((o) => path.basename(o.file))
      .sort();
    t.same(synced, written[s], `cursor save ${s + 1} comes after one sync of each segment its rows went to`);
  }

  // the synchronous save at close does the same
  queue.append('last');
  scores.append([plainRow(next)]);
  queue.commit(queue.take(1).length);
  const mark = ops.length;
  queue.close();
  const atClose = ops.slice(mark);
  const cursorAt = atClose.findIndex((o) => o.op === 'cursor');
  t.ok(cursorAt > 0, 'the cursor is saved at close');
  t.ok(
    atClose.slice(0, cursorAt).some((o) => o.op === 'sync' && o.file.endsWith('segment-00000002.jsonl')),
    'after the sync of the segment the last row went to',
  );
  scores.close();
});
