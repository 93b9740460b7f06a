import t from 'tap';
import { scoresTable } from '../extension/tables/scores';
import { windowsTable } from '../extension/tables/windows';
import type { HeldBack } from '../state/answer-share';
import type { ScoreStore, WindowStore } from '../state/store';
import { generated } from './helpers/table-rows';

// A summary's rowid is its identity in every scan of one query (extension/plugin/rowid.ts):
// a multi-index OR scan skips a row of a later disjunct whose rowid an earlier one kept. Two
// summaries that several subjects share (subject and host '*') of different subjects, whose
// newest rows have the same time (the rows of one query run share it), are two rows: the
// second disjunct's summary, skipped, left its subjects in no row of the answer.
const shared = (names: [string, string][]): HeldBack => ({
  held: true,
  subject: '*',
  host: '*',
  rows: 40_000,
  from: 1_700_000_000,
  to: 1_700_000_060,
  score: 0.01,
  verdict: 'bad',
  tag: 'processes',
  events: 0,
  told: [],
  pairs: names.length,
  names,
  shown: 0,
});

for (const [name, table] of [
  ['anomaly_scores', (answer: () => Iterable<HeldBack>) => scoresTable({ answer } as unknown as ScoreStore)],
  ['anomaly_windows', (answer: () => Iterable<HeldBack>) => windowsTable({ answer } as unknown as WindowStore)],
] as const) {
  t.test(`${name}: two shared summaries of different subjects get two rowids`, async (t) => {
    // one scan per disjunct: the first folds alice's crowd, the second bob's
    const scans = [
      [
        ['uid:1', 'web-01'],
        ['uid:2', 'web-01'],
      ],
      [
        ['uid:3', 'db-01'],
        ['uid:4', 'db-01'],
      ],
    ] as [string, string][][];
    let call = 0;
    const plugin = table(() => [shared(scans[call++])]);
    const scan = async () => (await generated(plugin))[0];
    const first = await scan();
    const second = await scan();
    t.not(first.rowid, second.rowid, 'each summary has its own rowid');
    // the same summary in a later scan keeps its rowid (SQLite then shows it once)
    call = 0;
    t.equal((await scan()).rowid, first.rowid, 'the same summary, the same rowid');
  });
}
