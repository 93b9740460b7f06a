import type * as Tf from '@tensorflow/tfjs';

// tfjs-backend-wasm's Slice kernel (4.22) reads its whole input out of the wasm heap into a
// fresh ArrayBuffer (readSync) before it copies the slice, and its SplitV kernel does so once
// per part: the LSTM's step splits its [batch, 4 × units] gates into four, so each step
// copied the gates five times over and left as many buffers to the garbage collector (the
// demo's LSTM helper thread: a tenth of its time in that copy, more in collecting it). These
// kernels copy the same elements straight from the heap: the same values, to the bit, without
// the whole copy. String tensors and whatever else go to the package's own kernels.

/** the part of tfjs-backend-wasm's BackendWasm these kernels use */
interface WasmBackend {
  incRef(dataId: Tf.DataId): void;
  makeOutput(shape: number[], dtype: Tf.DataType): Tf.TensorInfo;
  typedArrayFromHeap(t: Tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

type SliceArgs = { inputs: { x: Tf.TensorInfo }; attrs: { begin: number | number[]; size: number | number[] }; backend: WasmBackend };

/** x[begin : begin + size], copied element by element from the heap into a new output */
function sliceFromHeap(x: Tf.TensorInfo, begin: number[], size: number[], backend: WasmBackend): Tf.TensorInfo {
  // the output first: its allocation may grow the heap, which detaches views taken before it
  const out = backend.makeOutput(size, x.dtype);
  const n = size.reduce((a, b) => a * b, 1);
  if (n === 0) return out;
  const to = backend.typedArrayFromHeap(out);
  const from = backend.typedArrayFromHeap(x);
  // both live in the same heap: rows move within it, without a view per row
  const heap = new Uint8Array(from.buffer);
  const bytes = from.BYTES_PER_ELEMENT;
  const rank = x.shape.length;
  const strides = new Array<number>(rank).fill(1);
  for (let d = rank - 2; d >= 0; d--) strides[d] = strides[d + 1] * x.shape[d + 1];
  // the last axis is contiguous in both: one copy per row of the output
  const inner = rank ? size[rank - 1] : 1;
  const rows = n / inner;
  const at = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  for (let r = 0; r < rows; r++) {
    let offset = rank ? begin[rank - 1] : 0;
    for (let d = 0; d < rank - 1; d++) offset += (begin[d] + at[d]) * strides[d];
    const start = from.byteOffset + offset * bytes;
    heap.copyWithin(to.byteOffset + r * inner * bytes, start, start + inner * bytes);
    for (let d = rank - 2; d >= 0 && ++at[d] === size[d]; d--) at[d] = 0;
  }
  return out;
}

let installed = false;

/** replace the wasm backend's Slice and SplitV kernels with the ones above (once; call after the wasm backend is registered) */
export function installWasmSlice(tf: typeof Tf): void {
  if (installed) return;
  installed = true;
  const slice = tf.getKernel('Slice', 'wasm');
  const split = tf.getKernel('SplitV', 'wasm');
  if (!slice || !split) return;
  const ownSlice = (args: SliceArgs) => {
    const { x } = args.inputs;
    if (x.dtype === 'string') return slice.kernelFunc(args as never);
    const [begin, size] = tf.slice_util.parseSliceParams(x as Tf.Tensor, args.attrs.begin, args.attrs.size);
    return sliceFromHeap(x, begin, size, args.backend);
  };
  const ownSplit = (args: { inputs: { x: Tf.TensorInfo }; attrs: { numOrSizeSplits: number | number[]; axis: number }; backend: WasmBackend }) => {
    const { x } = args.inputs;
    if (x.dtype === 'string') return split.kernelFunc(args as never);
    const axis = tf.util.parseAxisParam(args.attrs.axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as Tf.Tensor, args.attrs.numOrSizeSplits, axis);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = [...x.shape];
      size[axis] = s;
      const part = sliceFromHeap(x, [...begin], size, args.backend);
      begin[axis] += s;
      return part;
    });
  };
  // a clone (tfjs saves every input a gradient needs as one) copied its data; it shares it,
  // counted, as the wasm backend's Reshape and the cpu backend's Identity do
  const identity = tf.getKernel('Identity', 'wasm');
  if (identity) {
    const ownIdentity = (args: { inputs: { x: Tf.TensorInfo }; backend: WasmBackend }) => {
      const { x } = args.inputs;
      if (x.dtype === 'string') return identity.kernelFunc(args as never);
      args.backend.incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    };
    tf.unregisterKernel('Identity', 'wasm');
    tf.registerKernel({ ...identity, kernelFunc: ownIdentity as never });
  }
  tf.unregisterKernel('Slice', 'wasm');
  tf.registerKernel({ ...slice, kernelFunc: ownSlice as never });
  tf.unregisterKernel('SplitV', 'wasm');
  tf.registerKernel({ ...split, kernelFunc: ownSplit as never });
}
