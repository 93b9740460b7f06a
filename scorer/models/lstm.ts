import { quoted } from '../quoted';
import * as tf from '@tensorflow/tfjs';
import type { BehaviourEvent, Evidence, Model, ModelState, ScoringInput, TrainingStep } from '../types';
import { currentEventKey } from '../features/kinds';
import { selectBackend } from './backend';
import { ContextSet, splitContexts } from './contexts';
import { LstmInference } from './lstm-inference';
import { pace } from '../pacing';

// DeepLog's next-event model (Du et al., CCS 2017): given the last W event keys, a softmax
// over the subject's vocabulary of keys; an event is suspicious when its key was unlikely
// next.
//
// The LSTM is written out in tensor ops rather than as a tf.layers model, for speed on the
// wasm backend: the input projection of every step is one embedding lookup (a gather, whose
// gradient wasm lacks, so it is supplied as a scatter-add), the recurrence is one matmul per
// step, and training sees each distinct context once per epoch with the counts of the keys
// that followed it as soft targets (HDFS's 100,000 windows are 3,949 distinct contexts). The
// weights are those of a Keras LSTM layer (kernel, recurrent kernel, bias; gates i f c o,
// hard-sigmoid recurrent activation) and a softmax layer, so saved states stay readable.

export interface LstmOptions {
  window: number;
  units: number;
  /** most passes over the distinct training contexts; training stops earlier on a plateau */
  epochs: number;
  batchSize: number;
  learningRate: number;
  maxVocab: number;
  /** most training windows used per fit (sampled evenly) */
  maxWindows: number;
  /** DeepLog's g: a key outside the g likeliest is called out in the reason */
  topG: number;
  /** epochs without progress on the held-out windows before training stops */
  patience: number;
}

// sized for per-subject models trained in the background; evaluations pass larger values
const DEFAULTS: LstmOptions = {
  window: 10,
  units: 32,
  epochs: 30,
  batchSize: 256,
  learningRate: 0.03,
  maxVocab: 2000,
  maxWindows: 20_000,
  topG: 9,
  patience: 2,
};
const VERSION = 1;
const UNK = 0;
const PAD = 1;
/** evidence (nats) for a key the model has never seen: beyond anything it predicts */
const UNSEEN_NATS = 16;
/** an epoch is at least this many steps, so that a small history still trains */
const MIN_STEPS_PER_EPOCH = 16;
/** an epoch counts as progress when it lowers the held-out loss by 0.2 % and by 0.001 nats */
const MIN_IMPROVEMENT = 0.002;
const MIN_GAIN_NATS = 0.001;
/** scored (context, key) pairs remembered per model: a subject's routine repeats (about 130 bytes each: kept small, there may be hundreds of subjects) */
const CACHE_ENTRIES = 512;
const SCORE_CHUNK = 1024;
/**
 * most floats in one [rows, vocabulary] tensor (512 kB): a training batch, a held-out chunk
 * and a scoring chunk have as few rows as keep them within it. tfjs's wasm heap grows to its
 * largest step and never shrinks, and a step holds several such tensors (targets, logits,
 * their softmax, their gradients): a local user's flood of new keys fills the vocabulary to
 * maxVocab, and batches of 256 rows × 2,000 keys took the heap from 16 to 69 MB. A whole
 * training batch fits up to 512 keys, a whole scoring chunk up to 128; a subject's routine of
 * tens of keys trains as before, and a chunk's size does not change its scores.
 */
export const BATCH_FLOATS = 1 << 17;
/** weights of the key frequencies mixed into the network's prediction, the one chosen on held-out windows */
const MIX_GRID = [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 0.7];

interface Weights {
  kernel: tf.Variable;
  recurrent: tf.Variable;
  bias: tf.Variable;
  out: tf.Variable;
  outBias: tf.Variable;
}

/**
 * One step's input projection, kernel[ids] + bias, copied from the kernel's values: the
 * embedding lookup. Its gradient is a scatter-add into the kernel's rows (wasm has no
 * gradient for tf.gather) and a sum over the batch for the bias.
 */
function stepInput(kernel: tf.Variable, bias: tf.Variable, ids: Int32Array, table: Float32Array, biasValues: Float32Array): tf.Tensor2D {
  const D = kernel.shape[1]!;
  const f = tf.customGrad(((k: tf.Tensor, _b: tf.Tensor) => {
    const out = new Float32Array(ids.length * D);
    for (let r = 0; r < ids.length; r++) {
      const from = ids[r] * D;
      for (let d = 0; d < D; d++) out[r * D + d] = table[from + d] + biasValues[d];
    }
    return {
      value: tf.tensor2d(out, [ids.length, D]),
      gradFunc: (dy: tf.Tensor) => [tf.scatterND(tf.tensor2d(ids, [ids.length, 1], 'int32'), dy, k.shape), tf.sum(dy, 0)],
    };
  }) as never) as (k: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;
  return f(kernel, bias);
}

/**
 * a × b whose gradient multiplies by explicitly transposed copies: the wasm backend's
 * matmul with a transposed operand (what tf.matMul's own gradient uses) is 3–4× slower
 * than a transpose followed by a plain matmul, and it was most of a training step
 */
export const matMul = tf.customGrad(((a: tf.Tensor2D, b: tf.Tensor2D, save: (t: tf.Tensor[]) => void) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor2D, [x, y]: tf.Tensor2D[]) => [tf.matMul(dy, tf.transpose(y)), tf.matMul(tf.transpose(x), dy)],
  };
}) as never) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;

export class LstmModel implements Model {
  readonly name = 'lstm' as const;
  private readonly opts: LstmOptions;
  private vocab = new Map<string, number>();
  private keys: string[] = ['<unk>', '<pad>'];
  private weights: Weights | null = null;
  private cache = new Map<string, [number, number]>();
  /** the weights' copy that scoring runs on; null until first needed after they change */
  private lean: LstmInference | null = null;
  /** each key's share of the training events (add-½), indexed as `keys` */
  private prior: Float32Array | null = null;
  /** the share of `prior` mixed into the network's prediction */
  private mix = 0;
  /** the most rows × vocabulary of any tensor batch this model has built: its own accounting of BATCH_FLOATS */
  largestBatchFloats = 0;

  constructor(opts: Partial<LstmOptions> = {}) {
    this.opts = { ...DEFAULTS, ...opts };
  }

  /** whether `previous` can seed this model: the same sizes */
  private canStartFrom(previous: Model | undefined): previous is LstmModel {
    return previous instanceof LstmModel && previous.weights !== null && previous.opts.units === this.opts.units && previous.opts.window === this.opts.window;
  }

  private init(previous: LstmModel | null): Weights {
    const V = this.keys.length;
    const U = this.opts.units;
    // seeded, with the seeded shuffle below, so that the same history trains the same model
    // (evaluations and reasons are reproducible); glorot as the layers API would, without
    // its slow orthogonal recurrent initialiser
    const glorot = (shape: [number, number], seed: number) => tf.initializers.glorotUniform({ seed }).apply(shape) as tf.Tensor2D;
    const w: Record<keyof Weights, tf.Tensor> = {
      kernel: glorot([V, 4 * U], 1),
      recurrent: glorot([U, 4 * U], 2),
      bias: tf.zeros([4 * U]),
      out: glorot([U, V], 3),
      outBias: tf.zeros([V]),
    };
    if (previous) {
      // a retrain starts from what the last model learnt: rows and columns of keys that are
      // still in the vocabulary are copied over, new keys start fresh
      const map = this.keys.map((k) => previous.vocab.get(k) ?? -1);
      const copyRows = (fresh: tf.Tensor, old: tf.Tensor, axis: 0 | 1) => {
        const f = fresh.arraySync() as number[][] | number[];
        const o = old.arraySync() as number[][] | number[];
        const out =
          axis === 0
            ? (f as number[][]).map((row, i) => (map[i] >= 0 ? (o as number[][])[map[i]] : row))
            : (f as number[][]).map((row, r) => row.map((x, i) => (map[i] >= 0 ? (o as number[][])[r][map[i]] : x)));
        fresh.dispose();
        return tf.tensor(out);
      };
      const p = previous.weights!;
      w.kernel = copyRows(w.kernel, p.kernel, 0);
      w.out = copyRows(w.out, p.out, 1);
      w.outBias.dispose();
      w.outBias = tf.tensor1d(this.keys.map((_, i) => (map[i] >= 0 ? (p.outBias.arraySync() as number[])[map[i]] : 0)));
      w.recurrent.dispose();
      w.recurrent = tf.clone(p.recurrent);
      w.bias.dispose();
      w.bias = tf.clone(p.bias);
    }
    return fromTensors([w.kernel, w.recurrent, w.bias, w.out, w.outBias]);
  }

  /**
   * logits [B, V] for B contexts of W ids each (row-major). Each step's input is looked up in
   * plain memory rather than with tf.gather or slices, both slow on wasm; its gradient, when
   * training, is a scatter-add into the kernel's rows.
   */
  private logits(ids: Int32Array, B: number): tf.Tensor2D {
    const w = this.weights!;
    const W = this.opts.window;
    const U = this.opts.units;
    const table = w.kernel.dataSync() as Float32Array;
    const bias = w.bias.dataSync() as Float32Array;
    let h: tf.Tensor | null = null;
    let c: tf.Tensor | null = null;
    for (let t = 0; t < W; t++) {
      const step = new Int32Array(B);
      for (let b = 0; b < B; b++) step[b] = ids[b * W + t];
      const xt = stepInput(w.kernel, w.bias, step, table, bias);
      const z: tf.Tensor = h ? tf.add(xt, matMul(h, w.recurrent)) : xt;
      const [i, f, , o] = tf.split(tf.clipByValue(tf.add(tf.mul(z, 0.2), 0.5), 0, 1), 4, 1);
      const candidate = tf.tanh(tf.slice(z, [0, 2 * U], [B, U]));
      c = c ? tf.add(tf.mul(f, c), tf.mul(i, candidate)) : tf.mul(i, candidate);
      h = tf.mul(o, tf.tanh(c));
    }
    return tf.add(matMul(h!, w.out), w.outBias);
  }

  /** at most `wanted` rows, as few as keep a [rows, vocabulary] tensor within BATCH_FLOATS (one at least) */
  private rows(wanted: number): number {
    const V = this.keys.length;
    const rows = Math.max(1, Math.min(wanted, Math.floor(BATCH_FLOATS / V)));
    this.largestBatchFloats = Math.max(this.largestBatchFloats, rows * V);
    return rows;
  }

  private ids(events: readonly BehaviourEvent[], out: Int32Array, offset: number): void {
    const W = this.opts.window;
    const n = events.length;
    out.fill(PAD, offset, offset + W);
    for (let j = 0; j < Math.min(n, W); j++) out[offset + W - 1 - j] = this.vocab.get(events[n - 1 - j].key) ?? UNK;
  }

  async fit(sequences: readonly (readonly BehaviourEvent[])[], previous?: Model): Promise<void> {
    // each step is one batch: pacing between them keeps training inside the watchdog's budget
    for await (const _ of this.train(sequences, previous)) await pace();
  }

  /**
   * Training one step at a time, so that the caller can pace it (a watchdog's CPU budget)
   * and stop between steps. The model is usable once the generator is done.
   */
  async *train(sequences: readonly (readonly BehaviourEvent[])[], previous?: Model): AsyncGenerator<TrainingStep> {
    await selectBackend();
    const freq = new Map<string, number>();
    for (const s of sequences) for (const e of s) freq.set(e.key, (freq.get(e.key) ?? 0) + 1);
    const top = [...freq].sort((a, b) => b[1] - a[1]).slice(0, this.opts.maxVocab - 2);
    this.keys = ['<unk>', '<pad>', ...top.map(([k]) => k)];
    this.vocab = new Map(this.keys.map((k, i) => [k, i]));
    this.cache.clear();
    const total = top.reduce((n, [, c]) => n + c, 0) + 0.5 * top.length;
    this.prior = Float32Array.from(this.keys, (k, i) => (i < 2 ? 0 : (freq.get(k)! + 0.5) / total));
    this.mix = 0;
    const { fit, validation } = splitContexts(sequences, {
      window: this.opts.window,
      vocab: this.vocab,
      pad: PAD,
      unknown: UNK,
      maxWindows: this.opts.maxWindows,
    });
    if (!fit.contexts.length) throw new Error('lstm: nothing to train on');
    this.dispose();
    const warm = this.canStartFrom(previous);
    this.weights = this.init(warm ? previous : null);
    const optimizer = tf.train.adam(this.opts.learningRate);
    const B = this.rows(Math.min(this.opts.batchSize, fit.contexts.length));
    // a retrain starts from weights that already fit most of its window: an epoch is one
    // pass over the distinct contexts, and it stops as soon as the held-out loss it starts
    // from stops falling (a subject retrains every few hours on a window that barely moved)
    const perEpoch = Math.max(warm ? 1 : MIN_STEPS_PER_EPOCH, Math.ceil(fit.contexts.length / B));
    const order = fit.contexts.map((_, i) => i);
    const vars = Object.values(this.weights);
    let best = warm && validation.contexts.length ? await this.nll(validation) : Infinity;
    let stale = 0;
    try {
      for (let epoch = 0; epoch < this.opts.epochs; epoch++) {
        shuffle(order, epoch + 1);
        let loss = 0;
        for (let step = 0; step < perEpoch; step++) {
          const batch = Array.from({ length: B }, (_, j) => order[(step * B + j) % order.length]);
          const { ids, targets } = fit.batch(batch, this.keys.length);
          const cost = optimizer.minimize(
            () => {
              const logp = tf.logSoftmax(this.logits(ids, B));
              return tf.div(tf.neg(tf.sum(tf.mul(targets, logp))), tf.sum(targets));
            },
            true,
            vars,
          );
          loss += (await cost!.data())[0] / perEpoch;
          tf.dispose([cost!, targets]);
          yield { epoch, step, steps: perEpoch, loss };
        }
        // stop on a plateau of held-out windows (of the training loss when there are none)
        const judged = validation.contexts.length ? await this.nll(validation) : loss;
        if (judged < Math.min(best * (1 - MIN_IMPROVEMENT), best - MIN_GAIN_NATS)) {
          best = judged;
          stale = 0;
        } else if (++stale >= this.opts.patience) {
          break;
        }
      }
    } finally {
      optimizer.dispose();
      // the weights moved: scoring copies them again
      this.lean = null;
    }
    if (validation.contexts.length) this.mix = await this.heldOutMix(validation);
  }

  /**
   * The weight of the key frequencies in the prediction that fits the held-out windows best.
   * A network trained to a plateau on a subject's stream can be sure of what comes next where
   * the stream merely interleaves independent processes (root's cron jobs and its sshd
   * forks): a login between two cron runs then gets p = 1e-5 and reads as an anomaly. Mixing
   * in how often each key occurs at all (Jelinek-Mercer smoothing) bounds that certainty by
   * what the held-out windows show, and leaves a key the subject never or rarely produces
   * as improbable as before.
   */
  private async heldOutMix(set: ContextSet): Promise<number> {
    const V = this.keys.length;
    const prior = this.prior!;
    const loss = new Float64Array(MIX_GRID.length);
    const chunk = this.rows(SCORE_CHUNK);
    for (let start = 0; start < set.contexts.length; start += chunk) {
      const idx = Array.from({ length: Math.min(chunk, set.contexts.length - start) }, (_, j) => start + j);
      const ids = new Int32Array(idx.length * this.opts.window);
      idx.forEach((c, r) => ids.set(set.contexts[c], r * this.opts.window));
      const probs = this.leanProbabilities(ids, idx.length);
      idx.forEach((c, r) => {
        for (const [key, n] of set.next[c]) {
          const p = probs[r * V + key];
          MIX_GRID.forEach((m, g) => (loss[g] -= n * Math.log(Math.max((1 - m) * p + m * prior[key], 1e-12))));
        }
      });
      await pace();
    }
    let best = 0;
    for (let g = 1; g < MIX_GRID.length; g++) if (loss[g] < loss[best]) best = g;
    return MIX_GRID[best];
  }

  /** mean negative log-likelihood of a window set, weighted by how often each window occurs */
  private async nll(set: ContextSet): Promise<number> {
    let sum = 0;
    let n = 0;
    // a chunk holds its targets densely (chunk × vocabulary floats, and as many again for the
    // logits and their softmax), and tfjs's wasm heap keeps its high-water mark for good: in
    // chunks of a training batch rather than of 1,024 contexts, a 2,000-key vocabulary peaks
    // at ~8 MB instead of ~32 MB
    const chunk = this.rows(this.opts.batchSize);
    for (let start = 0; start < set.contexts.length; start += chunk) {
      const idx = Array.from({ length: Math.min(chunk, set.contexts.length - start) }, (_, j) => start + j);
      const { ids, targets } = set.batch(idx, this.keys.length);
      const [s, c] = tf.tidy(() => [tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(this.logits(ids, idx.length))))), tf.sum(targets)]);
      sum += (await s.data())[0];
      n += (await c.data())[0];
      tf.dispose([s, c, targets]);
    }
    return sum / n;
  }

  async score(batch: readonly ScoringInput[]): Promise<Evidence[]> {
    if (!this.weights) throw new Error('lstm: score before fit');
    const W = this.opts.window;
    const out: Evidence[] = new Array(batch.length);
    // the batch's events are scored together, one row per distinct context; (context, key)
    // pairs scored before come from the cache
    const ctx = new Int32Array(batch.length * W);
    const pending = new Map<string, number[]>();
    const ctxKeys: string[] = new Array(batch.length);
    for (let j = 0; j < batch.length; j++) {
      this.ids(batch[j].context, ctx, j * W);
      const id = this.vocab.get(batch[j].event.key);
      if (id === undefined) {
        out[j] = { value: UNSEEN_NATS, detail: `${quoted(batch[j].event.key)} never occurred in this subject's training sequences` };
        continue;
      }
      const ck = ctx.subarray(j * W, (j + 1) * W).join(',');
      ctxKeys[j] = ck;
      const hit = this.cache.get(`${ck}>${id}`);
      if (hit) out[j] = this.evidence(batch[j], hit[0], hit[1]);
      else (pending.get(ck) ?? pending.set(ck, []).get(ck)!).push(j);
    }
    const groups = [...pending.values()];
    const V = this.keys.length;
    const chunk = this.rows(SCORE_CHUNK);
    for (let start = 0; start < groups.length; start += chunk) {
      const part = groups.slice(start, start + chunk);
      const ids = new Int32Array(part.length * W);
      part.forEach((g, r) => ids.set(ctx.subarray(g[0] * W, (g[0] + 1) * W), r * W));
      const probs = this.leanProbabilities(ids, part.length);
      const m = this.mix;
      const prior = this.prior;
      if (m > 0 && prior) for (let i = 0; i < probs.length; i++) probs[i] = (1 - m) * probs[i] + m * prior[i % V];
      part.forEach((g, r) => {
        const row = probs.subarray(r * V, (r + 1) * V);
        for (const j of g) {
          const id = this.vocab.get(batch[j].event.key)!;
          const p = row[id];
          let rank = 0;
          for (let k = 2; k < V; k++) if (row[k] > p) rank++;
          this.remember(`${ctxKeys[j]}>${id}`, p, rank);
          out[j] = this.evidence(batch[j], p, rank);
        }
      });
      await pace();
    }
    return out;
  }

  /** the lean forward pass that scoring uses (lstm-inference.ts), built once per set of weights */
  private inference(): LstmInference {
    this.lean ??= new LstmInference(this.weights!, this.opts.units);
    return this.lean;
  }

  /**
   * Next-key probabilities [B, V] of B contexts of W ids each through the tensor graph that
   * training differentiates: the reference that the lean pass is tested against.
   */
  tensorProbabilities(ids: Int32Array, B: number): Float32Array {
    const p = tf.tidy(() => tf.softmax(this.logits(ids, B)));
    const values = p.dataSync() as Float32Array;
    p.dispose();
    return values;
  }

  /** the same through the lean pass that score() uses */
  leanProbabilities(ids: Int32Array, B: number): Float32Array {
    const V = this.keys.length;
    const p = this.inference().logits(ids, B, this.opts.window);
    for (let r = 0; r < p.length; r += V) {
      let max = -Infinity;
      for (let k = r; k < r + V; k++) if (p[k] > max) max = p[k];
      let sum = 0;
      for (let k = r; k < r + V; k++) sum += p[k] = Math.exp(p[k] - max);
      for (let k = r; k < r + V; k++) p[k] /= sum;
    }
    return p;
  }

  private remember(key: string, p: number, rank: number): void {
    if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, [p, rank]);
  }

  private evidence(input: ScoringInput, p: number, rank: number): Evidence {
    // DeepLog calls a key outside the g likeliest anomalous; in a small vocabulary every key
    // is inside g, so a key that merely was not the likeliest is still named, more mildly
    const unexpected = rank >= this.opts.topG || p < 0.01;
    const value = Math.min(-Math.log(Math.max(p, 1e-12)), UNSEEN_NATS);
    if (rank === 0) return { value, detail: '' };
    const after = input.context.at(-1)?.key ?? 'the start';
    return {
      value,
      detail: `${quoted(input.event.key)} was ${unexpected ? 'unexpected' : 'unusual'} after ${quoted(after)} (p=${p.toPrecision(2)}, ${rank + 1}${ordinal(rank + 1)} likeliest)`,
    };
  }

  dispose(): void {
    if (this.weights) tf.dispose(Object.values(this.weights));
    this.weights = null;
    this.lean = null;
  }

  toState(): ModelState {
    const weights = this.weights
      ? Object.values(this.weights).map((w) => ({ shape: w.shape, data: Buffer.from((w.dataSync() as Float32Array).buffer.slice(0)).toString('base64') }))
      : [];
    return { name: 'lstm', version: VERSION, opts: this.opts, keys: this.keys, weights, prior: this.prior ? [...this.prior] : undefined, mix: this.mix };
  }

  /** restoring is synchronous: the caller must have selected the tfjs backend first (Scorer.open awaits selectBackend) */
  static fromState(s: ModelState): LstmModel {
    if (s.version !== VERSION) throw new Error(`lstm model state version ${s.version}, this build reads ${VERSION}`);
    const m = new LstmModel(s.opts as LstmOptions);
    // keys as this build spells them (a query no unit knows, saved in Fleet's whole name by
    // the build before newcomer3): kept whole, each was a key never seen until a retraining
    m.keys = (s.keys as string[]).map(currentEventKey);
    m.vocab = new Map(m.keys.map((k, i) => [k, i]));
    // a state saved before the mixture has neither, and scores as it did then
    if (s.prior !== undefined || s.mix !== undefined) {
      const prior = s.prior as unknown[];
      const fine =
        Array.isArray(prior) &&
        prior.length === m.keys.length &&
        prior.every((x) => typeof x === 'number' && x >= 0 && x <= 1) &&
        typeof s.mix === 'number' &&
        s.mix >= 0 &&
        s.mix < 1;
      if (!fine) throw new Error('lstm model state has a key-frequency mixture that is not one (prior: a share per key in [0,1]; mix in [0,1))');
      m.prior = Float32Array.from(prior as number[]);
      m.mix = s.mix as number;
    }
    const saved = s.weights as Array<{ shape: number[]; data: string }>;
    if (saved.length !== 5) throw new Error(`lstm model state has ${saved.length} weight tensors, expected 5`);
    m.weights = fromTensors(
      saved.map((w) => {
        const buf = Buffer.from(w.data, 'base64');
        return tf.tensor(new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)), w.shape);
      }),
    );
    return m;
  }
}

function fromTensors(t: tf.Tensor[]): Weights {
  const [kernel, recurrent, bias, out, outBias] = t.map((x) => {
    const v = tf.variable(x);
    x.dispose();
    return v;
  });
  return { kernel, recurrent, bias, out, outBias };
}

function ordinal(n: number): string {
  return n % 10 === 1 && n % 100 !== 11 ? 'st' : n % 10 === 2 && n % 100 !== 12 ? 'nd' : n % 10 === 3 && n % 100 !== 13 ? 'rd' : 'th';
}

/** deterministic Fisher-Yates so a retrain on the same data gives the same model */
export function shuffle(a: number[], seed: number): void {
  let s = seed * 2654435761;
  for (let i = a.length - 1; i > 0; i--) {
    s = (Math.imul(s ^ (s >>> 15), 2246822507) + 0x9e3779b9) >>> 0;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
}
