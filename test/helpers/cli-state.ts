import * as fs from 'fs';
import * as path from 'path';
import { STORED_MARK } from '../../state/retained';
import { JUMPVM_LOG } from './paths';

// What a run of `anomaly score` or `train` left in a state directory, as the tests of killed
// runs compare it with what one whole run leaves (test/cli-killed.test.ts, bench/cli-chaos.ts).

/** the sum of the events each saved subject learnt */
export function eventsLearnt(state: string): number {
  const dir = path.join(state, 'subjects');
  // (a subject's file; a copy a killed save left, `.<name>.<hex>.tmp`, is none)
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
    .reduce((sum, f) => sum + (JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')).payload.events as number), 0);
}

/** the ids of the rows score printed, or of the rows of a retained segment */
export const idsOf = (out: string): string[] =>
  out
    .trim()
    .split('\n')
    // (a segment's first line is the store's mark, not a row: state/retained.ts)
    .filter((l) => l && l !== STORED_MARK)
    .map((l) => JSON.parse(l).id as string);

/** the ids of every row retained under `state`, segment by segment */
export function retainedIds(state: string): string[] {
  const dir = path.join(state, 'scores');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) => idsOf(fs.readFileSync(path.join(dir, f), 'utf8')));
}

// 8 days of jumpvm's 266 rows: 2,128, the fewest whole days past score's first 2,000-row batch,
// so that a kill after that batch leaves rows retained and rows not yet read (10 days, 2,660
// rows, cost a quarter more CPU in each of cli-killed's ~25 runs and tested nothing more: the
// code before crashlearn fails at 8 days at the same points it failed at 10)
const DAYS = 8;

/**
 * In `dir`: the config (one subject resident at a time: every other is saved as the next one's
 * rows come) and the jumpvm log once a day for 8 days
 */
export function killedRunFixture(dir: string): { cfg: string; log: string; rows: number } {
  const cfg = path.join(dir, 'anomaly.json');
  fs.writeFileSync(
    cfg,
    JSON.stringify({ learning: { min_events: 150, min_days: 0 }, models: { rarity: true, ocsvm: true, lstm: false }, memory: { resident_subjects: 1 } }),
  );
  const lines = fs.readFileSync(JUMPVM_LOG, 'utf8').trim().split('\n');
  const log = path.join(dir, 'days.log');
  const days: string[] = [];
  for (let d = 0; d < DAYS; d++) for (const l of lines) days.push(JSON.stringify({ ...JSON.parse(l), unixTime: JSON.parse(l).unixTime + d * 86_400 }));
  fs.writeFileSync(log, `${days.join('\n')}\n`);
  return { cfg, log, rows: days.length };
}
