import * as path from 'path';
import type { ProcessTable } from '../scorer/features/lineage';
import { UsageError, type BenchPart } from './part';
import { loadAverage, note, report } from './table';

// What a new pid costs the extractor's process table (ProcessTable.learnProcess, on the
// scorer's thread for every process row) once a host has started more pids than it keeps
// (20,000): each one then makes it forget its oldest. Baseline: the same build's first 20,000
// pids, under the bound; with `--against DIST`, the same pids through another build's table,
// in turns in this process. A cost that grows with the pids a host has started shows as a
// ratio that falls as --pids grows.

type Table = new () => ProcessTable;

const BOUND = 20_000;
const ROUNDS = 5;
const IDS = { auid: '1000', uid: '1000', euid: '1000', cmdline: 'make -j4' };

/** CPU µs a pid over pids [from, to) of a table that has learnt the pids before `from` */
function learn(table: ProcessTable, from: number, to: number): number {
  const start = process.cpuUsage();
  for (let i = from; i < to; i++)
    table.learnProcess('build-1', String(1000 + i), String(999 + i), '/usr/bin/cc', 1.8e9 + i, i % 3 ? 'ssh:lan' : undefined, undefined, IDS);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / (to - from);
}

/** mean µs a pid for the first BOUND pids and for the ones after them, over ROUNDS fresh tables */
function measure(Table: Table, pids: number): { under: number; past: number } {
  let under = 0;
  let past = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const table = new Table();
    under += learn(table, 0, BOUND) / ROUNDS;
    past += learn(table, BOUND, pids) / ROUNDS;
  }
  return { under, past };
}

async function run(args: string[]): Promise<void> {
  const at = args.indexOf('--pids');
  const pids = at >= 0 ? Number(args[at + 1]) : 200_000;
  if (!Number.isInteger(pids) || pids <= BOUND) throw new UsageError(`--pids takes a whole number above ${BOUND}, not ${JSON.stringify(args[at + 1])}`);
  const self = (require('../scorer/features/lineage') as { ProcessTable: Table }).ProcessTable;
  const from = args.indexOf('--against');
  const what = `learnProcess, CPU a new pid for pids ${(BOUND + 1).toLocaleString('en')}–${pids.toLocaleString('en')} (past the table's bound), mean of ${ROUNDS} tables`;
  if (from < 0) {
    measure(self, pids); // (warm-up: both builds' first round would otherwise pay for compiling)
    const m = measure(self, pids);
    report({ measure: what, value: m.past, unit: 'µs', kind: 'cost', baseline: { value: m.under, label: `its first ${BOUND.toLocaleString('en')} pids` } });
  } else {
    const dist = path.resolve(args[from + 1]);
    const that = (require(path.join(dist, 'scorer', 'features', 'lineage')) as { ProcessTable: Table }).ProcessTable;
    const label = `${path.basename(path.dirname(dist))}/${path.basename(dist)}`;
    measure(that, pids);
    measure(self, pids);
    const m = { self: [] as number[], that: [] as number[] };
    for (let r = 0; r < 3; r++)
      for (const k of r % 2 ? (['self', 'that'] as const) : (['that', 'self'] as const)) m[k].push(measure(k === 'self' ? self : that, pids).past);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    report({ measure: `${what}, builds in turns`, value: mean(m.self), unit: 'µs', kind: 'cost', baseline: { value: mean(m.that), label } });
  }
  note(`load average ${loadAverage()}`);
}

export const pidsPart: BenchPart = {
  name: 'pids',
  summary: `CPU of a new pid once a host has started more than the process table keeps (--pids N, default 200,000; --against DIST: another build's, in turns)`,
  options: { pids: 'value', against: 'value' },
  run,
};
