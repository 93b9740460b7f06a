import * as fs from 'fs';
import * as path from 'path';
import t from 'tap';
import { processLine } from './helpers/emulated';
import { fsError, pipeline, runRefusing } from './helpers/pipeline';

// A line acknowledged to osqueryd is queued, scored in the background and its rows kept in
// anomaly_scores. Found by the chaos harness (bench/chaos.ts, seed 1): the disk full while a
// queued batch was scored, the rows were not retained, and the batch was committed all the
// same ("130 scored rows not retained"): 130 acknowledged lines gone from anomaly_scores.

/** user 1000+i%3's process row numbered i, all logged at one unixTime (one scheduled run's rows) */
const atOneTime = (i: number) => processLine(i, String(1000 + (i % 3))).replace(/"unixTime":\d+/, '"unixTime":1790000000');

for (const [what, lineOf] of [
  ['each row at its own time', (i: number) => processLine(i, String(1000 + (i % 3)))],
  ['all rows at one time, as one run of a query logs them', atOneTime],
] as const)
  t.test(`rows the full disk refused to anomaly_scores are kept once it has room: each row once, each learnt once (${what})`, async (t) => {
    // one batch of all 120 lines: retained 50 rows to a write
    const p = await pipeline(t, 120);
    const { dir, scores, service, queue, ingest, logs } = p;
    for (let i = 0; i < 120; i++) ingest.accept(lineOf(i));
    // the disk takes the first write of retained rows and refuses the next three (a nearly full
    // disk: a few pages left), then has room again; the batch fails as often as a failing batch
    // is tried before it is set aside (3), while queue/failed.jsonl could be written
    let rowWrites = 0;
    await runRefusing(p, (data) => {
      if (!data.includes('"verdict":')) return null;
      rowWrites++;
      return rowWrites >= 2 && rowWrites <= 4 ? fsError('ENOSPC', 'no space left on device') : null;
    });
    t.ok(rowWrites > 3, `the refused rows were written again (${rowWrites} writes of rows)`);
    const kept = scores.select({}).map((e) => Number(JSON.parse(e.columns).pid));
    t.equal(new Set(kept).size, 120, `every acknowledged line has its row in anomaly_scores (${new Set(kept).size} of 120)`);
    t.equal(kept.length, 120, `and each only once (${kept.length} rows)`);
    const learned = service
      .models()
      .filter((m) => m.model === 'rarity' && /^uid:/.test(m.subject))
      .map((m) => m.events);
    t.same(learned, [40, 40, 40], 'each of the three users learnt its 40 rows once, the rows scored again included');
    t.equal(queue.counters.scored, 120, 'counted scored once each');
    t.equal(queue.counters.set_aside, 0, 'none set aside: the lines waited for the disk');
    t.notOk(fs.existsSync(path.join(dir, 'queue', 'failed.jsonl')), 'queue/failed.jsonl not written');
    t.match(logs.join('\n'), /120 scored rows not retained in anomaly_scores \(ENOSPC.*their lines stay queued/, 'the log says why they wait');
  });
