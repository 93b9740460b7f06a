import type { AnomalyConfig } from '../conf/config';
import type { ResultRow } from '../scorer/types';
import { MODEL_COLUMNS } from './tables/models';
import { SCORE_COLUMNS } from './tables/scores';
import { WINDOW_COLUMNS } from './tables/windows';

// Lines the extension takes in but does not score: rows of its own tables (the alert pack's
// results reach every logger, the anomaly logger too) and queries the config ignores. The
// logger (extension/ingest.ts) counts them rejected; `anomaly train` and `score` skip them
// the same way, so that a host's results log teaches offline what the extension would learn.

/** columns a row of ours always carries when a query selects all of them */
const OWN_OUTPUT = ['score', 'verdict', 'model', 'reasons'];

/**
 * Each of our tables, and columns only its rows carry: a row whose columns are all columns of
 * one of them, with one of those among them, is what a query of that table returned (the
 * alert pack's queries select a few columns each: none all of score, verdict, model, reasons)
 */
const OWN_TABLES = [
  { columns: new Set(SCORE_COLUMNS.map((c) => c.name)), marks: ['score', 'verdict', 'reasons'] },
  { columns: new Set(WINDOW_COLUMNS.map((c) => c.name)), marks: ['top_ids', 'score', 'verdict', 'reasons'] },
  { columns: new Set(MODEL_COLUMNS.map((c) => c.name)), marks: ['calibration', 'last_trained', 'set_aside', 'cpu_ms_per_min', 'budget_ms_per_min'] },
];

export function isOwnOutput(row: ResultRow): boolean {
  const c = row.columns;
  if (OWN_OUTPUT.every((k) => k in c)) return true;
  const keys = Object.keys(c);
  return keys.length > 0 && OWN_TABLES.some((t) => keys.every((k) => t.columns.has(k)) && t.marks.some((m) => m in c));
}

/** a line's rows (one query) that the extension would not score */
export function notScored(config: AnomalyConfig, rows: readonly ResultRow[]): boolean {
  return rows.length > 0 && (Boolean(config.queries[rows[0].query]?.ignore) || isOwnOutput(rows[0]));
}
