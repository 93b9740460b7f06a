import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

// One row per figure, each next to a baseline measured in the same run. Every ratio reads
// the same way, larger is better: value ÷ baseline for rates, baseline ÷ value for costs
// (time, latency, memory). A row with a target says whether the value met it.

export interface Figure {
  measure: string;
  value: number;
  unit: string;
  /** 'rate' when more is better (rows/s), 'cost' when less is (ms, MB, s) */
  kind: 'rate' | 'cost';
  baseline?: { value: number; label: string };
  /** for a rate, the least acceptable value; for a cost, the most */
  target?: number;
  /** decimals to print the value with */
  digits?: number;
}

export const HEADER = ['| measure | value | baseline (same run) | ratio, larger is better | target | met? |', '|---|---|---|---|---|---|'];

const rows: string[] = [];

function fmt(x: number, digits: number): string {
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function met(f: Pick<Figure, 'value' | 'kind' | 'target'>): 'met' | 'missed' | '' {
  if (f.target === undefined) return '';
  return (f.kind === 'rate' ? f.value >= f.target : f.value <= f.target) ? 'met' : 'missed';
}

/** larger is better, whatever the kind */
export function ratio(f: Pick<Figure, 'value' | 'kind' | 'baseline'>): number | null {
  if (!f.baseline || f.value <= 0 || f.baseline.value <= 0) return null;
  return f.kind === 'rate' ? f.value / f.baseline.value : f.baseline.value / f.value;
}

export function report(f: Figure): void {
  const digits = f.digits ?? (Math.abs(f.value) >= 100 ? 0 : Math.abs(f.value) >= 10 ? 1 : 2);
  const r = ratio(f);
  const cells = [
    f.measure,
    `${fmt(f.value, digits)} ${f.unit}`,
    f.baseline ? `${fmt(f.baseline.value, digits)} ${f.unit} (${f.baseline.label})` : '—',
    r === null ? '—' : `${r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}×`,
    f.target === undefined ? '—' : `${f.kind === 'rate' ? '≥' : '≤'} ${fmt(f.target, 0)} ${f.unit}`,
    met(f) || '—',
  ];
  const line = `| ${cells.join(' | ')} |`;
  rows.push(line);
  console.log(line);
}

/** a line of context printed under the table (load average, what was replayed) */
export function note(text: string): void {
  console.log(`  ${text}`);
}

export function loadAverage(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

export function tmpdir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `anomaly-bench-${name}-`));
}

export function writeRows(file: string): void {
  fs.writeFileSync(file, [...HEADER, ...rows].join('\n') + '\n');
}

/** ../shared/data, for the benchmarks that replay real datasets (skipped clearly without) */
export const DATA = path.resolve(__dirname, '..', '..', '..', 'shared', 'data');
