import * as path from 'path';
import t from 'tap';
import type { Row } from '../extension/plugin/table';
import { scoresTable } from '../extension/tables/scores';
import { RetainedScores } from '../state/scores';
import { badRequest, evesRow, tmpScoreStore } from './helpers/alert-answer';
import { emulated } from './helpers/emulated';
import { plainRow } from './helpers/scored';

// SQLite's multi-index OR skips a row of a later scan whose rowid an earlier scan kept
// (extension/plugin/rowid.ts). Two ids of the scorer's form (the time in base 36, a dash, 16
// hex digits), found by a cycle search over such ids in two minutes of one core: the rowid
// that was 53 bits of two FNV-1a hashes of a row's id and time was the same for both at any
// one time, so a row of mallory's, whose id hashes cells mallory writes, took the rowid of
// alice's alert, and `subject = 'mallory' OR host = 'h2'` lost the alert.

const TIME = parseInt('s2b9kc', 36);
const MALLORY = 's2b9kc-0003928bc6cd799c';
const ALICE = 's2b9kc-000332f8fc46e9b3';

t.test("a row cannot take the rowid of another's: a multi-index OR keeps each row once", async (t) => {
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  const store = new RetainedScores({ dir: path.join(e.stateDir, 'scores'), maxRows: 1000, maxDays: 3650 });
  store.append([
    plainRow(0, { id: MALLORY, time: TIME, subject: 'mallory', host: 'h1' }),
    plainRow(1, { id: ALICE, time: TIME, subject: 'alice', host: 'h2', score: 0.05, verdict: 'bad', event: 'exec /usr/bin/nc <- /bin/sh' }),
    // both disjuncts select it: the second scan skips it, by its rowid
    plainRow(2, { time: TIME, subject: 'mallory', host: 'h2' }),
  ]);
  store.close();
  await e.launch();
  const scans: string[] = [];
  e.emu.on('generate', (name: string, context: string) => void (name === 'anomaly_scores' && scans.push(context)));
  const got = await e.emu.query("SELECT id, subject FROM anomaly_scores WHERE subject = 'mallory' OR host = 'h2'");
  t.equal(scans.length, 2, 'a scan per disjunct, as osqueryd makes');
  t.same(got.map((r) => r.id).sort(), [ALICE, MALLORY, 'r-2'].sort(), "alice's alert, mallory's row and the row both select, each once");
});

t.test("a held-back summary's rowid is the same in each answer, and no record's", async (t) => {
  const store = tmpScoreStore(t);
  const now = 1_800_000_000;
  // eve's flood, which her alert answer sums up, and alice's one alert
  store.append(Array.from({ length: 3000 }, (_, i) => evesRow(i, { time: now - 3000 + i, score: 0.05, columns: JSON.stringify({ n: String(i) }) })));
  store.append([plainRow(0, { id: 'alice-nc', time: now - 10, score: 0.05, verdict: 'bad', event: 'exec /usr/bin/nc <- /bin/sh' })]);
  const answer = async () => {
    const res = await scoresTable(store).call(badRequest(now), new Map());
    const rows: Row[] = [];
    for await (const r of (res as unknown as { rows: AsyncIterable<Row> }).rows) rows.push(r);
    return rows;
  };
  const [first, second] = [await answer(), await answer()];
  const held = (rows: Row[]) => rows.filter((r) => r.model === 'held-back').map((r) => r.rowid);
  t.ok(held(first).length > 0, 'eve is summed up');
  t.same(held(second), held(first), 'her summary has the same rowid in the next answer');
  t.ok(
    held(first).every((id) => Number(id) < 0),
    "a summary's is negative",
  );
  const records = first.filter((r) => r.model !== 'held-back');
  t.ok(
    records.some((r) => r.id === 'alice-nc'),
    "alice's alert is answered",
  );
  t.ok(
    records.every((r) => /^\d+$/.test(r.rowid ?? '')),
    "a record's is its row number",
  );
  t.equal(new Set(first.map((r) => r.rowid)).size, first.length, 'no two rows of an answer share one');
});
