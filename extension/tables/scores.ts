import type { ScoredEvent } from '../../scorer/types';
import type { AnswerShare, HeldBack } from '../../state/answer-share';
import type { ScoreStore } from '../../state/store';
import { equalsOf, scoreFilterOf, tablePlugin, type ColumnDefinition, type QueryContext, type Row } from '../plugin/table';
import { jsonShown } from '../hidden-chars';
import { answerRowid } from '../plugin/rowid';
import type { HostAccounts } from '../host-accounts';
import { answerShare, cutCells, cutText, heldColumns, heldReasons, toldText } from './answer';

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
    // (every text cell is shown as it goes out, plugin/table.ts shownCells; the columns JSON
    // first as JSON, with `\u` escapes, so that it still parses)
    event: s.event,
    verdict: s.verdict,
    model: s.model,
    reasons: s.reasons,
    columns: jsonShown(s.columns),
  };
  // a missing key is SQL NULL: the score of a subject still learning
  if (s.score !== null) row.score = formatDouble(s.score);
  return row;
}

/** strtod-friendly: no exponent for the small numbers scores are */
export function formatDouble(x: number): string {
  return Number.isInteger(x) ? `${x}.0` : x.toFixed(6).replace(/0+$/, '');
}

/**
 * `store` may still be loading (the extension reads it after registering): calls wait for it.
 * `accounts`: the host's, which an answer with no room for every subject ranks first
 */
export function scoresTable(store: ScoreStore | Promise<ScoreStore>, accounts?: HostAccounts) {
  return tablePlugin({
    name: 'anomaly_scores',
    columns: SCORE_COLUMNS,
    generate: async (ctx) => scoreRows(await store, ctx, accounts),
  });
}

/** what the scorer writes in a short form (answer.ts SHORT_CELL_BYTES) */
const SHORT_SCORE_CELLS: ReadonlySet<string> = new Set(['id', 'action', 'verdict', 'model']);

/**
 * Within the answer's share (answer.ts): a query that names its rows by id gets their cells
 * whole; one subject's flood of bad rows is summed up in one row (heldScoreRow) rather than
 * refused past 64 MB with everyone else's
 */
function* scoreRows(store: ScoreStore, ctx: QueryContext, accounts?: HostAccounts): Generator<Row> {
  const byId = Boolean(equalsOf(ctx, 'id'));
  const share = answerShare(ctx, SCORE_COLUMNS, SHORT_SCORE_CELLS, byId, accounts);
  for (const ev of store.answer(scoreFilterOf(ctx), share)) {
    const row =
      'held' in ev
        ? cutCells(heldScoreRow(ev, share), ctx.colsUsed, SHORT_SCORE_CELLS)
        : byId
          ? scoreRow(ev)
          : cutCells(scoreRow(ev), ctx.colsUsed, SHORT_SCORE_CELLS);
    // (a record's row number; a summary's, a number given to what it stands for: rowid.ts)
    row.rowid = answerRowid('anomaly_scores', ev);
    yield row;
  }
}

/**
 * The rows of one subject on one host an answer held back, as one row the same constraints
 * select: its time is the newest held, its score the lowest, its verdict the most severe and
 * its query theirs when they share one, so `score < 0.3 AND time > …` (or `AND query = …`,
 * which is pushed down too) still finds it. Its id names the subject and host, so the
 * differential log reports it again only as it changes; its event names the events held back
 * (the alert pack's query reads no `columns`), its columns the same with a row of each.
 */
export function heldScoreRow(h: HeldBack<ScoredEvent>, share: AnswerShare): Row {
  const row: Row = {
    id: `held-back:${h.subject}@${h.host}`,
    time: String(h.to),
    host: h.host,
    subject: h.subject,
    query: h.tag,
    action: 'held',
    event: toldText(
      h,
      `held back: ${h.rows} rows${h.older ? ` (${h.older} older ones counted, not examined one by one)` : ''}`,
      (e) => `${e.event} ${e.columns}`,
    ),
    verdict: h.verdict,
    model: 'held-back',
    reasons: heldReasons(h, 'rows', share),
    columns: heldColumns(h, (e) => ({
      id: e.id,
      time: e.time,
      query: e.query,
      event: cutText(e.event, 512),
      columns: cutText(e.columns, 1024),
      score: e.score,
    })),
  };
  if (h.score !== null) row.score = formatDouble(h.score);
  return row;
}
