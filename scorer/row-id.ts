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

/** where a count of identical rows (RowIds) stood: rows met again from there get the same ids */
export interface IdCount {
  readonly at: number;
}

/**
 * The identical rows of the seconds kept: past this many distinct rows, the seconds first met
 * longest ago are forgotten (their rows met again are counted from 0), the newest always kept.
 * About 2.5 MB of heap in the extension's scorer thread (200,000 took 25 MB: node --expose-gc,
 * heapUsed before and after); a fleet log's hosts interleave their lines by a few seconds.
 */
const MAX_COUNTED = 20_000;

/**
 * The seconds forgotten whose rows, met again, are counted apart (RowIds.forgotten): a number
 * each, under 2 MB at most (node --expose-gc, heapUsed of 50,000 entries: 1.8 MB); past it the ones forgotten longest ago are let go (hours of a
 * fleet's log at 25,000 rows a second, far past the seconds its hosts' lines interleave by)
 */
const MAX_FORGOTTEN = 50_000;

/**
 * Ids of rows met in order: identical rows are counted within the second they share, wherever
 * they are met. Counted only while the time stayed the same (as before crashlearn), the
 * second of two identical rows of one second that a row of another second separated (a fleet
 * log, its hosts' lines interleaved) took the first one's id, and was dropped as a replay of it
 * (the retained store) or taken for it (the ledgers). A log whose seconds are each met in one
 * stretch is counted as it was: the ids of old ledgers still match.
 */
export class RowIds {
  /** for each second kept, in the order first met: how many of each row (by its first id) */
  private seconds = new Map<number, Map<string, number>>();
  private counted = 0;
  /**
   * How many times each second forgotten was: its rows met again are counted from 0 again, and
   * took the ids of the first ones of it (a fleet log's host whose lines of one second another
   * 20,000 rows of other hosts' separate, osquery's TLS logger sending a query's rows in
   * batches of 1,024 every 4 s): the second was dropped as a replay of the first, or taken for
   * it by the ledgers. Now counted apart, as `<id>-<times forgotten>.<before>`, an id no row
   * of the second had before.
   */
  private forgotten = new Map<number, number>();
  /** what changed since count(), to go back to it: a row's count before, or a second forgotten (none until count() is asked) */
  private changes: Array<{ time: number; first: string; before: number } | { time: number; forgot: Map<string, number>; times: number }> | null = null;
  private at = 0;

  next(row: ResultRow): string {
    let seen = this.seconds.get(row.time);
    if (!seen) this.seconds.set(row.time, (seen = new Map()));
    const first = rowId(row, 0);
    const before = seen.get(first) ?? 0;
    seen.set(first, before + 1);
    this.changes?.push({ time: row.time, first, before });
    if (!before && ++this.counted > MAX_COUNTED) this.forget(row.time);
    const times = this.forgotten.get(row.time);
    if (times) return `${first}-${times}.${before}`;
    return before ? `${first}-${before}` : first;
  }

  /** the seconds first met longest ago, but `now`'s, forgotten until MAX_COUNTED rows are counted */
  private forget(now: number): void {
    for (const [time, seen] of this.seconds) {
      if (this.counted <= MAX_COUNTED) return;
      if (time === now) continue;
      this.seconds.delete(time);
      this.counted -= seen.size;
      const times = this.forgotten.get(time) ?? 0;
      this.forgotten.delete(time);
      this.forgotten.set(time, times + 1);
      this.changes?.push({ time, forgot: seen, times });
    }
    // (let go only where no count can be put back to before it: restore gives back what a batch changed)
    if (!this.changes) this.trimForgotten();
  }

  private trimForgotten(): void {
    for (const time of this.forgotten.keys()) {
      if (this.forgotten.size <= MAX_FORGOTTEN) return;
      this.forgotten.delete(time);
    }
  }

  /** where the count stands: rows met again from here get the same ids (restore) */
  count(): IdCount {
    this.trimForgotten();
    this.changes = [];
    return { at: ++this.at };
  }

  /** back to where count() stood, when it was the last one asked */
  restore(count: IdCount): void {
    if (count.at !== this.at || !this.changes) throw new Error('RowIds.restore: the count asked for is not the last one');
    const forgotten: Array<[number, Map<string, number>]> = [];
    for (let i = this.changes.length - 1; i >= 0; i--) {
      const c = this.changes[i];
      if ('forgot' in c) {
        forgotten.unshift([c.time, c.forgot]);
        this.seconds.set(c.time, c.forgot);
        if (c.times) this.forgotten.set(c.time, c.times);
        else this.forgotten.delete(c.time);
        this.counted += c.forgot.size;
        continue;
      }
      const seen = this.seconds.get(c.time)!;
      if (c.before) seen.set(c.first, c.before);
      else {
        seen.delete(c.first);
        this.counted--;
        if (!seen.size) this.seconds.delete(c.time);
      }
    }
    // (the seconds forgotten were the first met: they go back in front, in their order)
    if (forgotten.length) this.seconds = new Map([...forgotten, ...[...this.seconds].filter(([time]) => !forgotten.some(([t]) => t === time))]);
    this.changes = [];
  }
}
