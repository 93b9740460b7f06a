import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t, { type Test } from 'tap';
import { resolveConfig } from '../conf/config';
import { Ingest } from '../extension/ingest';
import { DurableQueue } from '../extension/queue';
import { createScoringService } from '../scorer/service';
import { RetainedScores } from '../state/scores';
import { RetainedWindows } from '../state/windows';
import { writeStateFile } from '../state/atomic';

// A damaged queue/cursor.json replays the whole segment it pointed into (up to 16 MB of lines,
// and a line of a scheduled query's differential results holds many rows). The retained scores
// recognised a replayed row by the ids of the last 50,000 rows loaded only: a replay reaching
// further back kept every one of its rows a second time.

/** line `i` of a query whose run added 100 rows (pids i*100 … i*100+99) */
const manyRows = (i: number) =>
  JSON.stringify({
    name: 'pack_user-behavior_process_events',
    hostIdentifier: 'h',
    unixTime: 1_790_000_000 + i,
    action: 'added',
    diffResults: {
      added: Array.from({ length: 100 }, (_, k) => ({
        pid: String(i * 100 + k),
        path: `/usr/bin/tool${k % 5}`,
        cmdline: `tool${k % 5} -n ${k}`,
        auid: '1000',
        parent: '1',
      })),
      removed: [],
    },
  });

/**
 * a start of the extension's pipeline over `dir`, run until its queue is empty, then stopped:
 * what it replayed, and the rows retained after it (their distinct pids read back only when
 * `countPids`: a read of every retained row, which only the replay's check needs)
 */
async function run(dir: string, logs: string[], accept: (ingest: Ingest) => void, countPids = false) {
  // subjects that stay learning, so that scoring is cheap
  const config = resolveConfig({ state_dir: dir, learning: { min_events: 1_000_000_000, min_days: 0 } }, 'test', {});
  const log = (_level: string, m: string) => logs.push(m);
  const scores = new RetainedScores({ dir: path.join(dir, 'scores'), maxRows: 1_000_000, maxDays: 3650, log });
  const windows = new RetainedWindows({ dir: path.join(dir, 'window-scores'), maxRows: 1_000_000, maxDays: 3650 });
  const service = await createScoringService({ config, log, scores, windows });
  const queue = new DurableQueue(path.join(dir, 'queue'), 64 << 20, log);
  const ingest = new Ingest(queue, service, config, log, 500);
  const replayed = queue.length;
  accept(ingest);
  ingest.start();
  while (queue.length) await new Promise((r) => setTimeout(r, 50));
  await ingest.stop();
  queue.close();
  await service.close();
  const pids = new Set<number>();
  if (countPids) for (const e of scores.matching({})) pids.add(Number(JSON.parse(e.columns).pid));
  const size = scores.size;
  scores.close();
  windows.close();
  return { replayed, pids: countPids ? pids.size : null, size };
}

const LINES = 600;

/**
 * The state of a first start that scored 600 lines of 100 rows, made once for the file: both
 * tests start from it (each on its own copy), as the run is the same for both and costs
 * as much as the replay each test is about
 */
let scored: Promise<{ dir: string; size: number }> | undefined;
function scoredOnce(): Promise<{ dir: string; size: number }> {
  scored ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-cursor-scored-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const first = await run(dir, [], (ingest) => {
      for (let i = 0; i < LINES; i++) ingest.accept(manyRows(i));
    });
    return { dir, size: first.size };
  })();
  return scored;
}

/** the first start's state, the cursor damaged while it is down (`damage`), and a start that replays the queue */
async function damagedCursor(t: Test, damage: (cursorFile: string) => void) {
  const first = await scoredOnce();
  t.equal(first.size, LINES * 100, `${LINES * 100} rows retained`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-cursor-damage-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.cpSync(first.dir, dir, { recursive: true });
  const logs: string[] = [];
  damage(path.join(dir, 'queue', 'cursor.json'));
  const second = await run(dir, logs, () => {}, true);
  t.equal(second.replayed, LINES, 'the whole segment is replayed');
  t.match(logs.join('\n'), /replaying the whole queue/, 'the log says the cursor was damaged');
  t.equal(second.pids, LINES * 100, 'every row is in anomaly_scores');
  t.equal(second.size, LINES * 100, 'each once');
  // and a line after the replay is new, whatever the cursor said: kept, not taken for one replayed
  const third = await run(dir, logs, (ingest) => ingest.accept(manyRows(LINES)));
  t.equal(third.size, (LINES + 1) * 100, "a new line's rows are kept after it");
}

t.test('a damaged queue cursor with more than 50,000 rows behind it: each row kept once, none lost (durable)', (t) =>
  damagedCursor(t, (file) => fs.writeFileSync(file, '{"format":"anomaly-ext","kind":"queue-cur')),
);

t.test('a queue cursor that reads but points past the newest segment: each row of the replay kept once, none lost (opendur)', (t) =>
  damagedCursor(t, (file) => writeStateFile(file, 'queue-cursor', 1, { segment: 7, position: 0 })),
);
