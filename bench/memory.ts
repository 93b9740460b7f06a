import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { DEFAULTS, resolveConfig } from '../conf/config';
import { Scorer } from '../scorer/scorer';
import { UsageError, type BenchPart } from './part';
import { loadAverage, note, report, tmpdir } from './table';
import { userRows } from './users-stream';

// Resident memory growth with many modelled subjects, all monitoring with all three models,
// against one subject, in-process (the scorer alone, no extension around it), with where
// the bytes are: V8's heap, tfjs tensors, other off-heap buffers. tfjs and its backend load
// once per process, whatever the number of subjects, so a first scorer pays for that before
// either measurement (as the watcher's first sample, taken --watchdog_delay after launch,
// comes after it too). The extension as osqueryd's watcher sees it: `watchdog --subjects N`.
//
//   npm run bench -- memory [--subjects 500] [--resident N]   (node --expose-gc for the after-GC figures)

interface Usage {
  rss: number;
  heap: number;
  tensors: number;
  /** ArrayBuffers outside the heap (typed arrays, Buffers), tfjs's wasm memory among them */
  buffers: number;
}

function usage(): Usage {
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, tensors: tf.memory().numBytes, buffers: m.arrayBuffers };
}

const mb = (bytes: number) => bytes / 1e6;

async function run(args: string[]): Promise<void> {
  const option = (name: string, fallback: number) => {
    const i = args.indexOf(`--${name}`);
    const v = i >= 0 ? Number(args[i + 1]) : fallback;
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${name} takes a whole number ≥ 1, not ${JSON.stringify(args[i + 1])}`);
    return v;
  };
  const subjects = option('subjects', 500);
  // the product's bound by default: with every subject loaded (a --resident as large as
  // --subjects) the part measures what a subject costs, which no default configuration runs,
  // and its rows judged that against the watchdog's 200 MB as missed
  const resident = option('resident', DEFAULTS.memory.resident_subjects);
  const config = resolveConfig(
    { learning: { min_events: 300, min_days: 0 }, retrain: { window_events: 2000 }, memory: { resident_subjects: resident } },
    'bench',
    {},
  );
  const gc = (global as { gc?: () => void }).gc;
  const measure = async (n: number) => {
    gc?.();
    const before = usage();
    const stateDir = tmpdir('memory');
    const scorer = await Scorer.open({ config, stateDir });
    let peak = before.rss;
    for (let u = 0; u < n; u++) {
      await scorer.scoreRows(userRows(u, 400));
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    const held = process.memoryUsage().rss;
    gc?.();
    const after = usage();
    fs.rmSync(stateDir, { recursive: true, force: true });
    const grown = (k: keyof Usage) => mb(after[k] - before[k]);
    return {
      scorer,
      growth: grown('rss'),
      heap: grown('heap'),
      tensors: grown('tensors'),
      buffers: grown('buffers'),
      held: mb(held - before.rss),
      peak: mb(peak - before.rss),
    };
  };
  await measure(1);
  const one = await measure(1);
  const many = await measure(subjects);
  const monitoring = new Set(
    many.scorer
      .summaries()
      .filter((s) => s.state === 'monitoring')
      .map((s) => s.subject),
  ).size;
  const baseline = { value: Math.max(one.growth, 1), label: '1 subject' };
  const bound = resident < subjects ? `, at most ${resident} loaded` : ', all loaded';
  report({
    measure: `Resident memory growth${gc ? ' after GC' : ''}, ${subjects} modelled subjects (${monitoring} monitoring, all three models${bound})`,
    value: many.growth,
    unit: 'MB',
    kind: 'cost',
    baseline,
    target: 200,
  });
  report({
    measure: `Resident memory growth at its peak, no forced GC (what the watcher can sample), ${subjects} subjects${bound}`,
    value: many.peak,
    unit: 'MB',
    kind: 'cost',
    baseline,
    target: 200,
  });
  const per = (x: number) => `${((x * 1000) / subjects).toFixed(0)} kB`;
  note(
    `per subject${gc ? ' after GC' : ''}: ${per(many.growth)} resident, of which V8 heap ${per(many.heap)}, tfjs tensors ${per(many.tensors)}, ` +
      `off-heap buffers ${per(many.buffers)} (tfjs's wasm memory among them); ${many.scorer.residentCount} of ${many.scorer.subjectCount} subjects loaded; load average ${loadAverage()}`,
  );
}

export const memoryPart: BenchPart = {
  name: 'memory',
  summary:
    'resident growth with N subjects monitoring, in-process, by heap, tensors and buffers (--subjects N, default 500; --resident N loaded at most, default the config default 50)',
  options: { subjects: 'value', resident: 'value' },
  run,
};
