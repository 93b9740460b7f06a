import { answerShare, cutCells } from '../../extension/tables/answer';
import { SCORE_COLUMNS, scoreRow } from '../../extension/tables/scores';
import type { Row } from '../../extension/plugin/table';
import type { RetainedScores } from '../../state/scores';

const SHORT = new Set(['id', 'action', 'verdict', 'model']);

/** the bytes of the cells an answer of every retained row shows within a budget of `bytes`, and the rows it sent */
export function answerBytes(store: RetainedScores, bytes: number): { shown: number; rows: number } {
  const ctx = { constraints: new Map(), colsUsed: null };
  const share = { ...answerShare(ctx, SCORE_COLUMNS, SHORT, false), bytes };
  let shown = 0;
  let rows = 0;
  for (const ev of store.answer({}, share)) {
    if ('held' in ev) continue;
    const cells: Row = cutCells(scoreRow(ev), null, SHORT);
    rows++;
    for (const k in cells) shown += Buffer.byteLength(k) + Buffer.byteLength(cells[k] ?? '');
  }
  return { shown, rows };
}
