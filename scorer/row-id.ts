import { fnv1a64 } from './hash';
import type { ResultRow } from './types';

// A row's id (anomaly_scores.id): its time, a hash of its host, query, action, time and
// columns, and, for a row identical to others logged in the same second, how many came before
// it. The same row read again gets the same id; the scorer names what it scores by it, and the
// ledgers of `anomaly score` and `anomaly train` know the rows they kept by it (cli/train-ledger.ts).

/** a row's id, given how many identical rows of the same second came before it */
export function rowId(row: ResultRow, before: number): string {
  const h = fnv1a64(`${row.host}\u0000${row.query}\u0000${row.action}\u0000${row.time}\u0000${JSON.stringify(row.columns)}`);
  return `${row.time.toString(36)}-${h}${before ? `-${before}` : ''}`;
}

/** the identical rows counted at the newest time (RowIds) */
export interface IdCount {
  time: number;
  seen: ReadonlyMap<string, number>;
}

/**
 * Ids of rows met in order: identical rows are counted within the second they share, and the
 * count starts again when the time changes (rows of one run are logged together; bounded by
 * the rows of one second).
 */
export class RowIds {
  private time = -1;
  private seen = new Map<string, number>();

  next(row: ResultRow): string {
    if (row.time !== this.time) {
      this.time = row.time;
      this.seen.clear();
    }
    const first = rowId(row, 0);
    const before = this.seen.get(first) ?? 0;
    this.seen.set(first, before + 1);
    return before ? `${first}-${before}` : first;
  }

  /** where the count stands: rows met again from here get the same ids */
  count(): IdCount {
    return { time: this.time, seen: new Map(this.seen) };
  }

  restore(count: IdCount): void {
    this.time = count.time;
    this.seen = new Map(count.seen);
  }
}
