import * as fs from 'fs';
import * as zlib from 'zlib';
import { boundedLines, MAX_LINE_BYTES } from '../parse/results';

// Readers for the evaluation inputs of `anomaly eval` (scorer issue): key sequences
// (HDFS: one session per line; test CSV `Sequence,label`), syscall traces (ADFA-LD TSV with
// `split label attack_type trace_id n_calls syscalls`), and labelled osquery results logs.

export interface LabelledSequence {
  keys: string[];
  anomalous: boolean;
  type?: string;
  /** the trace's file in the corpus (ADFA-LD `trace_id`), where the input names it */
  id?: string;
}

export type InputKind = 'sequences' | 'traces' | 'osquery';

export class DatasetError extends Error {
  constructor(file: string, line: number, expected: string) {
    // line 0: the file as a whole
    super(line ? `${file}:${line}: ${expected}` : `${file}: ${expected}`);
    this.name = 'DatasetError';
  }
}

/**
 * The longest line a dataset may have: 100 times the longest of the evaluation sets (an
 * ADFA-LD trace of 10 kB). readline kept a line whole however long: a 33 kB .gz of one 32 MB
 * line ran `anomaly eval` out of its 4 GB heap, and a longer one ended in "Invalid string length"
 */
export const MAX_DATASET_LINE_BYTES = MAX_LINE_BYTES;

async function* lines(file: string): AsyncGenerator<string> {
  if (!fs.existsSync(file)) throw new DatasetError(file, 0, 'no such file');
  const raw = fs.createReadStream(file);
  const stream = file.endsWith('.gz') ? raw.pipe(zlib.createGunzip()) : raw;
  let n = 0;
  try {
    for await (const line of boundedLines(stream as AsyncIterable<Buffer>, MAX_DATASET_LINE_BYTES)) {
      n++;
      if (typeof line !== 'string')
        throw new DatasetError(file, n, `a line of ${line.bytes} bytes is over the ${MAX_DATASET_LINE_BYTES} a dataset line may have`);
      yield line;
    }
  } finally {
    raw.destroy();
  }
}

async function firstLine(file: string): Promise<string> {
  for await (const line of lines(file)) return line;
  return '';
}

/** decide the input kind from the test file's first line */
export async function detectKind(testFile: string): Promise<InputKind> {
  const head = (await firstLine(testFile)).trim();
  if (/^sequence,label$/i.test(head)) return 'sequences';
  if (head.split('\t').slice(0, 2).join('\t') === 'split\tlabel') return 'traces';
  if (head.startsWith('{') || head.startsWith('[')) return 'osquery';
  throw new DatasetError(
    testFile,
    1,
    'expected a `Sequence,label` CSV header, an ADFA-LD TSV header (`split\tlabel\tattack_type\t...`), or osquery results (JSON lines)',
  );
}

/** HDFS-style training file: one session per line, keys separated by spaces */
export async function readSequences(file: string): Promise<string[][]> {
  const out: string[][] = [];
  let n = 0;
  for await (const line of lines(file)) {
    n++;
    const t = line.trim();
    if (!t) continue;
    if (n === 1 && /^sequence/i.test(t)) continue;
    const keys = t.split(/[\s,]+/).filter(Boolean);
    out.push(keys);
  }
  if (!out.length) throw new DatasetError(file, n, 'expected one sequence of keys per line, found none');
  return out;
}

/** `Sequence,label` CSV: label 0 normal, 1 anomalous */
export async function readLabelledSequences(file: string): Promise<LabelledSequence[]> {
  const out: LabelledSequence[] = [];
  let n = 0;
  for await (const line of lines(file)) {
    n++;
    if (n === 1) continue;
    const t = line.trim();
    if (!t) continue;
    const comma = t.lastIndexOf(',');
    const label = t.slice(comma + 1).trim();
    if (comma < 0 || (label !== '0' && label !== '1')) throw new DatasetError(file, n, 'expected `<keys separated by spaces>,<0|1>`');
    out.push({ keys: t.slice(0, comma).trim().split(/\s+/).filter(Boolean), anomalous: label === '1' });
  }
  return out;
}

/** ADFA-LD TSV(.gz): `split label attack_type trace_id n_calls syscalls` */
export async function readTraces(file: string): Promise<LabelledSequence[]> {
  const out: LabelledSequence[] = [];
  let n = 0;
  let col: Record<string, number> = {};
  for await (const line of lines(file)) {
    n++;
    const cells = line.split('\t');
    if (n === 1) {
      col = Object.fromEntries(cells.map((c, i) => [c.trim(), i]));
      for (const need of ['label', 'syscalls']) {
        if (!(need in col)) throw new DatasetError(file, 1, `expected a TSV header with \`${need}\` (split label attack_type trace_id n_calls syscalls)`);
      }
      continue;
    }
    if (!line.trim()) continue;
    const label = cells[col.label]?.trim();
    if (label !== 'normal' && label !== 'attack' && label !== 'anomalous') {
      throw new DatasetError(file, n, `expected label normal or attack, found ${JSON.stringify(label)}`);
    }
    const anomalous = label !== 'normal';
    const type = col.attack_type !== undefined ? cells[col.attack_type]?.trim() || undefined : undefined;
    const id = col.trace_id !== undefined ? cells[col.trace_id]?.trim() || undefined : undefined;
    out.push({ keys: (cells[col.syscalls] ?? '').trim().split(/\s+/).filter(Boolean), anomalous, type: anomalous ? type : undefined, id });
  }
  return out;
}
