// A window's pace: how far its number of events is above a usual number per window, in units
// of how much that number varies between windows (statistics.ts, `rate`). A subject's own
// windows have one usual pace. A host's window baseline (WindowPool) holds the windows of all
// its subjects, whose paces differ by orders of magnitude (a person's ten rows a minute, a CI
// account's hundreds, a deploy account's three every half hour): one usual pace over all of
// them was the busiest subject's, and a sparse account's burst beside a CI account was
// ordinary (scripts/window-pool-flood.js). So the baseline knows each subject's usual pace
// apart, each window is measured against its own subject's, and a subject it has too few
// windows of is measured against a typical subject of the host, each subject one vote.

/** added to counts before their log: a window of no events is a finite distance away */
export const SMOOTH = 0.5;
/** least variance of a log ratio: a count that never moved may still move by ~30 % */
export const MIN_VARIANCE = 0.1;
/**
 * windows of a subject its host's window baseline must have fitted before the subject's own
 * usual pace is used, and the weight (in windows) of the host's typical spread in its own
 */
export const MIN_OWN_WINDOWS = 5;

/** a usual number of events per window, and the variance of log(events / usual) beyond noise */
export interface Pace {
  usual: number;
  variance: number;
}

/** each subject's usual pace in a host's window baseline, and a typical subject's */
export interface PoolPace {
  subjects: Map<string, Pace>;
  typical: Pace;
}

/** a PoolPace as saved: [subject, usual, variance] and the typical [usual, variance] */
export interface SavedPoolPace {
  subjects: Array<[string, number, number]>;
  typical: [number, number];
}

/** variance of the log of a count whose expectation is m (delta method, smoothed at zero) */
export function countNoise(m: number): number {
  return 1 / (m + SMOOTH);
}

/** a window of n events against a pace: its squared z-score (both ways) */
export function paceDistance(n: number, pace: Pace): number {
  const d = Math.log((n + SMOOTH) / (pace.usual + SMOOTH));
  return (d * d) / (pace.variance + MIN_VARIANCE + countNoise(pace.usual));
}

function median(xs: readonly number[]): number {
  const sorted = xs.slice().sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** the median of window sizes, and the variance of their log ratio to it beyond Poisson noise */
export function paceOf(sizes: readonly number[]): Pace {
  const usual = median(sizes);
  if (!sizes.length) return { usual, variance: 0 };
  let s = 0;
  let s2 = 0;
  for (const n of sizes) {
    const x = Math.log((n + SMOOTH) / (usual + SMOOTH));
    s += x;
    s2 += x * x;
  }
  const mean = s / sizes.length;
  return { usual, variance: Math.max(s2 / sizes.length - mean * mean - countNoise(usual), 0) };
}

/**
 * Each subject's usual pace from its windows (sizes by subject). A subject of MIN_OWN_WINDOWS
 * windows or more has its own: its median, and its variance drawn towards the host's typical
 * spread by MIN_OWN_WINDOWS windows' weight (five windows alike are no proof that the sixth
 * will be). The typical subject is the median subject: its usual pace the median of theirs, its
 * variance the typical spread plus how far subjects' usual paces lie apart. Each subject is one
 * vote however many rows or windows it has, so an account that floods its host with rows moves
 * its own pace, not the others' (with no subject of enough windows, the host's windows alike).
 */
export function fitPoolPace(sizesBySubject: ReadonlyMap<string, readonly number[]>): PoolPace {
  const own = [...sizesBySubject].filter(([, sizes]) => sizes.length >= MIN_OWN_WINDOWS).map(([name, sizes]) => ({ name, n: sizes.length, ...paceOf(sizes) }));
  if (!own.length) {
    const all = [...sizesBySubject.values()].flat();
    return { subjects: new Map(), typical: paceOf(all) };
  }
  const spread = median(own.map((x) => x.variance));
  const subjects = new Map<string, Pace>();
  for (const x of own) subjects.set(x.name, { usual: x.usual, variance: (x.n * x.variance + MIN_OWN_WINDOWS * spread) / (x.n + MIN_OWN_WINDOWS) });
  const logs = own.map((x) => Math.log(x.usual + SMOOTH));
  const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
  const between = logs.reduce((a, b) => a + (b - mean) * (b - mean), 0) / logs.length;
  return { subjects, typical: { usual: median(own.map((x) => x.usual)), variance: spread + between } };
}

/** the pace a subject's window is measured against: its own, or a typical subject's */
export function paceFor(p: PoolPace, subject: string): { pace: Pace; own: boolean } {
  const pace = p.subjects.get(subject);
  return pace ? { pace, own: true } : { pace: p.typical, own: false };
}

export function savedPoolPace(p: PoolPace): SavedPoolPace {
  return { subjects: [...p.subjects].map(([name, x]) => [name, x.usual, x.variance]), typical: [p.typical.usual, p.typical.variance] };
}

/** a saved PoolPace, or null when it is not one (the baseline then fits again) */
export function restoredPoolPace(s: unknown): PoolPace | null {
  const x = s as Partial<SavedPoolPace> | null | undefined;
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  if (!x || !Array.isArray(x.subjects) || !Array.isArray(x.typical) || !finite(x.typical[0]) || !finite(x.typical[1])) return null;
  const subjects = new Map<string, Pace>();
  for (const e of x.subjects) {
    if (!Array.isArray(e) || typeof e[0] !== 'string' || !finite(e[1]) || !finite(e[2])) return null;
    subjects.set(e[0], { usual: e[1], variance: e[2] });
  }
  return { subjects, typical: { usual: x.typical[0], variance: x.typical[1] } };
}
