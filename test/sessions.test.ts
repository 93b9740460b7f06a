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
  await scorer.fit(Array.from({ length: 1000 }, () => session(r, 0.08)));
  const normal = await scorer.score(Array.from({ length: 200 }, () => session(r, 0.08)));
  // out of turn three times as often: every single step is one seen many times in training
  const restless = await scorer.score(Array.from({ length: 30 }, () => session(r, 0.25)));
  const withC = session(r, 0.08);
  withC[20] = sequenceEvent('C', 20);
  const [oneOddStep] = await scorer.score([withC]);

  // how often a restless session scores below a normal one (AUC); the peak alone gives 0.90
  let below = 0;
  for (const a of restless) for (const b of normal) below += a.score < b.score ? 1 : a.score === b.score ? 0.5 : 0;
  const auc = below / restless.length / normal.length;
  t.ok(auc >= 0.94, `restless sessions score below normal ones (AUC ${auc.toFixed(3)})`);
  const byMean = restless.filter((s) => s.model === 'rarity:mean').length;
  t.ok(byMean >= 24, `and it is the mean that decided (${byMean}/30)`);
  t.ok(oneOddStep.score < 0.3, `one never-seen step scores ${oneOddStep.score.toFixed(2)}`);
  t.equal(oneOddStep.model, 'rarity', 'and it is the peak that decided');
  t.ok(normal.filter((s) => s.score < 0.3).length <= 2, 'normal sessions rarely score bad');
});
