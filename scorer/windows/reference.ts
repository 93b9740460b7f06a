import { SMOOTH, countNoise } from './pace';

// What a subject usually does, against which statistics.ts measures each of its windows: the
// share of each of its usual keys and how much it varies between windows, which key follows
// which, and how many events a window holds. It is fitted on windows slid over the older part
// of the subject's history (a host's window pool fits it on its closed windows, pool.ts), and
// saved with the subject as a SavedReference.

/** held-out windows are slid by this fraction of the window length */
export const HOP_FRACTION = 1 / 20;

/** a key is one of the subject's usual keys from this share of its events */
const USUAL_SHARE = 0.01;
/** and at most this many usual keys, the most frequent */
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
 * Windows slid over rows [from, to) of a history whose row times are `times`: calls
 * `visit(lo, hi)` for each window of `seconds` started every `hop` seconds from `startAt` that
 * lies entirely before `endAt` and holds at least one row.
 */
export function forEachSlidWindow(
  times: readonly number[],
  from: number,
  to: number,
  startAt: number,
  endAt: number,
  seconds: number,
  hop: number,
  visit: (lo: number, hi: number) => void,
): void {
  let lo = from;
  let hi = from;
  for (let start = startAt; start + seconds <= endAt; start += hop) {
    while (lo < to && times[lo] < start) lo++;
    if (hi < lo) hi = lo;
    while (hi < to && times[hi] < start + seconds) hi++;
    if (hi > lo) visit(lo, hi);
  }
}

/** the log of a key's share of n events, smoothed: a key missing altogether is far, not infinitely far */
export function logShare(count: number, n: number): number {
  return Math.log((count + SMOOTH) / (n + SMOOTH));
}

/** the Reference of one subject's rows in time order (`keys`, at `times`), over windows of `seconds` slid across them */
export function fitHistoryReference(keys: readonly number[], times: readonly number[], seconds: number): Reference {
  const to = keys.length;
  return fitReference(keys, [[0, to]], (visit) =>
    forEachSlidWindow(times, 0, to, times[0], times[to - 1] + 1, seconds, Math.max(1, seconds * HOP_FRACTION), visit),
  );
}

/**
 * The usual mix, order and pace of rows whose keys are `keys`: keys and transitions counted
 * within each of `streams` ([lo, hi) ranges of one subject's rows in time order; a pool's
 * windows are each one, since consecutive windows of a pool are other subjects), shares and
 * pace from the windows `forEachWindow` visits (slid over a subject's history, or a pool's
 * closed windows).
 */
export function fitReference(
  keys: readonly number[],
  streams: ReadonlyArray<readonly [number, number]>,
  forEachWindow: (visit: (lo: number, hi: number) => void) => void,
): Reference {
  const counts = new Map<number, number>();
  const next = new Map<number, Map<number, number>>();
  const fromCounts = new Map<number, number>();
  let total = 0;
  for (const [from, to] of streams)
    for (let i = from; i < to; i++) {
      counts.set(keys[i], (counts.get(keys[i]) ?? 0) + 1);
      total++;
      if (i + 1 < to) {
        let followers = next.get(keys[i]);
        if (!followers) next.set(keys[i], (followers = new Map()));
        followers.set(keys[i + 1], (followers.get(keys[i + 1]) ?? 0) + 1);
        fromCounts.set(keys[i], (fromCounts.get(keys[i]) ?? 0) + 1);
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
    const inWindow = new Array<number>(shares.length).fill(0);
    for (let i = lo; i < hi; i++) inWindow[usualIndex.get(keys[i]) ?? shares.length - 1]++;
    const n = hi - lo;
    for (let j = 0; j < shares.length; j++) excess[j].add(logShare(inWindow[j], n) - Math.log(shares[j]), shareNoise(n, shares[j]));
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
  private sum = 0;
  private sumOfSquares = 0;
  private noise = 0;
  add(x: number, noiseVariance: number): void {
    this.n++;
    this.sum += x;
    this.sumOfSquares += x * x;
    this.noise += noiseVariance;
  }
  excessVariance(): number {
    if (!this.n) return 0;
    const mean = this.sum / this.n;
    return Math.max(this.sumOfSquares / this.n - mean * mean - this.noise / this.n, 0);
  }
}

/** the variance of a key's log share that binomial noise alone gives a window of n events */
export function shareNoise(n: number, share: number): number {
  return countNoise(n * share);
}
