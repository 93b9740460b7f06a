import t from 'tap';
import { seededRandom } from '../demo/generate';
import { sequenceEvent } from '../scorer/features/extract';
import { SessionScorer } from '../scorer/sessions';

// Sessions that alternate A B A B …, with a step out of turn now and then.
function session(r: () => number, swaps: number, length = 40) {
  const keys: string[] = [];
  for (let i = 0; i < length; i++) keys.push((i % 2 === 0) !== r() < swaps ? 'A' : 'B');
  return keys.map((k, i) => sequenceEvent(k, i));
}

t.test('a session that is odd all along is caught by its mean, one odd step by its peak', async (t) => {
  const r = seededRandom(7);
  const scorer = new SessionScorer({ models: ['rarity'], contextLength: 10, heldOutFraction: 0.2, modelOptions: { rarity: { ngram: 4 } } });
  await scorer.fit(Array.from({ length: 600 }, () => session(r, 0.08)));
  const normal = await scorer.score(Array.from({ length: 200 }, () => session(r, 0.08)));
  // out of turn three times as often: every single step is one seen many times in training
  const restless = await scorer.score(Array.from({ length: 30 }, () => session(r, 0.25)));
  const withC = session(r, 0.08);
  withC[20] = sequenceEvent('C', 20);
  const [oneOddStep] = await scorer.score([withC]);

  const sorted = normal.map((s) => s.score).sort((a, b) => a - b);
  const fifthPercentile = sorted[Math.floor(sorted.length * 0.05)];
  const caught = restless.filter((s) => s.score < fifthPercentile);
  t.ok(caught.length >= 27, `${caught.length}/30 restless sessions score below the normal sessions' 5th percentile (${fifthPercentile.toFixed(2)})`);
  t.ok(caught.filter((s) => s.model === 'rarity:mean').length >= caught.length * 0.8, 'and it is the mean that decided');
  t.ok(oneOddStep.score < 0.3, `one never-seen step scores ${oneOddStep.score.toFixed(2)}`);
  t.equal(oneOddStep.model, 'rarity', 'and it is the peak that decided');
  t.ok(normal.filter((s) => s.score < 0.3).length <= 2, 'normal sessions rarely score bad');
});
