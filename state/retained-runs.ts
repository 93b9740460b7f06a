import { fnv1a64 } from '../scorer/hash';

// A query run is one query on one host at one time: osqueryd logs every row of a run with the
// same host, name, counter and unixTime, and no two runs of a query on a host share a second
// (the parser keeps no counter, so host, name and time name it). A row is named by its id
// (scorer/row-id.ts). The ledgers of rows (cli/train-ledger.ts) and the retained scores
// (state/scores.ts) know rows by the first 52 bits of a 64-bit hash, exact in a double, kept
// sorted in a typed array: 8 bytes a row, where a Set or a Map costs some 40 to 80.

/** a run's name: 64-bit FNV-1a of its host, query and time, as 16 hex digits */
export function runKey(row: { host: string; query: string; time: number }): string {
  return fnv1a64(`${row.host}\u0000${row.query}\u0000${row.time}`);
}

/** the first 52 bits of a key of 16 hex digits (a runKey) */
export function runNumber(key: string): number {
  return parseInt(key.slice(0, 13), 16);
}

/** a row's number: the first 52 bits of the 64-bit FNV-1a of its id (rowId) */
export function rowNumber(id: string): number {
  return runNumber(fnv1a64(id));
}

/** How many times each number occurs: sorted, counted by two binary searches. */
export class NumberCounts {
  private readonly keys: Float64Array;

  /** `keys` in any order (sorted here, in place) */
  constructor(keys: Float64Array) {
    this.keys = keys.sort();
  }

  get size(): number {
    return this.keys.length;
  }

  /** these and `more`, counted together */
  with(more: readonly number[]): NumberCounts {
    const all = new Float64Array(this.keys.length + more.length);
    all.set(this.keys);
    all.set(more, this.keys.length);
    return new NumberCounts(all);
  }

  count(k: number): number {
    return this.firstAbove(k) - this.firstAtLeast(k);
  }

  has(k: number): boolean {
    return this.indexOf(k) >= 0;
  }

  /** the place of the first of `k` among the sorted numbers, or -1 */
  indexOf(k: number): number {
    const i = this.firstAtLeast(k);
    return i < this.keys.length && this.keys[i] === k ? i : -1;
  }

  private firstAtLeast(k: number): number {
    let lo = 0,
      hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid] < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private firstAbove(k: number): number {
    let lo = 0,
      hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid] <= k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
