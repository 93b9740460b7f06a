import type { Database } from 'sql.js';
import { handedJoinTerms, handedOver, handedTerms, type CallOptions, type Evaluate } from './calls';
import { referencedTables, type ColumnRoute } from './sql';
import { namesOf } from './where';

// Which table of a join is SQLite's outer loop, and so which extension table osqueryd calls
// once per outer row with that row's value (docs/osquery-calls.md). osqueryd's xBestIndex
// answers a cost of 1 for a scan with any constraint handed over and 1,000,000 for one with
// none, and sets no row estimate (SQLite assumes 25): SQLite's planner then puts the table
// whose scan is dearer alone outside, and the one the join term makes cheap inside; a tie goes
// to the order of FROM. The emulator's built-in tables are plain tables, always outside.
// Every join term between the two is handed over in each call: `USING (a, b)` and a NATURAL
// join (SQLite's equalities on every column the two share, sqlite3ProcessJoin) as much as
// `ON s.a = f.a AND s.b = f.b`.

export interface JoinDriver {
  /** the outer table, loaded before this one */
  outer: string;
  /** each join term: the outer table's column whose value each call carries, this table's column and the operator */
  pairs: Array<{ outerColumn: string; column: string; op: number }>;
}

const UNCONSTRAINED = 1_000_000;
const EQUALS = 2;
const ROWS = 25;

/** the outer table `table` is called for row by row, or null when it is scanned once */
export function joinDriver(
  sql: string,
  table: string,
  tables: ReadonlyMap<string, readonly ColumnRoute[]>,
  builtins: ReadonlyMap<string, readonly ColumnRoute[]>,
  opts: CallOptions,
  evaluate: Evaluate,
): JoinDriver | null {
  const columns = tables.get(table)!;
  const others = [...referencedTables(sql, tables.keys()), ...referencedTables(sql, builtins.keys())].filter((o) => o !== table);
  const columnsOf = (name: string) => tables.get(name) ?? builtins.get(name) ?? [];
  const alone = (name: string) => (handedTerms(sql, tables.get(name)!, name, opts, evaluate).length ? 1 : UNCONSTRAINED);
  const candidates = [
    ...handedJoinTerms(sql, columns, table, opts).flatMap((term) => {
      const outer = others.find((o) => namesOf(sql, o)?.has(term.other.toUpperCase()));
      return outer ? [{ outer, outerColumn: term.otherColumn, column: term.column, op: term.op }] : [];
    }),
    // `a JOIN b USING (col)` or `a NATURAL JOIN b` of two tables: `b.col = a.col`
    ...(others.length === 1
      ? sharedColumns(sql, columns, columnsOf(others[0]), opts).map((c) => ({ outer: others[0], outerColumn: c, column: c, op: EQUALS }))
      : []),
  ];
  for (const driver of candidates) {
    const { outer } = driver;
    const pairs = candidates.filter((c) => c.outer === outer).map(({ outerColumn, column, op }) => ({ outerColumn, column, op }));
    if (!tables.has(outer)) return { outer, pairs };
    // the other order: this table alone outside, the other inside, cheap if the join makes it so
    const back =
      handedJoinTerms(sql, tables.get(outer)!, outer, opts).some((b) => namesOf(sql, table)?.has(b.other.toUpperCase())) ||
      sharedColumns(sql, tables.get(outer)!, columns, opts).length > 0;
    const inner = alone(outer) === 1 || back ? 1 : UNCONSTRAINED;
    const thisInside = alone(outer) + ROWS * 1;
    const thisOutside = alone(table) + ROWS * inner;
    if (thisInside < thisOutside || (thisInside === thisOutside && position(sql, outer) < position(sql, table))) return { outer, pairs };
  }
  return null;
}

/** the outer table's values of the pairs' columns, row by row, as SQLite hands them (their text form) */
export function outerValues(db: Database, join: JoinDriver): Array<Array<string | null>> {
  const list = join.pairs.map((p) => `CAST("${p.outerColumn.replace(/"/g, '""')}" AS TEXT)`).join(', ');
  const res = db.exec(`SELECT ${list} FROM "${join.outer}"`);
  return (res[0]?.values ?? []).map((row) => row.map((v) => (v === null ? null : String(v))));
}

/**
 * the columns of a `USING (…)` clause, or those a NATURAL join's two tables share, that are this
 * table's and handed over (a NATURAL LEFT, RIGHT or FULL join is outer: where.ts hands nothing)
 */
function sharedColumns(sql: string, columns: readonly ColumnRoute[], other: readonly ColumnRoute[], opts: CallOptions): string[] {
  const m = /\bUSING\s*\(([^)]*)\)/i.exec(sql);
  const natural = /\bNATURAL\s+(INNER\s+|CROSS\s+)?JOIN\b/i.test(sql);
  if (!m && !natural) return [];
  const named = m ? m[1].split(',').map((c) => c.trim().replace(/^["`[]|["`\]]$/g, '')) : other.map((c) => c.name);
  return columns.filter((c) => named.some((n) => n.toUpperCase() === c.name.toUpperCase()) && handedOver(c, opts)).map((c) => c.name);
}

function position(sql: string, table: string): number {
  return sql.search(new RegExp(`\\b${table}\\b`, 'i'));
}
