import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { installWasmSlice } from '../scorer/models/wasm-slice';

// The wasm backend's Slice, SplitV and Identity kernels are replaced by ones that copy (or
// share) the same elements without reading the whole input out of the heap first: what they
// compute, forwards and through gradients, must be what the package's own kernels computed,
// to the bit, or every trained LSTM would change.

/** an LSTM-like step and its gradients: split into gates, a slice, elementwise ops, a matmul */
function stepAndGradients(x: tf.Tensor2D, w: tf.Tensor2D): number[][] {
  return tf.tidy(() => {
    const f = (a: tf.Tensor, b: tf.Tensor) => {
      const z = tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);
      const [i, g, , o] = tf.split(tf.clipByValue(tf.add(tf.mul(z, 0.2), 0.5), 0, 1), 4, 1);
      const c = tf.tanh(tf.slice(z, [0, 4], [z.shape[0], 2]));
      return tf.sum(tf.mul(o, tf.tanh(tf.add(tf.mul(g, c), tf.mul(i, c)))));
    };
    const { value, grads } = tf.valueAndGrads(f)([x, w]);
    return [Array.from(value.dataSync()), ...grads.map((d) => Array.from(d.dataSync()))];
  });
}

/** every slice of a [2, 3, 4] tensor that starts and ends on whole elements, as [begin, size] */
function slices(): Array<[number[], number[]]> {
  const out: Array<[number[], number[]]> = [];
  for (const b0 of [0, 1])
    for (const b1 of [0, 1, 2])
      for (const b2 of [0, 1, 3])
        out.push(
          [
            [b0, b1, b2],
            [2 - b0, 3 - b1, 4 - b2],
          ],
          [
            [b0, b1, b2],
            [1, 1, 1],
          ],
        );
  return out;
}

t.test('slices, splits and clones are the package kernels’ values, to the bit', async (t) => {
  t.ok(await tf.setBackend('wasm'));
  await tf.ready();
  let seed = 7;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const x = tf.tensor2d(Array.from({ length: 6 * 5 }, rand), [6, 5]);
  const w = tf.tensor2d(Array.from({ length: 5 * 8 }, rand), [5, 8]);
  const cube = tf.tensor3d(
    Array.from({ length: 24 }, (_, i) => i),
    [2, 3, 4],
    'int32',
  );
  const ints = tf.tensor2d(
    Array.from({ length: 12 }, (_, i) => i * 3),
    [3, 4],
    'int32',
  );

  const values = (ts: tf.Tensor[]) => {
    const v = ts.map((p) => Array.from(p.dataSync()));
    tf.dispose(ts);
    return v;
  };
  const run = () => ({
    step: stepAndGradients(x, w),
    slices: values(slices().map(([b, s]) => tf.slice(cube, b, s))),
    split: values(tf.split(ints, [1, 2, 1], 1)),
    rows: values(tf.split(ints, 3, 0)),
  });
  const start = tf.memory();
  const theirs = run();
  t.equal(tf.memory().numTensors, start.numTensors, 'no tensor left behind by the package’s kernels');
  installWasmSlice(tf);
  t.not(tf.getKernel('Slice', 'wasm'), undefined);
  const ours = run();
  t.equal(tf.memory().numTensors, start.numTensors, 'nor by these');
  t.equal(tf.memory().numBytes, start.numBytes);
  t.same(ours, theirs);
  // and they are the right elements, not merely the same wrong ones
  t.same(
    ours.slices[0],
    Array.from({ length: 24 }, (_, i) => i),
  );
  t.same(ours.split[1], [3, 6, 15, 18, 27, 30]);
  t.same(ours.rows[2], [24, 27, 30, 33]);

  // a clone shares its data: disposing either leaves the other whole
  const a = tf.tensor1d([1, 2, 3]);
  const b = tf.clone(a);
  a.dispose();
  t.same(Array.from(b.dataSync()), [1, 2, 3]);
  b.dispose();
  tf.dispose([x, w, cube, ints]);
});

t.test('a slice whose output grows the heap reads its input after the growth', async (t) => {
  t.ok(await tf.setBackend('wasm'));
  installWasmSlice(tf);
  // 16 MB in, nearly as much out: the output's allocation outgrows the heap the input was in
  const rows = 4096;
  const big = tf.tidy(() => tf.add(tf.range(0, rows * 1024, 1, 'float32').reshape([rows, 1024]), 0));
  const part = tf.slice(big, [1, 1], [rows - 1, 1023]);
  const got = part.dataSync();
  let wrong = 0;
  for (let r = 0; r < rows - 1; r++) for (let c = 0; c < 1023; c += 97) if (got[r * 1023 + c] !== (r + 1) * 1024 + c + 1) wrong++;
  t.equal(wrong, 0);
  tf.dispose([big, part]);
});
