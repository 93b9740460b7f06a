import type { IngestCounters, ScoringService } from '../../scorer/types';
import { tablePlugin, type ColumnDefinition } from '../plugin/table';

// anomaly_models: one row per subject and model, with the logger's ingest counters on every
// row, and one row for subject '*' (model 'ingest') so the counters show before any subject.
// The '*' row also shows the process's CPU over the last minute next to the budget the scorer
// paces to (NULL when unpaced).

export const MODEL_COLUMNS: ColumnDefinition[] = [
  { name: 'subject', type: 'TEXT' },
  { name: 'model', type: 'TEXT' },
  { name: 'state', type: 'TEXT' },
  { name: 'events', type: 'BIGINT' },
  { name: 'last_trained', type: 'BIGINT' },
  { name: 'calibration', type: 'INTEGER' },
  { name: 'backend', type: 'TEXT' },
  { name: 'accepted', type: 'BIGINT' },
  { name: 'rejected', type: 'BIGINT' },
  { name: 'queued', type: 'BIGINT' },
  { name: 'scored', type: 'BIGINT' },
  { name: 'dropped', type: 'BIGINT' },
  { name: 'cpu_ms_per_min', type: 'BIGINT' },
  { name: 'budget_ms_per_min', type: 'BIGINT' },
];


/** `budgetMsPerMinute` is what the scorer thread's pacer reported; `cpuMsPerMinute` the process's use */
export function modelsTable(ready: Promise<ScoringService & { backend?: string; budgetMsPerMinute?: number | null }>, counters: () => IngestCounters, cpuMsPerMinute?: () => number) {
  return tablePlugin({
    name: 'anomaly_models',
    columns: MODEL_COLUMNS,
    generate: async () => {
      const service = await ready;
      const c = counters();
      const ingest = { accepted: String(c.accepted), rejected: String(c.rejected), queued: String(c.queued), scored: String(c.scored), dropped: String(c.dropped) };
      const models = service.models();
      const anyMonitoring = models.some((m) => m.state === 'monitoring');
      const star: Record<string, string> = { subject: '*', model: 'ingest', state: anyMonitoring ? 'monitoring' : 'learning', events: String(c.scored), last_trained: '0', calibration: '0', backend: service.backend ?? '', ...ingest };
      if (cpuMsPerMinute) star.cpu_ms_per_min = String(cpuMsPerMinute());
      if (service.budgetMsPerMinute != null) star.budget_ms_per_min = String(service.budgetMsPerMinute);
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
        })),
      ];
    },
  });
}
