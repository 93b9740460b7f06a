import * as fs from 'fs';
import * as path from 'path';
import * as v8 from 'v8';
import { resolveConfig } from '../conf/config';
import { DEMO_USERS } from '../demo/generate';
import { parseResultLine } from '../scorer/parse/results';
import { Scorer } from '../scorer/scorer';
import { MODEL_NAMES, type ModelName } from '../scorer/types';
import { WindowScorer, windowOptionsFrom } from '../scorer/windows';
import { UsageError, type BenchPart } from './part';
import { loadAverage, note, report, tmpdir } from './table';
import { twoHosts } from './watchdog';

// What the scorer keeps per result line: the watchdog benchmark's stream (two hosts, the same
// config) scored in-process by the Scorer and the window scorer as the scorer thread runs
// them, with V8's used heap read after a full collection, so garbage does not count. The
// watchdog run shows resident growth as osquery's watcher sees it; this part says how much of
// it is live data that grows with the stream (subjects' windows, the extractor's tables), and
// --snapshot FILE writes a heap snapshot at the end to find which (docs/benchmarks.md,
// memory; scripts/heap-summary.js sums one by owner). The stream ends at a fixed day, so
// before and after a change score the same lines, and the checksum of the scores says
// whether they scored them the same.
//
//   node --expose-gc dist/bench/run.js heap [--days 20] [--models rarity,ocsvm] [--snapshot FILE]

/** the stream ends at 2026-12-01 00:00 UTC whenever it runs, so that it is the same stream */
const END = 1_796_083_200;
/** result lines per scoring call, about what the queue hands the scorer thread under load */
const BATCH = 50;

/** the watchdog part's learning settings, with the models named (scripts/retrain-memory.js replays alike) */
export function replayConfig(wanted: readonly string[]): ReturnType<typeof resolveConfig> {
  return resolveConfig(
    {
      learning: { min_events: 3000, min_days: 1 },
      retrain: { window_events: 20_000 },
      models: Object.fromEntries(MODEL_NAMES.map((m) => [m, wanted.includes(m)])),
    },
    'bench',
    {},
  );
}

async function run(args: string[]): Promise<void> {
  const option = (name: string, fallback: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : fallback;
  };
  const days = Number(option('days', '20'));
  if (!Number.isInteger(days) || days < 2) throw new UsageError('--days takes a whole number ≥ 2');
  const wanted = option('models', 'rarity,ocsvm').split(',');
  const unknown = wanted.filter((m) => !MODEL_NAMES.includes(m as ModelName));
  if (unknown.length) throw new UsageError(`--models: unknown ${unknown.join(', ')}`);
  const gc = (global as { gc?: () => void }).gc;
  if (!gc) return note('heap: skipped, it needs node --expose-gc to read the live heap');

  const lines = twoHosts(days, END);
  const config = replayConfig(wanted);
  const scorer = await Scorer.open({ config, stateDir: null });
  scorer.setUsers(DEMO_USERS);
  const dir = tmpdir('heap');
  const windows = new WindowScorer(windowOptionsFrom(config, path.join(dir, 'windows'), () => {}));
  try {
    gc();
    const before = v8.getHeapStatistics().used_heap_size;
    let bytes = 0;
    let checksum = 0;
    let scored = 0;
    for (let i = 0; i < lines.length; i += BATCH) {
      const batch = lines.slice(i, i + BATCH);
      for (const l of batch) bytes += Buffer.byteLength(l);
      const events = await scorer.scoreRows(batch.flatMap(parseResultLine));
      // weighted by position, so that two scores swapped change it
      for (const e of events) if (e.score !== null) checksum += e.score * (1 + (scored++ % 7));
      windows.add(events);
    }
    gc();
    const grown = v8.getHeapStatistics().used_heap_size - before;
    report({
      measure: `V8 heap kept per result line after a full collection, ${lines.length.toLocaleString('en-US')} lines (${days} days, 2 hosts), models ${wanted.join(',')}`,
      value: grown / lines.length,
      unit: 'B',
      kind: 'cost',
      baseline: { value: bytes / lines.length, label: 'the line itself' },
      digits: 0,
    });
    const monitoring = scorer.summaries().filter((s) => s.model === wanted[0] && s.state === 'monitoring').length;
    note(
      `heap grown by ${(grown / 1e6).toFixed(1)} MB; ${monitoring} of ${scorer.subjectCount + 2} subjects and baselines monitoring; ` +
        `score checksum ${checksum.toFixed(9)} over ${scored} scored rows; load average ${loadAverage()}`,
    );
    const snapshot = option('snapshot', '');
    if (snapshot) note(`heap snapshot: ${v8.writeHeapSnapshot(snapshot)}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const heapPart: BenchPart = {
  name: 'heap',
  summary: "V8 heap the scorer keeps per line of the watchdog part's stream, in-process, after a full collection (--days, --models, --snapshot FILE)",
  options: { days: 'value', models: 'value', snapshot: 'value' },
  run,
};
