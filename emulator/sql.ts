import initSqlJs, { type Database, type SqlJsStatic } from 'sql.js';
import { OP } from '../extension/plugin/table';

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
export function sqlite(): Promise<SqlJsStatic> {
  sqlJs ??= initSqlJs();
  return sqlJs;
}

const NUMERIC = new Set(['INTEGER', 'BIGINT', 'UNSIGNED BIGINT', 'DOUBLE']);
const OPS: Record<string, number> = { '=': OP.EQUALS, '>': OP.GREATER_THAN, '<=': OP.LESS_THAN_OR_EQUALS, '<': OP.LESS_THAN, '>=': OP.GREATER_THAN_OR_EQUALS };

/** the tables a statement names, of those given */
export function referencedTables(sql: string, tables: Iterable<string>): string[] {
  const out: string[] = [];
  for (const t of tables) if (new RegExp(`\\b${t}\\b`, 'i').test(sql)) out.push(t);
  return out;
}

/**
 * Constraints osqueryd would pass for simple terms `col op literal` and `col IN (...)`:
 * EQUALS for = and each IN element, ranges only on numeric columns (protocol doc §5.3).
 * Anything more complex passes nothing, as SQLite filters again anyway.
 */
export function constraintsFor(sql: string, columns: readonly ColumnRoute[]): Map<string, Constraint[]> {
  const out = new Map<string, Constraint[]>();
  const add = (col: string, c: Constraint) => (out.get(col) ?? out.set(col, []).get(col)!).push(c);
  const lit = `('(?:[^']|'')*'|-?\\d+(?:\\.\\d+)?)`;
  for (const col of columns) {
    const numeric = NUMERIC.has(col.type);
    const cmp = new RegExp(`(?<![\\w.])(?:\\w+\\.)?${col.name}\\s*(>=|<=|=|<|>)\\s*${lit}`, 'gi');
    for (const m of sql.matchAll(cmp)) {
      const op = OPS[m[1]];
      if (op !== OP.EQUALS && !numeric) continue;
      add(col.name, { op, expr: unquote(m[2]) });
    }
    const inList = new RegExp(`(?<![\\w.])(?:\\w+\\.)?${col.name}\\s+IN\\s*\\(([^)]*)\\)`, 'gi');
    for (const m of sql.matchAll(inList)) {
      for (const item of m[1].match(new RegExp(lit, 'g')) ?? []) add(col.name, { op: OP.EQUALS, expr: unquote(item) });
    }
  }
  return out;
}

function unquote(s: string): string {
  return s.startsWith("'") ? s.slice(1, -1).replace(/''/g, "'") : s;
}

/** the context JSON osqueryd sends with generate */
export function generateContext(sql: string, columns: readonly ColumnRoute[]): string {
  const found = constraintsFor(sql, columns);
  const star = /select\s+\*|select\s+\w+\.\*/i.test(sql);
  const used = columns.filter((c) => star || new RegExp(`\\b${c.name}\\b`, 'i').test(sql)).map((c) => c.name);
  let bitset = 0;
  columns.forEach((c, i) => {
    if (used.includes(c.name) && i < 31) bitset |= 1 << i;
  });
  return JSON.stringify({
    constraints: columns.map((c) => ({ name: c.name, list: found.get(c.name) ?? [], affinity: c.type })),
    colsUsed: used,
    colsUsedBitset: bitset,
  });
}

/** load generated rows into a table with the declared types: bad numerics become NULL */
export function loadTable(db: Database, name: string, columns: readonly ColumnRoute[], rows: ReadonlyArray<Record<string, string>>): void {
  const decl = columns.map((c) => `"${c.name}" ${NUMERIC.has(c.type) ? (c.type === 'DOUBLE' ? 'REAL' : 'INTEGER') : 'TEXT'}`).join(', ');
  db.run(`DROP TABLE IF EXISTS "${name}"`);
  db.run(`CREATE TABLE "${name}" (${decl})`);
  const stmt = db.prepare(`INSERT INTO "${name}" VALUES (${columns.map(() => '?').join(', ')})`);
  try {
    db.run('BEGIN');
    for (const row of rows) {
      stmt.run(
        columns.map((c) => {
          const v = row[c.name];
          if (v === undefined) return null;
          if (!NUMERIC.has(c.type)) return v;
          if (v === '' || !/^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(v)) return null;
          return Number(v);
        }),
      );
    }
    db.run('COMMIT');
  } finally {
    stmt.free();
  }
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
