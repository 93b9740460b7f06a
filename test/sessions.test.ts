import t from 'tap';
import { seededRandom } from '../demo/generate';
import { sequenceEvent } from '../scorer/features/extract';
import { KeyCountProfile } from '../scorer/key-counts';
import { SessionScorer, type SessionScorerOptions } from '../scorer/sessions';

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

// HDFS-like blocks: allocate (a), three replicas written (w w w) and acknowledged (k k k) in
// interleaved order, a retried step (r) zero to five times, then closed (c)
function block(r: () => number, replicas = 3) {
  const keys = ['a'];
  const pending: string[] = [];
  for (let i = 0; i < replicas; i++) pending.push('w', 'k');
  let retries = Math.floor(r() * 6);
  while (pending.length || retries > 0) {
    if (retries > 0 && r() < 0.2) {
      keys.push('r');
      retries--;
      continue;
    }
    if (!pending.length) continue;
    // a write comes before its acknowledgement; otherwise any order
    const i = r() < 0.5 ? 0 : Math.min(1, pending.length - 1);
    keys.push(pending.splice(pending[i] === 'k' && !keys.includes('w') ? 0 : i, 1)[0]);
  }
  keys.push('c');
  return keys;
}

t.test('the key-count profile: a settled count changed is surprising, a varying one is not', async (t) => {
  const r = seededRandom(3);
  const profile = new KeyCountProfile();
  profile.fit(Array.from({ length: 2000 }, () => block(r)));
  const typical = profile.surprise(block(r)).value;
  const fourReplicas = profile.surprise(block(r, 4));
  const cutShort = profile.surprise(['a', 'w']);
  const newKey = profile.surprise([...block(r), 'x']);
  const manyRetries = profile.surprise(['a', 'w', 'k', 'w', 'k', 'w', 'k', ...new Array(9).fill('r'), 'c']);
  t.ok(typical < 3, `a usual block: ${typical.toFixed(2)} nats`);
  t.ok(fourReplicas.value > 7, `a fourth replica: ${fourReplicas.value.toFixed(2)} nats (${fourReplicas.detail})`);
  t.ok(cutShort.value > 7, `a block cut short: ${cutShort.value.toFixed(2)} nats`);
  t.ok(newKey.value > 7, `a key never seen: ${newKey.value.toFixed(2)} nats`);
  // the retried step has had six different counts, so a new one is six times likelier
  t.ok(manyRetries.value < fourReplicas.value - 1.5, `nine retries, a count never seen of a key whose count varies: ${manyRetries.value.toFixed(2)} nats`);
});

const toEvents = (keys: string[]) => keys.map((k, i) => sequenceEvent(k, i));

/** blocks scored as `anomaly eval` scores key sequences: cross-fitted, rarity over 4-grams */
function blockScorer(options: Partial<SessionScorerOptions>): SessionScorer {
  return new SessionScorer({ models: ['rarity'], contextLength: 10, heldOutFraction: 0.2, crossFit: true, modelOptions: { rarity: { ngram: 4 } }, ...options });
}

t.test('cross-fitted sessions: counts find what no step shows, normal sessions stay within the contract', async (t) => {
  const r = seededRandom(11);
  const scorer = blockScorer({ keyCounts: true });
  await scorer.fit(Array.from({ length: 3000 }, () => toEvents(block(r))));
  const normal = await scorer.score(Array.from({ length: 1000 }, () => toEvents(block(r))));
  const fourReplicas = await scorer.score(Array.from({ length: 20 }, () => toEvents(block(r, 4))));
  const bad = normal.filter((s) => s.score < 0.3).length;
  t.ok(bad <= 4, `normal sessions below 0.3: ${bad} of 1,000 (the contract expects 1.6)`);
  const found = fourReplicas.filter((s) => s.score < 0.3 && s.model === 'counts').length;
  t.equal(found, 20, `a fourth replica, every step familiar: ${found} of 20 bad, by their counts`);
});

t.test('a session cut short is flagged by its one unexpected step, the end, however short it is', async (t) => {
  const r = seededRandom(5);
  // peaks only, as key sequences are scored: the mean twins add chances for a normal session
  // to look extreme and so raise the bar every anomaly must clear
  const scorer = blockScorer({ meanStatistics: false });
  await scorer.fit(Array.from({ length: 2000 }, () => toEvents(block(r))));
  const [normal] = await scorer.score([toEvents(block(r))]);
  t.same(Object.keys(normal.evidence), ['rarity'], 'one statistic per model, its peak');
  const cut = await scorer.score([toEvents(['a', 'w']), toEvents(['a', 'w', 'k'])]);
  for (const s of cut) t.ok(s.score < 0.3, `cut short after ${s.evidence.rarity!.detail}: ${s.score.toFixed(3)}`);
});
