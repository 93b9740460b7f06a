import type { HeldBack } from '../../state/answer-share';
import { answeredRowOf } from '../../state/retained';

// A rowid on every row a table answers, the same for a row in each scan of one query and never
// shared by two rows. osqueryd gives an extension's table a rowid (osquery/core/tables.cpp
// columnDefinition keeps it for read/write extension tables, where a native table with an
// index is WITHOUT ROWID), and xRowid reads it from the row's `rowid` cell (tryTo<long long>,
// base 10; not one fails the query), else takes the row's index in its call's answer
// (osquery/sql/dynamic_table_row.cpp get_rowid). SQLite's multi-index OR scans the table once
// per disjunct and skips a row of a later scan whose rowid an earlier scan kept
// (OP_RowSetTest): by index, a disjunct the table filters by (`subject = 'alice' OR host =
// 'web-01'`) gave web-01's rows the indexes alice's rows had in the first scan, and every
// web-01 row at an index below alice's count was dropped (the emulator's test osquery-shapes
// lost 22 of 54 rows).
//
// Not a hash of the row: 53 bits of two FNV-1a hashes of a row's id and time were found
// colliding for two ids of the scorer's form in two minutes of one core (a cycle search over
// ids; test/rowid-unique.test.ts), and a row's id is a hash of cells a local user writes, so
// their row could take the rowid of another's alert and a later scan skip that alert. Numbers
// given out instead: a retained record's row number (state/retained.ts answeredRowOf); a
// held-back summary's or a model's row, a negative number given to its identity.

/**
 * The rowid of what a retained store's answer yielded: a summary of rows held back, a number
 * given to what it stands for (heldRowid); a record, its row number (never negative); a record
 * no store numbered (a test's store), a number given to its whole text
 */
export function answerRowid(table: string, item: object): string {
  if ('held' in item) return heldRowid(table, item as HeldBack);
  const n = answeredRowOf(item);
  return n === undefined ? rowidOf(`${table}\u0000${JSON.stringify(item)}`) : String(n);
}

/** identities already numbered; forgotten past IDENTITIES (no number is given twice) */
const numbered = new Map<string, number>();
/** identities remembered: a table's few (anomaly_models: subjects × models; the summaries of one answer) */
const IDENTITIES = 100_000;
let given = 0;

/**
 * The rowid of a row whose identity is `key`: the number given to that identity, negative, where
 * records' row numbers are not. Forgotten when too many are remembered, an identity gets a new
 * one, and a later scan of a query then shows its row again rather than skip another row.
 */
export function rowidOf(key: string): string {
  let n = numbered.get(key);
  if (n === undefined) {
    if (numbered.size >= IDENTITIES) numbered.clear();
    n = -++given;
    numbered.set(key, n);
  }
  return String(n);
}

/**
 * The rowid of a summary of rows held back (state/answer-share.ts): a number given to what it
 * stands for, by its raw text. Not its subject, host and newest time alone: a summary several
 * subjects share is '*' and '*', and two of different subjects, in two scans of an OR, whose
 * newest rows have one time (a query run's rows share it) took one rowid, and the second was
 * skipped, its subjects in no row of the answer. A summary that differs in a later scan (fewer
 * rows kept there) is shown again instead.
 */
function heldRowid(table: string, h: HeldBack): string {
  return rowidOf(JSON.stringify([table, h.subject, h.host, h.from, h.to, h.rows, h.pairs, h.events, h.tag, h.names]));
}
