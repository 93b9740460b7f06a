import type { WindowEvidence } from '../types';
import { MIN_VARIANCE, SMOOTH, paceDistance } from './pace';
import { OTHER_SHARE, logShare, shareNoise } from './reference';
import type { Reference } from './reference';

// What a closed window is judged by (design.md, `anomaly_windows`): what no single row shows.
// Someone else at a user's keyboard runs ordinary programs, each row plausible, but in another
// mix, order and pace. Each statistic is larger the less usual the window is against a
// Reference (reference.ts):
//
//   mix       how far the window's mix of event keys is from the subject's usual mix: keys the
//             subject always has that are thin or missing, and a share of keys it seldom or
//             never has that is unusual (mixDistance), in the window or in either half of it
//   sequence  how much less predictable the order of the window's events is than the
//             subject's own order (mean log ratio of unigram to transition probability)
//   rate      how far the number of events is from the subject's usual number per window
//   peak      the strongest row evidence in the window (−log10 p of its least normal row)
//   mean      the mean row evidence

export const WINDOW_EVIDENCE: readonly WindowEvidence[] = ['mix', 'sequence', 'rate', 'peak', 'mean'];

/** the window statistics (larger = less usual); peak and mean are absent without row evidence */
export function windowStatistics(keys: readonly number[], evidence: readonly number[], ref: Reference): Record<WindowEvidence, number | undefined> {
  const n = keys.length;
  // someone may sit down half-way through a window: its halves are judged as well (the
  // held-out windows get the same maximum, so calibration pays for looking three times)
  const mix = mixDistance(furthestPart(keys, ref).keys, ref);
  // sequence: how much less the previous event predicts the next than usual
  let surprise = 0;
  for (let i = 1; i < n; i++) surprise += Math.log(unigram(ref, keys[i]) / transition(ref, keys[i - 1], keys[i]));
  // a sum over √(n − 1): its noise is the same for a quiet window as for a busy one
  const sequence = n > 1 ? surprise / Math.sqrt(n - 1) : 0;
  const rate = paceDistance(n, { usual: ref.medianEvents, variance: ref.rateVariance });
  let peak: number | undefined;
  let sum = 0;
  // m: the rows with evidence; without every row's, the window has no peak and mean
  let m = 0;
  for (const e of evidence) {
    if (e < 0) continue;
    if (peak === undefined || e > peak) peak = e;
    sum += e;
    m++;
  }
  // the peak is the strongest row's −log10 p for the number of rows looked at (Šidák: the chance
  // that the least of m uniform p-values is at most 10^−peak), itself a p-value as the mean is
  // nearly one (TailCalibratedStatistic's logP): a window of one row is that row, and a busy
  // window's strongest row is no rarer than its rows are many
  return {
    mix,
    sequence,
    rate,
    peak: m === n && peak !== undefined ? -Math.log10(-Math.expm1(m * Math.log1p(-Math.pow(10, -peak)))) : undefined,
    mean: m === n && m ? sum / m : undefined,
  };
}

/** one term of the mix distance: a usual key (or OTHER_SHARE, all other keys), its share and z² */
export interface MixTerm {
  key: number;
  share: number;
  usual: number;
  z2: number;
}

export function mixTerms(keys: readonly number[], ref: Reference): MixTerm[] {
  // A sum of squared z-scores of log shares: each usual key's share of the window against how
  // it varies between the subject's windows, counted when the share is lower than usual (what
  // the subject always does and this window does not: a higher share of one key shows as lower
  // shares of the others), and all other keys together counted both ways (what the subject
  // seldom or never does). Log shares make a key that is missing altogether a large change even
  // when the subject's share of it swings widely; the binomial noise of a window of n events
  // widens each key's allowance, so a short window is not unusual for being short.
  const n = keys.length;
  const counts = keyCounts(keys);
  const terms: MixTerm[] = [];
  let rest = n;
  for (const u of ref.usual) {
    if (u.key === OTHER_SHARE) continue;
    const c = counts.get(u.key) ?? 0;
    rest -= c;
    const d = logShare(c, n) - Math.log(u.share);
    terms.push({ key: u.key, share: c / n, usual: u.share, z2: d > 0 ? 0 : shareZ2(d, u, n) });
  }
  const others = ref.usual[ref.usual.length - 1];
  terms.push({ key: OTHER_SHARE, share: rest / n, usual: others.share, z2: shareZ2(logShare(rest, n) - Math.log(others.share), others, n) });
  return terms;
}

/**
 * The usual key furthest above its usual share in these keys (in the units the mix distance
 * uses for keys below it), or null when none is at least twice its usual share: a key a
 * little above usual is only what is left when others are missing, not what replaced them
 */
export function crowdingKey(keys: readonly number[], ref: Reference): MixTerm | null {
  const n = keys.length;
  const counts = keyCounts(keys);
  let best: MixTerm | null = null;
  for (const u of ref.usual) {
    if (u.key === OTHER_SHARE) continue;
    const c = counts.get(u.key) ?? 0;
    const d = logShare(c, n) - Math.log(u.share);
    if (d < Math.LN2) continue;
    const z2 = shareZ2(d, u, n);
    if (!best || z2 > best.z2) best = { key: u.key, share: c / n, usual: u.share, z2 };
  }
  return best;
}

function mixDistance(keys: readonly number[], ref: Reference): number {
  let sum = 0;
  for (const term of mixTerms(keys, ref)) sum += term.z2;
  return sum;
}

/** the window, or its half, whose mix is furthest from usual: windowStatistics takes the maximum */
export function furthestPart(keys: readonly number[], ref: Reference): { part: 'window' | 'first half' | 'second half'; keys: readonly number[] } {
  const n = keys.length;
  const parts: Array<ReturnType<typeof furthestPart>> = [{ part: 'window', keys }];
  if (n >= 4) parts.push({ part: 'first half', keys: keys.slice(0, n >> 1) }, { part: 'second half', keys: keys.slice(n >> 1) });
  let best = parts[0];
  let bestDistance = -1;
  for (const p of parts) {
    const d = mixDistance(p.keys, ref);
    if (d > bestDistance) {
      best = p;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * a log share's departure `d` from a usual key's, squared in units of how much it varies: between
 * the subject's windows, at least MIN_VARIANCE, and the binomial noise of a window of n events
 */
function shareZ2(d: number, usual: { share: number; variance: number }, n: number): number {
  return (d * d) / (usual.variance + MIN_VARIANCE + shareNoise(n, usual.share));
}

function keyCounts(keys: readonly number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  return counts;
}

/** P(key), smoothed so that a key never seen is rare, not impossible */
function unigram(ref: Reference, key: number): number {
  return ((ref.p.get(key) ?? 0) * ref.total + SMOOTH) / (ref.total + SMOOTH * (ref.p.size + 1));
}

/** P(b | a), smoothed towards the unigram so that unseen pairs are rare, not impossible */
function transition(ref: Reference, a: number, b: number): number {
  const c = ref.next.get(a)?.get(b) ?? 0;
  const total = ref.from.get(a) ?? 0;
  return (c + unigram(ref, b)) / (total + 1);
}
