import * as fs from 'fs';
import * as path from 'path';
import t from 'tap';
import { RetainedScores } from '../state/scores';
import { RetainedWindows } from '../state/windows';
import { emulated } from './helpers/emulated';
import { ROOT } from './helpers/paths';
import { plainRow } from './helpers/scored';

// The extension's tables as osqueryd really calls them (emulator/calls.ts, docs/osquery-calls.md):
// once per value of an IN list on a column that is not OPTIMIZED (every column before osquery
// 5.14), once per row of the outer table of a join. SQLite checks every row again but does not
// drop repeats: a table that answers a call with rows of other values repeats them in the
// result, once per value of the list.

t.setTimeout(3_600_000);

const ROWS = 300;
const LABELLED = 5;

async function seeded(how: { optimizedIn: boolean }) {
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } }, calls: how });
  const store = new RetainedScores({ dir: path.join(e.stateDir, 'scores'), maxRows: 10_000, maxDays: 3650 });
  store.append(
    Array.from({ length: ROWS }, (_, i) =>
      plainRow(i, { subject: `user${i % 3}`, model: i % 2 ? 'rarity' : 'ocsvm', score: i % 10 ? 0.9 : 0.1, verdict: i % 10 ? 'good' : 'bad' }),
    ),
  );
  store.close();
  const windows = new RetainedWindows({ dir: path.join(e.stateDir, 'window-scores'), maxRows: 1000, maxDays: 3650 });
  windows.append(
    Array.from({ length: 6 }, (_, i) => ({
      subject: `user${i % 3}`,
      host: 'h',
      start: 1_790_000_000 + i * 600,
      end: 1_790_000_600 + i * 600,
      events: 3,
      score: 0.9,
      verdict: 'good' as const,
      model: (i % 2 ? 'mix' : 'rate') as 'mix',
      reasons: 'r',
      top_ids: '[]',
    })),
  );
  windows.close();
  fs.mkdirSync(e.stateDir, { recursive: true });
  fs.writeFileSync(
    path.join(e.stateDir, 'feedback.jsonl'),
    Array.from({ length: LABELLED }, (_, i) => JSON.stringify({ id: `r-${i * 10}`, label: 'normal', note: '', time: 1_790_000_000 })).join('\n') + '\n',
    { mode: 0o600 },
  );
  await e.launch();
  const calls: Array<{ table: string; context: string }> = [];
  e.emu.on('generate', (table: string, context: string) => calls.push({ table, context }));
  /** a query's rows, the generate calls it took per table, and the contexts they carried */
  const run = async (sql: string) => {
    calls.length = 0;
    const rows = await e.emu.query(sql);
    const per: Record<string, number> = {};
    for (const c of calls) per[c.table] = (per[c.table] ?? 0) + 1;
    return {
      rows,
      calls: per,
      contexts: calls.map((c) => JSON.parse(c.context) as { constraints: Array<{ name: string; list: Array<{ op: number; expr: string }> }> }),
    };
  };
  return { e, run };
}

const distinct = (rows: ReadonlyArray<Record<string, string>>) => new Set(rows.map((r) => JSON.stringify(r))).size;

for (const optimizedIn of [true, false]) {
  const version = optimizedIn ? 'osquery ≥ 5.14' : 'osquery 5.0-5.13';
  t.test(`${version}: IN lists and joins answer each row once`, async (t) => {
    const { e, run } = await seeded({ optimizedIn });
    t.teardown(() => e.close());
    const ids = Array.from({ length: 200 }, (_, i) => `'r-${i + 50}'`).join(', ');
    const byId = await run(`SELECT id, score FROM anomaly_scores WHERE id IN (${ids})`);
    t.equal(byId.rows.length, 200, 'WHERE id IN (200 ids): 200 rows');
    t.equal(distinct(byId.rows), 200, 'each once');
    t.same(byId.calls, { anomaly_scores: optimizedIn ? 1 : 200 }, optimizedIn ? 'in one call: the column is OPTIMIZED' : 'one call per id');

    const byModel = await run("SELECT id FROM anomaly_scores WHERE model IN ('rarity', 'ocsvm')");
    t.equal(byModel.rows.length, ROWS, 'WHERE model IN (…), a column the store does not index: every row');
    t.equal(distinct(byModel.rows), ROWS, 'each once');

    const bySubject = await run("SELECT subject, model FROM anomaly_windows WHERE model IN ('mix', 'rate') AND subject IN ('user0', 'user1')");
    t.equal(bySubject.rows.length, 4, 'anomaly_windows WHERE model IN (…) AND subject IN (…): four windows');
    t.equal(distinct(bySubject.rows), 4, 'each once');

    const models = await run("SELECT subject, model FROM anomaly_models WHERE model IN ('ingest', 'rarity') OR model = 'lstm'");
    t.equal(models.rows.length, 1, "anomaly_models WHERE model IN (…) OR model = …: the '*' row");
    t.equal(distinct(models.rows), 1, 'once');

    const labels = await run("SELECT id, label FROM anomaly_feedback WHERE id IN ('r-0', 'r-10', 'r-11')");
    t.same(labels.rows.map((r) => r.id).sort(), ['r-0', 'r-10'], 'anomaly_feedback WHERE id IN (…): the labelled ones, each once');

    // the alert pack's `bad` query: its window of time is an expression, handed over as its value
    const pack = JSON.parse(fs.readFileSync(path.join(ROOT, 'packs', 'anomaly-alerts.conf'), 'utf8')) as { queries: Record<string, { query: string }> };
    const bad = await run(pack.queries.bad.query);
    const time = bad.contexts[0]?.constraints.find((c) => c.name === 'time')?.list ?? [];
    t.same(
      time.map((c) => c.op),
      [4],
      "the pack's bad query hands over `time >`",
    );
    t.ok(Math.abs(Number(time[0]?.expr) - (Date.now() / 1000 - 86400)) < 60, `with now - 1 day: ${time[0]?.expr}`);

    const joined = await run('SELECT f.id, f.label, s.score FROM anomaly_feedback f JOIN anomaly_scores s ON s.id = f.id');
    t.same(
      joined.rows.map((r) => r.id).sort(),
      Array.from({ length: LABELLED }, (_, i) => `r-${i * 10}`).sort(),
      'a join of anomaly_feedback with anomaly_scores: each label with its row',
    );
    t.same(joined.calls, { anomaly_feedback: 1, anomaly_scores: LABELLED }, 'anomaly_scores called once per label, by its id');
    const using = await run('SELECT id, f.label, s.score FROM anomaly_feedback f JOIN anomaly_scores s USING (id)');
    t.same(using.rows.map((r) => r.id).sort(), joined.rows.map((r) => r.id).sort(), 'JOIN … USING (id): the same rows');
    t.same(using.calls, { anomaly_feedback: 1, anomaly_scores: LABELLED }, 'and the same calls');
    t.same(
      using.contexts.slice(1).map((c) => c.constraints.find((x) => x.name === 'id')?.list),
      Array.from({ length: LABELLED }, (_, i) => [{ op: 2, expr: `r-${i * 10}` }]),
      "each call carries the label's id",
    );
  });
}
