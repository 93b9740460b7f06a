import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { RetainedScores } from '../state/scores';
import { emulated, exited, until } from './helpers/emulated';
import { fillScores } from './helpers/scored';

// osqueryd gives an extension's logger --extensions_timeout (3 s by default) to register, and
// a million retained rows take longer than that to read: anomaly.ext registers first and
// reads its retained scores afterwards, in slices, answering calls meanwhile.

function filled(dir: string, rows: number): void {
  const store = new RetainedScores({ dir, maxRows: 1_000_000, maxDays: 30 });
  fillScores(store, rows);
  store.close();
}

t.test('RetainedScores.open reads in slices what the constructor reads at once', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-open-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  filled(path.join(dir, 'scores'), 35_000);
  let done = false;
  let turns = 0;
  const tick = () => {
    turns++;
    if (!done) setImmediate(tick);
  };
  setImmediate(tick);
  const sliced = await RetainedScores.open({ dir: path.join(dir, 'scores'), maxRows: 1_000_000, maxDays: 30 });
  done = true;
  t.ok(turns >= 3, `the event loop turned while it read 35,000 rows (${turns} turns)`);
  const bad = (s: RetainedScores) => s.select({ score: [{ op: '<', value: 0.3 }] }).map((ev) => ev.id);
  const expected = bad(sliced);
  t.equal(sliced.size, 35_000, 'every row');
  sliced.close();
  const whole = new RetainedScores({ dir: path.join(dir, 'scores'), maxRows: 1_000_000, maxDays: 30 });
  t.equal(whole.size, 35_000);
  t.same(bad(whole), expected, 'the same rows answer the same filter');
  t.equal(expected.length, 3500);
  whole.close();
});

t.test('anomaly.ext registers before it reads its retained scores, and answers them once read', async (t) => {
  const e = await emulated({ config: { log_level: 'info' } });
  t.teardown(() => e.close());
  filled(path.join(e.stateDir, 'scores'), 20_000);
  await e.launch();
  const logged = await until(
    async () => e.stderr.join(''),
    (s) => /loaded 20000 retained scores/.test(s) || e.child?.exitCode !== null,
  );
  const registered = logged.indexOf('registered as anomaly');
  const loaded = logged.indexOf('loaded 20000 retained scores');
  t.ok(registered >= 0 && loaded > registered, 'registered first, then read the retained scores');
  const rows = await e.emu.query('SELECT count(*) AS n FROM anomaly_scores WHERE score < 0.3');
  t.equal(rows[0].n, '2000', 'the alert query answers the retained rows');
});

t.test('retained scores it cannot read stop the extension with EX_CANTCREAT, after it registered', async (t) => {
  const e = await emulated({ config: { log_level: 'info' } });
  t.teardown(() => e.close());
  fs.mkdirSync(e.stateDir, { mode: 0o700 });
  fs.writeFileSync(path.join(e.stateDir, 'scores'), 'not a directory\n', { mode: 0o600 });
  const child = await e.launch({ wait: false });
  const exit = await exited(child);
  t.equal(exit.code, 73, 'exit 73');
  t.match(e.stderr.join(''), /cannot read the retained scores and windows: .*scores/, 'and says why');
});
