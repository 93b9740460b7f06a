import type { Evaluate } from './calls';
import type { ColumnRoute } from './sql';
import { conjunctTerms, scanOf, sourceOf, type Token } from './where';

// LIMIT and OFFSET as SQLite (3.38 and later: osquery 5.4.0 on; 3.42 since 5.12.1) offers
// them to a virtual table's xBestIndex: sqlite3WhereAddLimit (whereexpr.c) adds a term
// SQLITE_INDEX_CONSTRAINT_OFFSET (74) and then SQLITE_INDEX_CONSTRAINT_LIMIT (73) when
//   1. the SELECT has a LIMIT;
//   2. it has no GROUP BY, no DISTINCT and is no aggregate;
//   3. its FROM is this one virtual table alone;
//   4. every WHERE term is offered to this table (a column of it compared with a constant:
//      one OR not rewritten as an IN list, a function of a column, a constant term, and it
//      returns);
//   5. every ORDER BY term is a plain column of this table.
// The terms' iColumn is "meaningless" (sqlite.org/c3ref/c_index_constraint_eq.html); SQLite
// leaves it 0, whereClauseInsert's memset. osquery's xBestIndex does not know these ops and
// takes the term as one on its column 0: handed over when that column is indexed, its value
// the LIMIT's (or OFFSET's) integer. osqueryd never sets omit, so SQLite applies the LIMIT
// itself: the table may ignore the term. A plan that also loops over an IN list drops them
// (calls.ts). Where in doubt this offers nothing (a plan without the terms).

export const LIMIT = 73;
export const OFFSET = 74;

const AGGREGATES = new Set(['COUNT', 'SUM', 'AVG', 'MIN', 'MAX', 'TOTAL', 'GROUP_CONCAT', 'STRING_AGG', 'JSON_GROUP_ARRAY', 'JSON_GROUP_OBJECT']);
const FROM_END = new Set(['WHERE', 'GROUP', 'HAVING', 'WINDOW', 'ORDER', 'LIMIT']);

/** the OFFSET and LIMIT terms SQLite offers for `table`'s scan in `sql`, in that order; none where the rules above do not hold */
export function limitTerms(sql: string, columns: readonly ColumnRoute[], table: string, evaluate?: Evaluate): Array<{ op: number; expr: string }> {
  const scan = scanOf(sql, table);
  if (!scan || scan.compound || !evaluate) return [];
  const { level } = scan;
  const word = (t: Token | undefined, w: string) => t?.kind === 'word' && t.text === w;
  const at = (w: string) => level.findIndex((t) => word(t, w));
  const limit = at('LIMIT');
  if (limit < 0) return [];
  // 2: no GROUP BY, DISTINCT or aggregate function at this level
  if (at('GROUP') >= 0 || at('HAVING') >= 0 || at('WINDOW') >= 0 || word(level[1], 'DISTINCT')) return [];
  if (level.some((t, i) => t.kind === 'word' && AGGREGATES.has(t.text) && level[i + 1]?.kind === '(')) return [];
  // 3: one item in FROM
  const from = at('FROM');
  if (from < 0) return [];
  for (let i = from + 1; i < level.length && !(level[i].kind === 'word' && FROM_END.has(level[i].text)); i++)
    if (level[i].kind === ',' || word(level[i], 'JOIN')) return [];
  // 4: every WHERE term offered, with a constant value
  const names = new Set(columns.map((c) => c.name));
  for (const conjunct of scan.conjuncts) {
    const terms = conjunctTerms(conjunct, scan, names, sql);
    if (!terms.length) return [];
    const inner = terms.flatMap((t) => [t.sql, t.subquery]).filter((x): x is string => x !== undefined);
    // (a value that reads a column is no constant: `x IS NULL` answers 0 or 1 for any constant x)
    if (inner.some((x) => [...scan.names].some((n) => new RegExp(`\\b${n}\\b`, 'i').test(x)) || evaluate(`(${x}) IS NULL`) === null)) return [];
  }
  // 5: ORDER BY plain columns of this table only
  const order = at('ORDER');
  if (order >= 0) {
    const items: Token[][] = [[]];
    for (const t of scan.core.slice(scan.core.indexOf(level[order]) + 2, scan.core.indexOf(level[limit]))) {
      if (t.kind === ',' && t.depth === scan.depth) items.push([]);
      else items[items.length - 1].push(t);
    }
    for (const item of items) {
      const bare = word(item[item.length - 1], 'ASC') || word(item[item.length - 1], 'DESC') ? item.slice(0, -1) : item;
      const name = bare.length === 1 ? bare[0] : bare.length === 3 && bare[1].text === '.' && scan.names.has(bare[0].text.toUpperCase()) ? bare[2] : null;
      if (!name || !(name.kind === 'word' || name.kind === 'quoted') || !columns.some((c) => c.name.toUpperCase() === name.text.toUpperCase())) return [];
    }
  }
  // LIMIT n | LIMIT n OFFSET m | LIMIT m, n: each an integer (OP_MustBeInt)
  const clause = scan.core.slice(scan.core.indexOf(level[limit]) + 1).filter((t) => t.kind !== ';');
  const split = clause.findIndex((t) => t.depth === scan.depth && (t.kind === ',' || word(t, 'OFFSET')));
  const [n, m] =
    split < 0
      ? [clause, null]
      : clause[split].kind === ','
        ? [clause.slice(split + 1), clause.slice(0, split)]
        : [clause.slice(0, split), clause.slice(split + 1)];
  const integer = (ts: Token[]) => evaluate(`CAST((${sourceOf(ts, sql)}) AS INTEGER)`);
  const out: Array<{ op: number; expr: string }> = [];
  if (m) {
    const v = integer(m);
    if (v === null) return [];
    out.push({ op: OFFSET, expr: v });
  }
  const v = integer(n);
  if (v === null) return [];
  out.push({ op: LIMIT, expr: v });
  return out;
}
