import type { ScoredEvent, ScoredWindow } from '../scorer/types';

// What the anomaly_scores and anomaly_windows tables and the scoring service need of the
// retained rows.

/** A bound pushed down from a SQL constraint; SQLite re-checks every row, so bounds are hints. */
export interface Bound {
  op: '>' | '>=' | '<' | '<=';
  value: number;
}

/**
 * Push-down filter for `anomaly_scores`. Each present field narrows the rows: numeric
 * bounds are ANDed, value lists are "any of" (osqueryd sends `IN (...)` as several
 * equality constraints). `score` bounds never match rows whose score is null.
 */
export interface ScoreFilter {
  time?: Bound[];
  score?: Bound[];
  subject?: string[];
  host?: string[];
  verdict?: string[];
  query?: string[];
  id?: string[];
}

/** Retained scored events, newest first; persisted in the state directory. */
export interface ScoreStore {
  append(events: readonly ScoredEvent[]): void;
  /** rows matching the filter, newest first, read one at a time */
  matching(filter: ScoreFilter): Iterable<ScoredEvent>;
  /** rows matching the filter, newest first */
  select(filter: ScoreFilter): ScoredEvent[];
  get(id: string): ScoredEvent | undefined;
  readonly size: number;
  /** make everything appended so far durable */
  flush(): void;
  close(): void;
}

/** Push-down filter for `anomaly_windows`, with the same meaning as ScoreFilter. */
export interface WindowFilter {
  start?: Bound[];
  score?: Bound[];
  subject?: string[];
  host?: string[];
  verdict?: string[];
}

/** Retained scored windows; persisted in the state directory. */
export interface WindowStore {
  append(windows: readonly ScoredWindow[]): void;
  /** windows matching the filter, newest first */
  select(filter: WindowFilter): ScoredWindow[];
  readonly size: number;
  flush(): void;
  close(): void;
}
