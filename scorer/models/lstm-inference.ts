import * as tf from '@tensorflow/tfjs';

// The scoring forward pass of the next-key LSTM (lstm.ts), lean.
//
// A subject's model is tiny (32 units, tens to hundreds of keys, 10 steps), so the tensor
// graph that trains it spends most of a forward pass dispatching ~120 kernels and in
// Math.tanh, not multiplying. Here the one part that is real algebra, each step's recurrence
// [B, U] × [U, 4U] and the output layer, runs as one backend matmul over the batch (wasm's
// SIMD GEMM is ~7× plain JS); the input projection is a row lookup and the gates are one
// pass of plain arithmetic over the batch, with a float32-accurate tanh. The algebra is the
// training graph's (Keras gates i f c o, hard-sigmoid recurrent activation, tanh cell); the
// tensor path stays the reference, and test/lstm-inference.test.ts holds the two to float
// noise on a fixture.

export interface LstmWeights {
  /** [V, 4U] input kernel: a key's row is its input projection */
  kernel: tf.Tensor;
  /** [U, 4U] */
  recurrent: tf.Tensor;
  /** [4U] */
  bias: tf.Tensor;
  /** [U, V] */
  out: tf.Tensor;
  /** [V] */
  outBias: tf.Tensor;
}

export class LstmInference {
  private readonly U: number;
  /** kernel rows with the bias added: a step's input is one row */
  private readonly input: Float32Array;

  /** the tensors are the model's own; the model keeps them alive while this is in use */
  constructor(
    private readonly w: LstmWeights,
    units: number,
  ) {
    this.U = units;
    this.input = (w.kernel.dataSync() as Float32Array).slice();
    const bias = w.bias.dataSync() as Float32Array;
    const G = 4 * units;
    for (let r = 0; r < this.input.length; r += G) for (let j = 0; j < G; j++) this.input[r + j] += bias[j];
  }

  /**
   * Logits [B, V] (row-major) after B contexts of W ids each (ids row-major). The state
   * starts at zero for every context, as in training: a score depends on the last W keys only.
   *
   * The state after a context's first t keys depends on those keys only, so contexts that
   * begin alike share it: step t runs once per distinct prefix of length t + 1 (a trie of the
   * batch's contexts), not once per context. A subject's stream repeats its routines, and the
   * padded contexts at its start share their padding: on the demo developer's test half, the
   * 15,200 context-steps are 11,082 distinct prefixes. Each prefix's arithmetic is the one its
   * contexts had, so the logits are those of the unshared pass.
   */
  logits(ids: Int32Array, B: number, W: number): Float32Array {
    const U = this.U;
    const G = 4 * U;
    const { input } = this;
    // node[b]: context b's prefix at the current depth; parent/id of each prefix of this depth
    const node = new Int32Array(B);
    const parent = new Int32Array(B);
    const keyOf = new Int32Array(B);
    const V = input.length / G;
    let h = new Float32Array(0);
    let c = new Float32Array(0);
    let count = 1; // one empty prefix, state zero
    const seen = new Map<number, number>();
    for (let t = 0; t < W; t++) {
      // the distinct prefixes of length t + 1: (prefix of length t, the key at t)
      seen.clear();
      let n = 0;
      for (let b = 0; b < B; b++) {
        const id = ids[b * W + t];
        const k = node[b] * V + id;
        let at = seen.get(k);
        if (at === undefined) {
          seen.set(k, (at = n++));
          parent[at] = node[b];
          keyOf[at] = id;
        }
        node[b] = at;
      }
      // h is zero before the first step: its recurrence adds nothing
      const z = t === 0 ? new Float32Array(count * G) : this.matMul(h, count, this.w.recurrent);
      const h2 = new Float32Array(n * U);
      const c2 = new Float32Array(n * U);
      // before the first step c is zero: every prefix reads the one row of zeros
      const cPrev = t === 0 ? new Float32Array(U) : c;
      for (let r = 0; r < n; r++) step(input, keyOf[r] * G, z, parent[r] * G, cPrev, t === 0 ? 0 : parent[r] * U, h2, c2, r * U, U);
      h = h2;
      c = c2;
      count = n;
    }
    // one output row per context (its last prefix): contexts were distinct when score() built the batch
    const last = new Float32Array(B * U);
    for (let b = 0; b < B; b++) last.set(h.subarray(node[b] * U, (node[b] + 1) * U), b * U);
    return read(tf.tidy(() => tf.add(tf.matMul(tf.tensor2d(last, [B, U]), this.w.out), this.w.outBias)));
  }

  private matMul(h: Float32Array, B: number, weights: tf.Tensor): Float32Array {
    return read(tf.tidy(() => tf.matMul(tf.tensor2d(h, [B, this.U]), weights as tf.Tensor2D)));
  }
}

/**
 * The last tensor read, disposed: kept so that one Tensor object lives in this thread between
 * two scoring passes. V8 holds a class's instance layout (the map a tensor has once its
 * constructor has run) only through a weak link from the class, so at a full collection with
 * no tensor alive the layout dies, and every optimised function that checks it (logits above,
 * tfjs's engine) is thrown away and optimised again at its next use. The scorer thread's
 * forced collections (scorer/heap.ts) come between scoring passes, when no tensor is alive:
 * in the demo the forward pass here was optimised 47 times, with this 2 to 4 times. A
 * disposed tensor holds no backend memory and counts in no tfjs total (docs/benchmarks.md,
 * "The demo's CPU, per thread, at fce2fe7").
 */
const lastRead: { tensor: tf.Tensor | null } = { tensor: null };

/** a tensor's values, and the tensor gone (tf.tidy must not return them: it walks every element) */
function read(t: tf.Tensor): Float32Array {
  const values = t.dataSync() as Float32Array;
  t.dispose();
  lastRead.tensor = t;
  return values;
}

/** one step of one prefix: gates from the input row plus the recurrence, then its c and h from its parent's c */
function step(
  input: Float32Array,
  x: number,
  z: Float32Array,
  r: number,
  cPrev: Float32Array,
  p: number,
  h: Float32Array,
  c: Float32Array,
  s: number,
  U: number,
): void {
  for (let u = 0; u < U; u++) {
    const zi = input[x + u] + z[r + u];
    const zf = input[x + U + u] + z[r + U + u];
    const zc = input[x + 2 * U + u] + z[r + 2 * U + u];
    const zo = input[x + 3 * U + u] + z[r + 3 * U + u];
    const cell = hardSigmoid(zf) * cPrev[p + u] + hardSigmoid(zi) * tanh(zc);
    c[s + u] = cell;
    h[s + u] = hardSigmoid(zo) * tanh(cell);
  }
}

function hardSigmoid(x: number): number {
  const y = 0.2 * x + 0.5;
  return y < 0 ? 0 : y > 1 ? 1 : y;
}

/**
 * tanh to float32 accuracy (|error| < 3e-7), several times faster than Math.tanh: the
 * rational approximation Eigen and XNNPACK use for float32, clamped where tanh is ±1 in
 * float32.
 */
export function tanh(v: number): number {
  const x = v > 7.90531110763549805 ? 7.90531110763549805 : v < -7.90531110763549805 ? -7.90531110763549805 : v;
  const x2 = x * x;
  let p = x2 * -2.76076847742355e-16 + 2.00018790482477e-13;
  p = p * x2 - 8.60467152213735e-11;
  p = p * x2 + 5.12229709037114e-8;
  p = p * x2 + 1.48572235717979e-5;
  p = p * x2 + 6.37261928875436e-4;
  p = p * x2 + 4.89352455891786e-3;
  let q = x2 * 1.19825839466702e-6 + 1.18534705686654e-4;
  q = q * x2 + 2.268434632439e-3;
  q = q * x2 + 4.89352518554385e-3;
  return (p * x) / q;
}
