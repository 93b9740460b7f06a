import * as fs from 'fs';
import * as zlib from 'zlib';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../models/backend';
import { matMul, shuffle } from '../models/lstm';
import { KeySetNeighbours } from '../key-sets';
import { ranks, traceLanguageModel, UNSEEN_NATS } from './trace-statistics';

// Issue 8, branch `adfa3`: does a language model with a long memory of the trace rank ADFA-LD's
// dev traces above the ~0.80 plateau of the order statistics (n-grams, STIDE, the 10-call
// LSTM)? The published one-class figures (Kim et al. 2016, 0.928) come from LSTMs over whole
// traces; an LSTM step per call is slow on tfjs's wasm backend, so the long memory here is a
// causal dilated convolution (a TCN, Bai et al. 2018) whose receptive field doubles with each
// layer: 7 layers see the previous 128 calls, and a whole trace is one parallel pass.
//
// One-off measurement, not a product path: it reads train and dev, trains on train only,
// writes each dev trace's statistic to a JSON file, and `combine` reports AUC, the share of
// attacks above the 99th percentile of normal traces ("@1 %"), per attack kind, and rank sums.
// The answer it gave (docs/evaluation.md, branch `adfa3`): no. The previous 8 calls, 128, or
// the whole trace (GRU) all rank at 0.785-0.799, ordering the traces as the 6-gram model does.
//
//   node dist/scorer/eval/adfa-context.js baseline OUT_DIR            # sets, 6-gram LM
//   node dist/scorer/eval/adfa-context.js tcn OUT_DIR [--layers 7] [--channels 64] [--epochs 6] [--seed 1]
//   node dist/scorer/eval/adfa-context.js gru OUT_DIR [--channels 64] [--epochs 4] [--bptt 64] [--seed 1]
//   node dist/scorer/eval/adfa-context.js combine OUT_DIR/a.json OUT_DIR/b.json+OUT_DIR/c.json ...   (`+`: an ensemble)

const DATA = process.env.ADFA_DIR ?? '/work/shared/data/adfa-ld';

interface Trace {
  calls: string[];
  anomalous: boolean;
  kind: string;
}

function readTraces(file: string): Trace[] {
  const lines = zlib.gunzipSync(fs.readFileSync(file)).toString('utf8').split('\n').slice(1);
  return lines
    .filter((l) => l.trim())
    .map((l) => {
      const f = l.split('\t');
      return { calls: f[5].trim().split(/\s+/), anomalous: f[1] !== 'normal', kind: f[2] || 'normal' };
    });
}

interface Scores {
  name: string;
  cpuSeconds: number;
  /** larger = more anomalous, one per dev trace in file order */
  values: number[];
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function save(dir: string, s: Scores): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(`${dir}/${s.name}.json`, JSON.stringify(s));
  console.log(`${s.name}: ${s.cpuSeconds.toFixed(0)} s CPU; ${describe(s.values, readTraces(`${DATA}/dev.tsv.gz`))}`);
}

// ---------------------------------------------------------------- metrics

function auc(values: readonly number[], labels: readonly boolean[]): number {
  const idx = values.map((_, i) => i).sort((a, b) => values[a] - values[b]);
  let pos = 0;
  let neg = 0;
  let rankSum = 0;
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j < idx.length && values[idx[j]] === values[idx[i]]) j++;
    const mid = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) {
      if (labels[idx[k]]) {
        pos++;
        rankSum += mid;
      } else neg++;
    }
    i = j;
  }
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

function describe(values: readonly number[], dev: readonly Trace[]): string {
  const normals = values.filter((_, i) => !dev[i].anomalous).sort((a, b) => a - b);
  const p99 = normals[Math.floor(0.99 * (normals.length - 1))];
  const attacks = values.filter((_, i) => dev[i].anomalous);
  const above = attacks.filter((v) => v > p99).length / attacks.length;
  const kinds = [...new Set(dev.filter((t) => t.anomalous).map((t) => t.kind))].sort();
  const perKind = kinds.map((k) => {
    const keep = dev.map((t) => !t.anomalous || t.kind === k);
    return auc(
      values.filter((_, i) => keep[i]),
      dev.filter((_, i) => keep[i]).map((t) => t.anomalous),
    ).toFixed(3);
  });
  const all = auc(
    values,
    dev.map((t) => t.anomalous),
  );
  return `AUC ${all.toFixed(4)} (${perKind.join(' / ')}), @1 % ${(100 * above).toFixed(1)} %`;
}

/** rank correlation: how far two statistics order the dev traces alike */
function spearman(x: readonly number[], y: readonly number[]): number {
  const rx = ranks(x);
  const ry = ranks(y);
  const mean = (r: number[]) => r.reduce((a, b) => a + b, 0) / r.length;
  const mx = mean(rx);
  const my = mean(ry);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) ** 2;
    syy += (ry[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/**
 * Each argument is a score file, or files joined by `+`: an ensemble, its members' ranks
 * averaged. Reports each argument, the rank sum of all, and of every pair.
 */
function combine(groups: string[]): void {
  const dev = readTraces(`${DATA}/dev.tsv.gz`);
  const all: Scores[] = groups.map((g) => {
    const members = g.split('+').map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as Scores);
    if (members.length === 1) return members[0];
    const r = members.map((m) => ranks(m.values));
    return {
      name: members.map((m) => m.name).join(' + '),
      cpuSeconds: members.reduce((a, m) => a + m.cpuSeconds, 0),
      values: dev.map((_, i) => r.reduce((a, x) => a + x[i], 0) / r.length),
    };
  });
  for (const s of all) console.log(`${s.name} (${s.cpuSeconds.toFixed(0)} s CPU): ${describe(s.values, dev)}`);
  const sum = (parts: Scores[]) => {
    const r = parts.map((p) => ranks(p.values));
    return dev.map((_, i) => r.reduce((a, x) => a + x[i], 0));
  };
  if (all.length > 2) console.log(`rank sum of all ${all.length}: ${describe(sum(all), dev)}`);
  if (all.length <= 8)
    for (let a = 0; a < all.length; a++)
      for (let b = a + 1; b < all.length; b++)
        console.log(
          `rank sum [${all[a].name}] + [${all[b].name}]: ${describe(sum([all[a], all[b]]), dev)}; Spearman ${spearman(all[a].values, all[b].values).toFixed(3)}`,
        );
}

// ---------------------------------------------------------------- baselines

async function baseline(dir: string): Promise<void> {
  const train = readTraces(`${DATA}/train.tsv.gz`);
  const dev = readTraces(`${DATA}/dev.tsv.gz`);
  let t0 = cpuSeconds();
  const sets = new KeySetNeighbours();
  sets.fit(train.map((t) => t.calls));
  save(dir, { name: 'sets', cpuSeconds: cpuSeconds() - t0, values: dev.map((t) => sets.distance(t.calls).value) });
  t0 = cpuSeconds();
  const lm = await traceLanguageModel(train.map((t) => t.calls));
  const values: number[] = [];
  for (const t of dev) values.push(await lm(t.calls));
  save(dir, { name: 'ngram6', cpuSeconds: cpuSeconds() - t0, values });
}

// ---------------------------------------------------------------- shared by the networks

interface Vocab {
  ids: Map<string, number>;
  size: number;
}
/** 0: a call unseen in training; 1: the start of the trace (and padding before it) */
const UNK = 0;
const BOS = 1;

function vocabulary(train: readonly Trace[]): Vocab {
  const ids = new Map<string, number>();
  for (const t of train) for (const c of t.calls) if (!ids.has(c)) ids.set(c, ids.size + 2);
  return { ids, size: ids.size + 2 };
}

function encode(t: Trace, v: Vocab): Int32Array {
  return Int32Array.from(t.calls, (c) => v.ids.get(c) ?? UNK);
}

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

/** −log p of each target, summed over the rows whose mask is 1, and the mask's sum */
function maskedNll(logits: tf.Tensor2D, targets: Int32Array, mask: Float32Array, V: number): tf.Scalar {
  const onehot = tf.mul(tf.oneHot(tf.tensor1d(targets, 'int32'), V), tf.tensor2d(mask, [mask.length, 1]));
  return tf.div(
    tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)))),
    Math.max(
      1,
      mask.reduce((a, b) => a + b, 0),
    ),
  );
}

/** per-trace mean of −log p per call, unseen calls at UNSEEN_NATS */
function traceMeans(logp: Float32Array, V: number, rows: { trace: number; ids: Int32Array; offset: number }[], out: number[]): void {
  for (const r of rows) {
    let sum = 0;
    for (let t = 0; t < r.ids.length; t++) {
      const id = r.ids[t];
      sum += id === UNK ? UNSEEN_NATS : Math.min(UNSEEN_NATS, -logp[(r.offset + t) * V + id]);
    }
    out[r.trace] = sum / r.ids.length;
  }
}

// ---------------------------------------------------------------- TCN language model

interface TcnWeights {
  embed: tf.Variable;
  layers: { w: tf.Variable; b: tf.Variable }[];
  out: tf.Variable;
  outBias: tf.Variable;
}

/** h[t − d] for every t (zeros before the start): causal, so no call sees its future */
function shift(h: tf.Tensor3D, d: number): tf.Tensor3D {
  const [B, T, C] = h.shape;
  if (d >= T) return tf.zerosLike(h);
  return tf.pad(tf.slice(h, [0, 0, 0], [B, T - d, C]), [
    [0, 0],
    [d, 0],
    [0, 0],
  ]);
}

/** logits [B·T, V] of the next call at every position of B input rows of T ids */
function tcnLogits(w: TcnWeights, ids: Int32Array, B: number, T: number, V: number): tf.Tensor2D {
  const C = w.embed.shape[1]!;
  let h = tf.reshape(matMul(tf.oneHot(tf.tensor1d(ids, 'int32'), V), w.embed), [B, T, C]) as tf.Tensor3D;
  w.layers.forEach((layer, l) => {
    const both = tf.reshape(tf.concat([shift(h, 2 ** l), h], 2), [B * T, 2 * C]);
    const z = tf.relu(tf.add(matMul(both, layer.w), layer.b));
    h = tf.add(h, tf.reshape(z, [B, T, C]));
  });
  return tf.add(matMul(tf.reshape(h, [B * T, C]), w.out), w.outBias);
}

/** each dev trace's mean −log p per call, in one causal pass per batch of traces of similar length */
async function tcnScores(w: TcnWeights, dev: readonly Trace[], v: Vocab): Promise<number[]> {
  const V = v.size;
  const devIds = dev.map((t) => encode(t, v));
  const values = new Array<number>(dev.length);
  const byLength = devIds.map((_, i) => i).sort((a, b) => devIds[a].length - devIds[b].length);
  const MAX_POSITIONS = 16_384;
  for (let at = 0; at < byLength.length;) {
    let B = 1;
    while (at + B < byLength.length && (B + 1) * devIds[byLength[at + B]].length <= MAX_POSITIONS) B++;
    const Tn = devIds[byLength[at + B - 1]].length;
    const ids = new Int32Array(B * Tn).fill(BOS);
    const rows = byLength.slice(at, at + B).map((trace, r) => {
      const calls = devIds[trace];
      for (let t = 1; t < calls.length; t++) ids[r * Tn + t] = calls[t - 1];
      return { trace, ids: calls, offset: r * Tn };
    });
    const logp = tf.tidy(() => tf.logSoftmax(tcnLogits(w, ids, B, Tn, V)));
    traceMeans((await logp.data()) as Float32Array, V, rows, values);
    logp.dispose();
    at += B;
  }
  return values;
}

async function tcn(dir: string, args: string[]): Promise<void> {
  const L = arg(args, 'layers', 7);
  const C = arg(args, 'channels', 64);
  const epochs = arg(args, 'epochs', 6);
  const seed = arg(args, 'seed', 1);
  const lr = arg(args, 'lr', 0.003);
  const share = arg(args, 'train-share', 1);
  const S = arg(args, 'segment', 256); // targets per training segment
  const R = 2 ** L; // receptive field: the context each segment carries before its targets
  const batch = 16;
  await selectBackend();
  console.log(`backend ${tf.getBackend()}; tcn layers ${L} (receptive field ${R}), channels ${C}, epochs ${epochs}, seed ${seed}`);
  const t0 = cpuSeconds();
  const train = readTraces(`${DATA}/train.tsv.gz`);
  const dev = readTraces(`${DATA}/dev.tsv.gz`);
  const v = vocabulary(train);
  const V = v.size;
  const trainIds = train.map((t) => encode(t, v)).filter((_, i) => i % Math.round(1 / share) === 0);
  // segments of S targets with the R calls before them as unscored context
  const segments: { trace: number; start: number }[] = [];
  trainIds.forEach((ids, trace) => {
    for (let s = 0; s < ids.length; s += S) segments.push({ trace, start: s });
  });
  const glorot = (shape: [number, number], s: number) => tf.initializers.glorotUniform({ seed: seed * 100 + s }).apply(shape) as tf.Tensor2D;
  const w: TcnWeights = {
    embed: tf.variable(glorot([V, C], 1)),
    layers: Array.from({ length: L }, (_, l) => ({ w: tf.variable(tf.mul(glorot([2 * C, C], 2 + l), 0.5)), b: tf.variable(tf.zeros([C])) })),
    out: tf.variable(glorot([C, V], 50)),
    outBias: tf.variable(tf.zeros([V])),
  };
  const vars = [w.embed, ...w.layers.flatMap((x) => [x.w, x.b]), w.out, w.outBias];
  const optimizer = tf.train.adam(lr);
  const T = R + S;
  const order = segments.map((_, i) => i);
  for (let epoch = 0; epoch < epochs; epoch++) {
    shuffle(order, seed * 1000 + epoch);
    let loss = 0;
    let steps = 0;
    for (let at = 0; at < order.length; at += batch) {
      const part = order.slice(at, at + batch);
      const B = part.length;
      const ids = new Int32Array(B * T).fill(BOS);
      const targets = new Int32Array(B * T);
      const mask = new Float32Array(B * T);
      part.forEach((si, r) => {
        const { trace, start } = segments[si];
        const calls = trainIds[trace];
        for (let t = 0; t < T; t++) {
          const pos = start - R + t; // the target's position in the trace
          if (pos < 0 || pos >= calls.length) continue;
          ids[r * T + t] = pos === 0 ? BOS : calls[pos - 1];
          targets[r * T + t] = calls[pos];
          if (pos >= start) mask[r * T + t] = 1;
        }
      });
      const cost = optimizer.minimize(() => maskedNll(tcnLogits(w, ids, B, T, V), targets, mask, V), true, vars)!;
      loss += (await cost.data())[0];
      steps++;
      cost.dispose();
    }
    const trend = args.includes('--every-epoch') ? `; dev ${describe(await tcnScores(w, dev, v), dev)}` : '';
    console.log(`epoch ${epoch}: training loss ${(loss / steps).toFixed(4)} nats/call, ${(cpuSeconds() - t0).toFixed(0)} s CPU${trend}`);
  }
  const trainCpu = cpuSeconds() - t0;
  const values = await tcnScores(w, dev, v);
  const name = args.includes('--name') ? args[args.indexOf('--name') + 1] : `tcn-L${L}-C${C}-e${epochs}-s${seed}`;
  console.log(`training ${trainCpu.toFixed(0)} s CPU, scoring ${(cpuSeconds() - t0 - trainCpu).toFixed(0)} s CPU`);
  save(dir, { name, cpuSeconds: cpuSeconds() - t0, values });
}

// ---------------------------------------------------------------- GRU over whole traces

interface GruWeights {
  input: tf.Variable;
  recurrent: tf.Variable;
  bias: tf.Variable;
  out: tf.Variable;
  outBias: tf.Variable;
}

/**
 * K steps of a GRU (Keras's reset-after form) from state h over B traces, inputs time-major
 * (row t·B + b); returns the logits of every step, time-major, and the last state
 */
function gruChunk(w: GruWeights, ids: Int32Array, h0: tf.Tensor2D, B: number, K: number, V: number): { logits: tf.Tensor2D; h: tf.Tensor2D } {
  const x = tf.add(matMul(tf.oneHot(tf.tensor1d(ids, 'int32'), V), w.input), w.bias);
  const steps = tf.split(x, K, 0);
  let h: tf.Tensor2D = h0;
  const hs: tf.Tensor2D[] = [];
  for (let t = 0; t < K; t++) {
    const [xz, xr, xn] = tf.split(steps[t], 3, 1);
    const [hz, hr, hn] = tf.split(matMul(h, w.recurrent), 3, 1);
    const z = tf.sigmoid(tf.add(xz, hz));
    const r = tf.sigmoid(tf.add(xr, hr));
    const n = tf.tanh(tf.add(xn, tf.mul(r, hn)));
    h = tf.add(n, tf.mul(z, tf.sub(h, n))) as tf.Tensor2D;
    hs.push(h);
  }
  return { logits: tf.add(matMul(tf.concat(hs, 0), w.out), w.outBias), h };
}

/** traces grouped by length into batches of B, each padded to its longest, time-major */
function gruBatches(traces: readonly Int32Array[], B: number): { members: number[]; T: number }[] {
  const order = traces.map((_, i) => i).sort((a, b) => traces[a].length - traces[b].length);
  const out: { members: number[]; T: number }[] = [];
  for (let at = 0; at < order.length; at += B) {
    const members = order.slice(at, at + B);
    out.push({ members, T: traces[members[members.length - 1]].length });
  }
  return out;
}

/** the inputs (previous call, BOS first), targets and mask of steps [from, from + K) of a batch */
function gruSlice(traces: readonly Int32Array[], members: readonly number[], from: number, K: number) {
  const B = members.length;
  const ids = new Int32Array(K * B).fill(BOS);
  const targets = new Int32Array(K * B);
  const mask = new Float32Array(K * B);
  members.forEach((trace, b) => {
    const calls = traces[trace];
    for (let t = 0; t < K; t++) {
      const pos = from + t;
      if (pos >= calls.length) continue;
      ids[t * B + b] = pos === 0 ? BOS : calls[pos - 1];
      targets[t * B + b] = calls[pos];
      mask[t * B + b] = 1;
    }
  });
  return { ids, targets, mask };
}

async function gru(dir: string, args: string[]): Promise<void> {
  const U = arg(args, 'units', 64);
  const epochs = arg(args, 'epochs', 4);
  const seed = arg(args, 'seed', 1);
  const lr = arg(args, 'lr', 0.005);
  const K = arg(args, 'bptt', 64);
  const B = arg(args, 'batch', 32);
  const share = arg(args, 'train-share', 1);
  await selectBackend();
  console.log(`backend ${tf.getBackend()}; gru units ${U}, truncated BPTT ${K}, batch ${B}, epochs ${epochs}, seed ${seed}`);
  const t0 = cpuSeconds();
  const train = readTraces(`${DATA}/train.tsv.gz`);
  const dev = readTraces(`${DATA}/dev.tsv.gz`);
  const v = vocabulary(train);
  const V = v.size;
  const trainIds = train.map((t) => encode(t, v)).filter((_, i) => i % Math.round(1 / share) === 0);
  const glorot = (shape: [number, number], s: number) => tf.initializers.glorotUniform({ seed: seed * 100 + s }).apply(shape) as tf.Tensor2D;
  const w: GruWeights = {
    input: tf.variable(glorot([V, 3 * U], 1)),
    recurrent: tf.variable(glorot([U, 3 * U], 2)),
    bias: tf.variable(tf.zeros([3 * U])),
    out: tf.variable(glorot([U, V], 3)),
    outBias: tf.variable(tf.zeros([V])),
  };
  const vars = Object.values(w) as tf.Variable[];
  const optimizer = tf.train.adam(lr);
  for (let epoch = 0; epoch < epochs; epoch++) {
    // a different grouping each epoch: the traces are shuffled within runs of similar length
    const batches = gruBatches(trainIds, B);
    const order = batches.map((_, i) => i);
    shuffle(order, seed * 1000 + epoch);
    let loss = 0;
    let steps = 0;
    for (const bi of order) {
      const { members, T } = batches[bi];
      let h: tf.Tensor2D = tf.zeros([members.length, U]);
      for (let from = 0; from < T; from += K) {
        const k = Math.min(K, T - from);
        const { ids, targets, mask } = gruSlice(trainIds, members, from, k);
        let carried: tf.Tensor2D | null = null;
        const cost = optimizer.minimize(
          () => {
            const r = gruChunk(w, ids, h, members.length, k, V);
            carried = tf.keep(r.h);
            return maskedNll(r.logits, targets, mask, V);
          },
          true,
          vars,
        )!;
        loss += (await cost.data())[0];
        steps++;
        cost.dispose();
        h.dispose();
        h = carried!;
      }
      h.dispose();
    }
    console.log(`epoch ${epoch}: training loss ${(loss / steps).toFixed(4)} nats/call (chunk mean), ${(cpuSeconds() - t0).toFixed(0)} s CPU`);
  }
  const trainCpu = cpuSeconds() - t0;
  const devIds = dev.map((t) => encode(t, v));
  const values = new Array<number>(dev.length);
  const sums = new Float64Array(dev.length);
  for (const { members, T } of gruBatches(devIds, 128)) {
    let h: tf.Tensor2D = tf.zeros([members.length, U]);
    for (let from = 0; from < T; from += K) {
      const k = Math.min(K, T - from);
      const { ids, targets, mask } = gruSlice(devIds, members, from, k);
      const [logp, next] = tf.tidy(() => {
        const r = gruChunk(w, ids, h, members.length, k, V);
        return [tf.logSoftmax(r.logits), r.h];
      });
      const lp = (await logp.data()) as Float32Array;
      for (let j = 0; j < targets.length; j++) {
        if (!mask[j]) continue;
        const id = targets[j];
        sums[members[j % members.length]] += id === UNK ? UNSEEN_NATS : Math.min(UNSEEN_NATS, -lp[j * V + id]);
      }
      tf.dispose([logp, h]);
      h = next as tf.Tensor2D;
    }
    h.dispose();
  }
  devIds.forEach((ids, i) => (values[i] = sums[i] / ids.length));
  const name = args.includes('--name') ? args[args.indexOf('--name') + 1] : `gru-U${U}-K${K}-e${epochs}-s${seed}`;
  console.log(`training ${trainCpu.toFixed(0)} s CPU, scoring ${(cpuSeconds() - t0 - trainCpu).toFixed(0)} s CPU`);
  save(dir, { name, cpuSeconds: cpuSeconds() - t0, values });
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const [mode, dir, ...rest] = process.argv.slice(2);
  if (mode === 'baseline') await baseline(dir);
  else if (mode === 'tcn') await tcn(dir, rest);
  else if (mode === 'gru') await gru(dir, rest);
  else if (mode === 'combine') combine([dir, ...rest]);
  else throw new Error('usage: adfa-context.js baseline|tcn|gru|combine OUT_DIR ...');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
