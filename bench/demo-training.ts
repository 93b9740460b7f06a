import { resolveConfig } from '../conf/config';
import { generateDemo } from '../demo/generate';
import { LstmModel } from '../scorer/models/lstm';
import { OcsvmModel } from '../scorer/models/ocsvm';
import { selectBackend } from '../scorer/models';
import { parseResultLine } from '../scorer/parse/results';
import { Scorer } from '../scorer/scorer';
import type { ResultRow } from '../scorer/types';
import type { BenchPart } from './part';
import { matmulProbe } from './sequence';
import { loadAverage, note, report } from './table';

// What `npm run demo` costs besides the build: its stream (seed 7, 14 days ending
// 2026-11-22, the attacks on the last day, min_events 300 and min_days 3 as the demo
// configures) scored in-process through the Scorer the extension's worker runs, in the
// worker's slices of 32 rows. Nearly all of it is training; the row per model says which.

const DAY = 86400;

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

/** CPU seconds spent in one method of a model class, over every instance */
function meter(cls: { prototype: { fit: (...a: never[]) => Promise<void> } }): { seconds: number; calls: number } {
  const m = { seconds: 0, calls: 0 };
  const fit = cls.prototype.fit;
  cls.prototype.fit = async function (this: unknown, ...args: never[]) {
    const t = process.cpuUsage();
    try {
      return await fit.apply(this, args);
    } finally {
      m.seconds += cpuSeconds(t);
      m.calls++;
    }
  };
  return m;
}

export const demoTrainingPart: BenchPart = {
  name: 'demo-training',
  summary: "CPU time of the demo's stream scored in-process (its training, per model), against a dense-algebra probe",
  options: {},
  async run() {
    await selectBackend();
    const probe = matmulProbe();
    const end = Date.UTC(2026, 10, 23) / 1000;
    const stream = generateDemo({ seed: 7, days: 14, start: end - 14 * DAY, host: 'web-01', attacks: true });
    const rows: ResultRow[] = [];
    for (const line of stream.lines) for (const row of parseResultLine(line)) rows.push(row);
    const lstm = meter(LstmModel);
    const ocsvm = meter(OcsvmModel);
    const cpu = process.cpuUsage();
    const scorer = await Scorer.open({ config: resolveConfig({ learning: { min_events: 300, min_days: 3 } }, 'demo', {}), stateDir: null });
    const verdicts: Record<string, number> = {};
    for (let i = 0; i < rows.length; i += 32)
      for (const e of await scorer.scoreRows(rows.slice(i, i + 32))) verdicts[e.verdict] = (verdicts[e.verdict] ?? 0) + 1;
    const total = cpuSeconds(cpu);
    const baseline = { value: probe, label: '200 matmuls 256×256 (wasm)' };
    report({
      measure: `the demo's ${rows.length.toLocaleString('en-US')} rows scored in-process, CPU`,
      value: total,
      unit: 's',
      kind: 'cost',
      baseline,
      digits: 1,
    });
    report({ measure: `of which LSTM training (${lstm.calls} fits)`, value: lstm.seconds, unit: 's', kind: 'cost', baseline, digits: 1 });
    report({ measure: `of which OCSVM training (${ocsvm.calls} fits)`, value: ocsvm.seconds, unit: 's', kind: 'cost', baseline, digits: 1 });
    note(`verdicts ${JSON.stringify(verdicts)}; load average ${loadAverage()}`);
  },
};
