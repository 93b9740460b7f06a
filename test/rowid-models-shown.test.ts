import t from 'tap';
import { modelsTable } from '../extension/tables/models';
import type { ModelSummary } from '../scorer/types';
import { generated, modelsSource } from './helpers/table-rows';

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
  const models = modelsTable(modelsSource(() => [summary('mallory\u0001', 1), summary('mallory\\x01', 500)]));
  const rarity = async () => (await generated(models)).filter((r) => r.model === 'rarity');
  const rows = await rarity();
  t.equal(rows.length, 2, 'both subjects answered');
  t.equal(rows[0].subject, rows[1].subject, 'their subject cells are shown alike');
  t.not(rows[0].rowid, rows[1].rowid, 'each has its own rowid');
  // and the same row keeps its rowid in a later scan of the query
  t.same(
    (await rarity()).map((r) => [r.events, r.rowid]),
    rows.map((r) => [r.events, r.rowid]),
    'the same rowids in a later scan',
  );
});
