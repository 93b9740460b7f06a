import * as path from 'path';
import { JsonlAppender, readJsonl } from '../../state/atomic';
import type { FeedbackRecord, ScoringService } from '../../scorer/types';
import { tablePlugin, type ColumnDefinition } from '../plugin/table';

// anomaly_feedback, writable through osquery's INSERT:
//   INSERT INTO anomaly_feedback (id, label, note) VALUES ('<anomaly_scores.id>', 'normal', 'backup job');
// Labels are kept in <state_dir>/feedback.jsonl and listed by SELECT.

export const FEEDBACK_COLUMNS: ColumnDefinition[] = [
  { name: 'id', type: 'TEXT' },
  { name: 'label', type: 'TEXT' },
  { name: 'note', type: 'TEXT' },
  { name: 'time', type: 'BIGINT' },
];

export function feedbackTable(service: Promise<ScoringService>, stateDir: string, log: (level: 'warn', msg: string) => void) {
  const file = path.join(stateDir, 'feedback.jsonl');
  const given: FeedbackRecord[] = readJsonl<FeedbackRecord>(file, (m) => log('warn', m));
  let appender: JsonlAppender | null = null;
  return Object.assign(
    tablePlugin({
      name: 'anomaly_feedback',
      columns: FEEDBACK_COLUMNS,
      generate: () => given.map((f) => ({ id: f.id, label: f.label, note: f.note, time: String(f.time) })),
      insert: async (values) => {
        const { id, label } = values;
        if (!id) return { status: 'constraint', message: 'id is required: an id from anomaly_scores' };
        if (label !== 'normal' && label !== 'anomalous') return { status: 'constraint', message: `label must be 'normal' or 'anomalous', not ${JSON.stringify(label)}` };
        const record: FeedbackRecord = { id, label, note: values.note ?? '', time: values.time ? Number(values.time) : Math.floor(Date.now() / 1000) };
        try {
          await (await service).feedback(record);
        } catch (err) {
          return { status: 'constraint', message: (err as Error).message };
        }
        appender ??= new JsonlAppender(file);
        appender.append(record);
        given.push(record);
        return { status: 'success', id: String(given.length) };
      },
    }),
    { close: () => appender?.close() },
  );
}
