import * as fs from 'fs';
import * as path from 'path';
import { RetainedScores, type RetainedScoresOptions } from '../state/scores';
import { STORED_MARK } from '../state/retained';
import { UsageError, type BenchPart } from './part';
import { retainedRow } from './select';
import { loadAverage, note, report, tmpdir } from './table';

// What a start costs in reading the retained scores: the extension and `anomaly score` read
// every segment at each start. Segments this build writes begin with a mark saying their
// records were written by storedJson (state/retained.ts STORED_MARK), and their records' shown
// size is not measured; the baseline is the same records without the marks, as an earlier build
// left them, each record measured. With `--against DIST`, the baseline is DIST's build reading
// the unmarked copy (an earlier commit, before the marks). In turns, in this process.

type Store = new (opts: RetainedScoresOptions) => RetainedScores;

/** ms of CPU and of wall to load the store in `dir`, and the records it loaded */
function load(Store: Store, dir: string, rows: number): { cpu: number; wall: number; size: number } {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const store = new Store({ dir, maxRows: rows, maxDays: 3650 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const used = process.cpuUsage(cpu0);
  const size = store.size;
  store.close();
  return { cpu: (used.user + used.system) / 1000, wall, size };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function run(args: string[]): Promise<void> {
  const value = (name: string, def: number) => {
    const at = args.indexOf(`--${name}`);
    if (at < 0) return def;
    const n = Number(args[at + 1]);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} takes a whole number above 0, not ${JSON.stringify(args[at + 1])}`);
    return n;
  };
  const rows = value('rows', 1_000_000);
  const times = value('times', 5);
  const unicode = args.includes('--unicode');
  const from = args.indexOf('--against');
  const dist = from < 0 ? null : path.resolve(args[from + 1]);
  const that: Store = dist ? (require(path.join(dist, 'state', 'scores')) as { RetainedScores: Store }).RetainedScores : RetainedScores;
  const dir = tmpdir('load');
  try {
    const marked = path.join(dir, 'marked');
    const plain = path.join(dir, 'unmarked');
    const store = new RetainedScores({ dir: marked, maxRows: rows, maxDays: 3650 });
    for (let i = 0; i < rows; i += 50_000)
      store.append(Array.from({ length: Math.min(50_000, rows - i) }, (_, k) => retainedRow(i + k, unicode ? ' ü€😀' : '')));
    store.close();
    // the same records as an earlier build wrote them: no mark
    fs.mkdirSync(plain, { mode: 0o700 });
    for (const f of fs.readdirSync(marked).filter((f) => f.endsWith('.jsonl'))) {
      const text = fs.readFileSync(path.join(marked, f), 'latin1');
      fs.writeFileSync(path.join(plain, f), text.startsWith(`${STORED_MARK}\n`) ? text.slice(STORED_MARK.length + 1) : text, {
        encoding: 'latin1',
        mode: 0o600,
      });
    }
    const label = dist
      ? `${path.basename(path.dirname(dist))}/${path.basename(dist)} reading them unmarked`
      : 'the same records unmarked, as an earlier build wrote them';
    const runs = { self: [] as ReturnType<typeof load>[], that: [] as ReturnType<typeof load>[] };
    // (a first load of each, not counted: the files into the page cache, the code compiled)
    load(RetainedScores, marked, rows);
    load(that, plain, rows);
    for (let r = 0; r < times; r++)
      for (const k of r % 2 ? (['self', 'that'] as const) : (['that', 'self'] as const))
        runs[k].push(k === 'self' ? load(RetainedScores, marked, rows) : load(that, plain, rows));
    const sizes = new Set([...runs.self, ...runs.that].map((l) => l.size));
    if (sizes.size !== 1 || !sizes.has(rows)) throw new Error(`the loads read ${[...sizes].join(', ')} records, not ${rows}`);
    const what = `loading ${rows.toLocaleString('en')} retained rows (${unicode ? 'every event with non-ASCII text' : 'ASCII'}), marked segments, median of ${times} in turns`;
    report({
      measure: `${what}, CPU`,
      value: median(runs.self.map((l) => l.cpu)),
      unit: 'ms',
      kind: 'cost',
      baseline: { value: median(runs.that.map((l) => l.cpu)), label },
    });
    report({
      measure: `${what}, wall`,
      value: median(runs.self.map((l) => l.wall)),
      unit: 'ms',
      kind: 'cost',
      baseline: { value: median(runs.that.map((l) => l.wall)), label },
    });
    note(`CPU ms, marked: ${runs.self.map((l) => l.cpu.toFixed(0)).join(', ')}; unmarked: ${runs.that.map((l) => l.cpu.toFixed(0)).join(', ')}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  note(`load average ${loadAverage()}`);
}

export const loadPart: BenchPart = {
  name: 'load',
  summary:
    "reading N retained rows at a start, segments marked as written by storedJson against the same records unmarked, in turns (--rows N, default 1,000,000; --times N, 5; --unicode: every event with non-ASCII text; --against DIST: DIST's build reading them unmarked)",
  options: { rows: 'value', times: 'value', unicode: 'flag', against: 'value' },
  run,
};
