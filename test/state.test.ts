import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import fsModule = require('fs');
import { readStateFile, StateFileError, writeStateFile, writeStateFileInBackground } from '../state/atomic';
import { RetainedScores } from '../state/scores';
import type { ScoredEvent, TakenMark, Verdict } from '../scorer/types';
import type { ScoreFilter } from '../state/store';
import { plainRow } from './helpers/scored';

const tmp = (t: Tap) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-state-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
};
type Tap = { teardown(fn: () => void): void };

t.test('atomic, versioned state files; bad ones are quarantined', async (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'alice.json');
  writeStateFile(file, 'subject', 1, { a: 1 });
  t.same(readStateFile(file, 'subject', 1), { a: 1 });
  // a crash after writing the temp file but before the rename leaves the old file whole
  fs.writeFileSync(path.join(dir, '.alice.json.999.tmp'), '{"format":"anomaly-ext","kind":"subj');
  t.same(readStateFile(file, 'subject', 1), { a: 1 }, 'the target is never half-written');
  t.equal(readStateFile(path.join(dir, 'missing.json'), 'subject', 1), undefined);
  for (const [content, why] of [
    ['{"format":"anomaly-ext","kind":"subject","vers', /corrupt/],
    ['{"hello":"world"}', /not an anomaly-ext state file/],
    [JSON.stringify({ format: 'anomaly-ext', kind: 'subject', version: 7, payload: {} }), /format version 7/],
    [JSON.stringify({ format: 'anomaly-ext', kind: 'queue-cursor', version: 1, payload: {} }), /holds "queue-cursor" state/],
    [JSON.stringify({ format: 'anomaly-ext', kind: 'subject', version: 1, payload: null }), /invalid subject state: \(the payload\) must be object/],
    [JSON.stringify({ format: 'anomaly-ext', kind: 'subject', version: 1, payload: { a: 'x' } }), /invalid subject state: \/a must be number/],
  ] as const) {
    fs.writeFileSync(file, content);
    const before = fs.existsSync(path.join(dir, 'quarantine')) ? fs.readdirSync(path.join(dir, 'quarantine')).length : 0;
    let caught: unknown;
    try {
      readStateFile(file, 'subject', 1, (p) =>
        p === null || typeof p !== 'object' ? '(the payload) must be object' : typeof (p as { a: unknown }).a === 'number' ? null : '/a must be number',
      );
    } catch (err) {
      caught = err;
    }
    t.type(caught, StateFileError, `refused: ${why}`);
    t.match((caught as Error).message, why, 'with the reason');
    t.notOk(fs.existsSync(file), 'moved away');
    t.equal(fs.readdirSync(path.join(dir, 'quarantine')).length, before + 1, 'one more file in quarantine');
  }
});

t.test('state files are never written through a planted link', async (t) => {
  const dir = tmp(t);
  const victim = path.join(dir, 'victim');
  fs.writeFileSync(victim, 'precious');
  const file = path.join(dir, 'cursor.json');
  // the temp file name of the old code: pid-named, opened with truncation
  fs.symlinkSync(victim, path.join(dir, `.cursor.json.${process.pid}.tmp`));
  writeStateFile(file, 'queue-cursor', 1, { segment: 1, position: 0 });
  t.equal(fs.readFileSync(victim, 'utf8'), 'precious', 'the link target is untouched');
  t.equal(fs.statSync(file).mode & 0o777, 0o600, 'the state file is 0600');
  fs.rmSync(file);
  fs.symlinkSync(victim, file);
  t.throws(() => readStateFile(file, 'queue-cursor', 1), /is a symbolic link/, 'a link is not read through');
  t.equal(fs.readFileSync(victim, 'utf8'), 'precious');
});

function rng(seed: number) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

function events(n: number, seed = 1, start = 1_790_000_000): ScoredEvent[] {
  const r = rng(seed);
  const verdicts: Verdict[] = ['good', 'ugly', 'bad', 'learning'];
  return Array.from({ length: n }, (_, i) => {
    const verdict = verdicts[Math.floor(r() * 4)];
    return {
      id: `id-${seed}-${i}`,
      time: start + i * 10,
      host: `h${Math.floor(r() * 3)}`,
      subject: ['alice', 'bob', 'host'][Math.floor(r() * 3)],
      query: 'q',
      action: 'added',
      event: `e${i}`,
      score: verdict === 'learning' ? null : Math.round(r() * 1000) / 1000,
      verdict,
      model: 'rarity',
      reasons: `why ${i}`,
      columns: '{}',
    };
  });
}

t.test('retained scores: push-down filters equal brute force, across reopen', async (t) => {
  const dir = tmp(t);
  const all = events(5000);
  let store = new RetainedScores({ dir, maxRows: 100_000, maxDays: 3650 });
  store.append(all.slice(0, 2500));
  store.append(all.slice(2500));
  store.close();
  store = new RetainedScores({ dir, maxRows: 100_000, maxDays: 3650 });
  t.equal(store.size, 5000, 'everything reloaded');
  const newestFirst = [...all].reverse();
  const r = rng(99);
  for (let k = 0; k < 40; k++) {
    const f: ScoreFilter = {};
    if (r() < 0.5) f.score = [{ op: r() < 0.5 ? '<' : '<=', value: Math.round(r() * 100) / 100 }, ...(r() < 0.3 ? [{ op: '>' as const, value: 0.1 }] : [])];
    if (r() < 0.4) f.time = [{ op: '>=', value: 1_790_000_000 + Math.floor(r() * 50000) }];
    if (r() < 0.4) f.subject = r() < 0.5 ? ['alice'] : ['bob', 'host'];
    if (r() < 0.3) f.verdict = ['bad'];
    if (r() < 0.2) f.host = ['h1', 'nope'];
    const expected = newestFirst.filter((e) => {
      // the push-down lets through rows within SCORE_SLACK (1e-6) of an edge, for SQLite to
      // decide on the value it is shown: no score here is that close to an edge but on it
      if (f.score && (e.score === null || !f.score.every((b) => cmp(e.score!, b.op === '<' ? '<=' : b.op === '>' ? '>=' : b.op, b.value)))) return false;
      if (f.time && !f.time.every((b) => cmp(e.time, b.op, b.value))) return false;
      if (f.subject && !f.subject.includes(e.subject)) return false;
      if (f.verdict && !f.verdict.includes(e.verdict)) return false;
      if (f.host && !f.host.includes(e.host)) return false;
      return true;
    });
    t.same(
      store.select(f).map((e) => e.id),
      expected.map((e) => e.id),
      `filter ${JSON.stringify(f)}`,
    );
  }
  t.equal(store.get('id-1-1234')?.event, 'e1234', 'get by id');
  store.close();
});

function cmp(a: number, op: string, b: number): boolean {
  return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
}

t.test('retained scores: low rows read from memory equal those read from disk, across eviction and reopen', async (t) => {
  const all = events(5000);
  // under 0.5 with the push-down's slack (1e-6): the list of low rows is walked, not every row
  const low = { score: [{ op: '<' as const, value: 0.4995 }] };
  const cachedDir = tmp(t);
  const cached = new RetainedScores({ dir: cachedDir, maxRows: 100_000, maxDays: 3650 });
  // a cache of a few rows' bytes: almost every low row is read back from its segment
  const tiny = new RetainedScores({ dir: tmp(t), maxRows: 100_000, maxDays: 3650, lowCacheBytes: 2000 });
  for (const store of [cached, tiny]) for (let k = 0; k < all.length; k += 700) store.append(all.slice(k, k + 700));
  const expected = [...all].reverse().filter((e) => e.score !== null && e.score < 0.4995);
  t.ok(expected.length > 100, 'enough low rows to overflow the tiny cache');
  t.same(cached.select(low), expected, 'whole records, from memory');
  t.same(tiny.select(low), expected, 'whole records, mostly from disk');
  cached.close();
  const reopened = new RetainedScores({ dir: cachedDir, maxRows: 100_000, maxDays: 3650 });
  t.same(reopened.select(low), expected, 'and after reopening');
  reopened.close();
  tiny.close();
});

t.test('retention by rows and by age, and a torn tail after a crash', async (t) => {
  const dir = tmp(t);
  const store = new RetainedScores({ dir, maxRows: 1000, maxDays: 1 });
  store.append(events(3000, 2));
  t.equal(store.size, 1000, 'at most max_rows');
  t.equal(store.select({})[0].id, 'id-2-2999', 'newest first');
  // the alert query reads the list of low scores: it must forget dropped rows too
  const low = events(3000, 2)
    .slice(2000)
    .reverse()
    .filter((e) => e.score !== null && Math.fround(e.score) < Math.fround(0.3));
  t.same(
    store.select({ score: [{ op: '<', value: 0.3 }] }).map((e) => e.id),
    low.map((e) => e.id),
    'score < 0.3 after retention dropped rows',
  );
  store.append(events(3000, 4, 1_790_000_000 + 40_000));
  const low4 = events(3000, 4, 1_790_000_000 + 40_000)
    .slice(2000)
    .reverse()
    .filter((e) => e.score !== null && Math.fround(e.score) < Math.fround(0.3));
  t.same(
    store.select({ score: [{ op: '<', value: 0.3 }] }).map((e) => e.id),
    low4.map((e) => e.id),
    'and after the list was compacted',
  );
  store.append(events(3000, 2));
  store.append(events(10, 3, 1_790_000_000 + 5 * 86400));
  t.equal(store.size, 10, 'rows older than max_days before the newest are dropped');
  store.close();
  const seg = fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('segment-'))
    .sort()
    .at(-1)!;
  fs.appendFileSync(path.join(dir, seg), '{"id":"torn","ti');
  const again = new RetainedScores({ dir, maxRows: 1000, maxDays: 1 });
  t.equal(again.size, 10, 'the torn record is skipped');
  again.append(events(1, 4, 1_790_000_000 + 5 * 86400 + 100));
  again.close();
  t.equal(new RetainedScores({ dir, maxRows: 1000, maxDays: 1 }).size, 11, 'and appends after it stay readable');
});

t.test('retained scores: rows replayed after a crash (the queue cursor is saved at most every 250 ms) are not kept twice', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-replay-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const first = events(50);
  let store = new RetainedScores({ dir, maxRows: 100_000, maxDays: 3650 });
  store.append(first);
  // SIGKILL: the rows are on disk, the cursor still before the last 20 of their lines
  store.close();
  const logs: string[] = [];
  store = new RetainedScores({ dir, maxRows: 100_000, maxDays: 3650, log: (_l, m) => logs.push(m) });
  const later = events(10, 2, 1_790_001_000);
  store.append([...first.slice(30), ...later]);
  t.equal(store.size, 60, 'the 20 replayed rows are kept once, the 10 new ones kept');
  t.same([...store.select({})].map((e) => e.id).sort(), [...first, ...later].map((e) => e.id).sort(), 'each id once');
  t.match(logs.join('\n'), /20 rows .*already retained/, 'the log says so');
  // later appends are not checked against old ids: identical rows of a new run are kept
  store.append(first.slice(0, 1));
  t.equal(store.size, 61);
  store.close();
});

t.test(
  'retained scores: a whole queue segment replayed (a damaged cursor) of more than 50,000 rows is kept once, by the queue marks the rows carry (durable)',
  async (t) => {
    // A damaged queue/cursor.json replays its whole segment (16 MB: about 50,000 lines of 300
    // bytes, more rows when a line holds several); the filter by the ids of the last 50,000 rows
    // loaded (REPLAY_IDS) ended at the first replayed row older than those, and every row of the
    // replay was kept twice: 60,000 rows gave 120,000
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-replay-deep-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const rows = 60_000;
    // each row of its own line, as the scorer thread marks a queued line's rows
    const row = (i: number, epoch = 'e1', segment = 1) => ({ ...plainRow(i), queued: [epoch, segment, 100 * (i + 1), 0] }) as ScoredEvent;
    const appendAll = (store: RetainedScores, from = 0) => {
      for (let i = from; i < rows; i += 50) store.append(Array.from({ length: Math.min(50, rows - i) }, (_, k) => row(i + k)));
    };
    let store = new RetainedScores({ dir, maxRows: 1_000_000, maxDays: 3650 });
    appendAll(store);
    store.close();
    const logs: string[] = [];
    store = new RetainedScores({ dir, maxRows: 1_000_000, maxDays: 3650, log: (_l, m) => logs.push(m) });
    appendAll(store);
    t.equal(store.size, rows, `all ${rows} rows replayed after a restart are kept once`);
    t.match(logs.join('\n'), /rows scored again were already retained; kept once/, 'the log says so');
    // the lines after the replay are kept, and so are rows at the same places under a new epoch
    // (the queue's positions may repeat there)
    store.append([row(rows), row(rows + 1)]);
    store.append([row(0, 'e2')]);
    t.equal(store.size, rows + 3, 'new lines after the replay are kept, and a row of another epoch');
    store.close();
  },
);

t.test('retained scores: the rows after a window mark are given oldest first, in slices, bounded, and only of its epoch (opendur)', async (t) => {
  // what a start gives back to the open windows (scorer/window-rebuild.ts)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-retained-after-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const row = (i: number, epoch = 'e1') => ({ ...plainRow(i), queued: [epoch, 1, 100 * (i + 1), 0] }) as ScoredEvent;
  const store = new RetainedScores({ dir, maxRows: 1_000_000, maxDays: 3650 });
  t.teardown(() => store.close());
  // rows of an earlier epoch, then 25,000 of the current one
  store.append([row(0, 'e0'), row(1, 'e0')]);
  for (let i = 0; i < 25_000; i += 1_000) store.append(Array.from({ length: 1_000 }, (_, k) => row(i + k)));
  const after = (taken: TakenMark | null, max = 500_000) => [...store.retainedAfter(taken, max)];
  const given = after({ epoch: 'e1', at: [1, 100 * 5_000, 0] });
  const rows = given.filter((e) => e !== null);
  t.equal(rows.length, 20_000, 'the 20,000 rows past the mark');
  t.same(
    [rows[0].queued, rows[rows.length - 1].queued],
    [
      ['e1', 1, 500_100, 0],
      ['e1', 1, 2_500_000, 0],
    ],
    'oldest first',
  );
  t.equal(given.length - rows.length, 4, 'with a turn every 10,000 rows read, in each of its two passes');
  t.equal(after({ epoch: 'e1', at: [1, 100 * 25_000, 0] }).length, 0, 'none past the newest');
  t.equal(after(null).filter((e) => e !== null).length, 25_000, "no mark: the rows of the newest row's epoch");
  t.equal(after(null, 3_000).filter((e) => e !== null).length, 3_000, 'at most the bound: the newest');
  t.equal(after({ epoch: 'e0', at: [1, 100, 0] }).length, 0, 'a mark of an epoch the newest rows do not have: nothing (which epoch came first is not known)');
  // a user's long rows: the turns come by bytes read too, not only by rows (review: 10,000 rows
  // of 86 kB held the thread that answers osqueryd for 1.2 s)
  const longDir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-retained-after-long-'));
  t.teardown(() => fs.rmSync(longDir, { recursive: true, force: true }));
  const long = new RetainedScores({ dir: longDir, maxRows: 1_000_000, maxDays: 3650 });
  t.teardown(() => long.close());
  const text = 'x'.repeat(100_000);
  long.append(Array.from({ length: 100 }, (_, i) => ({ ...row(i), reasons: text }) as ScoredEvent));
  const read = [...long.retainedAfter(null, 500_000)];
  t.equal(read.filter((e) => e !== null).length, 100, 'every long row given back');
  t.ok(read.length - 100 >= 4, `a turn every 4 MB read in each pass (${read.length - 100} turns for 10 MB read twice)`);
});

t.test('a rename that fails does not close the descriptor number a second time', async (t) => {
  // replaceFile closed its copy, the rename failed, and its clean-up closed the same number
  // again: by then another open (libuv's pool, the scorer's thread) may hold it, and its file
  // was closed under it. A failing rename is here made to open a file first, as such a
  // thread would, which takes the lowest free number: the one just closed.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-state-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const other = path.join(dir, 'other');
  fs.writeFileSync(other, 'x');
  let otherFd = -1;
  const real = fsModule.renameSync;
  fsModule.renameSync = () => {
    otherFd = fsModule.openSync(other, 'r');
    throw Object.assign(new Error('ENOSPC: no space left on device, rename'), { code: 'ENOSPC' });
  };
  try {
    t.throws(() => writeStateFile(path.join(dir, 'state.json'), 'test', 1, { a: 1 }), /ENOSPC/);
  } finally {
    fsModule.renameSync = real;
  }
  t.not(otherFd, -1);
  t.doesNotThrow(() => fs.fstatSync(otherFd), "the other file's descriptor is still open");
  fs.closeSync(otherFd);
  t.same(
    fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
    'the copy is removed',
  );
});

t.test('a background state write whose close fails leaves no copy behind', async (t) => {
  // close(2) can report the error of a write the kernel deferred (EIO on NFS, ENOSPC on a
  // quota'd disk): the copy is then not to be trusted and must not be left in the state
  // directory, as replaceFile does on the same failure. Here the descriptor is really closed
  // and the close then reports EIO.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-state-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const promises = fsModule.promises as { open: typeof fs.promises.open };
  const realOpen = promises.open;
  promises.open = (async (...args: Parameters<typeof fs.promises.open>) => {
    const handle = await realOpen(...args);
    // FileHandle's close is an own property (a bound arrow), so it is replaced on the handle
    const close = handle.close;
    handle.close = async () => {
      await close();
      throw Object.assign(new Error('EIO: i/o error, close'), { code: 'EIO' });
    };
    return handle;
  }) as typeof fs.promises.open;
  let outcome: unknown;
  try {
    outcome = await writeStateFileInBackground(path.join(dir, 'cursor.json'), 'test', 1, { a: 1 }, () => false).catch((err: Error) => err);
  } finally {
    promises.open = realOpen;
  }
  t.match(outcome, /EIO/, 'the failure is reported');
  t.same(fs.readdirSync(dir), [], 'no copy left, and nothing renamed into place');
});
