import { readTraces, type LabelledSequence } from './datasets';
import { auc } from './metrics';
import { KeySetNeighbours } from '../key-sets';
import { ranks, traceLanguageModel } from './trace-statistics';

// Issue 8, tenth session (branch `adfa`): is ADFA-LD's gap to the published one-class figures a
// matter of method or of the dev split's normal traces? The product's two strongest trace
// statistics (the nearest key set and the 6-gram language model's mean −log p) are fitted on
// four fifths of the training traces, five times, and each time score the held-out fifth and
// every dev trace. Three comparisons follow, each an AUC:
//
// - attacks against the dev normals (what `anomaly eval` measures),
// - attacks against held-out *training* traces (normals drawn as the models' own were),
// - dev normals against held-out training traces (0.5: the two are alike to the models),
//
// and attacks against the dev normals block by block of the validation files' numbers
// (UVD-0001 … UVD-2186, 400 a block), with the share of each block's normals whose key set is
// farther than 0.3 (Jaccard) from every training trace's. One-off measurement, not a product
// path; it trains on training traces only and never looks at a label to fit anything.
//
//   node dist/scorer/eval/adfa-drift.js [ADFA_DIR]

const DATA = process.argv[2] ?? process.env.ADFA_DIR ?? '/work/shared/data/adfa-ld';
const FOLDS = 5;
const BLOCK = 400;
/** a key set this far from every training trace's is a process the training never recorded */
const NOVEL_SET = 0.3;

interface Statistic {
  name: string;
  /** per held-out training trace, in file order */
  heldOut: number[];
  /** per dev trace, averaged over the five fits */
  dev: number[];
}

async function fold(train: LabelledSequence[], scored: LabelledSequence[]): Promise<{ sets: number[]; ngram: number[] }> {
  const sets = new KeySetNeighbours();
  sets.fit(train.map((t) => t.keys));
  const lm = await traceLanguageModel(train.map((t) => t.keys));
  const ngram: number[] = [];
  for (const t of scored) ngram.push(await lm(t.keys));
  return { sets: scored.map((t) => sets.distance(t.keys).value), ngram };
}

/** AUC of `positive` against `negative`, larger = more anomalous */
function separation(positive: readonly number[], negative: readonly number[]): number {
  return auc([...positive.map((rank) => ({ score: null, rank, anomalous: true })), ...negative.map((rank) => ({ score: null, rank, anomalous: false }))]);
}

/** the validation file's number (UVD-0123 → 123), or 0 for a trace that is not one */
function validationNumber(t: LabelledSequence): number {
  const m = /UVD-(\d+)/.exec(t.id ?? '');
  return m ? Number(m[1]) : 0;
}

async function main(): Promise<void> {
  const train = await readTraces(`${DATA}/train.tsv.gz`);
  const dev = await readTraces(`${DATA}/dev.tsv.gz`);
  const fits = {
    sets: { heldOut: new Array<number>(train.length).fill(0), dev: new Array<number>(dev.length).fill(0) },
    ngram: { heldOut: new Array<number>(train.length).fill(0), dev: new Array<number>(dev.length).fill(0) },
  };
  for (let f = 0; f < FOLDS; f++) {
    const inFold = (i: number) => i % FOLDS === f;
    const heldOut = train.filter((_, i) => inFold(i));
    const s = await fold(
      train.filter((_, i) => !inFold(i)),
      [...heldOut, ...dev],
    );
    for (const name of ['sets', 'ngram'] as const) {
      const values = s[name];
      let h = 0;
      train.forEach((_, i) => {
        if (inFold(i)) fits[name].heldOut[i] = values[h++];
      });
      dev.forEach((_, i) => (fits[name].dev[i] += values[heldOut.length + i] / FOLDS));
    }
  }
  // the rank sum is taken over held-out and dev traces together, so both sides share one scale
  const both = (s: { heldOut: number[]; dev: number[] }) => ranks([...s.heldOut, ...s.dev]);
  const rs = both(fits.sets).map((r, i) => r + both(fits.ngram)[i]);
  const statistics: Statistic[] = [
    { name: 'sets (nearest key set)', ...fits.sets },
    { name: 'ngram (6-gram LM mean −log p)', ...fits.ngram },
    { name: 'sets + ngram (rank sum)', heldOut: rs.slice(0, train.length), dev: rs.slice(train.length) },
  ];

  const normals = dev.map((t, i) => i).filter((i) => !dev[i].anomalous);
  const attacks = dev.map((t, i) => i).filter((i) => dev[i].anomalous);
  const last = Math.max(...normals.map((i) => validationNumber(dev[i])));
  const blocks: [number, number][] = [];
  for (let a = 1; a <= last; a += BLOCK) blocks.push([a, Math.min(a + BLOCK - 1, last)]);
  const inBlock = ([a, b]: [number, number]) => normals.filter((i) => validationNumber(dev[i]) >= a && validationNumber(dev[i]) <= b);

  console.log(`${train.length} training traces (${FOLDS} folds), ${normals.length} dev normals, ${attacks.length} attacks`);
  for (const s of statistics) {
    const pick = (idx: number[]) => idx.map((i) => s.dev[i]);
    console.log(`\n${s.name}`);
    console.log(`  attacks vs dev normals:                 AUC ${separation(pick(attacks), pick(normals)).toFixed(4)}`);
    console.log(`  attacks vs held-out training traces:    AUC ${separation(pick(attacks), s.heldOut).toFixed(4)}`);
    console.log(`  dev normals vs held-out training traces: AUC ${separation(pick(normals), s.heldOut).toFixed(4)}`);
    const perBlock = blocks.map((b) => `UVD ${b[0]}-${b[1]} ${separation(pick(attacks), pick(inBlock(b))).toFixed(3)}`);
    console.log(`  attacks vs dev normals by block: ${perBlock.join(', ')}`);
  }
  const novel = (values: readonly number[]) => values.filter((v) => v > NOVEL_SET).length / values.length;
  console.log(`\nshare of normals whose key set is farther than ${NOVEL_SET} from every training trace's:`);
  console.log(`  held-out training traces ${(100 * novel(fits.sets.heldOut)).toFixed(1)} %`);
  for (const b of blocks) console.log(`  UVD ${b[0]}-${b[1]}: ${(100 * novel(inBlock(b).map((i) => fits.sets.dev[i]))).toFixed(1)} % of ${inBlock(b).length}`);
  console.log(`  attacks: ${(100 * novel(attacks.map((i) => fits.sets.dev[i]))).toFixed(1)} %`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
