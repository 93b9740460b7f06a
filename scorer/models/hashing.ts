import { fnv1a32 as hashToken } from '../hash';
import type { BehaviourEvent } from '../types';

// Feature hashing of a generalised event into a fixed-size sparse vector: signed hashing
// (Weinberger et al. 2009) keeps collisions unbiased; the vector is L2-normalised so that
// an RBF kernel compares shapes of behaviour, not how many tokens a row happened to have.

export interface SparseVector {
  index: Int32Array;
  value: Float64Array;
}

export function hashEvent(event: BehaviourEvent, context: readonly BehaviourEvent[], dims: number): SparseVector {
  const acc = new Map<number, number>();
  const add = (token: string, weight: number) => {
    const h = hashToken(token);
    const i = h % dims;
    const sign = h & 0x80000000 ? -1 : 1;
    acc.set(i, (acc.get(i) ?? 0) + sign * weight);
  };
  // when something happened is the rarity model's business (down-weighted there): in the
  // SVM's geometry a first weekend would move every event of the day off the learned shape
  for (const t of event.values) if (!isTimeToken(t)) add(t, 1);
  for (const t of event.pairs) if (!isTimeToken(t)) add(t, 1);
  add(`key=${event.key}`, 1);
  const n = context.length;
  if (n >= 1) add(`next1=${context[n - 1].key}>${event.key}`, 1);
  if (n >= 2) add(`next2=${context[n - 2].key}>${context[n - 1].key}>${event.key}`, 1);
  // a short bag of the recent keys: the neighbourhood the event happened in
  for (let j = Math.max(0, n - 5); j < n; j++) add(`ctx=${context[j].key}`, 0.5);
  const index = new Int32Array(acc.size);
  const value = new Float64Array(acc.size);
  let norm = 0;
  let k = 0;
  for (const [i, v] of [...acc].sort((a, b) => a[0] - b[0])) {
    index[k] = i;
    value[k] = v;
    norm += v * v;
    k++;
  }
  norm = Math.sqrt(norm) || 1;
  for (let j = 0; j < value.length; j++) value[j] /= norm;
  return { index, value };
}

/**
 * Time tokens, and in a pooled baseline who acted (`who=`): which account did something is
 * the rarity model's business, where recurrence over days can tell a sparse account's
 * routine from a stranger; in the SVM's geometry a rarely seen name would move every event
 * of that account off the learned shape.
 */
function isTimeToken(t: string): boolean {
  return t.startsWith('hour=') || t.startsWith('day=') || t.startsWith('how=') || t.includes('>hour=') || t.startsWith('who=');
}
