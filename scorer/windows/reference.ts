import { SMOOTH, countNoise } from '../window-pace';

// What a subject usually does, against which statistics.ts measures each of its windows: the
// share of each of its usual keys and how much it varies between windows, which key follows
// which, and how many events a window holds. It is fitted on windows slid over the older part
// of the subject's history (a host's window pool fits it on its closed windows, pool.ts), and
// saved with the subject as a SavedReference.

/** held-out windows are slid by this fraction of the window length */
export const HOP_FRACTION = 1 / 20;

/** a key is one of the subject's usual keys from this share of its events */
const USUAL_SHARE = 0.01;
const MAX_USUAL = 30;
/** the usual-keys entry standing for all other keys together */
export const OTHER_SHARE = -1;

/** what a subject usually does, fitted on the older part of its history */
export interface Reference {
  /** key id → probability */
  p: Map<number, number>;
  total: number;
  /** key id → (next key id → count) */
  next: Map<number, Map<number, number>>;
  /** key id → times it is followed by anything */
  from: Map<number, number>;
  /**
   * each usual key (and OTHER_SHARE, all others together): its share of the subject's events,
   * and the variance of its log share between windows beyond binomial noise
   */
  usual: Array<{ key: number; share: number; variance: number }>;
  /** median events per window */
  medianEvents: number;
  /** variance of log(events / median) between windows beyond Poisson noise */
  rateVariance: number;
}

/** a Reference as saved (maps as arrays of pairs; `from` is counted again from `next`) */
export interface SavedReference {
  p: Array<[number, number]>;
  total: number;
  next: Array<[number, Array<[number, number]>]>;
  usual: Reference['usual'];
  medianEvents: number;
  rateVariance: number;
}

export function savedReference(r: Reference): SavedReference {
  return {
    p: [...r.p],
    total: r.total,
    next: [...r.next].map(([a, m]) => [a, [...m]]),
    usual: r.usual,
    medianEvents: r.medianEvents,
    rateVariance: r.rateVariance,
  };
}

export function restoredReference(s: SavedReference): Reference {
  const next = new Map<number, Map<number, number>>();
  const from = new Map<number, number>();
  for (const [a, pairs] of s.next) {
    next.set(a, new Map(pairs));
    from.set(
      a,
      pairs.reduce((sum, [, c]) => sum + c, 0),
    );
  }
  return {
    p: new Map(s.p),
    total: s.total,
    next,
    from,
    usual: s.usual,
    medianEvents: s.medianEvents,
    rateVariance: s.rateVariance,
  };
}

/**
 * Sliding windows over rows [from, to) of a history: calls `visit(lo, hi)` for each window of
 * length L started every `hop` seconds from `startAt` that lies entirely before `endAt` and
 * holds at least one row.
 */
export function slide(
  t: readonly number[],
  from: number,
  to: number,
  startAt: number,
  endAt: number,
  L: number,
  hop: number,
  visit: (lo: number, hi: number) => void,
): void {
  let lo = from;
  let hi = from;
  for (let s = startAt; s + L <= endAt; s += hop) {
    while (lo < to && t[lo] < s) lo++;
    if (hi < lo) hi = lo;
    while (hi < to && t[hi] < s + L) hi++;
    if (hi > lo) visit(lo, hi);
  }
}

export function logShare(count: number, n: number): number {
  return Math.log((count + SMOOTH) / (n + SMOOTH));
}

export function buildReference(k: readonly number[], t: readonly number[], from: number, to: number, L: number): Reference {
  return fitReference(k, [[from, to]], (visit) => slide(t, from, to, t[from], t[to - 1] + 1, L, Math.max(1, L * HOP_FRACTION), visit));
}

/**
 * The usual mix, order and pace from rows `k`: keys and transitions counted within each of
 * `streams` ([lo, hi) ranges of one subject's rows in time order; a pool's windows are each
 * one, since consecutive windows of a pool are other subjects), shares and pace from the
 * windows `forEachWindow` visits (slid over a subject's history, or a pool's closed windows).
 */
export function fitReference(
  k: readonly number[],
  streams: ReadonlyArray<readonly [number, number]>,
  forEachWindow: (visit: (lo: number, hi: number) => void) => void,
): Reference {
  const counts = new Map<number, number>();
  const next = new Map<number, Map<number, number>>();
  const fromCounts = new Map<number, number>();
  let total = 0;
  for (const [from, to] of streams)
    for (let i = from; i < to; i++) {
      counts.set(k[i], (counts.get(k[i]) ?? 0) + 1);
      total++;
      if (i + 1 < to) {
        let m = next.get(k[i]);
        if (!m) next.set(k[i], (m = new Map()));
        m.set(k[i + 1], (m.get(k[i + 1]) ?? 0) + 1);
        fromCounts.set(k[i], (fromCounts.get(k[i]) ?? 0) + 1);
      }
    }
  const p = new Map<number, number>();
  for (const [key, c] of counts) p.set(key, c / total);
  // the usual keys (and all others together), each with its usual share, and how much more its
  // log share varies between the subject's windows than the binomial noise of their sizes
  const usualKeys = [...p]
    .filter(([, pk]) => pk >= USUAL_SHARE)
    .sort((a, b) => b[1] - a[1])
    .slice(0, MAX_USUAL)
    .map(([key]) => key);
  let usualTotal = 0;
  for (const key of usualKeys) usualTotal += p.get(key)!;
  const shares = [...usualKeys.map((key) => p.get(key)!), Math.max(1 - usualTotal, SMOOTH / total)];
  const usualIndex = new Map(usualKeys.map((key, i) => [key, i]));
  const sizes: number[] = [];
  const excess = shares.map(() => new Moments());
  forEachWindow((lo, hi) => {
    const c = new Array<number>(shares.length).fill(0);
    for (let i = lo; i < hi; i++) c[usualIndex.get(k[i]) ?? shares.length - 1]++;
    const n = hi - lo;
    for (let j = 0; j < shares.length; j++) excess[j].add(logShare(c[j], n) - Math.log(shares[j]), shareNoise(n, shares[j]));
    sizes.push(n);
  });
  const usual = shares.map((share, j) => ({ key: j < usualKeys.length ? usualKeys[j] : OTHER_SHARE, share, variance: excess[j].excessVariance() }));
  // events per window: the median over the subject's windows, and how much more it varies than
  // Poisson noise
  const sorted = sizes.slice().sort((a, b) => a - b);
  const medianEvents = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const pace = new Moments();
  for (const n of sizes) pace.add(Math.log((n + SMOOTH) / (medianEvents + SMOOTH)), countNoise(medianEvents));
  return { p, total, next, from: fromCounts, usual, medianEvents, rateVariance: pace.excessVariance() };
}

/** mean and variance of a log ratio, and the part of its variance that noise does not explain */
class Moments {
  private n = 0;
  private s = 0;
  private s2 = 0;
  private noise = 0;
  add(x: number, noiseVariance: number): void {
    this.n++;
    this.s += x;
    this.s2 += x * x;
    this.noise += noiseVariance;
  }
  excessVariance(): number {
    if (!this.n) return 0;
    const mean = this.s / this.n;
    return Math.max(this.s2 / this.n - mean * mean - this.noise / this.n, 0);
  }
}

export function shareNoise(n: number, share: number): number {
  return countNoise(n * share);
}
