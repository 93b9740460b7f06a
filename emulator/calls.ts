import type { Database } from 'sql.js';
import type { ColumnRoute, Constraint } from './sql';
import { limitTerms } from './limit';
import { joinTerms, realText, whereTerms, type JoinTerm, type Term } from './where';

// How many times osqueryd calls an extension table's `generate` for one scan, and with which
// constraints each time (docs/osquery-calls.md has the source for each rule):
// - osquery/sql/virtual_table.cpp xBestIndex hands SQLite's term on a column to the table only
//   when the column's options include INDEX, REQUIRED or ADDITIONAL (a column declared with
//   op 0 is INDEX under --extensions_default_index, osqueryd's default), and never a range on
//   a TEXT column (sensibleComparison); it never sets `omit`, so SQLite checks every row again.
// - An IN list on a column whose term is handed over makes SQLite call xFilter once per
//   distinct value of the list (sqlite3_vtab_in), unless the column is also OPTIMIZED
//   (osquery ≥ 5.14): then the whole list comes in one call.
// - xFilter leaves out a value whose text is empty or NULL, except the members of a list
//   handed over at once.
// - A term comparing the column with another table's column is handed over when that table
//   is the outer loop: one call per row of it (emulator/manager.ts drives those).

export const INDEX = 1;
export const REQUIRED = 2;
export const ADDITIONAL = 4;
export const OPTIMIZED = 8;

export interface CallOptions {
  /** --extensions_default_index (default true): a column declared with op 0 is INDEX */
  defaultIndex: boolean;
  /** osqueryd ≥ 5.14 hands an OPTIMIZED column's IN list over in one call; before, one call per value */
  optimizedIn: boolean;
}

export const OSQUERYD: CallOptions = { defaultIndex: true, optimizedIn: true };

/** the declared types SQLite gives numeric affinity */
export const NUMERIC: ReadonlySet<string> = new Set(['INTEGER', 'BIGINT', 'UNSIGNED BIGINT', 'DOUBLE']);

/** the options osqueryd keeps for a column an extension declares (virtual_table.cpp xCreate) */
export function columnOptions(c: ColumnRoute, opts: CallOptions = OSQUERYD): number {
  const op = /^\d+$/.test(c.op) ? Number(c.op) : 0;
  return op === 0 && opts.defaultIndex ? INDEX : op;
}

/** whether xBestIndex hands a term on this column to the table at all */
export function handedOver(c: ColumnRoute, opts: CallOptions = OSQUERYD): boolean {
  return (columnOptions(c, opts) & (INDEX | REQUIRED | ADDITIONAL)) !== 0;
}

/**
 * SQLite's value of a constant expression as xFilter reads it (its text), or null: no constant.
 * `list` runs an `IN (SELECT …)` subquery: its values' text (null for NULL), or null when it
 * cannot run yet (a table it reads is not loaded).
 */
export type Evaluate = ((sql: string) => string | null) & { list?: (sql: string) => Array<string | null> | null };

/** a term's expression (`time > strftime('%s', 'now') - 3600`) with the value SQLite computes in `db` */
export function evaluator(db: Database): Evaluate {
  const one = (expr: string) => {
    try {
      const v = db.exec(`SELECT CAST((${expr}) AS TEXT)`)[0]?.values[0]?.[0];
      return v === null || v === undefined ? null : String(v);
    } catch {
      return null; // a column's value, not a constant
    }
  };
  const list = (select: string) => {
    try {
      return (db.exec(`WITH emulator_in(v) AS (${select}) SELECT CAST(v AS TEXT) FROM emulator_in`)[0]?.values ?? []).map(([v]) =>
        v === null ? null : String(v),
      );
    } catch {
      return null;
    }
  };
  return Object.assign(one, { list });
}

/**
 * the terms on `table`'s columns that osqueryd hands over, for columns of these options, with
 * the value of each expression that is no literal (left out without `evaluate`, or when it is
 * NULL or no constant: xFilter has no text for it)
 */
export function handedTerms(sql: string, columns: readonly ColumnRoute[], table: string, opts: CallOptions = OSQUERYD, evaluate?: Evaluate): Term[] {
  const { names, text, handed } = shapeOf(columns, opts);
  return whereTerms(sql, table, names, text).flatMap((t) => {
    if (!handed(t.column)) return [];
    if (t.subquery !== undefined) {
      // the subquery's rows, read at run time (NULL has no text: xFilter adds nothing for it)
      const values = evaluate?.list?.(t.subquery) ?? null;
      return values === null ? [] : [{ ...t, values: values.filter((v): v is string => v !== null) }];
    }
    if (t.sql === undefined) return [t];
    const expr = evaluate?.(t.sql) ?? null;
    return expr === null ? [] : [{ column: t.column, op: t.op, expr, ...(t.list ? { list: t.list } : {}) }];
  });
}

/** the join terms on `table`'s columns that osqueryd hands over when the other table is outer */
export function handedJoinTerms(sql: string, columns: readonly ColumnRoute[], table: string, opts: CallOptions = OSQUERYD): JoinTerm[] {
  const { names, text, handed } = shapeOf(columns, opts);
  return joinTerms(sql, table, names, text).filter((t) => handed(t.column));
}

/** a table's column names, its TEXT ones (no ranges), and whether a column's terms are handed over */
function shapeOf(columns: readonly ColumnRoute[], opts: CallOptions) {
  const byName = new Map(columns.map((c) => [c.name, c]));
  return {
    names: new Set(byName.keys()),
    text: new Set(columns.filter((c) => c.type === 'TEXT').map((c) => c.name)),
    handed: (column: string) => handedOver(byName.get(column)!, opts),
  };
}

/**
 * The constraint sets of the calls one scan of `table` makes, in order: one per combination
 * of the values of the IN lists SQLite loops over. `extra` is added to each (a join's value).
 */
export function constraintSets(
  sql: string,
  columns: readonly ColumnRoute[],
  table: string,
  opts: CallOptions = OSQUERYD,
  extra: ReadonlyArray<{ column: string; op: number; expr: string | null }> = [],
  evaluate?: Evaluate,
): Array<Map<string, Constraint[]>> {
  const byName = new Map(columns.map((c) => [c.name, c]));
  const terms = handedTerms(sql, columns, table, opts, evaluate);
  const atOnce = (column: string) => opts.optimizedIn && (columnOptions(byName.get(column)!, opts) & OPTIMIZED) !== 0;
  const fixed: Array<{ column: string; op: number; expr: string | null; safe: boolean }> = [];
  const lists = new Map<number, { column: string; values: string[] }>();
  for (const t of terms) {
    if (t.list === undefined) fixed.push({ ...t, safe: false });
    else {
      const numeric = NUMERIC.has(byName.get(t.column)!.type) ? byName.get(t.column)!.type : null;
      const list = lists.get(t.list) ?? lists.set(t.list, { column: t.column, values: [] }).get(t.list)!;
      // (a subquery's list may be empty: looped over, no call at all; handed at once, one call
      // with nothing on the column, as sqlite3_vtab_in_first finds no value)
      for (const v of t.values ?? [t.expr]) list.values.push(inValue(v, numeric));
    }
  }
  // SQLite reads a list from an index of its values: each once, in order; a list handed over
  // at once is read by sqlite3_vtab_in_first/next, whose values xFilter keeps even when empty
  const loops: Array<{ column: string; values: string[] }> = [];
  for (const l of lists.values()) {
    const values = distinctInOrder(l.values, NUMERIC.has(byName.get(l.column)!.type));
    if (atOnce(l.column)) for (const v of values) fixed.push({ column: l.column, op: 2, expr: v, safe: true });
    else loops.push({ column: l.column, values });
  }
  // LIMIT and OFFSET, offered as terms on column 0 (limit.ts), last: SQLite drops them from a
  // plan that loops over an IN list (whereLoopAddVirtualOne's pbRetryLimit)
  if (!loops.length && !extra.length)
    for (const l of limitTerms(sql, columns, table, evaluate)) if (handedOver(columns[0], opts)) fixed.push({ column: columns[0].name, ...l, safe: false });
  let sets: Array<Array<{ column: string; op: number; expr: string | null; safe: boolean }>> = [[...fixed, ...extra.map((e) => ({ ...e, safe: false }))]];
  for (const loop of loops) sets = sets.flatMap((s) => loop.values.map((v) => [...s, { column: loop.column, op: 2, expr: v, safe: false }]));
  return sets.map((set) => {
    const out = new Map<string, Constraint[]>();
    for (const c of set) {
      // xFilter's constraint_lambda: no text, or empty text outside a list handed at once, is left out
      if (c.expr === null || (!c.safe && c.expr === '')) continue;
      (out.get(c.column) ?? out.set(c.column, []).get(c.column)!).push({ op: c.op, expr: c.expr });
    }
    return out;
  });
}

/**
 * the context JSON of one call, as osquery/core/tables.cpp setRequestFromContext writes it;
 * `joined`: columns the query reads without naming them (a NATURAL join's shared columns)
 */
export function contextJson(
  constraints: ReadonlyMap<string, Constraint[]>,
  columns: readonly ColumnRoute[],
  sql: string,
  joined: readonly string[] = [],
): string {
  const star = /select\s+\*|select\s+\w+\.\*/i.test(sql);
  const used = columns.filter((c) => star || joined.includes(c.name) || new RegExp(`\\b${c.name}\\b`, 'i').test(sql)).map((c) => c.name);
  let bitset = 0;
  columns.forEach((c, i) => {
    if (used.includes(c.name) && i < 31) bitset |= 1 << i;
  });
  return JSON.stringify({
    // (a std::map from column name: every column, in the order of their names)
    constraints: [...columns]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((c) => ({ name: c.name, list: constraints.get(c.name) ?? [], affinity: c.type })),
    colsUsed: used,
    colsUsedBitset: bitset,
  });
}

/**
 * A member of an IN list as SQLite holds it: with the column's affinity, text that reads as a
 * number is that number (and is handed over in SQLite's text form of it)
 */
function inValue(expr: string, numericType: string | null): string {
  if (!numericType || !/^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(expr)) return expr;
  const v = Number(expr);
  if (numericType !== 'DOUBLE' && Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) return String(v);
  return realText(v);
}

/** distinct values in index order: numbers (numerically) before text (byte order) */
function distinctInOrder(values: readonly string[], numeric: boolean): string[] {
  const isNumber = (v: string) => numeric && /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(v);
  const key = (v: string) => (isNumber(v) ? `n${Number(v)}` : `t${v}`);
  const seen = new Map<string, string>();
  for (const v of values) if (!seen.has(key(v))) seen.set(key(v), v);
  return [...seen.values()].sort((a, b) => {
    const na = isNumber(a);
    const nb = isNumber(b);
    if (na !== nb) return na ? -1 : 1;
    if (na) return Number(a) - Number(b);
    return Buffer.compare(Buffer.from(a), Buffer.from(b));
  });
}
