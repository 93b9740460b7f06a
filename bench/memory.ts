import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
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
//
// With `--windows N`, instead: what N retained windows (anomaly_windows) cost to hold, read by a
// child process of this build and, with `--against DIST`, of another build (an earlier commit
// built into DIST), from the same windows.jsonl as earlier builds wrote it.

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

interface WindowsHeld {
  /** resident growth, MB, no forced collection */
  rss: number;
  /** V8's heap and the buffers outside it after a collection, MB */
  held: number;
  /** the read, ms */
  readMs: number;
  /** the bad windows (score < 0.3) and one subject's last hour, ms (medians of 7) */
  badMs: number;
  /** the alert pack's bad_windows: score < 0.3 of the last day */
  dayMs: number;
  subjectMs: number;
  size: number;
}

/** N windows of 1,000 subjects a 10-minute boundary, in the one file earlier builds kept */
function writeWindows(dir: string, n: number): void {
  const start = 1_790_000_000;
  const perEnd = 1000;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const fd = fs.openSync(path.join(dir, 'windows.jsonl'), 'w', 0o600);
  for (let i = 0; i < n;) {
    const lines: string[] = [];
    for (let k = 0; k < 10_000 && i < n; k++, i++) {
      const b = Math.floor(i / perEnd);
      const u = i % perEnd;
      const bad = i % 100 === 0;
      const events = 30 + (i % 23);
      lines.push(
        JSON.stringify({
          subject: `uid:${1000 + u}`,
          host: 'h',
          start: start + b * 600,
          end: start + (b + 1) * 600,
          events,
          score: bad ? 0.12 : 0.9,
          verdict: bad ? 'bad' : 'good',
          model: 'rate',
          reasons: bad
            ? `more events than usual for uid:${1000 + u}: ${events * 10} in 10 min, usually ${events}`
            : `${events} events in 10 min, usually ${events}`,
          top_ids: JSON.stringify([0, 1, 2].map((j) => `${(i * 3 + j).toString(16).padStart(16, '0')}`)),
        }),
      );
    }
    fs.writeSync(fd, lines.join('\n') + '\n');
  }
  fs.closeSync(fd);
}

/** a child process of the build in `dist` reads the windows in `dir` and says what it cost */
function holdWindows(dist: string, dir: string): WindowsHeld {
  const script = `
    const { RetainedWindows } = require(${JSON.stringify(path.join(dist, 'state', 'windows.js'))});
    const held = () => { gc(); gc(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
    const ms = (f) => { const m = []; for (let k = 0; k < 7; k++) { const t = process.hrtime.bigint(); f(); m.push(Number(process.hrtime.bigint() - t) / 1e6); } return m.sort((a, b) => a - b)[3]; };
    const before = held();
    const rss = process.memoryUsage().rss;
    const t = process.hrtime.bigint();
    RetainedWindows.open({ dir: ${JSON.stringify(dir)}, maxRows: 1000000, maxDays: 3650, readOnly: true }).then((s) => {
      const readMs = Number(process.hrtime.bigint() - t) / 1e6;
      const grownRss = process.memoryUsage().rss - rss;
      const bad = () => s.select({ score: [{ op: '<', value: 0.3 }] });
      const newest = 1790000000 + 600 * Math.floor(s.size / 1000);
      const day = () => s.select({ score: [{ op: '<', value: 0.3 }], end: [{ op: '>', value: newest - 86400 }] });
      const one = () => s.select({ subject: ['uid:1007'], start: [{ op: '>=', value: newest - 3600 }] });
      bad(); day(); one();
      const badMs = ms(bad), dayMs = ms(day), subjectMs = ms(one);
      process.stdout.write(JSON.stringify({ rss: grownRss / 1e6, held: (held() - before) / 1e6, readMs, badMs, dayMs, subjectMs, size: s.size }));
    });`;
  const res = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, maxBuffer: 1 << 26 });
  if (res.status !== 0) throw new Error(`reading the windows with ${dist} failed: ${res.stderr.slice(-1000)}`);
  return JSON.parse(res.stdout) as WindowsHeld;
}

async function runWindows(n: number, against: string | null): Promise<void> {
  const dir = path.join(tmpdir('windows'), 'window-scores');
  try {
    writeWindows(dir, n);
    const self = path.resolve(__dirname, '..');
    const mine = holdWindows(self, dir);
    const other = against ? holdWindows(path.resolve(against), dir) : null;
    const label = against ? path.basename(path.dirname(path.resolve(against))) + '/' + path.basename(against) : '';
    const row = (measure: string, k: keyof WindowsHeld, unit: string, target?: number) =>
      report({ measure, value: mine[k], unit, kind: 'cost', baseline: other ? { value: other[k], label } : undefined, target });
    row(`Resident memory growth holding ${n.toLocaleString('en')} retained windows (read at start, no forced GC)`, 'rss', 'MB', 150);
    row(`V8's heap and buffers after GC holding ${n.toLocaleString('en')} retained windows`, 'held', 'MB');
    row('the read at start (flat out, one process)', 'readMs', 'ms');
    row('anomaly_windows WHERE score < 0.3, the store alone (median of 7)', 'badMs', 'ms');
    row(
      "WHERE score < 0.3 AND end > (a day ago), the alert pack's bad_windows, the store alone (median of 7; a build without end push-down scans all bad windows)",
      'dayMs',
      'ms',
    );
    row('anomaly_windows WHERE subject = … AND start >= (an hour), the store alone (median of 7)', 'subjectMs', 'ms');
    note(`windows read: ${mine.size}${other ? ` and ${other.size}` : ''}; load average ${loadAverage()}`);
  } finally {
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }
}

async function run(args: string[]): Promise<void> {
  const option = (name: string, fallback: number) => {
    const i = args.indexOf(`--${name}`);
    const v = i >= 0 ? Number(args[i + 1]) : fallback;
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${name} takes a whole number ≥ 1, not ${JSON.stringify(args[i + 1])}`);
    return v;
  };
  if (args.includes('--windows')) {
    const at = args.indexOf('--against');
    return runWindows(option('windows', 1_000_000), at >= 0 ? args[at + 1] : null);
  }
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
    'resident growth with N subjects monitoring, in-process, by heap, tensors and buffers (--subjects N, default 500; --resident N loaded at most, default the config default 50); --windows N [--against DIST]: what N retained windows cost to hold and read, this build against DIST',
  options: { subjects: 'value', resident: 'value', windows: 'value', against: 'value' },
  run,
};
