import type { IngestCounters, ScoringService } from '../../scorer/types';
import { tablePlugin, type ColumnDefinition } from '../plugin/table';

// anomaly_models: one row per subject and model, with the logger's ingest counters on every
// row, and one row for subject '*' (model 'ingest') so the counters show before any subject.

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
];

export function modelsTable(ready: Promise<ScoringService & { backend?: string }>, counters: () => IngestCounters) {
  return tablePlugin({
    name: 'anomaly_models',
    columns: MODEL_COLUMNS,
    generate: async () => {
      const service = await ready;
      const c = counters();
      const ingest = { accepted: String(c.accepted), rejected: String(c.rejected), queued: String(c.queued), scored: String(c.scored), dropped: String(c.dropped) };
      const models = service.models();
      const anyMonitoring = models.some((m) => m.state === 'monitoring');
      return [
        { subject: '*', model: 'ingest', state: anyMonitoring ? 'monitoring' : 'learning', events: String(c.scored), last_trained: '0', calibration: '0', backend: service.backend ?? '', ...ingest },
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
