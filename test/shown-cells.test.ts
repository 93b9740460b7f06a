import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { feedbackTable } from '../extension/tables/feedback';
import { modelsTable } from '../extension/tables/models';
import type { ModelSummary, ScoredEvent, ScoredWindow } from '../scorer/types';
import { RetainedScores } from '../state/scores';
import { RetainedWindows } from '../state/windows';
import { emulated, until } from './helpers/emulated';
import { plainRow } from './helpers/scored';
import { generated as generate, modelsSource, rowsOf } from './helpers/table-rows';

// One rule for every text cell of the four tables (review: cells). `event`, `reasons` and
// `columns` were shown through oneLine, while subject, host, query, model, action, id, top_ids,
// the models' subjects and the labels' notes went out raw as "none is a local user's to write".
// A subject is a row's username or uid: `last` and `logged_in_users` read utmp, which a user's
// own sessions write, a file's owner is whoever made it; a query name and a host identifier
// come from the config. osqueryi prints each cell with printf("%s"), so an ESC in a subject
// drove the root operator's terminal as one in an event did.

t.setTimeout(600_000);

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const RAW = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\p{Cf}\u3164]/u;

const SUBJECT = 'ev\u001b[2Je\u202e';
const HOST = 'h\u0000ost\u009b';
const QUERY = 'pack_q\r\nforged';
const SUBJECT_SHOWN = 'ev\\x1b[2Je\\u202e';
const HOST_SHOWN = 'h\\x00ost\\x9b';
const QUERY_SHOWN = 'pack_q\\r\\nforged';

/** the cells of `rows` (text ones: all cells are text on the wire) that hold a raw control or hidden character */
function rawCells(rows: ReadonlyArray<Record<string, string>>): string[] {
  return rows.flatMap((r) =>
    Object.entries(r)
      .filter(([, v]) => RAW.test(v ?? ''))
      .map(([k, v]) => `${k}=${JSON.stringify(v.slice(0, 60))}`),
  );
}

t.test('every text cell of anomaly_scores and anomaly_windows is shown, and a WHERE on the shown form finds its row', async (t) => {
  const now = Math.floor(Date.now() / 1000);
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  const hostile = (i: number, fields: Partial<ScoredEvent> = {}): ScoredEvent =>
    plainRow(i, {
      id: `r-${i}`,
      time: now - 5000 + i,
      subject: SUBJECT,
      host: HOST,
      query: QUERY,
      action: 'add\u001bed' as ScoredEvent['action'],
      model: 'rar\u200bity',
      verdict: 'bad',
      score: 0.01,
      ...fields,
    });
  // one row to name, and a flood past a subject's share of the alert route: its summary row's
  // id, subject and host name the subject's own
  const rows = [hostile(0, { id: 'r-\u001b0' }), ...Array.from({ length: 2_100 }, (_, i) => hostile(i + 1, { event: `shell x ${i % 40}` }))];
  const scores = new RetainedScores({ dir: path.join(e.stateDir, 'scores'), maxRows: 100_000, maxDays: 3650 });
  scores.append([...rows, plainRow(9000, { id: 'other', time: now - 10, subject: 'bob', score: 0.9 })]);
  scores.close();
  const window: ScoredWindow = {
    subject: SUBJECT,
    host: HOST,
    start: now - 600,
    end: now,
    events: 6,
    score: 0.01,
    verdict: 'bad',
    model: 'mix',
    reasons: 'unusual mix',
    top_ids: 'r-\u001b0,r-1',
  };
  const windows = new RetainedWindows({ dir: path.join(e.stateDir, 'window-scores'), maxRows: 1000, maxDays: 3650 });
  windows.append([window, { ...window, subject: 'bob', host: 'h2', score: 0.9, verdict: 'good', top_ids: 'other' }]);
  windows.close();
  await e.launch();

  const every = await e.emu.query('SELECT * FROM anomaly_scores');
  t.equal(every.length, rows.length + 1, 'every row');
  t.same(rawCells(every), [], 'no cell of any row holds a raw control or hidden character');
  const alert = await e.emu.query('SELECT * FROM anomaly_scores WHERE score < 0.3');
  t.ok(
    alert.some((r) => r.model === 'held-back'),
    'the alert route sums the flood up',
  );
  t.same(rawCells(alert), [], "nor any cell of the alert route's, its summary's id, subject and host included");
  const named = await e.emu.query(`SELECT * FROM anomaly_scores WHERE id = 'r-\\x1b0'`);
  t.equal(named.length, 1, 'a row named by its shown id');
  t.same(rawCells(named), [], 'is shown whole, every cell');
  t.equal(named[0].subject, SUBJECT_SHOWN, 'its subject shown as the command line shows it');
  t.equal(named[0].host, HOST_SHOWN, 'its host too (a NUL ended the printed row there)');
  t.equal(named[0].query, QUERY_SHOWN, 'and its query (a newline forged a row)');
  t.equal(named[0].model, 'rar\\u200bity', 'and its model');

  // the push-down compares the shown form, which is what SQLite compares: a value copied from
  // an answer finds its rows
  const count = async (sql: string) => (await e.emu.query(sql)).length;
  const n = rows.length;
  t.equal(await count(`SELECT id FROM anomaly_scores WHERE subject = '${SUBJECT_SHOWN}'`), n, 'subject = its shown form');
  t.equal(await count(`SELECT id FROM anomaly_scores WHERE subject = '${SUBJECT_SHOWN.toUpperCase()}' COLLATE NOCASE`), n, 'and under NOCASE');
  t.equal(await count(`SELECT id FROM anomaly_scores WHERE host = '${HOST_SHOWN}'`), n, 'host = its shown form');
  t.equal(await count(`SELECT id FROM anomaly_scores WHERE query = '${QUERY_SHOWN}'`), n, 'query = its shown form');
  t.equal(await count(`SELECT id FROM anomaly_scores WHERE subject IN ('${SUBJECT_SHOWN}', 'bob')`), n + 1, 'an IN list of shown forms');
  t.equal(await count(`SELECT id FROM anomaly_scores WHERE id IN ('r-\\x1b0', 'other')`), 2, 'id IN shown ids');
  t.equal(await count(`SELECT id FROM anomaly_scores WHERE subject = '${SUBJECT_SHOWN}' AND score < 0.3`), n, 'the alert route for that subject');
  t.equal(await count(`SELECT id FROM anomaly_scores WHERE subject = 'ev'`), 0, 'a prefix finds nothing');

  const wins = await e.emu.query('SELECT * FROM anomaly_windows');
  t.equal(wins.length, 2, 'every window');
  t.same(rawCells(wins), [], 'no window cell holds a raw control or hidden character');
  t.equal(await count(`SELECT subject FROM anomaly_windows WHERE subject = '${SUBJECT_SHOWN}'`), 1, 'windows: subject = its shown form');
  t.equal(await count(`SELECT subject FROM anomaly_windows WHERE host = '${HOST_SHOWN}'`), 1, 'windows: host = its shown form');
  t.equal(
    await count(`SELECT subject FROM anomaly_windows WHERE subject IN ('bob', '${SUBJECT_SHOWN}') AND score < 0.3`),
    1,
    'windows: an IN list and a bound',
  );

  // and a user name through the extension itself (a login record of a user's own making)
  await e.emu.logResult(
    'anomaly',
    JSON.stringify({
      name: 'pack_user-behavior_logged_in_users',
      hostIdentifier: 'web\u001b]0;pwned\u0007',
      unixTime: now,
      action: 'added',
      columns: { type: 'user', user: 'mal\u001b[Alory', tty: 'pts/1', host: '198.51.100.7', time: String(now), pid: '77' },
    }),
  );
  await until(
    async () => (await e.emu.query("SELECT scored FROM anomaly_models WHERE subject = '*'"))[0],
    (c) => Number(c.scored) === 1,
  );
  const through = await e.emu.query(`SELECT * FROM anomaly_scores WHERE host = 'web\\x1b]0;pwned\\x07'`);
  t.equal(through.length, 1, "the extension's own row, found by its shown host");
  t.same(rawCells(through), [], 'shown in every cell');
  const models = await e.emu.query('SELECT * FROM anomaly_models');
  t.same(rawCells(models), [], "anomaly_models' cells are shown too");
});

t.test("anomaly_models' and anomaly_feedback's cells are shown, and a WHERE on the shown form keeps the row", async (t) => {
  const summary = (subject: string): ModelSummary => ({
    subject,
    model: 'rarity',
    state: 'monitoring',
    events: 3,
    lastTrained: 1,
    calibration: 2,
    backend: 'cpu',
  });
  const models = modelsTable(modelsSource(() => [summary(`${SUBJECT}@${HOST}`), summary('alice@h')], 'wasm\u001b[5m'));
  const all = await generate(models);
  t.equal(all.length, 3, 'the ingest row and two models');
  t.same(rawCells(all), [], 'no cell of anomaly_models holds a raw control or hidden character');
  const eq = (name: string, expr: string) => [{ name, list: [{ op: 2, expr }], affinity: 'TEXT' }];
  const byShown = await generate(models, eq('subject', `${SUBJECT_SHOWN}@${HOST_SHOWN}`));
  t.same(
    byShown.map((r) => r.subject),
    [`${SUBJECT_SHOWN}@${HOST_SHOWN}`],
    'subject = its shown form keeps that row',
  );

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-shown-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const feedback = feedbackTable({ feedback: async () => {} }, dir, () => {});
  t.teardown(() => feedback.close());
  const res = await rowsOf(
    await feedback.call(
      { action: 'insert', json_value_array: JSON.stringify(['r-\u001b0', 'normal', 'backup\u001b[2J job\n\u202eforged', '1790000000']) },
      new Map(),
    ),
  );
  t.equal(res[0]?.status, 'success', 'a label with a note of controls is taken');
  const labels = await generate(feedback);
  t.same(rawCells(labels), [], 'no cell of anomaly_feedback holds a raw control or hidden character');
  t.equal(labels[0].note, 'backup\\x1b[2J job\\n\\u202eforged', 'the note shown as the command line shows it');
  t.equal(labels[0].id, 'r-\\x1b0', 'and the id');
  t.equal((await generate(feedback, eq('id', 'r-\\x1b0'))).length, 1, 'id = its shown form keeps the label');
});
