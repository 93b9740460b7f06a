import { NgramModel } from '../models/ngram';
import type { BehaviourEvent } from '../types';

// What the one-off ADFA-LD measurements (adfa-context.ts, adfa-drift.ts) share: the 6-gram
// language model's per-trace statistic, and ranks, the scale on which statistics are summed.

/** a call the training traces never made: as improbable as the product's LSTM says (lstm.ts) */
export const UNSEEN_NATS = 16;

const event = (key: string): BehaviourEvent => ({ key, values: [], pairs: [], text: '', time: 0 });

/** the product's 6-gram model fitted on traces; scores a trace by its mean −log p per call */
export async function traceLanguageModel(train: readonly (readonly string[])[]): Promise<(calls: readonly string[]) => Promise<number>> {
  const lm = new NgramModel();
  await lm.fit(train.map((calls) => calls.map(event)));
  return async (calls) => {
    const events = calls.map(event);
    const ev = await lm.score(events.map((e, i) => ({ event: e, context: events.slice(Math.max(0, i - 5), i) })));
    return ev.reduce((a, e) => a + Math.min(e.value, UNSEEN_NATS), 0) / ev.length;
  };
}

/** ranks in [0, 1], ties averaged: the scale on which statistics are summed */
export function ranks(values: readonly number[]): number[] {
  const idx = values.map((_, i) => i).sort((a, b) => values[a] - values[b]);
  const out = new Array<number>(values.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j < idx.length && values[idx[j]] === values[idx[i]]) j++;
    for (let k = i; k < j; k++) out[idx[k]] = (i + j - 1) / 2 / (values.length - 1);
    i = j;
  }
  return out;
}
