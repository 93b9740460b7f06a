import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { seededRandom as rng } from '../demo/generate';
import { resolveConfig } from '../conf/config';
import { Scorer } from '../scorer/scorer';
import { DAY, HABITS, HOUR, START, developerRow as row } from '../scorer/eval/developer-stream';

// Branch `newcomer3` reads Fleet's query names (osqueryd with --pack_delimiter=/ names a row
// `pack/Global/process_events`) as the query's own name, `process_events`. The build before
// kept the name whole, and a subject learnt `query=pack/Global/process_events` in its rarity
// counts and in the events its retraining fits on. After the upgrade every row of a Fleet
// host carried a query value its subject had never seen: bad (0.204), and as bad rows are
// not learned and the retraining window held the old name only, every row of every day after
// (a `/tmp` replay: 120 of 120 bad on each of 7 days, retrained daily).

t.test("a subject that learnt Fleet's whole query names scores its routine good after the upgrade", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-query-names-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = resolveConfig({ state_dir: dir, learning: { min_events: 400, min_days: 3 }, models: { rarity: true, ocsvm: false, lstm: false } }, 'test', {});
  const r = rng(3);
  const day = (d: number) =>
    Array.from({ length: 120 }, () => {
      const [exe, cmd] = HABITS[Math.floor(r() * HABITS.length)];
      return row(START + d * DAY + 9 * HOUR + Math.floor(r() * 8 * HOUR), exe, cmd, 'pack/Global/process_events');
    }).sort((a, b) => a.time - b.time);
  const trained = await Scorer.open({ config, stateDir: dir });
  for (let d = 0; d < 10; d++) await trained.scoreRows(day(d));
  trained.save();
  t.ok(
    trained.summaries().some((m) => m.state === 'monitoring'),
    'the subject monitors',
  );
  // the previous build's files: the query value as osqueryd named it
  const subjects = path.join(dir, 'subjects');
  let rewritten = 0;
  for (const f of fs.readdirSync(subjects)) {
    const text = fs.readFileSync(path.join(subjects, f), 'utf8');
    const old = text.split('query=process_events').join('query=pack/Global/process_events');
    if (old !== text) rewritten++;
    fs.writeFileSync(path.join(subjects, f), old);
  }
  t.ok(rewritten > 0, 'the saved subjects named the query');
  const upgraded = await Scorer.open({ config, stateDir: dir });
  const after = await upgraded.scoreRows(day(10));
  const bad = after.filter((s) => s.verdict === 'bad');
  t.equal(bad.length, 0, `the routine is not bad after the upgrade (${bad.length} of ${after.length}: ${bad[0]?.reasons ?? ''})`);
});
