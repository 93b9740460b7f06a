import { Calibrator, MIN_CALIBRATION, type Calibrated, type Combination } from './calibration';
import { KeyCountProfile } from './key-counts';
import { KeySetNeighbours } from './key-sets';
import { createModel } from './models';
import type { BehaviourEvent, Evidence, Model, ModelName, ScoringInput } from './types';

// Session-level scoring for data whose unit is a whole sequence (an HDFS block session, an
// ADFA-LD syscall trace). The models are the product's own, fitted the same way. Each model
// gives a session two statistics of its events' evidence: its peak (DeepLog flags a session
// when any step is unexpected) and its mean (an intrusion can also be a trace that is a little
// odd all along, no single step standing out; it is left out where sessions are short
// protocol runs, see meanStatistics). Both are calibrated the same way a row's models are,
// against held-out normal sessions, so 0.3 means the same for a session as for a row.
// Next to the models, the session's key-count profile (key-counts.ts) and its distance to the
// nearest training key set (key-sets.ts) are statistics of their own: what a session holds as
// a whole, which no model of its steps sees. The statistics combine by the strongest p-value,
// as a row's, or by Fisher's sum of −log p (`combination`), since they are views of one whole.
//
// Calibration is cross-fitted: every fold of the training sessions is held out once and scored
// by models fitted on the other folds, so all training sessions calibrate, not one fold of
// them. With one fold of HDFS's 4,855 sessions (971) a p-value cannot go below 1/972 and
// anything beyond the held-out maximum of any one of the statistics landed there, at score
// 0.25: one normal session in 972 per statistic, several times the contract's 0.16 % with
// seven of them. With all 4,855 the contract's 0.16 % is the eighth most extreme held-out
// session, inside the sample rather than at its floor. A new session is scored by every
// fold's models and its evidence averaged: each fold's models speak on a scale of their own
// (an SVM's margins, an LSTM's log-likelihoods move from fit to fit), and the pooled held-out
// sample mixes those scales, which one fold's models alone would not match.

export interface SessionScorerOptions {
  models: readonly ModelName[];
  contextLength: number;
  /** share of the training sessions in each held-out fold (0.2: five folds) */
  heldOutFraction: number;
  /** hold out every fold in turn (true) or only the last one */
  crossFit?: boolean;
  /** add the key-count profile statistic (`counts`) */
  keyCounts?: boolean;
  /**
   * give each model's mean evidence over the session as a statistic next to its peak (default
   * true); worth it where an anomaly can be diffuse, a cost where it breaks one step
   */
  meanStatistics?: boolean;
  /** add the nearest training key set statistic (`sets`, key-sets.ts) */
  keySets?: boolean;
  /** how the statistics' p-values combine (calibration.ts; default: the strongest) */
  combination?: Combination;
  modelOptions?: Partial<Record<ModelName, Record<string, unknown>>>;
  onProgress?: (stage: string, done: number, total: number) => void;
}

/**
 * `rarity` is the model's peak statistic, `rarity:mean` its mean; `counts` the key-count
 * profile; `sets` the distance to the nearest training key set
 */
export type SessionStatistic = ModelName | `${ModelName}:mean` | 'counts' | 'sets';

export interface SessionResult extends Calibrated<SessionStatistic> {
  evidence: Partial<Record<SessionStatistic, Evidence>>;
}

/** the end of a session is an event too: sessions cut short end where they never did */
export const END_OF_SESSION: BehaviourEvent = { key: '<end>', values: ['key=<end>'], pairs: [], text: '', time: 0 };

/**
 * A session's evidence from one model: the mean of its strongest tenth of events (its single
 * strongest below ten events). One odd step in a short HDFS session counts in full, and so
 * does a long syscall trace whose unusual stretch is many steps long, while one stray step in
 * a long trace does not dominate it. (With at least three events averaged, a block cut short
 * after two steps had its one unexpected step, the end, diluted by the two familiar ones and
 * scored 0.64 instead of 0.17.)
 */
export function tailMean(list: Evidence[]): Evidence {
  const sorted = [...list].sort((a, b) => b.value - a.value);
  const k = Math.min(sorted.length, Math.max(1, Math.ceil(sorted.length * 0.1)));
  let sum = 0;
  for (let i = 0; i < k; i++) sum += sorted[i].value;
  return { value: k ? sum / k : 0, detail: sorted[0]?.detail ?? '' };
}

function keysOf(session: readonly BehaviourEvent[]): string[] {
  return session.map((e) => e.key);
}

function mean(list: Evidence[]): number {
  let sum = 0;
  for (const e of list) sum += e.value;
  return sum / list.length;
}

/** the models fitted on the training sessions but one fold */
interface FoldModels {
  models: Map<ModelName, Model>;
  counts: KeyCountProfile | null;
  sets: KeySetNeighbours | null;
}

type SessionEvidence = Partial<Record<SessionStatistic, Evidence>>;

/** the training set is too small to calibrate on: the input's fault, not a bug (eval exits 65) */
export class TooFewSessions extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TooFewSessions';
  }
}

export class SessionScorer {
  private folds: FoldModels[] = [];
  private calibrator: Calibrator<SessionStatistic> | null = null;

  constructor(private readonly opts: SessionScorerOptions) {}

  async fit(sessions: readonly (readonly BehaviourEvent[])[]): Promise<void> {
    // folds are taken evenly across the set, not from its end, so that a held-out fold does
    // not differ systematically (files are often ordered by time or by source)
    const step = Math.max(2, Math.round(1 / this.opts.heldOutFraction));
    const firstFold = this.opts.crossFit ? 0 : step - 1;
    const heldOutCount = sessions.filter((_, i) => i % step >= firstFold).length;
    if (heldOutCount < MIN_CALIBRATION) {
      throw new TooFewSessions(`${sessions.length} training sessions leave ${heldOutCount} to calibrate on; at least ${MIN_CALIBRATION} are needed`);
    }
    this.folds = [];
    const evidence: SessionEvidence[] = [];
    for (let fold = firstFold; fold < step; fold++) {
      const fitPart: (readonly BehaviourEvent[])[] = [];
      const heldOut: (readonly BehaviourEvent[])[] = [];
      sessions.forEach((s, i) => (i % step === fold ? heldOut : fitPart).push(s));
      const fitted = await this.fitFold(fitPart, step - firstFold > 1 ? ` (fold ${fold - firstFold + 1} of ${step - firstFold})` : '');
      this.folds.push(fitted);
      evidence.push(...(await this.sessionEvidence(fitted, heldOut, 'calibrate')));
    }
    const perStatistic: Partial<Record<SessionStatistic, number[]>> = {};
    for (const stat of Object.keys(evidence[0] ?? {}) as SessionStatistic[]) perStatistic[stat] = evidence.map((e) => e[stat]!.value);
    this.calibrator = new Calibrator(perStatistic, {}, 1, {}, this.opts.combination);
  }

  private async fitFold(sessions: readonly (readonly BehaviourEvent[])[], fold: string): Promise<FoldModels> {
    const models = new Map<ModelName, Model>();
    for (const name of this.opts.models) {
      this.opts.onProgress?.(`fit ${name}${fold}`, 0, 1);
      const model = createModel(name, this.opts.modelOptions?.[name] ?? {});
      await model.fit(sessions.map((s) => [...s, END_OF_SESSION]));
      models.set(name, model);
      this.opts.onProgress?.(`fit ${name}${fold}`, 1, 1);
    }
    const keys = this.opts.keyCounts || this.opts.keySets ? sessions.map(keysOf) : [];
    let counts: KeyCountProfile | null = null;
    if (this.opts.keyCounts) {
      counts = new KeyCountProfile();
      counts.fit(keys);
    }
    let sets: KeySetNeighbours | null = null;
    if (this.opts.keySets) {
      sets = new KeySetNeighbours();
      sets.fit(keys);
    }
    return { models, counts, sets };
  }

  private async sessionEvidence(fold: FoldModels, sessions: readonly (readonly BehaviourEvent[])[], stage: string): Promise<SessionEvidence[]> {
    const out: SessionEvidence[] = sessions.map(() => ({}));
    const chunk = 64;
    for (let start = 0; start < sessions.length; start += chunk) {
      const slice = sessions.slice(start, start + chunk);
      const inputs: ScoringInput[] = [];
      const owner: number[] = [];
      slice.forEach((session, j) => {
        const events = [...session, END_OF_SESSION];
        for (let i = 0; i < events.length; i++) {
          inputs.push({ event: events[i], context: events.slice(Math.max(0, i - this.opts.contextLength), i) });
          owner.push(start + j);
        }
      });
      for (const [name, model] of fold.models) {
        const ev = await model.score(inputs);
        const perSession = new Map<number, Evidence[]>();
        for (let i = 0; i < ev.length; i++) (perSession.get(owner[i]) ?? perSession.set(owner[i], []).get(owner[i])!).push(ev[i]);
        for (const [o, list] of perSession) {
          out[o][name] = tailMean(list);
          if (this.opts.meanStatistics !== false) out[o][`${name}:mean`] = { value: mean(list), detail: '' };
        }
      }
      for (let j = 0; j < slice.length && (fold.counts || fold.sets); j++) {
        const keys = keysOf(slice[j]);
        if (fold.counts) out[start + j].counts = fold.counts.surprise(keys);
        if (fold.sets) out[start + j].sets = fold.sets.distance(keys);
      }
      this.opts.onProgress?.(stage, Math.min(start + chunk, sessions.length), sessions.length);
    }
    return out;
  }

  async score(sessions: readonly (readonly BehaviourEvent[])[]): Promise<SessionResult[]> {
    if (!this.calibrator) throw new Error('SessionScorer.score before fit');
    const perFold: SessionEvidence[][] = [];
    for (const fold of this.folds)
      perFold.push(await this.sessionEvidence(fold, sessions, `score${this.folds.length > 1 ? ` (fold ${perFold.length + 1} of ${this.folds.length})` : ''}`));
    return sessions.map((_, i) => {
      const e = averageEvidence(perFold.map((f) => f[i]));
      const values: Partial<Record<SessionStatistic, number>> = {};
      for (const k of Object.keys(e) as SessionStatistic[]) values[k] = e[k]!.value;
      return { ...this.calibrator!.calibrate(values), evidence: e };
    });
  }
}

/** each statistic's mean over the folds' models, with the detail of the fold that gave most */
function averageEvidence(list: SessionEvidence[]): SessionEvidence {
  const out: SessionEvidence = {};
  for (const k of Object.keys(list[0]) as SessionStatistic[]) {
    let sum = 0;
    let strongest = list[0][k]!;
    for (const e of list) {
      sum += e[k]!.value;
      if (e[k]!.value > strongest.value) strongest = e[k]!;
    }
    out[k] = { value: sum / list.length, detail: strongest.detail };
  }
  return out;
}
