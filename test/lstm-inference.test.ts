import t from 'tap';
import { sequenceEvent } from '../scorer/features/extract';
import { selectBackend } from '../scorer/models';
import { LstmModel } from '../scorer/models/lstm';
import { tanh } from '../scorer/models/lstm-inference';
import type { BehaviourEvent, ScoringInput } from '../scorer/types';

// The LSTM scores through a lean forward pass (lstm-inference.ts) and trains through the
// tensor graph; the two must agree to float noise, or scores would drift from what was learnt.

/** a routine of 24 keys with branches and noise: many distinct contexts, a vocabulary of ~30 */
function routine(n: number, seed: number): BehaviourEvent[] {
  let s = seed;
  const rand = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const out: BehaviourEvent[] = [];
  let step = 0;
  for (let i = 0; i < n; i++) {
    const r = rand();
    const key = r < 0.1 ? `noise${Math.floor(rand() * 6)}` : `k${step}`;
    step = r < 0.8 ? (step + 1) % 24 : Math.floor(rand() * 24);
    out.push(sequenceEvent(key, i));
  }
  return out;
}

t.test('tanh is float32-accurate', async (t) => {
  let worst = 0;
  for (let x = -12; x <= 12; x += 0.0007) worst = Math.max(worst, Math.abs(tanh(x) - Math.tanh(x)));
  t.ok(worst < 5e-7, `largest error ${worst}`);
  t.equal(tanh(0), 0);
  t.equal(tanh(40), tanh(7.91));
});

t.test('the lean scoring pass gives the tensor graph’s probabilities and scores', async (t) => {
  await selectBackend();
  const train = routine(1500, 7);
  const m = new LstmModel({ units: 16, epochs: 3 });
  await m.fit([train]);
  const keys = m.toState().keys as string[];
  const V = keys.length;
  t.ok(V > 20, `vocabulary of ${V}`);

  // every kind of context: padded starts, unknown keys (id 0), ordinary windows
  const W = 10;
  const B = 300;
  const ids = new Int32Array(B * W);
  let s = 3;
  for (let b = 0; b < B; b++) {
    const pad = b % 7 === 0 ? b % W : 0;
    for (let j = 0; j < W; j++) ids[b * W + j] = j < pad ? 1 : (s = (s * 48271) % 2147483647) % V;
  }
  const reference = m.tensorProbabilities(ids, B);
  const lean = m.leanProbabilities(ids, B);
  t.equal(lean.length, reference.length);
  let worst = 0;
  let rankFlips = 0;
  for (let b = 0; b < B; b++) {
    const r = reference.subarray(b * V, (b + 1) * V);
    const l = lean.subarray(b * V, (b + 1) * V);
    for (let k = 0; k < V; k++) worst = Math.max(worst, Math.abs(Math.log(r[k]) - Math.log(l[k])));
    const best = (p: Float32Array) => p.indexOf(Math.max(...p.subarray(2)), 2);
    if (best(r) !== best(l) && Math.abs(r[best(r)] - r[best(l)]) > 1e-5) rankFlips++;
  }
  t.ok(worst < 1e-4, `largest difference in log-probability ${worst}`);
  t.equal(rankFlips, 0, 'the likeliest next key is the same');

  // score() runs the lean pass: its evidence is −log p of the reference mixed with the key
  // frequencies in the share fitted on held-out windows
  const test = routine(400, 11);
  const inputs: ScoringInput[] = test.map((event, i) => ({ event, context: test.slice(Math.max(0, i - W), i) }));
  const state = m.toState();
  const mix = state.mix as number;
  const prior = state.prior as number[];
  const restored = LstmModel.fromState(state);
  const scored = await restored.score(inputs);
  const vocab = new Map(keys.map((k, i) => [k, i]));
  let compared = 0;
  let off = 0;
  for (let i = 0; i < inputs.length; i++) {
    const id = vocab.get(inputs[i].event.key);
    if (id === undefined) continue;
    const ctx = new Int32Array(W).fill(1);
    const c = inputs[i].context;
    for (let j = 0; j < c.length; j++) ctx[W - c.length + j] = vocab.get(c[j].key) ?? 0;
    const p = (1 - mix) * m.tensorProbabilities(ctx, 1)[id] + mix * prior[id];
    off = Math.max(off, Math.abs(scored[i].value - Math.min(-Math.log(Math.max(p, 1e-12)), 16)));
    compared++;
  }
  t.ok(compared > 300, `${compared} events compared`);
  t.ok(off < 1e-4, `largest difference in a score's evidence ${off}`);
  restored.dispose();
  m.dispose();
});

t.test('contexts that begin alike share their first steps, and score as they do alone', async (t) => {
  await selectBackend();
  const train = routine(1500, 5);
  const m = new LstmModel({ units: 16, epochs: 2 });
  await m.fit([train]);
  const V = (m.toState().keys as string[]).length;
  const W = 10;
  // sliding windows over a routine (many shared prefixes), a few duplicated, padded starts
  const test = routine(300, 13);
  const vocab = new Map((m.toState().keys as string[]).map((k, i) => [k, i]));
  const B = 240;
  const ids = new Int32Array(B * W).fill(1);
  for (let b = 0; b < B; b++) {
    const end = b % 40 === 39 ? b - 1 : b; // every 40th repeats the context before it
    for (let j = 0; j < W; j++) {
      const at = end - W + 1 + j;
      if (at >= 0) ids[b * W + j] = vocab.get(test[at].key) ?? 0;
    }
  }
  const together = m.leanProbabilities(ids, B);
  let differ = 0;
  let worst = 0;
  for (let b = 0; b < B; b++) {
    const alone = m.leanProbabilities(ids.slice(b * W, (b + 1) * W), 1);
    for (let k = 0; k < V; k++) {
      const d = Math.abs(Math.log(alone[k]) - Math.log(together[b * V + k]));
      worst = Math.max(worst, d);
      if (d > 0) differ++;
    }
  }
  t.equal(differ, 0, `every probability the same to the bit in the batch as alone (largest difference in log-probability ${worst})`);
  m.dispose();
});
