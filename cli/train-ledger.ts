import * as fs from 'fs';
import * as path from 'path';
import { fnv1a64 } from '../scorer/hash';
import type { ResultRow } from '../scorer/types';

// Which query runs `anomaly train` has already learned, so training the same log twice does
// not double a subject's history. A run is one query on one host at one time: osqueryd logs
// every row of a run with the same host, name, counter and unixTime, and no two runs of a
// query on a host share a second; the parser keeps no counter, so host, name and time name it.
// The ledger is a file of 64-bit FNV-1a hashes, one per line, appended after each training.

const FILE = 'trained-runs';

export class TrainLedger {
  private readonly known = new Set<string>();
  private readonly added = new Set<string>();

  constructor(private readonly stateDir: string) {
    let text = '';
    try {
      text = fs.readFileSync(path.join(stateDir, FILE), 'utf8');
    } catch {
      /* nothing trained here yet */
    }
    for (const line of text.split('\n')) if (line) this.known.add(line);
  }

  /** false when an earlier training learned this row's run; new runs are noted */
  isNew(row: ResultRow): boolean {
    const key = fnv1a64(`${row.host}\u0000${row.query}\u0000${row.time}`);
    if (this.known.has(key)) return false;
    this.added.add(key);
    return true;
  }

  /** append the runs learned now; O_NOFOLLOW and an explicit mode, as everything in the state */
  save(): void {
    if (!this.added.size) return;
    const fd = fs.openSync(
      path.join(this.stateDir, FILE),
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_APPEND | fs.constants.O_NOFOLLOW,
      0o600,
    );
    try {
      fs.writeSync(fd, [...this.added].join('\n') + '\n');
    } finally {
      fs.closeSync(fd);
    }
    for (const k of this.added) this.known.add(k);
    this.added.clear();
  }
}
