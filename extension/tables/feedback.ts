import * as path from 'path';
import type { FeedbackRecord } from '../../scorer/types';
import { JsonlAppender, readJsonl } from '../../state/atomic';
import { checkFeedback } from '../../state/schema';
import { echo, type LogFn } from '../log';
import { COLUMN, tablePlugin, type ColumnDefinition, type InsertResult } from '../plugin/table';

// anomaly_feedback, writable through osquery's INSERT:
//   INSERT INTO anomaly_feedback (id, label, note) VALUES ('<anomaly_scores.id>', 'normal', 'backup job');
// Labels are kept in <state_dir>/feedback.jsonl and listed by SELECT. Whatever an INSERT
// carries is bounded and checked before it is kept; a line of the file that is not a
// feedback record is skipped with a warning when the file is read.

/**
 * ColumnOptions ADDITIONAL. osqueryd refuses an INSERT that gives NULL to a column whose options
 * are exactly INDEX or REQUIRED before the extension hears of it (virtual_table.cpp,
 * serializeUpdateParameters), and under --extensions_default_index (default true) a column
 * declared with no options is INDEX: the README's INSERT, which leaves `time` out, was refused
 * as "datatype mismatch". ADDITIONAL columns still get their constraints and leave every value,
 * NULL included, to insertOne's checks; OPTIMIZED, an IN list in one call (DEFAULT_OPTIONS).
 */
const CHECKED_HERE = COLUMN.ADDITIONAL | COLUMN.OPTIMIZED;

export const FEEDBACK_COLUMNS: ColumnDefinition[] = [
  { name: 'id', type: 'TEXT', options: CHECKED_HERE },
  { name: 'label', type: 'TEXT', options: CHECKED_HERE },
  { name: 'note', type: 'TEXT', options: CHECKED_HERE },
  { name: 'time', type: 'BIGINT', options: CHECKED_HERE },
];

/** bytes of a note; a longer one is refused, not cut, so nobody is surprised by what was kept */
export const MAX_NOTE_BYTES = 4096;
const MAX_ID_CHARS = 256;
/** unixTime seconds; 0 ≤ time < year 5138 */
const MAX_TIME = 1e11;

/** what the table needs from the scoring side: applying a label */
export interface Labeler {
  feedback(record: FeedbackRecord): Promise<void>;
}

export function feedbackTable(labeler: Labeler, stateDir: string, log: LogFn) {
  const file = path.join(stateDir, 'feedback.jsonl');
  const given: FeedbackRecord[] = readJsonl<FeedbackRecord>(file, (m) => log('warn', m), checkFeedback);
  // each row's label in force, and its note: the same label again (a retried INSERT, a
  // labelling query run again over retained rows) is not learned again (every INSERT of
  // 'normal' put the row into its subject's training window once more), and with the same note
  // it is answered without being kept again: appended, a labelling query scheduled over the
  // retained rows grew the file and the listing held in memory by every row at every run
  // (review12). A new note or a changed label is kept and listed
  // (`saved` false: applied to the model, but feedback.jsonl refused it; a retry saves it and
  // does not apply it again, which put a 'normal' row into its training window twice: chaos2)
  const current = new Map<string, { label: FeedbackRecord['label']; note: string; saved: boolean }>();
  for (const g of given) current.set(g.id, { label: g.label, note: g.note, saved: true });
  let appender: JsonlAppender | null = null;
  // one INSERT at a time: applying a label waits for the scorer thread, and a second INSERT of
  // the same label meanwhile (another connection) found none in force and was applied again
  let turn: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(run: () => Promise<T>): Promise<T> => {
    const done = turn.then(run);
    turn = done.catch(() => {});
    return done;
  };
  return Object.assign(
    tablePlugin({
      name: 'anomaly_feedback',
      columns: FEEDBACK_COLUMNS,
      // (a label given again is listed again: its place in the list is its rowid, rowid.ts)
      generate: () => given.map((f, i) => ({ id: f.id, label: f.label, note: f.note, time: String(f.time), rowid: String(i + 1) })),
      insert: (values) => inTurn(() => insertOne(values)),
    }),
    { close: () => appender?.close() },
  );

  async function insertOne(values: Record<string, string | null>): Promise<InsertResult> {
    const { id, label } = values;
    const note = values.note ?? '';
    if (!id) return { status: 'failure', message: 'id is required: an id from anomaly_scores' };
    if (id.length > MAX_ID_CHARS) return { status: 'failure', message: `id of ${id.length} characters is not an anomaly_scores id` };
    if (label !== 'normal' && label !== 'anomalous') return { status: 'failure', message: `label must be 'normal' or 'anomalous', not ${echo(label)}` };
    if (Buffer.byteLength(note) > MAX_NOTE_BYTES) return { status: 'failure', message: `note of ${Buffer.byteLength(note)} bytes is over ${MAX_NOTE_BYTES}` };
    let time = Math.floor(Date.now() / 1000);
    if (values.time !== null && values.time !== undefined && values.time !== '') {
      // digits only: Number() also reads '0x10' (16), '0b11', '1e3' and blanks around them
      const t = /^\d+$/.test(values.time) ? Number(values.time) : NaN;
      if (!Number.isInteger(t) || t < 0 || t >= MAX_TIME)
        return { status: 'failure', message: `time must be unixTime seconds (a whole number ≥ 0), not ${echo(values.time)}` };
      time = t;
    }
    const record: FeedbackRecord = { id, label, note, time };
    const inForce = current.get(id);
    if (inForce?.saved && inForce.label === label && inForce.note === note) return { status: 'success', id: String(given.length) };
    if (inForce?.label !== label) {
      try {
        await labeler.feedback(record);
      } catch (err) {
        return { status: 'failure', message: (err as Error).message };
      }
      current.set(id, { label, note, saved: false });
    }
    try {
      appender ??= new JsonlAppender(file);
      appender.append(record);
    } catch (err) {
      return { status: 'failure', message: `the label was applied but not saved: ${(err as Error).message}` };
    }
    given.push(record);
    current.set(id, { label, note, saved: true });
    return { status: 'success', id: String(given.length) };
  }
}
