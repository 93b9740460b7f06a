import { fnv1a64 } from '../scorer/hash';

// A query run is one query on one host at one time: osqueryd logs every row of a run with the
// same host, name, counter and unixTime, and no two runs of a query on a host share a second
// (the parser keeps no counter, so host, name and time name it). The ledgers of runs
// (cli/train-ledger.ts) and the retained scores name runs by the same hash.

/** a run's name: 64-bit FNV-1a of its host, query and time, as 16 hex digits */
export function runKey(row: { host: string; query: string; time: number }): string {
  return fnv1a64(`${row.host}\u0000${row.query}\u0000${row.time}`);
}

/** the first 52 bits of a run's key, exact in a double (a typed array holds a million in 8 MB) */
export function runNumber(key: string): number {
  return parseInt(key.slice(0, 13), 16);
}

/**
 * How many rows of each run a store retains: one key a row, sorted, counted by two binary
 * searches. 8 bytes a retained row, where a Map of runs costs some 80 bytes an entry.
 */
export class RunRows {
  private readonly keys: Float64Array;

  /** `keys`: the runNumber of each row's runKey, in any order (sorted here, in place) */
  constructor(keys: Float64Array) {
    this.keys = keys.sort();
  }

  /** rows retained of the run named `key` (runKey) */
  rowsOf(key: string): number {
    const k = runNumber(key);
    return this.firstAbove(k) - this.firstAtLeast(k);
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
