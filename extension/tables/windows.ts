import type { ScoredWindow } from '../../scorer/types';
import type { AnswerShare, HeldBack } from '../../state/answer-share';
import type { WindowFilter, WindowStore } from '../../state/store';
import { boundsOf, equalsOf, tablePlugin, type ColumnDefinition, type QueryContext, type Row } from '../plugin/table';
import { answerRowid } from '../plugin/rowid';
import type { HostAccounts } from '../host-accounts';
import { answerShare, cutCells, heldReasons, iso, toldText } from './answer';
import { formatDouble } from './scores';

// anomaly_windows (design.md): one row per subject and closed time window, newest first, with
// the constraints osqueryd passes on start, end, score, subject, host and verdict pushed down
// (end: the alert pack's bad_windows asks for the last day's, and each window an answer
// returns is read from disk).

export const WINDOW_COLUMNS: ColumnDefinition[] = [
  { name: 'subject', type: 'TEXT' },
  { name: 'host', type: 'TEXT' },
  { name: 'start', type: 'BIGINT' },
  { name: 'end', type: 'BIGINT' },
  { name: 'events', type: 'BIGINT' },
  { name: 'score', type: 'DOUBLE' },
  { name: 'verdict', type: 'TEXT' },
  { name: 'model', type: 'TEXT' },
  { name: 'reasons', type: 'TEXT' },
  { name: 'top_ids', type: 'TEXT' },
];

export function windowRow(w: ScoredWindow): Row {
  const row: Row = {
    subject: w.subject,
    host: w.host,
    start: String(w.start),
    end: String(w.end),
    events: String(w.events),
    verdict: w.verdict,
    model: w.model,
    // (they quote the user's own events: shown as they go out, plugin/table.ts shownCells)
    reasons: w.reasons,
    top_ids: w.top_ids,
  };
  // a missing key is SQL NULL: the score of a window whose subject is still learning
  if (w.score !== null) row.score = formatDouble(w.score);
  return row;
}

export function windowFilterOf(ctx: QueryContext): WindowFilter {
  const f: WindowFilter = {};
  const start = boundsOf(ctx, 'start');
  const end = boundsOf(ctx, 'end');
  const score = boundsOf(ctx, 'score');
  if (start) f.start = start;
  if (end) f.end = end;
  if (score) f.score = score;
  for (const col of ['subject', 'host', 'verdict'] as const) {
    const eq = equalsOf(ctx, col);
    if (eq) f[col] = eq;
  }
  return f;
}

/** `store` may still be loading (the extension reads it after registering): calls wait for it; `accounts` as scoresTable's */
export function windowsTable(store: WindowStore | Promise<WindowStore>, accounts?: HostAccounts) {
  return tablePlugin({
    name: 'anomaly_windows',
    columns: WINDOW_COLUMNS,
    generate: async (ctx) => windowRows(await store, ctx, accounts),
  });
}

/** what the scorer writes in a short form (answer.ts SHORT_CELL_BYTES) */
const SHORT_WINDOW_CELLS: ReadonlySet<string> = new Set(['verdict', 'model']);

/** read one at a time as the server encodes them, within the answer's share, as anomaly_scores' rows are */
function* windowRows(store: WindowStore, ctx: QueryContext, accounts?: HostAccounts): Generator<Row> {
  const share = answerShare(ctx, WINDOW_COLUMNS, SHORT_WINDOW_CELLS, false, accounts);
  for (const w of store.answer(windowFilterOf(ctx), share)) {
    const row = cutCells('held' in w ? heldWindowRow(w, share) : windowRow(w), ctx.colsUsed, SHORT_WINDOW_CELLS);
    // (as anomaly_scores' rows: rowid.ts)
    row.rowid = answerRowid('anomaly_windows', w);
    yield row;
  }
}

/** the windows of one subject on one host an answer held back, as one window the same constraints select (heldScoreRow) */
export function heldWindowRow(h: HeldBack<ScoredWindow>, share: AnswerShare): Row {
  const row: Row = {
    subject: h.subject,
    host: h.host,
    start: String(h.from),
    end: String(h.to),
    verdict: h.verdict,
    model: 'held-back',
    // (the alert pack's bad_windows reads no event column: the windows held back are named here)
    reasons: toldText(h, `${heldReasons(h, 'windows', share)}; held back`, (w) => `${iso(w.start)} ${w.model}: ${w.reasons}`),
    top_ids: '',
  };
  if (h.score !== null) row.score = formatDouble(h.score);
  return row;
}
