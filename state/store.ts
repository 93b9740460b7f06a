import type { ScoredEvent, ScoredWindow, TakenMark } from '../scorer/types';
import type { AnswerShare, HeldBack } from './answer-share';
import { oneLine } from '../extension/hidden-chars';

// What the anomaly_scores and anomaly_windows tables and the scoring service need of the
// retained rows.

/** a turn of the event loop: what a store's reading waits for between slices unless told otherwise */
export const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Read a store's slices (its loading() generator), calling `between` after each: a turn of
 * the event loop by default, so that pings and result lines are answered meanwhile; the
 * extension also paces it to osqueryd's watchdog budget.
 */
export async function readInSlices(slices: Iterable<unknown>, between: () => Promise<void> = nextTurn): Promise<void> {
  for (const _ of slices) await between();
}

/** A bound pushed down from a SQL constraint; SQLite re-checks every row, so bounds are hints. */
export interface Bound {
  op: '>' | '>=' | '<' | '<=';
  value: number;
}

/**
 * How far a score's stored value may be from the value SQLite compares: the tables show a
 * score rounded to six places (formatDouble, up to 5e-7 away) and anomaly_scores' index keeps
 * it as a float32 (up to 6e-8 away in [0, 1]). SQLite checks every row again, so the
 * push-down widens each edge by this much and lets a row near an edge through for SQLite to
 * decide: compared exactly, `WHERE score = 0.955977`, a value copied from an answer, found no row.
 */
export const SCORE_SLACK = 1e-6;

/**
 * What an equality on a text column can be compared by in a push-down. SQLite passes
 * `subject = 'ALICE' COLLATE NOCASE` (or `subject COLLATE RTRIM = 'alice  '`) to a virtual
 * table as a plain EQUALS and then compares with the collation, which osqueryd never asks
 * for (sqlite3_vtab_collation): compared byte for byte, the push-down dropped every row
 * SQLite would have kept. Values equal under SQLite's BINARY, NOCASE (ASCII letters folded)
 * or RTRIM (trailing spaces ignored) have the same key, so matching keys lets all of them
 * through and SQLite decides; osquery's own version collations are not covered.
 */
export function textKey(value: string): string {
  let end = value.length;
  while (end > 0 && value.charCodeAt(end - 1) === 32) end--;
  const cut = end === value.length ? value : value.slice(0, end);
  return /[A-Z]/.test(cut) ? cut.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : cut;
}

/**
 * What a stored text is compared by in a push-down: the key of its shown form. The tables show
 * every text cell through oneLine (extension/plugin/table.ts), and SQLite compares the cell it
 * was handed, so a WHERE copied from an answer (`subject = 'ev\x1be'`) names the shown form:
 * compared with the stored `ev<ESC>e` it matched nothing, and a row SQLite would keep was
 * dropped. A value given raw is shown first too, so it finds the row whose shown form is its
 * own (the command line names hosts and queries as logged); SQLite then drops it.
 */
export function shownKey(value: string): string {
  return textKey(oneLine(value));
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

/**
 * Scored rows a full disk would not let anomaly_scores keep: their lines stay queued and are
 * scored again once it has room (extension/ingest.ts), rather than acknowledged lines lost.
 */
export class RowsNotRetained extends Error {}

/** what names a scored row for scoredAgain: all a failed batch keeps of its rows */
export type RowIdentity = Pick<ScoredEvent, 'id' | 'time'>;

/** Retained scored events, newest first; persisted in the state directory. */
export interface ScoreStore {
  /**
   * keep scored rows; throws when the disk refuses them (some may be kept: see scoredAgain).
   * `since`: the first queue segment of this start (LineMarks.since)
   */
  append(events: readonly ScoredEvent[], since?: number): void;
  /** a batch the last append took in part will be appended again: keep the part it took once (known by id and time) */
  scoredAgain(events: readonly RowIdentity[]): void;
  /** rows matching the filter, newest first, read one at a time */
  matching(filter: ScoreFilter): Iterable<ScoredEvent>;
  /** matching's rows within a table answer's share, then one summary per subject on a host held back */
  answer(filter: ScoreFilter, share: AnswerShare): Iterable<ScoredEvent | HeldBack<ScoredEvent>>;
  /** rows matching the filter, newest first */
  select(filter: ScoreFilter): ScoredEvent[];
  get(id: string): ScoredEvent | undefined;
  readonly size: number;
  /**
   * The rows retained after `taken` (of its epoch), oldest first, at most `max`; with no mark,
   * those of the newest row's epoch. A store that keeps no queue places has none. A null is
   * no row: a turn of the event loop may be taken there.
   */
  retainedAfter?(taken: TakenMark | null, max: number): Iterable<ScoredEvent | null>;
  /** make everything appended so far durable */
  flush(): void;
  close(): void;
}

/** Push-down filter for `anomaly_windows`, with the same meaning as ScoreFilter. */
export interface WindowFilter {
  start?: Bound[];
  end?: Bound[];
  score?: Bound[];
  subject?: string[];
  host?: string[];
  verdict?: string[];
}

/** Retained scored windows; persisted in the state directory. */
export interface WindowStore {
  append(windows: readonly ScoredWindow[]): void;
  /** windows matching the filter, newest first, read one at a time */
  matching(filter: WindowFilter): Iterable<ScoredWindow>;
  /** matching's windows within a table answer's share, then one summary per subject on a host held back */
  answer(filter: WindowFilter, share: AnswerShare): Iterable<ScoredWindow | HeldBack<ScoredWindow>>;
  /** windows matching the filter, newest first */
  select(filter: WindowFilter): ScoredWindow[];
  readonly size: number;
  flush(): void;
  close(): void;
}
