import t from 'tap';
import { constraintSets, evaluator, OSQUERYD } from '../emulator/calls';
import { orScans } from '../emulator/multi-or';
import { sqlite, type ColumnRoute } from '../emulator/sql';

// How many generate calls osqueryd makes for one scan of an extension table, and what each
// carries (emulator/calls.ts; docs/osquery-calls.md cites osquery's and SQLite's source). The
// emulator once made one call with every constraint and every IN value together, whatever the
// column's options: a table it passed could still answer osqueryd's calls twice over.

const cols = (op: string): ColumnRoute[] => [
  { name: 'subject', type: 'TEXT', op },
  { name: 'time', type: 'BIGINT', op },
];
/** each call's constraints as `column op expr` */
const calls = (sql: string, op = '0', opts = OSQUERYD) =>
  constraintSets(sql, cols(op), 't', opts).map((set) => [...set].flatMap(([c, list]) => list.map((x) => `${c} ${x.op} ${x.expr}`)));

t.test("a column's options decide whether its terms are handed over", async (t) => {
  const sql = "SELECT * FROM t WHERE subject = 'a' AND time > 5";
  t.same(calls(sql, '0'), [['subject 2 a', 'time 4 5']], 'op 0: INDEX under --extensions_default_index');
  t.same(calls(sql, '0', { ...OSQUERYD, defaultIndex: false }), [[]], 'op 0 without it: nothing (SQLite filters alone)');
  t.same(calls(sql, '1'), [['subject 2 a', 'time 4 5']], 'INDEX');
  t.same(calls(sql, '2'), [['subject 2 a', 'time 4 5']], 'REQUIRED');
  t.same(calls(sql, '4'), [['subject 2 a', 'time 4 5']], 'ADDITIONAL');
  t.same(calls(sql, '8'), [[]], 'OPTIMIZED alone: nothing');
  t.same(calls(sql, '16'), [[]], 'HIDDEN alone: nothing');
  t.same(calls("SELECT * FROM t WHERE subject > 'a' AND time <= 9"), [['time 8 9']], 'no range on a TEXT column');
  t.same(calls("SELECT * FROM t WHERE subject != 'a' AND 5 <> time"), [['subject 68 a', 'time 68 5']], '!= and <> as SQLITE_INDEX_CONSTRAINT_NE');
  t.same(calls("SELECT * FROM t WHERE subject IS 'a' AND time IS NOT 3"), [['subject 72 a', 'time 69 3']], 'IS and IS NOT');
  t.same(calls('SELECT * FROM t WHERE subject IS NULL AND time IS NOT NULL'), [[]], 'IS NULL and IS NOT NULL: no value, nothing');
  t.same(calls("SELECT * FROM t WHERE subject = '' AND time > 1"), [['time 4 1']], 'an empty value is left out by xFilter');
});

t.test('an IN list: one call per distinct value in order, or one call when OPTIMIZED', async (t) => {
  const sql = "SELECT * FROM t WHERE subject IN ('b', 'a', 'b')";
  t.same(calls(sql, '1'), [['subject 2 a'], ['subject 2 b']], 'INDEX: a call per distinct value, in index order');
  t.same(calls(sql, '9'), [['subject 2 a', 'subject 2 b']], 'INDEX|OPTIMIZED: one call with the list');
  t.same(calls(sql, '9', { ...OSQUERYD, optimizedIn: false }), [['subject 2 a'], ['subject 2 b']], 'before osquery 5.14: a call per value still');
  t.same(calls("SELECT * FROM t WHERE subject IN ('a')", '1'), [['subject 2 a']], 'a list of one is an equality');
  t.same(
    calls("SELECT * FROM t WHERE time IN (7, '5', ' 5 ', 6.0)", '1'),
    [['time 2 5'], ['time 2 6'], ['time 2 7']],
    'numbers with the column affinity, once each',
  );
  t.same(calls("SELECT * FROM t WHERE subject = 'x' OR subject = 'y'", '1'), [['subject 2 x'], ['subject 2 y']], 'an OR of equalities is an IN list');
  t.same(calls("SELECT * FROM t WHERE subject = 'x' OR time = 1", '1'), [[]], 'an OR over two columns: nothing');
  t.same(
    calls("SELECT * FROM t WHERE subject IN ('a', 'b') AND time IN (1, 2) AND time > 0", '1'),
    [
      ['time 4 0', 'time 2 1', 'subject 2 a'],
      ['time 4 0', 'time 2 2', 'subject 2 a'],
      ['time 4 0', 'time 2 1', 'subject 2 b'],
      ['time 4 0', 'time 2 2', 'subject 2 b'],
    ],
    'two lists: every pair, the other terms in each call',
  );
  t.same(calls("SELECT * FROM t WHERE subject IN ('', 'a')", '1'), [[], ['subject 2 a']], "looped: the empty value's call has no constraint");
  t.same(calls("SELECT * FROM t WHERE subject IN ('', 'a')", '9'), [['subject 2 ', 'subject 2 a']], 'at once: the empty value is kept');
});

t.test('an expression that is no literal is handed over with the value SQLite computes', async (t) => {
  const SQL = await sqlite();
  const db = new SQL.Database();
  t.teardown(() => db.close());
  const evaluate = evaluator(db);
  const of = (sql: string) =>
    constraintSets(sql, cols('0'), 't', OSQUERYD, [], evaluate).map((set) => [...set].flatMap(([c, l]) => l.map((x) => `${c} ${x.op} ${x.expr}`)));
  // the alert pack's form: a window of time back from now
  const now = Math.floor(Date.now() / 1000);
  const [[term]] = of("SELECT * FROM t WHERE time > (CAST(strftime('%s', 'now') AS INTEGER) - 86400)");
  const value = Number(term.split(' ')[2]);
  t.ok(term.startsWith('time 4 ') && Math.abs(value - (now - 86400)) <= 5, `the pack's time window is handed over: ${term}`);
  t.same(of("SELECT * FROM t WHERE subject = lower('ALICE') AND time <= 2 * 3"), [['subject 2 alice', 'time 8 6']], 'functions and arithmetic');
  t.same(of("SELECT * FROM t WHERE subject IN (upper('b'), 'a')"), [['subject 2 B'], ['subject 2 a']], 'in an IN list too');
  t.same(of('SELECT * FROM t WHERE time > NULL + 1 AND time < subject'), [[]], 'NULL, and a column: no value, nothing');
  t.same(
    of("SELECT * FROM t WHERE subject IN (SELECT 'b' UNION SELECT 'a' UNION SELECT NULL)"),
    [['subject 2 a'], ['subject 2 b']],
    'a subquery: its values, NULL aside',
  );
});

t.test('IN (SELECT …): the values SQLite reads at run time, a list like any other', async (t) => {
  const SQL = await sqlite();
  const db = new SQL.Database();
  t.teardown(() => db.close());
  db.run("CREATE TABLE o (v TEXT); INSERT INTO o VALUES ('b'), ('a'), ('b'), (NULL)");
  const evaluate = evaluator(db);
  const of = (sql: string, op = '0', opts = OSQUERYD) =>
    constraintSets(sql, cols(op), 't', opts, [], evaluate).map((set) => [...set].flatMap(([c, l]) => l.map((x) => `${c} ${x.op} ${x.expr}`)));
  t.same(of('SELECT * FROM t WHERE subject IN (SELECT v FROM o)', '1'), [['subject 2 a'], ['subject 2 b']], 'looped: a call per distinct value, in order');
  t.same(of('SELECT * FROM t WHERE subject IN (SELECT v FROM o)', '9'), [['subject 2 a', 'subject 2 b']], 'OPTIMIZED: one call with them all');
  t.same(of('SELECT * FROM t WHERE subject IN (SELECT v FROM o WHERE 0)', '1'), [], 'no value, looped: no call at all');
  t.same(of('SELECT * FROM t WHERE subject IN (SELECT v FROM o WHERE 0)', '9'), [[]], 'no value, at once: one call with nothing on the column');
  t.same(of('SELECT * FROM t WHERE subject IN (SELECT v FROM missing) AND time > 1', '9'), [['time 4 1']], 'a subquery that cannot run: nothing for it');
});

t.test('LIMIT and OFFSET: terms 73 and 74 on column 0, where SQLite offers them (SQLite 3.38+, sqlite3WhereAddLimit)', async (t) => {
  const SQL = await sqlite();
  const db = new SQL.Database();
  t.teardown(() => db.close());
  const evaluate = evaluator(db);
  const of = (sql: string, op = '9', opts = OSQUERYD) =>
    constraintSets(sql, cols(op), 't', opts, [], evaluate).map((set) => [...set].flatMap(([c, l]) => l.map((x) => `${c} ${x.op} ${x.expr}`)));
  t.same(of('SELECT * FROM t WHERE time > 5 LIMIT 10'), [['time 4 5', 'subject 73 10']], 'LIMIT: on column 0');
  t.same(
    of("SELECT * FROM t WHERE subject = 'a' ORDER BY time DESC LIMIT 2 + 3 OFFSET 4"),
    [['subject 2 a', 'subject 74 4', 'subject 73 5']],
    'OFFSET first, then LIMIT; an expression: its integer',
  );
  t.same(of('SELECT * FROM t LIMIT 4, 6'), [['subject 74 4', 'subject 73 6']], 'LIMIT m, n');
  t.same(of('SELECT * FROM t LIMIT 3', '16'), [[]], 'column 0 not indexed: nothing');
  t.same(
    of("SELECT * FROM t WHERE subject IN ('a', 'b') LIMIT 3", '9', { ...OSQUERYD, optimizedIn: false }),
    [['subject 2 a'], ['subject 2 b']],
    'an IN list looped over: no LIMIT (pbRetryLimit)',
  );
  t.same(of("SELECT * FROM t WHERE subject IN ('a', 'b') LIMIT 3"), [['subject 2 a', 'subject 2 b', 'subject 73 3']], 'an IN list at once: LIMIT kept');
  t.same(of("SELECT * FROM t WHERE time > 5 OR subject = 'a' LIMIT 3"), [[]], 'an OR: not offered to the table, so no LIMIT');
  t.same(of("SELECT * FROM t WHERE lower(subject) = 'a' LIMIT 3"), [[]], 'a function of a column: no LIMIT');
  t.same(of('SELECT count(*) FROM t LIMIT 3'), [[]], 'an aggregate: no LIMIT');
  t.same(of('SELECT DISTINCT subject FROM t LIMIT 3'), [[]], 'DISTINCT: no LIMIT');
  t.same(of('SELECT subject FROM t GROUP BY subject LIMIT 3'), [[]], 'GROUP BY: no LIMIT');
  t.same(of('SELECT * FROM t ORDER BY random() LIMIT 3'), [[]], 'ORDER BY an expression: no LIMIT');
  t.same(of('SELECT * FROM t, u LIMIT 3'), [[]], 'two tables: no LIMIT');
  t.same(of('SELECT * FROM t LIMIT 3 UNION ALL SELECT * FROM u'), [[]], 'a compound SELECT: no LIMIT');
});

t.test('an OR that is no IN list: one scan per disjunct, when each hands a term over and nothing else does', async (t) => {
  const scans = (sql: string, op = '9') => orScans(sql, cols(op), 't')?.map((s) => s.sql) ?? null;
  t.same(
    scans("SELECT * FROM t WHERE subject LIKE 'a%' OR subject LIKE 'b%'"),
    ['SELECT * FROM "t" WHERE (subject LIKE \'a%\')', 'SELECT * FROM "t" WHERE (subject LIKE \'b%\')'],
    'an OR of LIKEs: a scan per LIKE (test_like_constraints)',
  );
  t.same(
    scans("SELECT * FROM t x WHERE (x.subject = 'a' AND time < 3) OR (time > 9 OR x.subject IN ('b', 'c'))"),
    [
      'SELECT * FROM "t" AS "x" WHERE ((x.subject = \'a\' AND time < 3))',
      'SELECT * FROM "t" AS "x" WHERE (time > 9)',
      'SELECT * FROM "t" AS "x" WHERE (x.subject IN (\'b\', \'c\'))',
    ],
    'nested ORs flattened, an AND one scan',
  );
  t.same(
    scans("SELECT * FROM t WHERE (subject = 'a' OR time = 1) AND subject > 'b'"),
    ["SELECT * FROM \"t\" WHERE (subject = 'a') AND (subject > 'b')", 'SELECT * FROM "t" WHERE (time = 1) AND (subject > \'b\')'],
    "the WHERE's other terms with each (a TEXT range: offered, not handed over)",
  );
  t.equal(scans("SELECT * FROM t WHERE (subject = 'a' OR time = 1) AND time > 0"), null, 'a term handed over alone: one scan is cheaper');
  t.equal(scans("SELECT * FROM t WHERE subject = 'a' OR subject = 'b'"), null, 'an OR of equalities on one column is an IN list');
  t.equal(scans("SELECT * FROM t WHERE subject = 'a' OR lower(subject) = 'b'"), null, 'a disjunct with no term: one scan');
  t.equal(scans("SELECT * FROM t WHERE subject = 'a' OR time = 1", '16'), null, 'columns not indexed: one scan');
  t.equal(scans("SELECT * FROM t JOIN u ON u.x = t.subject WHERE subject = 'a' OR time = 1"), null, 'a join: not split here');
});
