import t from 'tap';
import { constraintSets, evaluator, OSQUERYD } from '../emulator/calls';
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
  t.same(of("SELECT * FROM t WHERE subject IN (SELECT 'a')"), [[]], 'a subquery list: not followed');
});
