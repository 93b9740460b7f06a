import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import fsModule = require('fs');
import { resolveConfig } from '../conf/config';
import { Ingest } from '../extension/ingest';
import { DurableQueue } from '../extension/queue';
import { createScoringService } from '../scorer/service';
import { RetainedScores } from '../state/scores';
import { processLine } from './helpers/emulated';

// A line acknowledged to osqueryd is queued, scored in the background and its rows kept in
// anomaly_scores. Found by the chaos harness (bench/chaos.ts, seed 1): the disk full while a
// queued batch was scored, the rows were not retained, and the batch was committed all the
// same ("130 scored rows not retained"): 130 acknowledged lines gone from anomaly_scores.

const realWriteSync = fsModule.writeSync;

/** user 1000+i%3's process row numbered i, all logged at one unixTime (one scheduled run's rows) */
const atOneTime = (i: number) => processLine(i, String(1000 + (i % 3))).replace(/"unixTime":\d+/, '"unixTime":1790000000');

for (const [what, lineOf] of [
  ['each row at its own time', (i: number) => processLine(i, String(1000 + (i % 3)))],
  ['all rows at one time, as one run of a query logs them', atOneTime],
] as const)
  t.test(`rows the full disk refused to anomaly_scores are kept once it has room: each row once, each learnt once (${what})`, async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-retain-full-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    // subjects that stay learning: every row scored is learnt, so what each learnt is countable
    const config = resolveConfig({ state_dir: dir, learning: { min_events: 1_000_000_000, min_days: 0 } }, 'test', {});
    const scores = new RetainedScores({ dir: path.join(dir, 'scores'), maxRows: 100_000, maxDays: 3650 });
    const service = await createScoringService({ config, log: () => {}, scores });
    const queue = new DurableQueue(path.join(dir, 'queue'), 1 << 20);
    const logs: string[] = [];
    // one batch of all 120 lines: retained 50 rows to a write
    const ingest = new Ingest(queue, service, config, (_level, m) => logs.push(m), 120);
    for (let i = 0; i < 120; i++) ingest.accept(lineOf(i));
    // the disk takes the first write of retained rows and refuses the next three (a nearly full
    // disk: a few pages left), then has room again; the batch fails as often as a failing batch
    // is tried before it is set aside (3), while queue/failed.jsonl could be written
    let rowWrites = 0;
    fsModule.writeSync = ((fd: number, data: unknown, ...rest: unknown[]) => {
      if (Buffer.isBuffer(data) && data.includes('"verdict":')) {
        rowWrites++;
        if (rowWrites >= 2 && rowWrites <= 4) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      return (realWriteSync as (...a: unknown[]) => number)(fd, data, ...rest);
    }) as typeof fs.writeSync;
    try {
      ingest.start();
      // no deadline: a batch that never drains is reported by tap's timeout
      while (queue.length > 0) await new Promise((r) => setTimeout(r, 50));
    } finally {
      fsModule.writeSync = realWriteSync;
      await ingest.stop();
      queue.close();
    }
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
    await service.close();
  });
