import type { ScoredEvent } from '../../scorer/types';
import type { ScoreFilter, ScoreStore } from '../../state/store';
import { scoreFilterOf, tablePlugin, type ColumnDefinition, type Row } from '../plugin/table';

// anomaly_scores (design.md): one row per scored result row, newest first, with the
// constraints osqueryd passes on time, score, subject, host and verdict pushed down. Rows
// are read from disk one at a time as the server encodes them, so a SELECT without
// constraints over a million retained rows costs the answer's bytes, not a copy of them all.

export const SCORE_COLUMNS: ColumnDefinition[] = [
  { name: 'id', type: 'TEXT' },
  { name: 'time', type: 'BIGINT' },
  { name: 'host', type: 'TEXT' },
  { name: 'subject', type: 'TEXT' },
  { name: 'query', type: 'TEXT' },
  { name: 'action', type: 'TEXT' },
  { name: 'event', type: 'TEXT' },
  { name: 'score', type: 'DOUBLE' },
  { name: 'verdict', type: 'TEXT' },
  { name: 'model', type: 'TEXT' },
  { name: 'reasons', type: 'TEXT' },
  { name: 'columns', type: 'TEXT' },
];

export function scoreRow(s: ScoredEvent): Row {
  const row: Row = {
    id: s.id,
    time: String(s.time),
    host: s.host,
    subject: s.subject,
    query: s.query,
    action: s.action,
    event: s.event,
    verdict: s.verdict,
    model: s.model,
    reasons: s.reasons,
    columns: s.columns,
  };
  // a missing key is SQL NULL: the score of a subject still learning
  if (s.score !== null) row.score = formatDouble(s.score);
  return row;
}

/** strtod-friendly: no exponent for the small numbers scores are */
export function formatDouble(x: number): string {
  return Number.isInteger(x) ? `${x}.0` : x.toFixed(6).replace(/0+$/, '');
}

/** `store` may still be loading (the extension reads it after registering): calls wait for it */
export function scoresTable(store: ScoreStore | Promise<ScoreStore>) {
  return tablePlugin({
    name: 'anomaly_scores',
    columns: SCORE_COLUMNS,
    generate: async (ctx) => scoreRows(await store, scoreFilterOf(ctx)),
  });
}

function* scoreRows(store: ScoreStore, filter: ScoreFilter): Generator<Row> {
  for (const ev of store.matching(filter)) yield scoreRow(ev);
}
