import type { Database } from 'sql.js';
import { handedJoinTerms, handedTerms, type CallOptions, type Evaluate } from './calls';
import { referencedTables, type ColumnRoute } from './sql';
import { namesOf } from './where';

// Which table of a join is SQLite's outer loop, and so which extension table osqueryd calls
// once per outer row with that row's value (docs/osquery-calls.md). osqueryd's xBestIndex
// answers a cost of 1 for a scan with any constraint handed over and 1,000,000 for one with
// none, and sets no row estimate (SQLite assumes 25): SQLite's planner then puts the table
// whose scan is dearer alone outside, and the one the join term makes cheap inside; a tie goes
// to the order of FROM. The emulator's built-in tables are plain tables, always outside.

export interface JoinDriver {
  /** the outer table, loaded before this one */
  outer: string;
  /** its column whose value each call carries */
  outerColumn: string;
  /** this table's column and the operator the value is handed over with */
  column: string;
  op: number;
}

const UNCONSTRAINED = 1_000_000;
const ROWS = 25;

/** the outer table `table` is called for row by row, or null when it is scanned once */
export function joinDriver(
  sql: string,
  table: string,
  tables: ReadonlyMap<string, readonly ColumnRoute[]>,
  builtins: readonly string[],
  opts: CallOptions,
  evaluate: Evaluate,
): JoinDriver | null {
  const columns = tables.get(table)!;
  const others = [...referencedTables(sql, tables.keys()), ...referencedTables(sql, builtins)].filter((o) => o !== table);
  const alone = (name: string) => (handedTerms(sql, tables.get(name)!, name, opts, evaluate).length ? 1 : UNCONSTRAINED);
  for (const term of handedJoinTerms(sql, columns, table, opts)) {
    const outer = others.find((o) => namesOf(sql, o)?.has(term.other.toUpperCase()));
    if (!outer) continue;
    const driver = { outer, outerColumn: term.otherColumn, column: term.column, op: term.op };
    if (!tables.has(outer)) return driver;
    // the other order: this table alone outside, the other inside, cheap if the join makes it so
    const back = handedJoinTerms(sql, tables.get(outer)!, outer, opts).some((b) => namesOf(sql, table)?.has(b.other.toUpperCase()));
    const inner = alone(outer) === 1 || back ? 1 : UNCONSTRAINED;
    const thisInside = alone(outer) + ROWS * 1;
    const thisOutside = alone(table) + ROWS * inner;
    if (thisInside < thisOutside || (thisInside === thisOutside && position(sql, outer) < position(sql, table))) return driver;
  }
  return null;
}

/** the outer table's values of the column, row by row, as SQLite hands them (its text form) */
export function outerValues(db: Database, join: JoinDriver): Array<string | null> {
  const res = db.exec(`SELECT CAST("${join.outerColumn.replace(/"/g, '""')}" AS TEXT) FROM "${join.outer}"`);
  return (res[0]?.values ?? []).map(([v]) => (v === null ? null : String(v)));
}

function position(sql: string, table: string): number {
  return sql.search(new RegExp(`\\b${table}\\b`, 'i'));
}
