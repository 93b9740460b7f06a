import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Test } from 'tap';
import { resolveConfig } from '../../conf/config';
import { runEval } from '../../scorer/eval/run';
import { generateScenarios, type ScenarioOptions, type ScenarioSet } from '../../scorer/eval/scenarios/generate';
import type { ScoredEvent } from '../../scorer/types';

// A scenario set scored as `anomaly eval` scores it (rarity + ocsvm), for the tests that check
// what a mechanism does to a story's rows: 21 days from 1 January 2026.

export async function scoreScenarioSet(t: Test, seed: number, stories: ScenarioOptions['stories']): Promise<{ set: ScenarioSet; rows: ScoredEvent[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-scenario-run-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const set = generateScenarios({ seed, days: 21, start: 1_767_225_600, stories });
  fs.writeFileSync(path.join(dir, 'train.log'), set.train.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'test.log'), set.test.join('\n') + '\n');
  const config = resolveConfig({ models: { rarity: true, ocsvm: true, lstm: false } }, 'test', {});
  const rows: ScoredEvent[] = [];
  await runEval({ train: path.join(dir, 'train.log'), test: path.join(dir, 'test.log'), config, onRow: (s) => rows.push(s) });
  return { set, rows };
}
