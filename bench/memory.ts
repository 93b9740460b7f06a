import { resolveConfig } from '../conf/config';
import { Scorer } from '../scorer/scorer';
import type { BehaviourEvent } from '../scorer/types';
import type { BenchPart } from './part';
import { loadAverage, note, report } from './table';

// Resident memory growth with many modelled subjects, all monitoring with all three models,
// against one subject. tfjs and its backend load once per process, whatever the number of
// subjects, so a first scorer pays for that before either measurement (as the watcher's
// first sample, taken --watchdog_delay after launch, comes after it too).

function userEvents(u: number, n: number): BehaviourEvent[] {
  const tools = Array.from({ length: 12 }, (_, i) => `/usr/bin/tool${(u * 7 + i) % 40}`);
  return Array.from({ length: n }, (_, i) => {
    const exe = tools[(i * 5 + u) % tools.length];
    return {
      key: `exec ${exe} <- /bin/bash`,
      values: ['kind=process', `exe=${exe}`, 'parent=/bin/bash', `cmd=${exe.split('/').pop()} -x <*>`, `hour=${String(9 + (i % 9)).padStart(2, '0')}`],
      pairs: [`parent=/bin/bash>exe=${exe}`],
      text: `${exe} -x ${i % 17}`,
      time: 1_790_000_000 + i * 120,
    };
  });
}

async function run(args: string[]): Promise<void> {
  const i = args.indexOf('--subjects');
  const subjects = i >= 0 ? Number(args[i + 1]) : 500;
  if (!Number.isInteger(subjects) || subjects < 2) throw new Error('--subjects takes a whole number ≥ 2');
  const config = resolveConfig({ learning: { min_events: 300, min_days: 0 }, retrain: { window_events: 2000 } }, 'bench', {});
  const rowsFor = (u: number) =>
    userEvents(u, 400).map((e, i) => ({
      query: 'pack_user-behavior_process_events',
      host: 'web-01',
      time: e.time,
      action: 'added' as const,
      decorations: {},
      columns: { pid: String(i), path: e.values[1].slice(4), cmdline: e.text, auid: String(2000 + u), parent: '1' },
    }));
  const gc = (global as { gc?: () => void }).gc;
  const measure = async (n: number) => {
    gc?.();
    const before = process.memoryUsage().rss;
    const scorer = await Scorer.open({ config, stateDir: null });
    let peak = before;
    for (let u = 0; u < n; u++) {
      await scorer.scoreRows(rowsFor(u));
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    const held = process.memoryUsage().rss;
    gc?.();
    const after = process.memoryUsage().rss;
    return { scorer, growth: (after - before) / 1e6, held: (held - before) / 1e6, peak: (peak - before) / 1e6 };
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
  report({
    measure: `Resident memory growth after GC, ${subjects} modelled subjects (${monitoring} monitoring, all three models)`,
    value: many.growth,
    unit: 'MB',
    kind: 'cost',
    baseline,
    target: 200,
  });
  report({
    measure: `Resident memory growth at its peak, no forced GC (what the watcher can sample), ${subjects} subjects`,
    value: many.peak,
    unit: 'MB',
    kind: 'cost',
    baseline,
    target: 200,
  });
  note(`${(many.growth / subjects).toFixed(2)} MB per subject after GC; load average ${loadAverage()}`);
  void one.scorer;
}

export const memoryPart: BenchPart = { name: 'memory', summary: 'resident growth with N subjects monitoring (--subjects N, default 500)', run };
