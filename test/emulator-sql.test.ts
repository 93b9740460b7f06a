import t from 'tap';
import { loadTable, runQuery, sqlite, statementHandle, type ColumnRoute } from '../emulator/sql';

// The emulator loads a table's answer into SQLite the way osqueryd casts it (text as text,
// numerics by declared type, bad numerics NULL). It binds values through SQLite's C API
// directly, many rows' strings encoded at once; what lands in the table must be what sql.js's
// own Statement binding stores, value for value and byte for byte.

const columns: ColumnRoute[] = [
  { name: 'big', type: 'BIGINT', op: '0' },
  { name: 'int', type: 'INTEGER', op: '0' },
  { name: 'dbl', type: 'DOUBLE', op: '0' },
  { name: 'ubig', type: 'UNSIGNED BIGINT', op: '0' },
  { name: 'txt', type: 'TEXT', op: '0' },
  { name: 'other', type: 'TEXT', op: '0' },
];

const NUMBERS = [
  '1',
  '-0',
  '0.1',
  '1.5',
  '2147483647',
  '2147483648',
  '-2147483649',
  '9007199254740993',
  '1e3',
  '1E-7',
  ' 7 ',
  '7 ',
  '.5',
  '5.',
  '-',
  '0x10',
  '١٢',
  'Infinity',
  '1e400',
  'abc',
  '',
];
const TEXTS = ['', 'a', 'a\u0000b', 'é😀€', '\ud800 lone', 'x\udc00', "it's", 'z'.repeat(3000)];

function rowsFor(n: number): Array<Record<string, string>> {
  const rows: Array<Record<string, string>> = [];
  for (let i = 0; i < n; i++) {
    const row: Record<string, string> = {};
    columns.forEach((c, j) => {
      const k = i * 7 + j * 3;
      if (k % 11 === 0) return; // absent: NULL
      row[c.name] = c.type === 'TEXT' ? TEXTS[k % TEXTS.length] : NUMBERS[k % NUMBERS.length];
    });
    rows.push(row);
  }
  // strings over the block the loader encodes at once, and a row after them
  rows.push({ txt: 'ü'.repeat(700_000), other: '😀'.repeat(400_000), big: '5' }, { txt: 'after', dbl: '2.5' });
  return rows;
}

const SELECT = `SELECT ${columns.map((c) => `typeof("${c.name}") AS "t_${c.name}", "${c.name}", hex("${c.name}") AS "h_${c.name}", length(CAST("${c.name}" AS BLOB)) AS "n_${c.name}"`).join(', ')} FROM t`;

t.test("rows bound directly are stored as sql.js's Statement stores them", async (t) => {
  const SQL = await sqlite();
  const rows = rowsFor(5000);
  const direct = new SQL.Database();
  const plain = new SQL.Database();
  try {
    const probe = direct.prepare('SELECT ?');
    t.type(statementHandle(direct, probe), 'number', "the statement's pointer is found: the direct way is the one tested");
    probe.free();
    loadTable(direct, 't', columns, rows);
    loadTable(plain, 't', columns, rows, false);
    const a = runQuery(direct, SELECT);
    const b = runQuery(plain, SELECT);
    t.equal(a.length, rows.length, 'every row');
    t.same(a, b, 'every value: type, text, bytes and length');
    const types = new Set(a.flatMap((r) => columns.map((c) => r[`t_${c.name}`])));
    t.same([...types].sort(), ['integer', 'null', 'real', 'text'], 'integers, reals, text and NULLs all occur');
    t.ok(
      a.some((r) => r.n_txt === '3'),
      'a NUL inside text is kept (a b with NUL between: 3 bytes)',
    );
    // loaded again into the same database: the table is replaced, not appended to
    loadTable(direct, 't', columns, rows.slice(0, 3));
    t.equal(runQuery(direct, 'SELECT count(*) AS n FROM t')[0].n, '3');
  } finally {
    direct.close();
    plain.close();
  }
});
