import initSqlJs, { type Database, type SqlJsStatic, type Statement } from 'sql.js';
import { encodeInto } from '../extension/wire';
import { contextJson, handedTerms, NUMERIC, OSQUERYD, type CallOptions, type Evaluate } from './calls';

// The SQL side of the emulator: the user's query runs in real SQLite (sql.js) over the rows
// the extension's `generate` returns, with the constraint context osqueryd would build.

export interface ColumnRoute {
  name: string;
  type: string;
  op: string;
}

export interface Constraint {
  op: number;
  expr: string;
}

let sqlJs: Promise<SqlJsStatic> | null = null;
/** the loaded module, for loadTable's direct binding */
let loaded: RawSqlite | null = null;
export function sqlite(): Promise<SqlJsStatic> {
  sqlJs ??= initSqlJs().then((m) => {
    const raw = m as unknown as Partial<RawSqlite>;
    if (RAW_FUNCTIONS.every((f) => typeof raw[f] === 'function')) loaded = raw as RawSqlite;
    return m;
  });
  return sqlJs;
}

/**
 * The functions sql.js's module exports beside its classes: SQLite's C API and the wasm heap's
 * allocator. sql.js's own Statement binds a row by allocating and encoding each string apart
 * (a malloc, a JavaScript UTF-8 loop and a free per value); loadTable binds the same values
 * through the same C calls, with the strings of many rows encoded natively into one block.
 */
interface RawSqlite {
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  writeArrayToMemory(bytes: Int8Array, ptr: number): void;
  _sqlite3_bind_text(stmt: number, pos: number, ptr: number, bytes: number, destructor: number): number;
  _sqlite3_bind_int(stmt: number, pos: number, v: number): number;
  _sqlite3_bind_double(stmt: number, pos: number, v: number): number;
  _sqlite3_bind_blob(stmt: number, pos: number, ptr: number, bytes: number, destructor: number): number;
  _sqlite3_step(stmt: number): number;
  _sqlite3_reset(stmt: number): number;
}
const RAW_FUNCTIONS: ReadonlyArray<keyof RawSqlite> = [
  '_malloc',
  '_free',
  'writeArrayToMemory',
  '_sqlite3_bind_text',
  '_sqlite3_bind_int',
  '_sqlite3_bind_double',
  '_sqlite3_bind_blob',
  '_sqlite3_step',
  '_sqlite3_reset',
];
const SQLITE_OK = 0;
const SQLITE_DONE = 101;
/** string bytes encoded and bound per block: a broad answer does not grow the wasm heap by its size */
const BLOCK_BYTES = 1 << 20;
/** rows one INSERT statement takes when there are enough and few columns */
const MANY_ROWS = 32;

/** the tables a statement names, of those given */
export function referencedTables(sql: string, tables: Iterable<string>): string[] {
  const out: string[] = [];
  for (const t of tables) if (new RegExp(`\\b${t}\\b`, 'i').test(sql)) out.push(t);
  return out;
}

/**
 * the constraints osqueryd would pass for `sql` scanning `table`, all in one call (every IN
 * list handed over at once; emulator/calls.ts says how many calls osqueryd makes)
 */
export function constraintsFor(
  sql: string,
  columns: readonly ColumnRoute[],
  table: string,
  opts: CallOptions = OSQUERYD,
  evaluate?: Evaluate,
): Map<string, Constraint[]> {
  const out = new Map<string, Constraint[]>();
  for (const t of handedTerms(sql, columns, table, opts, evaluate))
    for (const expr of t.values ?? [t.expr]) (out.get(t.column) ?? out.set(t.column, []).get(t.column)!).push({ op: t.op, expr });
  return out;
}

/** the context JSON osqueryd sends with generate, every IN list in one call */
export function generateContext(sql: string, columns: readonly ColumnRoute[], table: string): string {
  return contextJson(constraintsFor(sql, columns, table), columns, sql);
}

/**
 * The sqlite3_stmt pointer of a prepared statement, or null. sql.js keeps it in a field
 * whose name its minifier changes between releases, and lists each live statement in a map
 * on its Database keyed by that pointer: the key whose value is this very statement, and
 * which the statement holds too, is the pointer.
 */
export function statementHandle(db: Database, stmt: Statement): number | null {
  const held = new Set(Object.values(stmt as unknown as Record<string, unknown>).filter((v) => typeof v === 'number'));
  for (const v of Object.values(db as unknown as Record<string, unknown>)) {
    if (!v || typeof v !== 'object') continue;
    for (const [key, value] of Object.entries(v as Record<string, unknown>)) {
      const ptr = Number(key);
      if (value === stmt && Number.isInteger(ptr) && ptr > 0 && held.has(ptr)) return ptr;
    }
  }
  return null;
}

/** what a value is bound as: SQL NULL, a number, or text (osqueryd's casts by declared type) */
function sqlValue(numeric: boolean, v: string | undefined): string | number | null {
  if (v === undefined) return null;
  if (!numeric) return v;
  if (v === '' || !/^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(v)) return null;
  return Number(v);
}

/**
 * load generated rows into a table with the declared types: bad numerics become NULL.
 * `direct: false` binds through sql.js's Statement alone (the tests compare the two ways).
 */
export function loadTable(db: Database, name: string, columns: readonly ColumnRoute[], rows: ReadonlyArray<Record<string, string>>, direct = true): void {
  const decl = columns.map((c) => `"${c.name}" ${NUMERIC.has(c.type) ? (c.type === 'DOUBLE' ? 'REAL' : 'INTEGER') : 'TEXT'}`).join(', ');
  db.run(`DROP TABLE IF EXISTS "${name}"`);
  db.run(`CREATE TABLE "${name}" (${decl})`);
  const values = `(${columns.map(() => '?').join(', ')})`;
  const stmt = db.prepare(`INSERT INTO "${name}" VALUES ${values}`);
  const numeric = columns.map((c) => NUMERIC.has(c.type));
  const valuesOf = (row: Record<string, string>) => columns.map((c, j) => sqlValue(numeric[j], row[c.name]));
  let multi: Statement | null = null;
  try {
    db.run('BEGIN');
    const handle = direct && loaded ? statementHandle(db, stmt) : null;
    if (loaded && handle) {
      // rows MANY_ROWS at a time: a step and a reset per row were a third of the load
      // (within 999 parameters, the least any SQLite build allows)
      const per = Math.min(MANY_ROWS, Math.floor(999 / Math.max(1, columns.length)));
      multi = per > 1 && rows.length >= per ? db.prepare(`INSERT INTO "${name}" VALUES ${Array(per).fill(values).join(', ')}`) : null;
      const manyHandle = multi && statementHandle(db, multi);
      insertDirect(loaded, { handle, stmt }, multi && manyHandle ? { handle: manyHandle, stmt: multi, rows: per } : null, columns, numeric, rows, valuesOf);
    } else for (const row of rows) stmt.run(valuesOf(row));
    db.run('COMMIT');
  } finally {
    stmt.free();
    multi?.free();
  }
}

/**
 * What insertDirect encodes a block into, kept between calls (loadTable is synchronous, so one
 * set serves every database): per value 0 NULL, 1 int, 2 double, 3 text (`len` bytes at
 * `off` in `text`); a row whose first value is 4 goes through Statement.run.
 */
const block = {
  text: Buffer.allocUnsafe(64 * 1024),
  kind: new Uint8Array(0),
  num: new Float64Array(0),
  off: new Int32Array(0),
  len: new Int32Array(0),
};
const SLOW = 4;

/**
 * The rows bound and stepped through SQLite's C API, as Statement.run binds them (numbers with
 * sqlite3_bind_int when they are int32, else sqlite3_bind_double; NULL as a null blob; text with
 * its byte length), a block of rows at a time: their strings are encoded into one buffer and
 * copied into the wasm heap at once, and `many` (an INSERT of several rows) takes them that
 * many at a time, in order, so each row gets the rowid it would get alone. A string that is not
 * well-formed UTF-16 (sql.js encodes lone surrogates its own way) and any call that fails send
 * the row through Statement.run, which binds it sql.js's way or throws sql.js's error.
 */
function insertDirect(
  raw: RawSqlite,
  one: { handle: number; stmt: Statement },
  many: { handle: number; stmt: Statement; rows: number } | null,
  columns: readonly ColumnRoute[],
  numeric: readonly boolean[],
  rows: ReadonlyArray<Record<string, string>>,
  valuesOf: (row: Record<string, string>) => Array<string | number | null>,
): void {
  const n = columns.length;
  const names = columns.map((c) => c.name);
  let heap = 0;
  let heapBytes = 0;
  /** bind row `r` of the block at parameter `first`; SQLITE_OK or the failing code */
  const bindRow = (handle: number, r: number, first: number): number => {
    const { kind, num, off, len } = block;
    const base = r * n;
    let rc = SQLITE_OK;
    for (let j = 0; j < n && rc === SQLITE_OK; j++) {
      const at = base + j;
      const k = kind[at];
      if (k === 3) rc = raw._sqlite3_bind_text(handle, first + j, heap + off[at], len[at], 0);
      else if (k === 1) rc = raw._sqlite3_bind_int(handle, first + j, num[at]);
      else if (k === 2) rc = raw._sqlite3_bind_double(handle, first + j, num[at]);
      else rc = raw._sqlite3_bind_blob(handle, first + j, 0, 0, 0);
    }
    return rc;
  };
  const step = (handle: number): number => {
    const rc = raw._sqlite3_step(handle) === SQLITE_DONE ? SQLITE_OK : -1;
    raw._sqlite3_reset(handle);
    return rc;
  };
  try {
    for (let first = 0; first < rows.length;) {
      let used = 0;
      let end = first;
      for (; end < rows.length && (end === first || used < BLOCK_BYTES); end++) {
        const base = (end - first) * n;
        if (base + n > block.kind.length) {
          const grown = Math.max(base + n, block.kind.length * 2, 64 * n);
          block.kind = copyInto(new Uint8Array(grown), block.kind);
          block.num = copyInto(new Float64Array(grown), block.num);
          block.off = copyInto(new Int32Array(grown), block.off);
          block.len = copyInto(new Int32Array(grown), block.len);
        }
        const { kind, num, off, len } = block;
        const row = rows[end];
        for (let j = 0; j < n; j++) {
          const v = sqlValue(numeric[j], row[names[j]]);
          const at = base + j;
          if (v === null) kind[at] = 0;
          else if (typeof v === 'number') {
            kind[at] = v === (v | 0) ? 1 : 2;
            num[at] = v;
          } else if (!(v as unknown as { isWellFormed(): boolean }).isWellFormed()) {
            kind[base] = SLOW;
            break;
          } else {
            if (used + 3 * v.length > block.text.length)
              block.text = copyInto(Buffer.allocUnsafe(Math.max(block.text.length * 2, used + 3 * v.length)), block.text.subarray(0, used));
            const bytes = encodeInto(block.text, v, used);
            kind[at] = 3;
            off[at] = used;
            len[at] = bytes;
            used += bytes;
          }
        }
      }
      if (used > heapBytes) {
        if (heap) raw._free(heap);
        heapBytes = Math.max(used, Math.min(BLOCK_BYTES, 2 * heapBytes));
        heap = raw._malloc(heapBytes);
        if (!heap) throw new Error('out of memory loading the table');
      }
      if (used) raw.writeArrayToMemory(new Int8Array(block.text.buffer, block.text.byteOffset, used), heap);
      for (let r = first; r < end;) {
        const b = r - first;
        if (many && r + many.rows <= end && allDirect(b, many.rows, n)) {
          let rc = SQLITE_OK;
          for (let k = 0; k < many.rows && rc === SQLITE_OK; k++) rc = bindRow(many.handle, b + k, k * n + 1);
          if (rc === SQLITE_OK) rc = step(many.handle);
          else raw._sqlite3_reset(many.handle);
          if (rc !== SQLITE_OK) for (let k = 0; k < many.rows; k++) one.stmt.run(valuesOf(rows[r + k]));
          r += many.rows;
          continue;
        }
        let rc = block.kind[b * n] === SLOW ? -1 : bindRow(one.handle, b, 1);
        if (rc === SQLITE_OK) rc = step(one.handle);
        if (rc !== SQLITE_OK) one.stmt.run(valuesOf(rows[r]));
        r++;
      }
      first = end;
    }
  } finally {
    // the bound text points into the block: unbind it before the block goes
    one.stmt.reset();
    many?.stmt.reset();
    if (heap) raw._free(heap);
    // a block grown for a broad answer is not kept
    if (block.text.length > 4 * BLOCK_BYTES) block.text = Buffer.allocUnsafe(64 * 1024);
    // (all four arrays together: one left long was copied into a shorter new one at the next
    // load's first growth, a RangeError that failed the query)
    if (block.kind.length > 1 << 16) {
      block.kind = new Uint8Array(0);
      block.num = new Float64Array(0);
      block.off = new Int32Array(0);
      block.len = new Int32Array(0);
    }
  }
}

/** whether the `count` rows from row `b` of the block are bound directly */
function allDirect(b: number, count: number, n: number): boolean {
  for (let k = 0; k < count; k++) if (block.kind[(b + k) * n] === SLOW) return false;
  return true;
}

function copyInto<T extends Uint8Array | Int32Array | Float64Array>(to: T, from: T): T {
  to.set(from);
  return to;
}

/** run a statement and return rows with every value as a string, as osqueryd's query does */
export function runQuery(db: Database, sql: string): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  const stmt = db.prepare(sql);
  try {
    const names = stmt.getColumnNames();
    while (stmt.step()) {
      const values = stmt.get();
      const r: Record<string, string> = {};
      for (let i = 0; i < names.length; i++) r[names[i]] = values[i] === null ? '' : String(values[i]);
      out.push(r);
    }
  } finally {
    stmt.free();
  }
  return out;
}

export function queryColumnNames(db: Database, sql: string): string[] {
  const stmt = db.prepare(sql);
  try {
    return stmt.getColumnNames();
  } finally {
    stmt.free();
  }
}
