import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { anomaly } from './helpers/cli';
import { counters, emulated, processLine as line, until } from './helpers/emulated';
import { ROOT } from './helpers/paths';

// The alert pack's queries select the rows of the last minutes by the row's own time, the
// time osqueryd ran the query that logged it. The extension scores a row later than that
// whenever its queue is behind (the scorer is paced to osquery's CPU budget; a restart
// replays what was queued): a bad row scored five minutes after its time was never reported.

t.test('a bad row scored minutes after its time is still reported by the alert pack', async (t) => {
  const e = await emulated({ config: { learning: { min_events: 200, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false } } });
  t.teardown(() => e.close());
  await e.launch();
  for (let i = 0; i < 260; i++) await e.emu.logResult('anomaly', line(i, '1000'));
  // logged five minutes ago, scored now: a program the user never ran
  const now = Math.floor(Date.now() / 1000);
  const late = JSON.parse(line(300, '1000'));
  late.unixTime = now - 300;
  late.columns = { ...late.columns, path: '/tmp/.cache/kworkerd', cmdline: 'kworkerd --connect 203.0.113.9:4444', parent: '1' };
  await e.emu.logResult('anomaly', JSON.stringify(late));
  await until(
    () => counters(e),
    (c) => c.received === 261 && c.queued === 0,
  );
  const [scored] = await e.emu.query(`SELECT score FROM anomaly_scores WHERE time = ${now - 300}`);
  t.ok(Number(scored?.score) < 0.3, `the row is bad (${scored?.score})`);
  const pack = JSON.parse(fs.readFileSync(path.join(ROOT, 'packs', 'anomaly-alerts.conf'), 'utf8'));
  const alerts = await e.emu.query(pack.queries.bad.query);
  t.ok(
    alerts.some((r) => Number(r.time) === now - 300),
    `the pack's bad query reports it (${alerts.length} rows)`,
  );
});

t.test("the alert pack's own results, logged back through the anomaly logger, are not scored as behaviour", async (t) => {
  // osqueryd logs every scheduled query's results to every logger, the alert pack's too. The
  // extension recognised its own rows only when they carried score, verdict, model and
  // reasons, while none of the shipped pack's queries selects all four (bad and ugly leave
  // out verdict, good_sample reasons, model_health score): each alert came back as a row of
  // behaviour, was scored, retained and learnt (and a bad row echoed became a new bad row)
  const e = await emulated({ config: { learning: { min_events: 200, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false } } });
  t.teardown(() => e.close());
  await e.launch();
  for (let i = 0; i < 260; i++) await e.emu.logResult('anomaly', line(i, '1000'));
  await until(
    () => counters(e),
    (c) => c.received === 260 && c.queued === 0,
  );
  const pack = JSON.parse(fs.readFileSync(path.join(ROOT, 'packs', 'anomaly-alerts.conf'), 'utf8'));
  const now = Math.floor(Date.now() / 1000);
  let echoed = 0;
  for (const [name, q] of Object.entries<{ query: string }>(pack.queries)) {
    // the rows each query answers now, or one made of its columns when it answers none
    let rows = (await e.emu.query(q.query.replace(/ AND (time|end) > \(CAST\(strftime\('%s', 'now'\) AS INTEGER\) - \d+\)/, ''))).slice(0, 3);
    if (!rows.length) {
      const columns = /^SELECT (.*?) FROM/.exec(q.query)![1].split(', ');
      rows = [Object.fromEntries(columns.map((c) => [c, c === 'score' ? '0.1' : c === 'time' || c === 'start' || c === 'end' ? String(now) : 'x']))];
    }
    for (const columns of rows) {
      echoed++;
      await e.emu.logResult('anomaly', JSON.stringify({ name: `pack_anomaly-alerts_${name}`, hostIdentifier: 'h', unixTime: now, columns, action: 'added' }));
    }
  }
  await until(
    () => counters(e),
    (c) => c.received === 260 + echoed && c.queued === 0,
  );
  const scored = await e.emu.query("SELECT query, count(*) AS n FROM anomaly_scores WHERE query LIKE 'pack_anomaly-alerts_%' GROUP BY query ORDER BY query");
  t.same(scored, [], `none of the ${echoed} rows of the alert pack's ${Object.keys(pack.queries).length} queries is scored`);
});

t.test('anomaly train and score skip the lines the extension does not score: its own tables, queries the config ignores', async (t) => {
  // the README's `anomaly train --log /var/log/osquery/osqueryd.results.log` reads a host's
  // filesystem log, which holds the alert pack's results and the queries the config ignores
  // as well: the extension leaves those out, train learnt them and score scored them
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-train-own-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'osqueryd.results.log');
  const alert = (i: number) =>
    JSON.stringify({
      name: 'pack_anomaly-alerts_bad',
      hostIdentifier: 'h',
      unixTime: 1_790_000_000 + i,
      action: 'added',
      columns: {
        id: `x${i}`,
        time: String(1_790_000_000 + i),
        host: 'h',
        subject: 'alice',
        query: 'q',
        event: 'e',
        score: '0.1',
        model: 'rarity',
        reasons: 'r',
      },
    });
  const ignored = (i: number) =>
    JSON.stringify({
      name: 'pack_osquery-monitoring_schedule',
      hostIdentifier: 'h',
      unixTime: 1_790_000_000 + i,
      action: 'added',
      columns: { name: 'q', executions: String(i) },
    });
  const lines: string[] = [];
  for (let i = 0; i < 300; i++) lines.push(line(i, '1000'), ...(i % 10 ? [] : [alert(i), ignored(i)]));
  fs.writeFileSync(log, lines.join('\n') + '\n');
  const config = path.join(dir, 'anomaly.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      state_dir: path.join(dir, 'state'),
      learning: { min_events: 200, min_days: 0 },
      models: { rarity: true, ocsvm: false, lstm: false },
      queries: { 'pack_osquery-monitoring_schedule': { ignore: true } },
    }),
  );
  fs.chmodSync(config, 0o600);
  const train = await anomaly(['train', '--log', log, '--config', config]);
  t.equal(train.code, 0, train.err);
  t.match(train.out, /^learned 300 rows from 360 lines/m, 'the 300 process rows, not the 30 alerts or the 30 ignored lines');
  t.match(train.out, /\(60 lines skipped as the extension skips them: its own tables' rows, queries the config ignores\)/);
  const score = await anomaly(['score', '--log', log, '--config', config]);
  t.equal(score.code, 0, score.err);
  const queries = new Set(
    score.out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).query),
  );
  t.same([...queries], ['pack_user-behavior_process_events'], 'score prints the process rows only');
});
