import t from 'tap';
import { modelsTable } from '../extension/tables/models';
import type { PluginResponse } from '../extension/plugin/types';
import type { ModelSummary } from '../scorer/types';

// Two subjects whose cells are shown alike (a raw control, and the text of its escape) are two
// rows of anomaly_models, and their rowids must differ: a multi-index OR scan of the table
// skips a row of a later disjunct whose rowid an earlier one kept (extension/plugin/rowid.ts)
t.test('anomaly_models gives two subjects shown alike two rowids', async (t) => {
  const summary = (subject: string, events: number): ModelSummary => ({
    subject,
    model: 'rarity',
    state: 'monitoring',
    events,
    lastTrained: 1,
    calibration: 2,
    backend: 'cpu',
  });
  const models = modelsTable({
    models: () => [summary('mallory\u0001', 1), summary('mallory\\x01', 500)],
    backend: () => 'cpu',
    counters: () => ({ received: 0, accepted: 0, rejected: 0, queued: 0, scored: 0, dropped: 0, set_aside: 0 }),
    cpuMsPerMinute: () => 0,
    budgetMsPerMinute: () => null,
  });
  const rowsOf = async (res: PluginResponse) => {
    const out: Record<string, string>[] = [];
    for await (const r of res.rows ?? []) out.push(r as Record<string, string>);
    return out;
  };
  const rows = (await rowsOf(await models.call({ action: 'generate', context: JSON.stringify({ constraints: [] }) }, new Map()))).filter(
    (r) => r.model === 'rarity',
  );
  t.equal(rows.length, 2, 'both subjects answered');
  t.equal(rows[0].subject, rows[1].subject, 'their subject cells are shown alike');
  t.not(rows[0].rowid, rows[1].rowid, 'each has its own rowid');
  // and the same row keeps its rowid in a later scan of the query
  const again = (await rowsOf(await models.call({ action: 'generate', context: JSON.stringify({ constraints: [] }) }, new Map()))).filter(
    (r) => r.model === 'rarity',
  );
  t.same(
    again.map((r) => [r.events, r.rowid]),
    rows.map((r) => [r.events, r.rowid]),
    'the same rowids in a later scan',
  );
});
