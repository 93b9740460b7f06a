import * as fs from 'fs';
import * as path from 'path';
import t from 'tap';
import { counters, emulated, exited, processLine as line, until } from './helpers/emulated';

// The queue replays the lines after its last saved cursor when the extension starts again
// (extension/queue.ts). A subject saved after learning some of those lines must not learn
// them a second time: its history, event count and calibration would count them twice.

t.test('lines replayed after SIGKILL are not learned twice by a subject saved after them', async (t) => {
  const e = await emulated({ config: { learning: { min_events: 200, min_days: 0 } } });
  t.teardown(() => e.close());
  let child = await e.launch();
  // the cursor cannot be saved (something sits where it is renamed to), as on a disk that
  // fails or a kill within its 200 ms: every line stays after the cursor, to be replayed
  const blocker = path.join(e.stateDir, 'queue', 'cursor.json');
  fs.mkdirSync(path.join(blocker, 'in-the-way'), { recursive: true, mode: 0o700 });
  for (let i = 0; i < 260; i++) await e.emu.logResult('anomaly', line(i, '1000'));
  await until(
    () => counters(e),
    (c) => c.received === 260 && c.queued === 0,
  );
  const subject = "SELECT events, state FROM anomaly_models WHERE subject = 'uid:1000@h' AND model = 'rarity'";
  const [before] = await e.emu.query(subject);
  t.same(before, { events: '260', state: 'monitoring' }, 'learned each of the 260 rows once, and started monitoring');
  // the subject was saved when it started monitoring (faults: item 8), after learning 200 of the lines
  const subjects = path.join(e.stateDir, 'subjects');
  await until(
    async () => fs.readdirSync(subjects).filter((f) => /"state":"monitoring"/.test(fs.readFileSync(path.join(subjects, f), 'utf8'))).length,
    (n) => n > 0,
  );
  // the extractor (template miner, process table) is saved with the subjects
  const extractorFile = path.join(e.stateDir, 'extractor.json');
  await until(
    async () => minedRows(extractorFile),
    (n) => n >= 200,
  );
  child.kill('SIGKILL');
  await exited(child);
  fs.rmSync(blocker, { recursive: true });
  e.emu.catastrophic = null;
  // osqueryd forgets a killed extension at its next health check; until then a new one is a duplicate
  await until(
    async () => e.emu.registered().length,
    (n) => n === 0,
  );

  child = await e.launch();
  await until(
    () => counters(e),
    (c) => c.queued === 0 && c.scored >= 260,
  );
  const [after] = await e.emu.query(subject);
  t.same(after, { events: '260', state: 'monitoring' }, 'after the replay: still 260 events, each row learned once');
  // and the lines that come after are learned
  for (let i = 260; i < 300; i++) await e.emu.logResult('anomaly', line(i, '1000'));
  await until(
    () => counters(e),
    (c) => c.queued === 0 && c.scored >= 300,
  );
  const [more] = await e.emu.query(subject);
  t.same(more, { events: '300', state: 'monitoring' }, 'the 40 new rows are learned');
  // a row 20 minutes on closes the window of those 300 rows (they span 300 s of one window)
  await e.emu.logResult('anomaly', line(1500, '1000'));
  const [closed] = await until(
    () => e.emu.query("SELECT events FROM anomaly_windows WHERE subject = 'uid:1000'"),
    (r) => r.length > 0,
  );
  t.same(closed, { events: '300' }, 'its window holds each row once');
  t.match(e.stderr.join(''), /260 accepted lines from before the last stop will be scored/, 'all 260 lines were replayed');
  child.kill('SIGTERM');
  await exited(child);
  t.equal(minedRows(extractorFile), 301, 'the template miner counted each command line once, the replayed ones too');
});

/** command lines the saved template miner has counted (the sizes of its templates) */
function minedRows(file: string): number {
  try {
    const state = JSON.parse(fs.readFileSync(file, 'utf8'));
    const clusters: [number, string[], number][] = state.payload.miner.clusters;
    return clusters.reduce((n, c) => n + c[2], 0);
  } catch {
    return 0;
  }
}
