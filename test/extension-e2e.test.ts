import * as path from 'path';
import t from 'tap';
import { readLogRecords } from '../emulator';
import { emulated, until } from './helpers/emulated';
import { JUMPVM_LOG, WORKSTATION_EXPORT } from './helpers/paths';

// The whole slice with the real models: osqueryd (emulated) launches anomaly.ext, logs real
// results through it, and SQL over anomaly_scores returns scored rows.

t.test('real osquery results end up scored and selectable in SQL', async (t) => {
  const e = await emulated({
    config: { learning: { min_events: 150, min_days: 0 }, models: { rarity: true, ocsvm: true, lstm: true } },
    users: [{ uid: '1000', username: 'johndoe' }],
  });
  t.teardown(() => e.close());
  await e.launch();
  const files = [JUMPVM_LOG, WORKSTATION_EXPORT];
  let sent = 0;
  for (const f of files) {
    const r = await e.emu.replay('anomaly', f);
    t.equal(r.failed, 0, `every line of ${path.basename(f)} answered 0`);
    sent += r.lines;
  }
  t.equal(sent, readLogRecords(files[0]).length + readLogRecords(files[1]).length);
  t.equal(e.emu.catastrophic, null, 'osqueryd never had a reason to shut down');

  const models = await until(
    () => e.emu.query("SELECT accepted, rejected, queued, scored FROM anomaly_models WHERE subject = '*'"),
    (rows) => rows.length === 1 && rows[0].queued === '0' && Number(rows[0].scored) > 0,
  );
  t.equal(Number(models[0].accepted) + Number(models[0].rejected), sent, 'accepted + rejected = lines sent');

  const top = await e.emu.query('SELECT subject, query, score, verdict FROM anomaly_scores WHERE score IS NOT NULL ORDER BY score LIMIT 10');
  t.equal(top.length, 10, 'ten scored rows');
  for (const r of top) {
    t.ok(Number(r.score) >= 0 && Number(r.score) <= 1, `score ${r.score} in [0,1]`);
    t.ok(['good', 'ugly', 'bad'].includes(r.verdict), `verdict ${r.verdict}`);
  }
  const plain = await e.emu.query('SELECT subject, query, score, verdict FROM anomaly_scores ORDER BY score LIMIT 10');
  t.equal(plain.length, 10, 'the contract query runs as written');

  const subjects = await e.emu.query("SELECT DISTINCT subject, backend FROM anomaly_models WHERE subject != '*' AND model = 'lstm'");
  t.ok(
    subjects.some((s) => s.subject.startsWith('johndoe@')),
    `johndoe is modelled (${subjects.map((s) => s.subject).join(', ')})`,
  );
  t.ok(
    subjects.every((s) => ['tfjs-node', 'wasm', 'cpu'].includes(s.backend)),
    'the tfjs backend is reported',
  );

  const pushed = await e.emu.query("SELECT count(*) AS n FROM anomaly_scores WHERE verdict = 'learning' AND score < 0.3");
  t.equal(pushed[0].n, '0', 'a learning row has no score, so it is never below 0.3');
});
