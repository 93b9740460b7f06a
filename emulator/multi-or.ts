import { handedTerms, OSQUERYD, type CallOptions, type Evaluate } from './calls';
import type { ColumnRoute } from './sql';
import { conjunctTerms, disjunctsOf, scanOf, sourceOf, type Token } from './where';

// SQLite's multi-index OR (where.c whereLoopAddOr, wherecode.c WHERE_MULTI_OR) on a virtual
// table: a WHERE term `a OR b` that is no IN list (`col = 1 OR col = 2` is one) may be run as
// one scan per disjunct, each calling xBestIndex and xFilter with that disjunct's terms and
// the WHERE's other indexable terms. osqueryd answers a cost of 1 for a plan that hands a
// term over and 1,000,000 for one that does not (virtual_table.cpp), so SQLite takes it when
// every disjunct hands one over and nothing else of the WHERE does (2 scans at cost 1 beat one
// of 1,000,000; one at cost 1 beats them): `event LIKE '%nc%' OR event LIKE '%curl%'` is two
// calls, as osquery's test_like_constraints expects, and `subject = 'alice' OR host = 'h'` too.
//
// A row two disjuncts select is returned once: SQLite keeps the rowid of each row a scan
// passes (OP_RowSetTest) and skips a row of a later scan whose rowid an earlier scan kept. An
// extension's table has a rowid (columnDefinition keeps it for read/write tables, so no
// WITHOUT ROWID: osquery #2137), and xRowid gives the row's own `rowid` cell, else its index
// in its call's answer (dynamic_table_row.cpp get_rowid): without a `rowid`, the row at index
// 3 of the second scan is dropped when the first scan kept its row 3, whatever rows they are.
// Only a SELECT of this one table is split here; a join's OR hands nothing over, a plan SQLite
// may also choose.

export interface OrScan {
  /** the sub-scan's statement: its constraints are those of its calls */
  sql: string;
  /** the same, selecting the rowid of each row (of a plain table loaded with the calls' rows) that passes it */
  passing: string;
}

/** the scans SQLite makes of `table` for `sql` under a multi-index OR, or null for one scan */
export function orScans(sql: string, columns: readonly ColumnRoute[], table: string, opts: CallOptions = OSQUERYD, evaluate?: Evaluate): OrScan[] | null {
  const scan = scanOf(sql, table);
  if (!scan || !alone(scan.level)) return null;
  // a term of the WHERE handed over alone: one scan of cost 1, cheaper than two
  if (handedTerms(sql, columns, table, opts, evaluate).length) return null;
  const from = `FROM "${table}"${scan.alias === null ? '' : ` AS "${scan.alias.replace(/"/g, '""')}"`}`;
  const names = new Set(columns.map((c) => c.name));
  // the WHERE's other terms SQLite ANDs to each disjunct (wherecode.c: those of an indexable operator)
  const indexable = (c: Token[]) =>
    disjunctsOf(c).length === 1 && conjunctTerms(c, scan, names, sql).length > 0 && !c.some((t) => t.kind === 'word' && t.text === 'SELECT');
  for (const conjunct of scan.conjuncts) {
    const disjuncts = disjunctsOf(conjunct).map((d) => sourceOf(d, sql));
    if (disjuncts.length < 2) continue;
    if (!disjuncts.every((d) => handedTerms(`SELECT * ${from} WHERE (${d})`, columns, table, opts, evaluate).length)) continue;
    const rest = scan.conjuncts
      .filter((c) => c !== conjunct && indexable(c))
      .map((c) => ` AND (${sourceOf(c, sql)})`)
      .join('');
    return disjuncts.map((d) => ({ sql: `SELECT * ${from} WHERE (${d})${rest}`, passing: `SELECT rowid ${from} WHERE (${d})${rest}` }));
  }
  return null;
}

/** whether a SELECT core's FROM has one item */
function alone(level: readonly Token[]): boolean {
  const from = level.findIndex((t) => t.kind === 'word' && t.text === 'FROM');
  if (from < 0) return false;
  for (let i = from + 1; i < level.length; i++) {
    const t = level[i];
    if (t.kind === 'word' && ['WHERE', 'GROUP', 'HAVING', 'WINDOW', 'ORDER', 'LIMIT'].includes(t.text)) break;
    if (t.kind === ',' || (t.kind === 'word' && t.text === 'JOIN')) return false;
  }
  return true;
}

/**
 * A row's rowid as xRowid gives it: its own `rowid` cell (read as osquery's tryTo<long long>,
 * base 10; anything else fails the query), else its index in its call's answer
 */
export function rowidOf(row: Record<string, string>, index: number): string {
  const own = row.rowid;
  if (own === undefined) return String(index);
  if (!/^[+-]?\d+$/.test(own) || BigInt(own) > 9223372036854775807n || BigInt(own) < -9223372036854775808n)
    throw new Error(`Invalid rowid value returned: ${own}`);
  return BigInt(own).toString();
}
