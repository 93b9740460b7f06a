import * as tf from '@tensorflow/tfjs';
import type { BehaviourEvent, Evidence, Model, ModelState, ScoringInput } from '../types';
import { selectBackend } from './backend';
import { evenIndices } from '../sample';

// DeepLog's next-event model (Du et al., CCS 2017): given the last W event keys, a softmax
// over the subject's vocabulary of keys; an event is suspicious when its key was unlikely
// next. Keys enter as one-hot vectors straight into the LSTM: its input kernel is then
// exactly an embedding table, and unlike tf.layers.embedding it has gradients on the wasm
// backend (which lacks the kernel the embedding's gradient needs).

export interface LstmOptions {
  window: number;
  units: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  maxVocab: number;
  /** most training windows used per fit (sampled evenly) */
  maxWindows: number;
  /** DeepLog's g: a key outside the g likeliest is called out in the reason */
  topG: number;
}

// sized for per-subject models trained in the background; evaluations pass larger values
const DEFAULTS: LstmOptions = { window: 10, units: 32, epochs: 4, batchSize: 256, learningRate: 0.01, maxVocab: 2000, maxWindows: 20_000, topG: 9 };
const VERSION = 1;
const UNK = 0;
const PAD = 1;
/** evidence (nats) for a key the model has never seen: beyond anything it predicts */
const UNSEEN_NATS = 16;

export class LstmModel implements Model {
  readonly name = 'lstm' as const;
  private readonly opts: LstmOptions;
  private vocab = new Map<string, number>();
  private keys: string[] = ['<unk>', '<pad>'];
  private model: tf.LayersModel | null = null;

  constructor(opts: Partial<LstmOptions> = {}) {
    this.opts = { ...DEFAULTS, ...opts };
  }

  private build(): tf.LayersModel {
    const V = this.keys.length;
    const model = tf.sequential();
    // glorot instead of the default orthogonal recurrent initialiser: same quality here, and
    // tfjs's orthogonal init is slow (and says so on the console) for larger layers. Seeded, with
    // the seeded shuffle below, so that the same history trains the same model (evaluations and
    // reasons are reproducible)
    const init = (seed: number) => tf.initializers.glorotUniform({ seed });
    model.add(tf.layers.lstm({ units: this.opts.units, inputShape: [this.opts.window, V], kernelInitializer: init(1), recurrentInitializer: init(2) }));
    model.add(tf.layers.dense({ units: V, activation: 'softmax', kernelInitializer: init(3) }));
    model.compile({ optimizer: tf.train.adam(this.opts.learningRate), loss: 'sparseCategoricalCrossentropy' });
    return model;
  }

  private ids(events: readonly BehaviourEvent[]): number[] {
    const out = new Array<number>(this.opts.window).fill(PAD);
    const n = events.length;
    for (let j = 0; j < Math.min(n, this.opts.window); j++) out[this.opts.window - 1 - j] = this.vocab.get(events[n - 1 - j].key) ?? UNK;
    return out;
  }

  async fit(sequences: readonly (readonly BehaviourEvent[])[]): Promise<void> {
    await selectBackend();
    const freq = new Map<string, number>();
    for (const s of sequences) for (const e of s) freq.set(e.key, (freq.get(e.key) ?? 0) + 1);
    const top = [...freq].sort((a, b) => b[1] - a[1]).slice(0, this.opts.maxVocab - 2);
    this.keys = ['<unk>', '<pad>', ...top.map(([k]) => k)];
    this.vocab = new Map(this.keys.map((k, i) => [k, i]));
    const inputs: number[][] = [];
    const targets: number[] = [];
    for (const s of sequences) {
      for (let i = 0; i < s.length; i++) {
        inputs.push(this.ids(s.slice(Math.max(0, i - this.opts.window), i)));
        targets.push(this.vocab.get(s[i].key) ?? UNK);
      }
    }
    if (!inputs.length) throw new Error('lstm: nothing to train on');
    const take = evenIndices(inputs.length, this.opts.maxWindows);
    this.model?.dispose();
    this.model = this.build();
    const V = this.keys.length;
    const order = take.slice();
    for (let epoch = 0; epoch < this.opts.epochs; epoch++) {
      shuffle(order, epoch + 1);
      for (let b = 0; b < order.length; b += this.opts.batchSize) {
        const idx = order.slice(b, b + this.opts.batchSize);
        const xs = tf.tidy(() => tf.oneHot(tf.tensor2d(idx.map((i) => inputs[i]), [idx.length, this.opts.window], 'int32'), V).toFloat());
        const ys = tf.tensor1d(idx.map((i) => targets[i]), 'float32');
        await this.model.trainOnBatch(xs, ys);
        xs.dispose();
        ys.dispose();
      }
    }
  }

  async score(batch: readonly ScoringInput[]): Promise<Evidence[]> {
    if (!this.model) throw new Error('lstm: score before fit');
    const out: Evidence[] = new Array(batch.length);
    const V = this.keys.length;
    const chunk = 1024;
    for (let start = 0; start < batch.length; start += chunk) {
      const part = batch.slice(start, start + chunk);
      const probs = tf.tidy(() => {
        const xs = tf.oneHot(tf.tensor2d(part.map((p) => this.ids(p.context)), [part.length, this.opts.window], 'int32'), V).toFloat();
        return this.model!.predict(xs) as tf.Tensor;
      });
      const data = (await probs.data()) as Float32Array;
      probs.dispose();
      for (let j = 0; j < part.length; j++) {
        const key = part[j].event.key;
        const id = this.vocab.get(key);
        const row = data.subarray(j * V, (j + 1) * V);
        if (id === undefined) {
          out[start + j] = { value: UNSEEN_NATS, detail: `\`${key}\` never occurred in this subject's training sequences` };
          continue;
        }
        const p = row[id];
        let rank = 0;
        for (let k = 2; k < V; k++) if (row[k] > p) rank++;
        // DeepLog calls a key outside the g likeliest anomalous; in a small vocabulary every key
        // is inside g, so a key that merely was not the likeliest is still named, more mildly
        const unexpected = rank >= this.opts.topG || p < 0.01;
        const value = Math.min(-Math.log(Math.max(p, 1e-12)), UNSEEN_NATS);
        const after = part[j].context.at(-1)?.key ?? 'the start';
        out[start + j] = {
          value,
          detail: rank === 0 ? '' : `\`${key}\` was ${unexpected ? 'unexpected' : 'unusual'} after \`${after}\` (p=${p.toPrecision(2)}, ${rank + 1}${ordinal(rank + 1)} likeliest)`,
        };
      }
    }
    return out;
  }

  toState(): ModelState {
    const weights = (this.model?.getWeights() ?? []).map((w) => ({ shape: w.shape, data: Buffer.from((w.dataSync() as Float32Array).buffer.slice(0)).toString('base64') }));
    return { name: 'lstm', version: VERSION, opts: this.opts, keys: this.keys, weights };
  }

  /** restoring is synchronous: the caller must have selected the tfjs backend first (Scorer.open awaits selectBackend) */
  static fromState(s: ModelState): LstmModel {
    if (s.version !== VERSION) throw new Error(`lstm model state version ${s.version}, this build reads ${VERSION}`);
    const m = new LstmModel(s.opts as LstmOptions);
    m.keys = s.keys as string[];
    m.vocab = new Map(m.keys.map((k, i) => [k, i]));
    const weights = s.weights as Array<{ shape: number[]; data: string }>;
    m.model = m.build();
    const tensors = weights.map((w) => {
      const buf = Buffer.from(w.data, 'base64');
      return tf.tensor(new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4), w.shape);
    });
    m.model.setWeights(tensors);
    tensors.forEach((t) => t.dispose());
    return m;
  }
}

function ordinal(n: number): string {
  return n % 10 === 1 && n % 100 !== 11 ? 'st' : n % 10 === 2 && n % 100 !== 12 ? 'nd' : n % 10 === 3 && n % 100 !== 13 ? 'rd' : 'th';
}

/** deterministic Fisher-Yates so a retrain on the same data gives the same model */
function shuffle(a: number[], seed: number): void {
  let s = seed * 2654435761;
  for (let i = a.length - 1; i > 0; i--) {
    s = (Math.imul(s ^ (s >>> 15), 2246822507) + 0x9e3779b9) >>> 0;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
}
