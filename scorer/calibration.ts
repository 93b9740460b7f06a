import type { ModelName, Verdict } from './types';

// How model evidence becomes the score of the contract (design.md, "The score").
//
// Each model speaks on its own scale, so evidence is first turned into a per-model conformal
// p-value against the same model's evidence on the subject's held-out normal events. The
// combined statistic is the strongest of those (the smallest p-value, as −log p): one model
// that is sure is enough, and it names the model that decided. That statistic is calibrated
// once more against the held-out events' own combined statistics, which removes the
// look-elsewhere effect of taking a minimum over models: the final p-value is uniform on
// normal behaviour whatever the number of models.
//
// A held-out set of n events cannot express p-values below 1/(n+1). Rather than wait for
// thousands of events before anything can be called bad, each model's tail beyond the
// largest held-out value is extrapolated with an exponential fitted to the top exceedances
// (peaks over threshold, as in SPOT, Siffer et al. KDD'17). Inside the observed range the
// p-value stays the plain empirical conformal one, so the held-out events' own combined
// statistics never exceed log(n+1) and one odd held-out event cannot stretch the range that
// a real anomaly must leave. The combined statistic is extrapolated the same way, with one
// difference: it is a −log p, whose tail a valid p-value never lets decay faster than e^(−s),
// so its scale is kept at least 1 (a thinner fitted tail compounded the per-model
// extrapolation and called a barely-outside event impossible).
//
// Score mapping: p → 1 + log10(p)/4, clamped to [0,1], so P(score < s) = 10^(−4(1−s)) when p
// is uniform: 0.3 ↔ p 0.0016, 0.5 ↔ 0.01, 0.7 ↔ 0.063.

export const BAD_BELOW = 0.3;
export const GOOD_FROM = 0.7;
/** fewer held-out events than this cannot calibrate a subject: it stays learning */
export const MIN_CALIBRATION = 50;
/** smallest p-value reported, so a score is a finite number */
const P_FLOOR = 1e-8;

export function scoreFromP(p: number): number {
  const s = 1 + Math.log10(Math.max(p, P_FLOOR)) / 4;
  return s < 0 ? 0 : s > 1 ? 1 : s;
}

export function verdictOf(score: number | null): Verdict {
  if (score === null) return 'learning';
  if (score < BAD_BELOW) return 'bad';
  if (score < GOOD_FROM) return 'ugly';
  return 'good';
}

/**
 * Conformal p-values of one statistic against a sorted calibration sample, with an
 * exponential upper tail. Larger statistic = less normal.
 */
export class TailCalibratedStatistic {
  private readonly sorted: Float64Array;
  /** where the exponential tail is anchored (it is used only beyond the largest value) */
  private readonly threshold: number;
  /** fraction of the sample above the threshold */
  private readonly tailMass: number;
  /** mean exceedance over the threshold (the exponential's scale) */
  private readonly scale: number;
  /** how many sample values one independent observation is worth (slid windows overlap) */
  private readonly overlap: number;
  /** the statistic is itself −log10 of a calibrated p-value (a window's row evidence) */
  private readonly logP: boolean;

  /**
   * @param minScale the least scale the tail may have; by default the sample's body width
   * @param overlap how many consecutive sample values share most of their data (1: none)
   * @param noise the least scale in any case: differences this small are the evidence's noise
   * @param logP the statistic x is itself −log10 of a p-value calibrated elsewhere: its p-value
   *   is never below 10^−x, whatever the sample says
   */
  constructor(sample: ArrayLike<number>, minScale?: number, overlap = 1, noise = 1e-6, logP = false) {
    const sorted = Float64Array.from(sample).sort();
    this.sorted = sorted;
    this.overlap = overlap;
    this.logP = logP;
    const n = sorted.length;
    // the top 10% (at least 5 points) carry the tail fit
    const k = Math.max(5, Math.floor(n * 0.1));
    if (n < 2 * k) {
      this.threshold = Infinity;
      this.tailMass = 0;
      this.scale = 1;
      return;
    }
    const u = sorted[n - k - 1];
    let sum = 0;
    let above = 0;
    for (let i = n - k; i < n; i++) {
      if (sorted[i] > u) {
        sum += sorted[i] - u;
        above++;
      }
    }
    this.threshold = u;
    // conformally, a new value above all n has chance 1/(n+1) even when the top is one tie
    this.tailMass = Math.max(above, overlap) / (n + 1);
    // the tail may not decay faster than the sample's body is wide (median to threshold):
    // a flat or bunched top (an SVM's support vectors all at margin 0, a service account's
    // identical nightly jobs) would otherwise fit a tail so thin that an event just outside
    // the observed range is called impossible
    const body = u - sorted[Math.floor(n / 2)];
    this.scale = Math.max(above > 0 ? sum / above : 0, minScale ?? body, noise);
  }

  get size(): number {
    return this.sorted.length;
  }

  /** p-value of `x`: the chance a normal event's statistic is at least x */
  pValue(x: number): number {
    const p = this.samplePValue(x);
    // a window's row evidence is its rows' own calibrated −log10 p: a window of one row is that
    // row, and may not claim more than the row's score does. Ranked among the held-out windows
    // alone, a row just beyond their peaks got p ~ 1/(independent windows + 1) however usual
    // its own calibration found it: a sparse subject's held-out rows, scored by the models of
    // their time, had peaks all below 0.68 (row scores above 0.83), and the next rows, scored
    // 0.78-0.82 as rows, made windows of 0.46
    return this.logP && p < Math.pow(10, -x) ? Math.min(1, Math.pow(10, -x)) : p;
  }

  private samplePValue(x: number): number {
    const n = this.sorted.length;
    if (n === 0) return 1;
    if (!(x === x)) return 1; // NaN carries no evidence
    // count of sample values >= x by binary search for the first index with value >= x
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    // a new observation is ranked among the sample as one independent draw: where the sample's
    // values overlap (windows slid by a twentieth of their length), it would have come with
    // `overlap` near-copies of itself, so it weighs that many values. Counted as one, a window
    // just beyond every held-out value of any one statistic got p = 1/(n+1), beyond all of
    // the held-out windows' combined statistics, and was bad: with n = 20 × the independent
    // windows held out, sparse subjects had 0.4-1.6 % of normal windows below 0.3
    const empirical = (this.overlap + (n - lo)) / (n + this.overlap);
    // inside the observed range the empirical value is exact; the tail only extrapolates beyond
    // it, and only when one was fitted (fewer than ten values fit none: its term would be
    // 0 · e^(+∞), NaN, which the min and max below pass on as the p-value)
    if (x <= this.sorted[n - 1] || this.tailMass === 0) return empirical;
    const tail = this.tailMass * Math.exp(-(x - this.threshold) / this.scale);
    return Math.max(Math.min(empirical, tail), P_FLOOR);
  }

  toJSON(): number[] {
    return Array.from(this.sorted);
  }
}

/** a held-out value a model gave (not a gap where it scored nothing) */
function known(v: number | null | undefined): boolean {
  return typeof v === 'number' && v === v;
}

export interface Calibrated<K extends string = ModelName> {
  p: number;
  score: number;
  verdict: Verdict;
  /** the evidence (a model's, for rows) that was strongest; '' when none spoke */
  model: K | '';
}

/**
 * How per-model p-values become one statistic: the strongest (−log of the smallest p; rows, by
 * default), or Fisher's sum of −log p over every source (sessions, optionally): evidence that
 * several sources each find a little odd adds up, where the strongest lets one source speak.
 */
export type Combination = 'strongest' | 'fisher';

export interface CalibratorOptions<K extends string> {
  /** evidence that is itself −log10 of a p-value calibrated elsewhere (TailCalibratedStatistic) */
  logP?: readonly K[];
  /**
   * the final p-value is never below the strongest source's own: calibrating the combined
   * statistic removes the look-elsewhere effect of taking the strongest of several sources,
   * which can only make evidence weaker. A held-out sample whose combined statistics all lie
   * below a new one (the top tied, or floored by logP) otherwise extrapolated past it with the
   * tail mass of one independent value, p ~ 1/(independent values + 1), stronger than the
   * source that decided
   */
  floorAtStrongest?: boolean;
}

/**
 * The per-subject calibration of the combined model evidence. Each evidence source (per row, a
 * model) is named by a K.
 */
export class Calibrator<K extends string = ModelName> {
  private readonly perModel: Map<K, TailCalibratedStatistic>;
  private readonly combined: TailCalibratedStatistic;

  /**
   * @param heldOut per model, its evidence values on the same held-out normal events (equal
   *   lengths, index i is event i)
   * @param minScale per model, the least scale its extrapolated tail may have, for evidence
   *   whose tail has a known natural width (a sum of squared z-scores decays like e^(−x/2));
   *   by default the held-out sample's body width
   * @param noise per model, the least scale its tail may have in any case (Model.tailScale)
   */
  constructor(
    readonly heldOut: Partial<Record<K, (number | null)[]>>,
    minScale: Partial<Record<K, number>> = {},
    overlap = 1,
    noise: Partial<Record<K, number>> = {},
    private readonly combination: Combination = 'strongest',
    private readonly options: CalibratorOptions<K> = {},
  ) {
    this.perModel = new Map();
    let n = -1;
    for (const [name, values] of Object.entries(heldOut) as [K, (number | null)[]][]) {
      if (n >= 0 && values.length !== n) throw new Error(`calibration: ${name} has ${values.length} values, others ${n}`);
      n = values.length;
      this.perModel.set(
        name,
        new TailCalibratedStatistic(values.filter(known) as number[], minScale[name], overlap, noise[name], options.logP?.includes(name) ?? false),
      );
    }
    // the combined statistic is calibrated on the events every model has a value for
    const combinedSample: number[] = [];
    for (let i = 0; i < Math.max(n, 0); i++) {
      const evidence: Partial<Record<K, number>> = {};
      let complete = true;
      for (const [name, values] of Object.entries(heldOut) as [K, (number | null)[]][]) {
        if (!known(values[i])) complete = false;
        evidence[name] = values[i] as number;
      }
      if (complete) combinedSample.push(this.combine(evidence).statistic);
    }
    this.combined = new TailCalibratedStatistic(combinedSample, 1, overlap);
  }

  get size(): number {
    return this.combined.size;
  }

  get models(): K[] {
    return [...this.perModel.keys()];
  }

  private combine(evidence: Partial<Record<K, number>>): { statistic: number; strongest: number; model: K | '' } {
    let best = 0;
    let sum = 0;
    let model: K | '' = '';
    for (const [name, stat] of this.perModel) {
      const value = evidence[name];
      if (value === undefined) continue;
      const strength = -Math.log(stat.pValue(value));
      sum += strength;
      if (strength > best || model === '') {
        best = strength;
        model = name;
      }
    }
    // the source named is the strongest either way
    return { statistic: this.combination === 'fisher' ? sum : best, strongest: best, model };
  }

  calibrate(evidence: Partial<Record<K, number>>): Calibrated<K> {
    const { statistic, strongest, model } = this.combine(evidence);
    const calibrated = this.combined.pValue(statistic);
    const p = this.options.floorAtStrongest && model !== '' ? Math.max(calibrated, Math.exp(-strongest)) : calibrated;
    const score = scoreFromP(p);
    return { p, score, verdict: verdictOf(score), model };
  }

  /** per-model p-value, for reasons ("… rarer than 99.9 % of alice's history") */
  modelP(name: K, value: number): number {
    return this.perModel.get(name)?.pValue(value) ?? 1;
  }

  /** a model with no value for an event holds null there (NaN in memory, which JSON cannot carry) */
  toState(): { heldOut: Partial<Record<K, (number | null)[]>> } {
    return { heldOut: this.heldOut };
  }

  static fromState<K extends string = ModelName>(
    state: { heldOut: Partial<Record<K, (number | null)[]>> },
    minScale?: Partial<Record<K, number>>,
    noise?: Partial<Record<K, number>>,
  ): Calibrator<K> {
    return new Calibrator<K>(state.heldOut, minScale, 1, noise);
  }
}
