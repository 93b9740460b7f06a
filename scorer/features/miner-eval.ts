import * as fs from 'fs';
import * as path from 'path';
import { TemplateMiner, type MinerOptions } from './miner';

// Parsing accuracy of the template miner on loghub's 2k samples against their ground truth,
// as logparser's benchmark measures it: a line counts as parsed correctly when the set of
// lines sharing its predicted template is exactly the set sharing its true event id.
// Masks, similarity and depth per data set are the ones logparser's Drain benchmark uses.

export const BENCHMARK: Record<string, { options: Partial<MinerOptions>; published: number }> = {
  HDFS: { options: { masks: [/blk_-?\d+/g, /(\d+\.){3}\d+(:\d+)?/g], similarity: 0.5, depth: 4 }, published: 0.9975 },
  BGL: { options: { masks: [/core\.\d+/g], similarity: 0.5, depth: 4 }, published: 0.9625 },
  Linux: { options: { masks: [/(\d+\.){3}\d+/g, /\d{2}:\d{2}:\d{2}/g], similarity: 0.39, depth: 6 }, published: 0.69 },
  OpenSSH: { options: { masks: [/(\d+\.){3}\d+/g, /([\w-]+\.){2,}[\w-]+/g], similarity: 0.6, depth: 5 }, published: 0.7875 },
  Thunderbird: { options: { masks: [/(\d+\.){3}\d+/g], similarity: 0.5, depth: 4 }, published: 0.955 },
};

/** rows of loghub's `*_structured.csv`: the Content and EventId columns */
export function readStructured(file: string): Array<{ content: string; event: string }> {
  const text = fs.readFileSync(file, 'utf8');
  const rows = parseCsv(text);
  const header = rows.shift() ?? [];
  const ci = header.indexOf('Content');
  const ei = header.indexOf('EventId');
  if (ci < 0 || ei < 0) throw new Error(`${file}: expected a loghub structured CSV with Content and EventId columns`);
  return rows.filter((r) => r.length > Math.max(ci, ei)).map((r) => ({ content: r[ci], event: r[ei] }));
}

function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

export function groupingAccuracy(predicted: readonly (string | number)[], truth: readonly string[]): number {
  const byPred = new Map<string | number, number[]>();
  const byTrue = new Map<string, number[]>();
  predicted.forEach((p, i) => (byPred.get(p) ?? byPred.set(p, []).get(p)!).push(i));
  truth.forEach((t, i) => (byTrue.get(t) ?? byTrue.set(t, []).get(t)!).push(i));
  let correct = 0;
  for (const lines of byPred.values()) {
    const t = truth[lines[0]];
    const trueLines = byTrue.get(t)!;
    if (trueLines.length === lines.length && lines.every((i) => truth[i] === t)) correct += lines.length;
  }
  return correct / truth.length;
}

export interface MinerResult {
  dataset: string;
  accuracy: number;
  published: number;
  templates: number;
}

export function evaluateMiner(dataDir: string, datasets = Object.keys(BENCHMARK)): MinerResult[] {
  return datasets.map((name) => {
    const rows = readStructured(path.join(dataDir, name, `${name}_2k.log_structured.csv`));
    const miner = new TemplateMiner(BENCHMARK[name].options);
    // ids are final only after every line was seen: templates keep generalising
    const ids = rows.map((r) => miner.add(r.content).id);
    return {
      dataset: name,
      accuracy:
        Math.round(
          groupingAccuracy(
            ids,
            rows.map((r) => r.event),
          ) * 10000,
        ) / 10000,
      published: BENCHMARK[name].published,
      templates: new Set(ids).size,
    };
  });
}

if (require.main === module) {
  const dir = process.argv[2] ?? path.resolve(__dirname, '../../../test/fixtures/loghub');
  if (!fs.existsSync(dir)) {
    console.error(`miner-eval: no loghub samples at ${dir}; download the 2k samples from https://github.com/logpai/loghub and pass their folder`);
    process.exit(66);
  }
  for (const r of evaluateMiner(dir))
    console.log(`${r.dataset.padEnd(12)} accuracy ${r.accuracy.toFixed(4)}  Drain published ${r.published.toFixed(4)}  templates ${r.templates}`);
}
