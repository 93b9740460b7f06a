import t from 'tap';
import { sequenceEvent } from '../scorer/features/extract';
import { selectBackend } from '../scorer/models';
import { BATCH_FLOATS, LstmModel } from '../scorer/models/lstm';
import type { BehaviourEvent, ScoringInput } from '../scorer/types';

// A local user's flood of new keys fills the LSTM's vocabulary to maxVocab, and tfjs's wasm
// heap keeps the high-water mark of the largest [rows, vocabulary] tensors a step builds for
// good: by the model's own accounting, no batch it trains, judges or scores on is larger than
// BATCH_FLOATS, while a routine's small vocabulary still trains in whole batches (lstmmem).

function inputs(events: BehaviourEvent[]): ScoringInput[] {
  return events.slice(1).map((event, i) => ({ event, context: events.slice(Math.max(0, i - 9), i + 1) }));
}

t.test('a flood of new keys trains and scores in batches within BATCH_FLOATS', async (t) => {
  await selectBackend();
  // every key new, as a local user's 900-character names make them: the vocabulary fills
  const flood = Array.from({ length: 2500 }, (_, i) => sequenceEvent(`new-name-${i}`, i));
  const m = new LstmModel({ epochs: 2 });
  await m.fit([flood]);
  const V = (m.toState().keys as string[]).length;
  t.equal(V, 2000, 'the vocabulary is full');
  await m.score(inputs(flood.slice(0, 1500)));
  t.ok(m.largestBatchFloats > 0, 'batches were counted');
  t.ok(
    m.largestBatchFloats <= BATCH_FLOATS,
    `largest batch ${m.largestBatchFloats} floats (${m.largestBatchFloats / V} rows of ${V} keys), budget ${BATCH_FLOATS}`,
  );
});

t.test('a routine of a few keys keeps whole batches', async (t) => {
  await selectBackend();
  const routine = Array.from({ length: 1200 }, (_, i) => sequenceEvent(`k${(i * 7) % 40}`, i));
  const m = new LstmModel({ epochs: 2 });
  await m.fit([routine]);
  const V = (m.toState().keys as string[]).length;
  // a vocabulary of 42 is far under the budget: the scoring chunk is SCORE_CHUNK's 1,024 rows
  await m.score(inputs(routine.slice(0, 1100)));
  t.equal(m.largestBatchFloats, Math.min(1024, 1100) * V, 'the scoring chunk is whole: 1,024 contexts');
});
