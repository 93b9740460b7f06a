// A stable rowid on every row a table answers. osqueryd gives an extension's table a rowid
// (osquery/core/tables.cpp columnDefinition keeps it for read/write extension tables, where a
// native table with an index is WITHOUT ROWID), and xRowid reads it from the row's `rowid`
// cell, else takes the row's index in its call's answer (osquery/sql/dynamic_table_row.cpp
// get_rowid). SQLite's multi-index OR scans the table once per disjunct and skips a row of a
// later scan whose rowid an earlier scan kept (OP_RowSetTest): a disjunct the table filters by
// (`subject = 'alice' OR host = 'web-01'`) gave web-01's rows the indexes alice's rows had in
// the first scan, and every web-01 row at an index below alice's count was dropped (the
// emulator's test osquery-shapes lost 22 of 54 rows). A rowid of the row's own identity makes a
// later scan skip only the rows an earlier one already gave.

/** the `rowid` cell of a row whose identity is `key`: 53 bits of two FNV-1a hashes, a decimal osquery reads as a long long */
export function rowidOf(key: string): string {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 13;
  }
  // (two rows of one answer share one with odds of about n² / 2^54: 1 in 3 million for
  // 100,000 rows; only a multi-index OR's later scan then skips one of them)
  return String(((a >>> 0) % 2 ** 21) * 2 ** 32 + (b >>> 0));
}
