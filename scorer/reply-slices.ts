import * as v8 from 'v8';

// The scorer thread's answer to a batch (its scored rows and closed windows), sent to the
// thread that answers osqueryd as slices of bytes instead of objects. A MessagePort message is
// made into objects whole, before any other callback runs: a batch of 500 scored rows took
// 2.0–4.9 ms in one block on that thread (v8.deserialize of the rows, docs/benchmarks.md,
// "Ingest, fourth pass"), and every logger call that arrived meanwhile waited for it. As
// slices, the bytes cross the thread boundary without a copy (transferred) and each slice is
// made into objects only when it is retained, one slice per turn of the event loop.
//
// The models' summaries come with every answer, as bytes, and are made into objects only
// when anomaly_models is read: with 500 subjects (1,500 summaries, 194 kB) making them into
// objects took 5–14 ms, on every batch's answer.

/** scored rows (or windows) per slice: the main thread retains one slice a turn */
export const RETAIN_SLICE = 50;

/** `value` serialized into an ArrayBuffer of its own (for a transfer list) */
export function toBytes(value: unknown): Uint8Array {
  const bytes = v8.serialize(value);
  // transferring a view's buffer hands over the whole buffer: the bytes must own all of theirs
  return bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength ? bytes : new Uint8Array(bytes);
}

/** what toBytes serialized */
export function fromBytes<T>(bytes: Uint8Array): T {
  return v8.deserialize(bytes) as T;
}

/** `rows` in slices of at most `per`, each serialized into an ArrayBuffer of its own (for a transfer list) */
export function toSlices<T>(rows: readonly T[], per = RETAIN_SLICE): Uint8Array[] {
  const slices: Uint8Array[] = [];
  for (let i = 0; i < rows.length; i += per) slices.push(toBytes(rows.slice(i, i + per)));
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
  return fromBytes<T[]>(slice);
}
