import * as tf from '@tensorflow/tfjs';
import { evenIndices } from '../sample';
import type { BehaviourEvent } from '../types';

// The training windows of a next-key model, counted: each distinct context of the last W
// keys once, with how often each key followed it. Ordinary logs repeat themselves (HDFS's
// 100,000 windows are 3,949 contexts), so an epoch over distinct contexts with the counts as
// soft targets is the same objective as one over every window, at a fraction of the cost.

export class ContextSet {
  readonly contexts: Int32Array[] = [];
  readonly next: Map<number, number>[] = [];
  private readonly index = new Map<string, number>();

  constructor(readonly window: number) {}

  add(context: Int32Array, key: number): void {
    const k = context.join(',');
    let i = this.index.get(k);
    if (i === undefined) {
      i = this.contexts.length;
      this.index.set(k, i);
      this.contexts.push(context);
      this.next.push(new Map());
    }
    this.next[i].set(key, (this.next[i].get(key) ?? 0) + 1);
  }

  /** ids (B × W, row-major) and target counts [B, V] of the given contexts */
  batch(which: readonly number[], vocabSize: number): { ids: Int32Array; targets: tf.Tensor2D } {
    const W = this.window;
    const ids = new Int32Array(which.length * W);
    const targets = new Float32Array(which.length * vocabSize);
    which.forEach((c, r) => {
      ids.set(this.contexts[c], r * W);
      for (const [key, n] of this.next[c]) targets[r * vocabSize + key] = n;
    });
    return { ids, targets: tf.tensor2d(targets, [which.length, vocabSize]) };
  }
}

export interface ContextOptions {
  window: number;
  vocab: ReadonlyMap<string, number>;
  pad: number;
  unknown: number;
  /** most windows used (sampled evenly over the history) */
  maxWindows: number;
}

/** windows to fit on, and every tenth sequence's (or window's, for one long stream) to judge a plateau */
export function splitContexts(sequences: readonly (readonly BehaviourEvent[])[], o: ContextOptions): { fit: ContextSet; validation: ContextSet } {
  const total = sequences.reduce((n, s) => n + s.length, 0);
  const take = evenIndices(total, o.maxWindows);
  const fit = new ContextSet(o.window);
  const validation = new ContextSet(o.window);
  const bySequence = sequences.length >= 10;
  const judge = total >= 200;
  let n = 0;
  let taken = 0;
  sequences.forEach((s, si) => {
    const ids = s.map((e) => o.vocab.get(e.key) ?? o.unknown);
    for (let i = 0; i < ids.length; i++, n++) {
      if (take[taken] !== n) continue;
      taken++;
      const ctx = new Int32Array(o.window).fill(o.pad);
      for (let j = 1; j <= Math.min(i, o.window); j++) ctx[o.window - j] = ids[i - j];
      const held = judge && (bySequence ? si % 10 === 9 : taken % 10 === 0);
      (held ? validation : fit).add(ctx, ids[i]);
    }
  });
  return { fit, validation };
}
