import * as path from 'path';
import { UsageError, type BenchPart } from './part';
import { scoring, scoringAgainst, training, type SequenceReport } from './sequence';
import { loadAverage, note } from './table';

// The sequence models' benchmarks live in sequence.ts (they also run on their own); these
// parts print their rows in the same table. Their ratios say which way they read.
const row: SequenceReport = (...cells) => console.log(`| ${cells.map((c) => c || '—').join(' | ')} |`);

export const scoringPart: BenchPart = {
  name: 'scoring',
  summary:
    'events/s per model and for the ensemble, one core (--against DIST: against another build, e.g. an earlier commit built into DIST, interleaved in this process)',
  options: { against: 'value' },
  async run(args) {
    const at = args.indexOf('--against');
    if (at >= 0) {
      if (!args[at + 1]) throw new UsageError('--against needs the dist/ directory of another build');
      await scoringAgainst(path.resolve(args[at + 1]), row);
    } else await scoring(row);
    note(`load average ${loadAverage()}`);
  },
};

export const lstmPart: BenchPart = {
  name: 'lstm',
  summary:
    "LSTM training CPU time on the HDFS training set (DeepLog's train_normal.txt, not in the repository: read from ../shared/data/hdfs/ beside the checkout, skipped without it)",
  options: {},
  async run() {
    await training(row);
    note(`load average ${loadAverage()}`);
  },
};
