import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { SCORED_RUNS, TRAINED_RUNS, TrainLedger } from '../cli/train-ledger';
import { runKey } from '../state/retained-runs';
import type { ResultRow } from '../scorer/types';

// The ledger of runs `anomaly train` has learned (cli/train-ledger.ts) is appended to after
// each training; a crash or a full disk can leave its last line cut short.

const run = (time: number): ResultRow => ({ query: 'process_events', host: 'h1', time, action: 'added', columns: {}, decorations: {} });

t.test('a torn last line of the train ledger does not swallow the next run learned', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-ledger-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'trained-runs');
  let ledger = new TrainLedger(dir);
  t.ok(ledger.isNew(run(1_790_000_000)));
  t.ok(ledger.isNew(run(1_790_000_060)));
  ledger.save();
  // a crash (or ENOSPC) in the middle of the next append: half of a hash, no newline
  const whole = fs.readFileSync(file, 'utf8');
  fs.appendFileSync(file, whole.slice(0, 7));
  ledger = new TrainLedger(dir);
  t.notOk(ledger.isNew(run(1_790_000_000)), 'a run saved whole is still known');
  t.ok(ledger.isNew(run(1_790_000_120)), 'a new run');
  ledger.save();
  ledger = new TrainLedger(dir);
  t.notOk(ledger.isNew(run(1_790_000_120)), 'the run saved after the torn line is known: training the same log again does not learn it twice');
  t.notOk(ledger.isNew(run(1_790_000_060)));
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
});

// osqueryd writes a differential run one line a row; a log read while it writes one (cron
// scoring the growing log every few minutes) holds part of the run. review10: the rest of the
// run, read the next time, was taken for scored (the run was in the ledger) and never scored,
// and shown as "no longer retained".
t.test('a run read in part is known for the rows read: its later rows are new', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-ledger-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const row = (pid: number): ResultRow => ({ ...run(1_790_000_000), columns: { pid: String(pid) } });
  let ledger = new TrainLedger(dir, SCORED_RUNS);
  for (const pid of [1, 2]) {
    const r = row(pid);
    t.notOk(ledger.knows(r));
    ledger.note(r);
  }
  ledger.save();
  ledger = new TrainLedger(dir, SCORED_RUNS);
  t.ok(ledger.knows(row(1)), 'the rows of the run read before are known');
  t.ok(ledger.knows(row(2)));
  const third = row(3);
  t.notOk(ledger.knows(third), 'the row written after them is not');
  ledger.note(third);
  ledger.save();
  ledger = new TrainLedger(dir, SCORED_RUNS);
  t.same(
    [1, 2, 3, 4].map((pid) => ledger.knows(row(pid))),
    [true, true, true, false],
    'the whole run, read again, is known, and a fourth row is new',
  );
  // the same for training, through isNew
  ledger = new TrainLedger(dir);
  t.same([ledger.isNew(row(1)), ledger.isNew(row(2))], [true, true]);
  ledger.save();
  ledger = new TrainLedger(dir);
  t.same(
    [1, 2, 3].map((pid) => ledger.isNew(row(pid))),
    [false, false, true],
    'training learns the later row of the run, once',
  );
  // a ledger written before the counts (bare hashes) knows its runs whole, as it did
  fs.writeFileSync(path.join(dir, SCORED_RUNS), `${runKey(row(1))}\n`);
  ledger = new TrainLedger(dir, SCORED_RUNS);
  t.same(
    [1, 2, 3, 4].map((pid) => ledger.knows(row(pid))),
    [true, true, true, true],
    'an older ledger knows its runs whole',
  );
});

// review10: one line a run, appended at every reading and read whole into memory at the next:
// a year of a host's runs scored daily is millions of entries, a fleet's log a hundred times that
t.test('the ledger is bounded: past its size, only the newest runs are kept', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-ledger-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, SCORED_RUNS);
  const at = (i: number) => run(1_790_000_000 + 60 * i);
  let ledger = new TrainLedger(dir, SCORED_RUNS, 10);
  for (let i = 0; i < 8; i++) t.ok(ledger.isNew(at(i)));
  ledger.save();
  ledger = new TrainLedger(dir, SCORED_RUNS, 10);
  for (let i = 8; i < 12; i++) t.ok(ledger.isNew(at(i)));
  ledger.save();
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
  t.ok(lines.length <= 10, `the file holds ${lines.length} rows, at most 10`);
  ledger = new TrainLedger(dir, SCORED_RUNS, 10);
  t.same(
    [11, 10, 8, 7].map((i) => ledger.knows(at(i))),
    [true, true, true, true],
    'the newest rows are known (the latest appended)',
  );
  t.notOk(ledger.knows(at(0)), 'the oldest is not');
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
  // one reading of more rows than the bound keeps its newest half
  ledger = new TrainLedger(dir, SCORED_RUNS, 10);
  for (let i = 100; i < 130; i++) ledger.isNew(at(i));
  ledger.save();
  t.equal(fs.readFileSync(file, 'utf8').trim().split('\n').length, 5);
  ledger = new TrainLedger(dir, SCORED_RUNS, 10);
  t.same(
    [129, 125, 124].map((i) => ledger.knows(at(i))),
    [true, true, false],
  );
});

t.test('a damaged line of a ledger is named in a warning, not skipped in silence (review12)', async (t) => {
  // a line that is not an entry (a disk error, a file edited by hand, the fragment a crash
  // left and the next save ended) was skipped without a word: the runs it held were scored
  // and learnt again, and nothing said why a subject's history had doubled
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-ledger-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, SCORED_RUNS);
  let ledger = new TrainLedger(dir, SCORED_RUNS);
  for (const time of [1_790_000_000, 1_790_000_060, 1_790_000_120]) ledger.isNew(run(time));
  ledger.save();
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines[1] = `${lines[1].slice(0, 5)}\u0000\u0000#${lines[1].slice(8)}`;
  fs.writeFileSync(file, lines.join('\n'));
  const said: string[] = [];
  ledger = new TrainLedger(dir, SCORED_RUNS, undefined, (m) => said.push(m));
  t.notOk(ledger.isNew(run(1_790_000_000)), 'the runs of whole lines are known');
  t.notOk(ledger.isNew(run(1_790_000_120)));
  t.ok(ledger.isNew(run(1_790_000_060)), 'the damaged line is lost: its run is new again');
  t.equal(said.length, 1, 'one warning');
  t.match(said[0], file, 'naming the file');
  t.match(said[0], /line 2\b/, 'and the line');
  t.match(said[0], /taken for new/, 'and what it costs');
  // a whole file of garbage: one warning, with the count
  fs.writeFileSync(file, 'garbage\n'.repeat(1000));
  said.length = 0;
  ledger = new TrainLedger(dir, SCORED_RUNS, undefined, (m) => said.push(m));
  t.equal(said.length, 1, 'one warning for the file');
  t.match(said[0], /1,000 lines/);
  // a torn last line (a crash or a full disk mid-append) is named at the next reading, and cut
  // off by its save: ended instead, it stayed in the file as a line of its own, named at
  // every reading after
  said.length = 0;
  fs.writeFileSync(file, '');
  ledger = new TrainLedger(dir, SCORED_RUNS);
  ledger.isNew(run(1_790_000_000));
  ledger.save();
  fs.appendFileSync(file, fs.readFileSync(file, 'utf8').slice(0, 7));
  ledger = new TrainLedger(dir, SCORED_RUNS, undefined, (m) => said.push(m));
  t.equal(said.length, 1, 'the torn line is named');
  t.match(said[0], /line 2\b/);
  t.ok(ledger.isNew(run(1_790_000_060)));
  ledger.save();
  said.length = 0;
  ledger = new TrainLedger(dir, SCORED_RUNS, undefined, (m) => said.push(m));
  t.same(said, [], 'once saved again, the file holds whole lines only');
  t.notOk(ledger.isNew(run(1_790_000_000)));
  t.notOk(ledger.isNew(run(1_790_000_060)));
  t.equal(fs.readFileSync(file, 'utf8').split('\n').length, 3, 'two lines and the end');
});

// ledger: the ledgers held "the first N rows of run R". osqueryd's filesystem logger rotates
// between two lines, and a run's head in osqueryd.results.log.1 and its tail in
// osqueryd.results.log, read by two commands, had the tail's first N rows taken for the head's
t.test('a run split by a log rotation, read in two parts, has each part known for its own rows', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-ledger-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const row = (pid: number): ResultRow => ({ ...run(1_790_000_000), columns: { pid: String(pid) } });
  for (const file of [SCORED_RUNS, TRAINED_RUNS]) {
    let ledger = new TrainLedger(dir, file);
    t.same(
      [1, 2, 3].map((pid) => ledger.isNew(row(pid))),
      [true, true, true],
    );
    ledger.save();
    ledger = new TrainLedger(dir, file);
    t.same(
      [4, 5, 6].map((pid) => ledger.isNew(row(pid))),
      [true, true, true],
      `${file}: the tail's rows are new (before: the first three taken for the head's)`,
    );
    ledger.save();
    ledger = new TrainLedger(dir, file);
    t.same(
      [1, 2, 3, 4, 5, 6, 7].map((pid) => ledger.knows(row(pid))),
      [true, true, true, true, true, true, false],
      `${file}: the run read whole is known row by row`,
    );
  }
});

// ledger: two hosts of one hostIdentifier share host, query and time; their rows are told
// apart by their columns. Rows identical in every column are one row, to the ledger as to the
// scorer's id (anomaly_scores.id): identical rows of one second are counted, from the start of
// each reading
t.test('rows are told apart by their columns; identical rows of a second by their order', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-ledger-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const row = (pid: string, uuid: string): ResultRow => ({ ...run(1_790_000_000), columns: { pid }, decorations: { host_uuid: uuid } });
  let ledger = new TrainLedger(dir);
  t.same([ledger.isNew(row('1', 'a')), ledger.isNew(row('1', 'a')), ledger.isNew(row('2', 'a'))], [true, true, true]);
  ledger.save();
  ledger = new TrainLedger(dir);
  t.same(
    [ledger.isNew(row('3', 'b')), ledger.isNew(row('2', 'b'))],
    [true, false],
    "another host of the same name: its own row is new; one identical in every column is taken for the first host's",
  );
  ledger = new TrainLedger(dir);
  t.same(
    [ledger.isNew(row('1', 'a')), ledger.isNew(row('1', 'a')), ledger.isNew(row('1', 'a'))],
    [false, false, true],
    'a third identical row of the second is new',
  );
});

// ledger: a ledger of before holds runs (a hash, the rows kept, the time): upgraded, it is
// still read as it was, and the rows noted after it are named one by one
t.test("a ledger of runs of before is still read: its runs' first rows known, and new rows named after them", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-ledger-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const row = (pid: number, time = 1_790_000_000): ResultRow => ({ ...run(time), columns: { pid: String(pid) } });
  const file = path.join(dir, SCORED_RUNS);
  // as the build before wrote it: two rows of the first run kept, the second whole
  fs.writeFileSync(file, `${runKey(row(1))} 2 1790000000\n${runKey(row(1, 1_790_000_060))}\n`, { mode: 0o600 });
  const said: string[] = [];
  let ledger = new TrainLedger(dir, SCORED_RUNS, undefined, (m) => said.push(m));
  t.same(said, [], 'no line of it taken for damaged');
  t.same(
    [1, 2, 3].map((pid) => ledger.isNew(row(pid))),
    [false, false, true],
    'the first two rows of the run are known, the third is new',
  );
  t.same(
    [7, 8].map((pid) => ledger.isNew(row(pid, 1_790_000_060))),
    [false, false],
    'a run kept whole is known whole',
  );
  ledger.save();
  ledger = new TrainLedger(dir, SCORED_RUNS, undefined, (m) => said.push(m));
  t.same(
    [1, 2, 3, 4].map((pid) => ledger.knows(row(pid))),
    [true, true, true, false],
    'read again after the upgrade, nothing is new twice',
  );
  t.same(said, []);
  t.match(fs.readFileSync(file, 'utf8'), /^[0-9a-f]{16} 2 1790000000\n[0-9a-f]{16}\n[0-9a-f]{13}\n$/, 'the lines of before kept, the new row after them');
  // score's counts name rows it retained: where the retained scores hold as many of the run,
  // they name the rows, and the count gives way (a rotation's tail is then new)
  ledger = new TrainLedger(dir, SCORED_RUNS);
  ledger.alsoKnown({ row: () => false, retainedOfRun: () => 2 });
  t.same(
    [5, 6].map((pid) => ledger.knows(row(pid))),
    [false, false],
    'rows the retained scores do not hold are new, though the count of before would have taken them',
  );
  // train's counts name rows learnt, which nothing retains: they stand
  fs.writeFileSync(path.join(dir, TRAINED_RUNS), `${runKey(row(1))} 2 1790000000\n`, { mode: 0o600 });
  ledger = new TrainLedger(dir, TRAINED_RUNS);
  ledger.alsoKnown({ row: () => false, retainedOfRun: () => 2 });
  t.same(
    [5, 6, 7].map((pid) => ledger.knows(row(pid))),
    [true, true, false],
  );
});
