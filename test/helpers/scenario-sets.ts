import * as crypto from 'crypto';
import type { Test } from 'tap';
import { generateScenarios, type ScenarioOptions } from '../../scorer/eval/scenarios/generate';

/** the options the held-out sets' tests and published md5s use: seed 12, 21 days from 1 Jan 2026 */
export const SET_OPTIONS = { seed: 12, days: 21, start: 1_767_225_600 };

/** the md5 of the file main.ts writes for these lines */
export function md5(lines: string[]): string {
  return crypto
    .createHash('md5')
    .update(lines.join('\n') + '\n')
    .digest('hex');
}

/** a set comes out the same for a seed, line for line and story for story, and another seed gives another */
export function assertDeterministic(t: Test, stories: NonNullable<ScenarioOptions['stories']>): void {
  const a = generateScenarios({ ...SET_OPTIONS, stories });
  const b = generateScenarios({ ...SET_OPTIONS, stories });
  t.equal(md5(a.train), md5(b.train), 'training lines');
  t.equal(md5(a.test), md5(b.test), 'labelled lines');
  t.same(a.testStory, b.testStory, 'story of every labelled line');
  const c = generateScenarios({ ...SET_OPTIONS, seed: 13, stories });
  t.not(md5(c.test), md5(a.test), 'seed 13 differs from seed 12');
}
