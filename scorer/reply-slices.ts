import * as v8 from 'v8';

// The scorer thread's answer to a batch (its scored rows and closed windows), sent to the
// thread that answers osqueryd as slices of bytes instead of objects. A MessagePort message is
// made into objects whole, before any other callback runs: a batch of 500 scored rows took
// 2.0–4.9 ms in one block on that thread (v8.deserialize of the rows, docs/benchmarks.md,
// "Ingest, fourth pass"), and every logger call that arrived meanwhile waited for it. As
// slices, the bytes cross the thread boundary without a copy (transferred) and each slice is
// made into objects only when it is retained, one slice per turn of the event loop.

/** scored rows (or windows) per slice: the main thread retains one slice a turn */
export const RETAIN_SLICE = 50;

/** `rows` in slices of at most `per`, each serialized into an ArrayBuffer of its own (for a transfer list) */
export function toSlices<T>(rows: readonly T[], per = RETAIN_SLICE): Uint8Array[] {
  const slices: Uint8Array[] = [];
  for (let i = 0; i < rows.length; i += per) {
    const bytes = v8.serialize(rows.slice(i, i + per));
    // transferring a view's buffer hands over the whole buffer: a slice must own all of its own
    slices.push(bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength ? bytes : new Uint8Array(bytes));
  }
  return slices;
}

/** the buffers a postMessage hands over instead of copying */
export function transferOf(...groups: Array<readonly Uint8Array[] | undefined>): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const g of groups) for (const s of g ?? []) out.push(s.buffer as ArrayBuffer);
  return out;
}

/** the rows of one slice */
export function fromSlice<T>(slice: Uint8Array): T[] {
  return v8.deserialize(slice) as T[];
}
