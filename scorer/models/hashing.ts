import { CONDITIONS, type BehaviourEvent } from '../types';

// Feature hashing of a generalised event into a fixed-size sparse vector: signed hashing
// (Weinberger et al. 2009) keeps collisions unbiased; the vector is L2-normalised so that
// an RBF kernel compares shapes of behaviour, not how many tokens a row happened to have.
//
// Each feature is the 32-bit FNV-1a hash (scorer/hash.ts) of a token such as `key=…` or
// `next2=a>b>c`. FNV-1a reads a string one code unit at a time, so the hash of a joined
// token is computed by carrying the state across its parts: no token string is built, and
// the result is the hash of the joined string to the bit (test/models.test.ts holds it to
// the string-building original). Building those strings, and a Map and a sort of entries
// per event, were most of the SVM's scoring time.

export interface SparseVector {
  index: Int32Array;
  value: Float64Array;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const GT = 62; // '>'

/** FNV-1a state `h` carried over `text` (not yet made unsigned) */
function fnvOver(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return h;
}

function fnvChar(h: number, code: number): number {
  return Math.imul(h ^ code, FNV_PRIME);
}

const KEY = fnvOver(FNV_OFFSET, 'key=');
const NEXT1 = fnvOver(FNV_OFFSET, 'next1=');
const NEXT2 = fnvOver(FNV_OFFSET, 'next2=');
const CTX = fnvOver(FNV_OFFSET, 'ctx=');

/**
 * Scratch for one event's accumulation, reused: a dense accumulator over the dims and the
 * list of the features touched. Sums are made in the same order as the Map they replace
 * (token order), so the values are the same to the bit.
 */
let acc = new Float64Array(0);
let touched = new Int32Array(0);

/** the event's sparse vector; of the context only its last five events count */
export function hashEvent(event: BehaviourEvent, context: readonly BehaviourEvent[], dims: number): SparseVector {
  if (acc.length !== dims) {
    acc = new Float64Array(dims);
    touched = new Int32Array(dims);
  }
  let n = 0;
  const add = (h: number, weight: number) => {
    const u = h >>> 0;
    const i = u % dims;
    if (acc[i] === 0 && !isTouched(i, n)) touched[n++] = i;
    acc[i] += (u & 0x80000000 ? -1 : 1) * weight;
  };
  // when something happened is the rarity model's business (down-weighted there): in the
  // SVM's geometry a first weekend would move every event of the day off the learned shape
  for (const t of event.values) if (!isTimeToken(t) && !CONDITIONS.has(t)) add(fnvOver(FNV_OFFSET, t), 1);
  for (const t of event.pairs) if (!isTimeToken(t)) add(fnvOver(FNV_OFFSET, t), 1);
  const key = event.key;
  add(fnvOver(KEY, key), 1);
  const c = context.length;
  if (c >= 1) add(fnvOver(fnvChar(fnvOver(NEXT1, context[c - 1].key), GT), key), 1);
  if (c >= 2) add(fnvOver(fnvChar(fnvOver(fnvChar(fnvOver(NEXT2, context[c - 2].key), GT), context[c - 1].key), GT), key), 1);
  // a short bag of the recent keys: the neighbourhood the event happened in
  for (let j = Math.max(0, c - 5); j < c; j++) add(fnvOver(CTX, context[j].key), 0.5);
  const order = touched.subarray(0, n).sort();
  const index = new Int32Array(n);
  const value = new Float64Array(n);
  let norm = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    const v = acc[i];
    acc[i] = 0;
    index[k] = i;
    value[k] = v;
    norm += v * v;
  }
  norm = Math.sqrt(norm) || 1;
  for (let j = 0; j < n; j++) value[j] /= norm;
  return { index, value };
}

/** whether feature i is among the first n touched: only asked when its sum is 0 (first touch, or a sum that cancelled) */
function isTouched(i: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (touched[k] === i) return true;
  return false;
}

/**
 * Time tokens, in a pooled baseline who acted (`who=`), and where a login session came from
 * (`session=`): which account did something, and from where it logged in, is the rarity
 * model's business, where recurrence over days can tell a sparse account's routine from a
 * stranger; in the SVM's geometry a rarely seen name would move every event of that account
 * off the learned shape, and a session's origin every event of the session (on the demo it
 * moved other rows' margins as well: 1 more normal row below 0.3 in each replay). A changed
 * file's location class (`pathloc=`) likewise: the SVM sees the path itself, and the class in
 * its geometry moved a normal row of the demo split below 0.5.
 * The time pairs are the event kind's and the login source's: a `>hour=` anywhere else is
 * in a path or a command line, the user's to name (`/opt/x>hour=2/nmap`), and a program
 * named so would leave the SVM's vector.
 */
function isTimeToken(t: string): boolean {
  return (
    t.startsWith('hour=') ||
    t.startsWith('day=') ||
    t.startsWith('how=') ||
    ((t.startsWith('kind=') || t.startsWith('src=')) && t.includes('>hour=')) ||
    t.startsWith('who=') ||
    t.startsWith('session=') ||
    t.startsWith('pathloc=') ||
    (t.startsWith('action=') && t.includes('>pathloc='))
  );
}
