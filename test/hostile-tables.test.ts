import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import type { ScoredEvent } from '../scorer/types';
import { RetainedScores } from '../state/scores';
import { RetainedWindows } from '../state/windows';
import { emulated, processLine as line, until } from './helpers/emulated';
import { plainRow } from './helpers/scored';
import { storedColumns } from '../scorer/features/extract';
import { ROOT } from './helpers/paths';
import initSqlJs from 'sql.js';

// The constraints osqueryd pushes down are hints: SQLite checks every row again, so a hint
// may let through rows SQLite drops, never drop a row SQLite would keep. Here the SQL is run
// by real SQLite (the emulator's sql.js) over the rows the extension returns, once with the
// constraint and once as SQLite alone would filter all the rows.

t.setTimeout(3_600_000);

const scored = (i: number, score: number | null): ScoredEvent =>
  plainRow(i, { score, verdict: score === null ? 'learning' : score < 0.3 ? 'bad' : score < 0.7 ? 'ugly' : 'good' });

t.test('anomaly_scores push-down never drops a row SQLite would return', async (t) => {
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  const store = new RetainedScores({ dir: path.join(e.stateDir, 'scores'), maxRows: 1000, maxDays: 3650 });
  // scores as calibration makes them: full doubles, shown to six places
  store.append([scored(1, 0.9559773812), scored(2, 0.2999996), scored(3, 0.30000000001), scored(4, 1), scored(5, null), scored(6, 0.5)]);
  store.close();
  await e.launch();
  const all = await e.emu.query('SELECT id, time, score FROM anomaly_scores');
  t.equal(all.length, 6, 'six rows');
  const shown = Object.fromEntries(all.map((r) => [r.id, r.score]));
  t.equal(shown['r-1'], '0.955977', 'a score is shown to six places');
  const ids = async (where: string) =>
    (await e.emu.query(`SELECT id FROM anomaly_scores WHERE ${where}`))
      .map((r) => r.id)
      .sort()
      .join(',');
  const cases: Array<[string, string]> = [
    // a score copied from an answer finds its row
    [`score = ${shown['r-1']}`, 'r-1'],
    // SQLite compares the value it is given (0.3 for 0.2999996)
    ['score >= 0.3', 'r-1,r-2,r-3,r-4,r-6'],
    ['score > 0.3', 'r-1,r-4,r-6'],
    ['score < 0.3', ''],
    ['score <= 0.3', 'r-2,r-3'],
    ['score = 0.3', 'r-2,r-3'],
    // a number SQLite reads as text: an integer column is less than any text
    ["time < ''", 'r-1,r-2,r-3,r-4,r-5,r-6'],
    ["time < '0x10'", 'r-1,r-2,r-3,r-4,r-5,r-6'],
    ["time > ''", ''],
    ["time = ''", ''],
    ["score < ' '", 'r-1,r-2,r-3,r-4,r-6'],
    // an IN list passed at once (osquery 5.14's OPTIMIZED columns, the emulator): SQLite reads
    // ' 1790000002 ' as the number for an integer column, so a member the push-down cannot
    // read as a number must not narrow the list to the others (review rev5)
    ["time IN (1790000001, ' 1790000002 ')", 'r-1,r-2'],
    ["time IN (1790000003, '1790000004\t')", 'r-3,r-4'],
    ["score IN (1, ' 0.5')", 'r-4,r-6'],
  ];
  for (const [where, want] of cases) t.equal(await ids(where), want, `WHERE ${where}`);
});

t.test('rows with command lines of 900 kB: stored cut to what was scored, so the alert query still fits an answer', async (t) => {
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  await e.launch();
  // what any local user can make osquery log: processes with huge argument lists. 80 of them
  // are more than the 64 MB an answer may hold, kept whole
  const big = (i: number) => {
    const row = JSON.parse(line(i));
    return JSON.stringify({ ...row, columns: { ...row.columns, cmdline: `tool0 ${String(i).padStart(4, '0')}${'A'.repeat(900_000)}` } });
  };
  const N = 80;
  for (let i = 0; i < N; i++) await e.emu.logResult('anomaly', big(i));
  await until(
    async () => (await e.emu.query("SELECT received, queued FROM anomaly_models WHERE subject = '*'"))[0],
    (c) => Number(c.received) === N && Number(c.queued) === 0,
  );
  const rows = await e.emu.query('SELECT id, columns FROM anomaly_scores');
  t.equal(rows.length, N, 'every row is answered in one SELECT');
  const cols = JSON.parse(rows[0].columns) as Record<string, string>;
  t.ok(cols.cmdline.length < 10_000, `the stored command line is cut (${cols.cmdline.length} chars)`);
  t.match(cols.cmdline, /^tool0 \d{4}A+… \(900010 chars\)$/, 'and says how long it was');
  t.equal(cols.pid, JSON.parse(line(N - 1)).columns.pid, 'the other columns are whole');
  const segments = path.join(e.stateDir, 'scores');
  const bytes = fs.readdirSync(segments).reduce((n, f) => n + fs.statSync(path.join(segments, f)).size, 0);
  t.ok(bytes < N * 20_000, `retained scores take ${bytes} bytes on disk, not ${N} × 900 kB`);
});

t.test("a local user's bad rows with the longest columns they can make leave the alert pack's bad query answered (rootsafe)", async (t) => {
  // what any local user can have process_events log: a program of theirs run from a path and a
  // directory of control characters (a file name may hold any byte but / and NUL), with an
  // argument list of them. Each is kept cut to the features' bounds, but every one of those
  // characters is six bytes of JSON (\u0001) in the kept columns: some 37 kB a row
  const odd = '\u0001';
  const columns = {
    pid: '4242',
    path: `/tmp/${odd.repeat(4000)}/x`,
    cmdline: `x ${odd.repeat(200_000)}`,
    cwd: `/tmp/${odd.repeat(4000)}`,
    auid: '1001',
    uid: '1001',
    euid: '1001',
    gid: '1001',
    egid: '1001',
    parent: '4000',
    time: '1790000000',
    syscall: 'execve',
  };
  const kept = JSON.stringify(storedColumns(columns));
  t.ok(kept.length > 30_000, `a row's kept columns are ${kept.length} bytes`);
  // rows the user's own never-seen program makes bad (a bad row is never learnt as normal, so
  // it stays bad whenever it is run again): enough of them within a day to pass the 64 MB an
  // answer may hold, about 1,800 execs, when each answer carried every column of every row
  const N = Math.ceil((64 * 2 ** 20) / kept.length) + 20;
  const now = Math.floor(Date.now() / 1000);
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  const store = new RetainedScores({ dir: path.join(e.stateDir, 'scores'), maxRows: 1_000_000, maxDays: 30 });
  for (let i = 0; i < N; i += 200)
    store.append(
      Array.from({ length: Math.min(200, N - i) }, (_, k) =>
        plainRow(i + k, {
          time: now - N + i + k,
          subject: 'eve',
          query: 'pack/user-behavior/process_events',
          event: 'exec /tmp/<tmp>/x <- /bin/bash',
          score: 0.1,
          verdict: 'bad',
          reasons: 'program `/tmp/<tmp>/x` never seen before (rarity)',
          columns: kept,
        }),
      ),
    );
  store.close();
  await e.launch();
  // the alert pack's own query, as osqueryd runs it every minute: it reads no row's columns
  const alerts = JSON.parse(fs.readFileSync(path.join(ROOT, 'packs', 'anomaly-alerts.conf'), 'utf8'));
  const rows = await e.emu.query(alerts.queries.bad.query);
  t.equal(rows.length, N, `the bad query answers all ${N} bad rows`);
  t.equal(rows[0].columns, undefined, 'without the columns it does not read');
  // a query that reads the columns still gets them whole
  const one = await e.emu.query(`SELECT id, columns FROM anomaly_scores WHERE id = 'r-0'`);
  t.equal(one[0].columns, kept, 'a query that reads the columns gets them');
  const count = await e.emu.query(`SELECT count(*) AS n FROM anomaly_scores WHERE score < 0.3`);
  t.equal(Number(count[0].n), N, 'a count reads no column but the score');
});

t.test('an IN list of many ids costs about what reading those rows costs, not their product', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-id-list-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = new RetainedScores({ dir, maxRows: 1_000_000, maxDays: 3650 });
  t.teardown(() => store.close());
  const N = 30_000;
  const events = Array.from({ length: N }, (_, i) => ({ ...scored(i, 0.9), id: `id-${i}` }));
  store.append(events);
  const ids = events.map((e) => e.id);
  // CPU time of the same rows read twice: by time (no id list) and by an IN list of their ids
  const cpu = (fn: () => number): [number, number] => {
    const before = process.cpuUsage();
    const n = fn();
    const used = process.cpuUsage(before);
    return [n, used.user + used.system];
  };
  const [byTime, plain] = cpu(() => store.select({ time: [{ op: '>=', value: 0 }] }).length);
  const [byId, listed] = cpu(() => store.select({ id: ids }).length);
  t.equal(byTime, N, 'every row by time');
  t.equal(byId, N, 'every row by id');
  t.ok(listed < 5 * plain + 200_000, `the id list costs ${Math.round(listed / 1000)} ms of CPU against ${Math.round(plain / 1000)} ms without it`);
});

// osqueryd calls an extension's table once per value of an IN list (unless the column is
// OPTIMIZED) and once per row of a join, so `WHERE id IN (…)`, a join of anomaly_feedback with
// anomaly_scores, and every label's lookup ask for one id at a time: each walked and tested
// every retained slot, 57-74 ms of the main thread over a million rows (review rev5)
t.test('a lookup by id tests only the records of its hash, not every retained one', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-id-one-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = new RetainedScores({ dir, maxRows: 1_000_000, maxDays: 3650 });
  t.teardown(() => store.close());
  const N = 50_000;
  store.append(Array.from({ length: N }, (_, i) => ({ ...scored(i, i % 10 ? 0.9 : 0.1), id: `id-${i}` })));
  const tested = (fn: () => unknown): [unknown, number] => {
    const before = store.slotsTested;
    const out = fn();
    return [out, store.slotsTested - before];
  };
  const [one, n1] = tested(() => store.get('id-123')?.id);
  t.equal(one, 'id-123', 'the row is found');
  t.equal(n1, 1, 'and only it was tested');
  const [none, n0] = tested(() => store.get('no-such-id'));
  t.equal(none, undefined, 'an unknown id is none');
  t.equal(n0, 0, 'and no record was tested');
  const [three, n3] = tested(() => store.select({ id: ['id-7', 'id-40000', 'id-20'], score: [{ op: '<', value: 0.3 }] }).map((e) => e.id));
  t.same(three, ['id-40000', 'id-20'], 'an id list with other constraints: newest first, the others applied');
  t.equal(n3, 3, 'three records tested');
  const [all, nAll] = tested(() => store.select({ time: [{ op: '>=', value: 0 }] }).length);
  t.equal(all, N, 'without ids every record is tested, as before');
  t.equal(nAll, N);
});

t.test('push-down on text columns never drops a row a COLLATE clause makes SQLite keep', async (t) => {
  // SQLite hands a virtual table `col = 'x' COLLATE NOCASE` as a plain EQUALS constraint
  // (the collation is only told to an xBestIndex that asks sqlite3_vtab_collation, which
  // osqueryd does not), then compares with the collation: the push-down must not compare
  // byte for byte
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  const store = new RetainedScores({ dir: path.join(e.stateDir, 'scores'), maxRows: 1000, maxDays: 3650 });
  store.append([
    plainRow(1, { id: 'ab12cd', subject: 'Alice', host: 'Web-01', query: 'Pack_Q', score: 0.1, verdict: 'bad' }),
    plainRow(2, { id: 'ef34ab', subject: 'bob', host: 'db-02', query: 'q2', score: 0.9, verdict: 'good' }),
  ]);
  store.close();
  const windows = new RetainedWindows({ dir: path.join(e.stateDir, 'window-scores'), maxRows: 1000, maxDays: 3650 });
  const win = { start: 1_790_000_000, end: 1_790_000_600, events: 3, score: 0.1, verdict: 'bad' as const, model: '' as const, reasons: 'r', top_ids: '[]' };
  windows.append([
    { ...win, subject: 'Alice', host: 'Web-01' },
    { ...win, subject: 'bob', host: 'db-02', score: 0.9, verdict: 'good' },
  ]);
  windows.close();
  await e.launch();
  const scores = async (where: string) => (await e.emu.query(`SELECT id FROM anomaly_scores WHERE ${where}`)).map((r) => r.id).join(',');
  const wins = async (where: string) => (await e.emu.query(`SELECT subject FROM anomaly_windows WHERE ${where}`)).map((r) => r.subject).join(',');
  const cases: Array<[string, string]> = [
    ["subject = 'alice' COLLATE NOCASE", 'ab12cd'],
    ["subject = 'ALICE' COLLATE NOCASE", 'ab12cd'],
    ["subject = 'Alice   ' COLLATE RTRIM", 'ab12cd'],
    ["host = 'WEB-01' COLLATE NOCASE", 'ab12cd'],
    ["query = 'pack_q' COLLATE NOCASE", 'ab12cd'],
    ["verdict = 'BAD' COLLATE NOCASE", 'ab12cd'],
    ["verdict COLLATE NOCASE IN ('Bad', 'GOOD')", 'ef34ab,ab12cd'],
    ["subject COLLATE NOCASE = 'ALICE'", 'ab12cd'],
    ["id = 'AB12CD' COLLATE NOCASE", 'ab12cd'],
    ["id COLLATE NOCASE IN ('AB12CD', 'x')", 'ab12cd'],
    // and as before: without a collation the comparison is exact
    ["subject = 'alice'", ''],
    ["subject = 'Alice'", 'ab12cd'],
  ];
  for (const [where, want] of cases) t.equal(await scores(where), want, `anomaly_scores WHERE ${where}`);
  const windowCases: Array<[string, string]> = [
    ["subject = 'ALICE' COLLATE NOCASE", 'Alice'],
    ["host = 'web-01' COLLATE NOCASE", 'Alice'],
    ["verdict = 'BAD' COLLATE NOCASE", 'Alice'],
    ["subject = 'bob ' COLLATE RTRIM", 'bob'],
    ["subject = 'alice'", ''],
  ];
  for (const [where, want] of windowCases) t.equal(await wins(where), want, `anomaly_windows WHERE ${where}`);
});

t.test('anomaly_windows push-down never drops a window SQLite would return', async (t) => {
  // the same rule as anomaly_scores': a window's score is shown to six places (formatDouble)
  // while the push-down compared the stored double, so a score copied from an answer, or an
  // edge like 0.3 that the shown value sits on, dropped windows SQLite keeps
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  const windows = new RetainedWindows({ dir: path.join(e.stateDir, 'window-scores'), maxRows: 1000, maxDays: 3650 });
  const win = (i: number, score: number | null) => ({
    subject: `s${i}`,
    host: 'h',
    start: 1_790_000_000 + i * 600,
    end: 1_790_000_600 + i * 600,
    events: 3,
    score,
    verdict: (score === null ? 'learning' : score < 0.3 ? 'bad' : score < 0.7 ? 'ugly' : 'good') as 'bad',
    model: '' as const,
    reasons: 'r',
    top_ids: '[]',
  });
  windows.append([win(1, 0.9559773812), win(2, 0.2999996), win(3, 0.30000000001), win(4, 1), win(5, null), win(6, 0.5)]);
  windows.close();
  await e.launch();
  const all = await e.emu.query('SELECT subject, score FROM anomaly_windows');
  t.equal(all.length, 6, 'six windows');
  const shown = Object.fromEntries(all.map((r) => [r.subject, r.score]));
  t.equal(shown.s1, '0.955977', 'a score is shown to six places');
  const subjects = async (where: string) =>
    (await e.emu.query(`SELECT subject FROM anomaly_windows WHERE ${where}`))
      .map((r) => r.subject)
      .sort()
      .join(',');
  const cases: Array<[string, string]> = [
    [`score = ${shown.s1}`, 's1'],
    ['score >= 0.3', 's1,s2,s3,s4,s6'],
    ['score > 0.3', 's1,s4,s6'],
    ['score < 0.3', ''],
    ['score <= 0.3', 's2,s3'],
    ['score = 0.3', 's2,s3'],
    ["start < ''", 's1,s2,s3,s4,s5,s6'],
    // end is pushed down too (the alert pack's bad_windows asks for the last day's)
    ['end > 1790002400', 's4,s5,s6'],
    ['end = 1790001200', 's1'],
    ['end >= 1790001800 AND end < 1790003000', 's2,s3'],
    ["end < ''", 's1,s2,s3,s4,s5,s6'],
  ];
  for (const [where, want] of cases) t.equal(await subjects(where), want, `WHERE ${where}`);
});

// rev11: a text column compared with a numeric operand (another table's INTEGER column in a
// join, a CAST) is compared as a number: SQLite gives the column numeric affinity, and
// '01000', ' 1000', '1000.0' and '1e3' all equal 1000. The table is handed only the operand's
// value ("1000"), and the push-down (the store's text filter, then onlyEqual) compared text
// with text, dropping four rows of the five SQLite keeps
t.test('push-down on text columns never drops a row a numeric operand makes SQLite keep', async (t) => {
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  const subjects = ['01000', '1000', ' 1000', '1000.0', '1e3', '1001', 'alice'];
  const store = new RetainedScores({ dir: path.join(e.stateDir, 'scores'), maxRows: 1000, maxDays: 3650 });
  store.append(subjects.map((subject, i) => plainRow(i, { subject, host: subject })));
  store.close();
  const windows = new RetainedWindows({ dir: path.join(e.stateDir, 'window-scores'), maxRows: 1000, maxDays: 3650 });
  const win = { start: 1_790_000_000, end: 1_790_000_600, events: 3, score: 0.9, verdict: 'good' as const, model: '' as const, reasons: 'r', top_ids: '[]' };
  windows.append(subjects.map((subject, i) => ({ ...win, start: win.start + i, subject, host: subject })));
  windows.close();
  await e.launch();
  // what SQLite answers over the same values in a plain table
  const SQL = await initSqlJs();
  const plain = new SQL.Database();
  plain.run('CREATE TABLE t(subject TEXT, host TEXT)');
  for (const s of subjects) plain.run('INSERT INTO t VALUES (?, ?)', [s, s]);
  const wheres = [
    "subject = CAST('1000' AS INTEGER)",
    'subject = CAST(1000 AS REAL)',
    "host = CAST('1000' AS INTEGER)",
    'subject IN (CAST(1000 AS INTEGER), CAST(1001 AS INTEGER))',
    "subject = '1000'",
    "subject IN ('1000', '1001')",
  ];
  for (const where of wheres) {
    const want = (plain.exec(`SELECT subject FROM t WHERE ${where}`)[0]?.values ?? []).map((r) => String(r[0])).sort();
    const scores = (await e.emu.query(`SELECT subject FROM anomaly_scores WHERE ${where}`)).map((r) => r.subject).sort();
    t.same(scores, want, `anomaly_scores WHERE ${where}`);
    const wins = (await e.emu.query(`SELECT subject FROM anomaly_windows WHERE ${where}`)).map((r) => r.subject).sort();
    t.same(wins, want, `anomaly_windows WHERE ${where}`);
  }
  plain.close();
});
