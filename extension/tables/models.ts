import type { ModelSummary } from '../../scorer/types';
import type { IngestCounters } from '../counters';
import { rowidOf } from '../plugin/rowid';
import { tablePlugin, type ColumnDefinition } from '../plugin/table';

// anomaly_models: one row per subject and model, with the logger's line counters on every
// row, and one row for subject '*' (model 'ingest') so the counters show before any subject.
// The counters add up: accepted + rejected = received, and
// scored + queued + dropped + set_aside = accepted (extension/counters.ts). The '*' row also
// shows the process's CPU over the last minute next to the budget the scorer paces to (NULL
// when unpaced).

export const MODEL_COLUMNS: ColumnDefinition[] = [
  { name: 'subject', type: 'TEXT' },
  { name: 'model', type: 'TEXT' },
  { name: 'state', type: 'TEXT' },
  { name: 'events', type: 'BIGINT' },
  { name: 'last_trained', type: 'BIGINT' },
  { name: 'calibration', type: 'INTEGER' },
  { name: 'backend', type: 'TEXT' },
  { name: 'received', type: 'BIGINT' },
  { name: 'accepted', type: 'BIGINT' },
  { name: 'rejected', type: 'BIGINT' },
  { name: 'queued', type: 'BIGINT' },
  { name: 'scored', type: 'BIGINT' },
  { name: 'dropped', type: 'BIGINT' },
  { name: 'set_aside', type: 'BIGINT' },
  { name: 'cpu_ms_per_min', type: 'BIGINT' },
  { name: 'budget_ms_per_min', type: 'BIGINT' },
];

export interface ModelsSource {
  /** the latest summaries; empty until the scorer is ready */
  models(): readonly ModelSummary[];
  backend(): string;
  counters(): IngestCounters;
  /** the whole process's CPU over the last minute */
  cpuMsPerMinute(): number;
  /** what the scorer thread's pacer holds the process to; null when unpaced */
  budgetMsPerMinute(): number | null;
}

export function modelsTable(source: ModelsSource) {
  return tablePlugin({
    name: 'anomaly_models',
    columns: MODEL_COLUMNS,
    generate: () => {
      const c = source.counters();
      const ingest = {
        received: String(c.received),
        accepted: String(c.accepted),
        rejected: String(c.rejected),
        queued: String(c.queued),
        scored: String(c.scored),
        dropped: String(c.dropped),
        set_aside: String(c.set_aside),
      };
      const models = source.models();
      const anyMonitoring = models.some((m) => m.state === 'monitoring');
      const star: Record<string, string> = {
        subject: '*',
        model: 'ingest',
        state: anyMonitoring ? 'monitoring' : 'learning',
        events: String(c.scored),
        last_trained: '0',
        calibration: '0',
        backend: source.backend(),
        ...ingest,
      };
      // (a rowid for each subject and model by their raw text: their shown cells may be alike, a
      // raw control and the text of its escape, and a later scan of an OR skip one: rowid.ts)
      star.rowid = rowidOf(JSON.stringify(['anomaly_models', null, 'ingest']));
      star.cpu_ms_per_min = String(source.cpuMsPerMinute());
      const budget = source.budgetMsPerMinute();
      if (budget !== null) star.budget_ms_per_min = String(budget);
      return [
        star,
        ...models.map((m) => ({
          subject: m.subject,
          model: m.model,
          state: m.state,
          events: String(m.events),
          last_trained: String(m.lastTrained),
          calibration: String(m.calibration),
          backend: m.backend,
          ...ingest,
          rowid: rowidOf(JSON.stringify(['anomaly_models', m.subject, m.model])),
        })),
      ];
    },
  });
}
