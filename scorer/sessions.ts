import { Calibrator, MIN_CALIBRATION, type Calibrated } from './calibration';
import { createModel } from './models';
import type { BehaviourEvent, Evidence, Model, ModelName, ScoringInput } from './types';

// Session-level scoring for data whose unit is a whole sequence (an HDFS block session, an
// ADFA-LD syscall trace). The models are the product's own, fitted the same way. Each model
// gives a session two statistics of its events' evidence: its peak (DeepLog flags a session
// when any step is unexpected) and its mean (an intrusion can also be a trace that is a little
// odd all along, no single step standing out). Both are calibrated, and combined, the same way
// a row's models are, against held-out normal sessions, so 0.3 means the same for a session as
// for a row and the statistic that matters for the data at hand decides.

export interface SessionScorerOptions {
  models: readonly ModelName[];
  contextLength: number;
  heldOutFraction: number;
  modelOptions?: Partial<Record<ModelName, Record<string, unknown>>>;
  onProgress?: (stage: string, done: number, total: number) => void;
}

/** `rarity` is the model's peak statistic, `rarity:mean` its mean */
export type SessionStatistic = ModelName | `${ModelName}:mean`;

export interface SessionResult extends Calibrated<SessionStatistic> {
  evidence: Partial<Record<SessionStatistic, Evidence>>;
}

/** the end of a session is an event too: sessions cut short end where they never did */
export const END_OF_SESSION: BehaviourEvent = { key: '<end>', values: ['key=<end>'], pairs: [], text: '', time: 0 };

/**
 * A session's evidence from one model: the mean of its strongest tenth of events (at least
 * three). One odd step in a short HDFS session counts, and so does a long syscall trace
 * whose unusual stretch is many steps long, while one stray step in a long trace does not
 * dominate it.
 */
export function tailMean(list: Evidence[]): Evidence {
  const sorted = [...list].sort((a, b) => b.value - a.value);
  const k = Math.min(sorted.length, Math.max(3, Math.ceil(sorted.length * 0.1)));
  let sum = 0;
  for (let i = 0; i < k; i++) sum += sorted[i].value;
  return { value: k ? sum / k : 0, detail: sorted[0]?.detail ?? '' };
}

function mean(list: Evidence[]): number {
  let sum = 0;
  for (const e of list) sum += e.value;
  return sum / list.length;
}

export class SessionScorer {
  private models = new Map<ModelName, Model>();
  private calibrator: Calibrator<SessionStatistic> | null = null;

  constructor(private readonly opts: SessionScorerOptions) {}

  async fit(sessions: readonly (readonly BehaviourEvent[])[]): Promise<void> {
    // the held-out part is taken evenly across the set, not from its end, so that it does
    // not differ systematically (files are often ordered by time or by source)
    const step = Math.max(2, Math.round(1 / this.opts.heldOutFraction));
    const fitPart: (readonly BehaviourEvent[])[] = [];
    const heldOut: (readonly BehaviourEvent[])[] = [];
    sessions.forEach((s, i) => (i % step === step - 1 ? heldOut : fitPart).push(s));
    if (heldOut.length < MIN_CALIBRATION) {
      throw new Error(`${sessions.length} training sessions leave ${heldOut.length} to calibrate on; at least ${MIN_CALIBRATION} are needed`);
    }
    for (const name of this.opts.models) {
      this.opts.onProgress?.(`fit ${name}`, 0, 1);
      const model = createModel(name, this.opts.modelOptions?.[name] ?? {});
      await model.fit(fitPart.map((s) => [...s, END_OF_SESSION]));
      this.models.set(name, model);
      this.opts.onProgress?.(`fit ${name}`, 1, 1);
    }
    const evidence = await this.sessionEvidence(heldOut, 'calibrate');
    const perStatistic: Partial<Record<SessionStatistic, number[]>> = {};
    for (const stat of Object.keys(evidence[0] ?? {}) as SessionStatistic[]) perStatistic[stat] = evidence.map((e) => e[stat]!.value);
    this.calibrator = new Calibrator(perStatistic);
  }

  private async sessionEvidence(sessions: readonly (readonly BehaviourEvent[])[], stage: string): Promise<Partial<Record<SessionStatistic, Evidence>>[]> {
    const out: Partial<Record<SessionStatistic, Evidence>>[] = sessions.map(() => ({}));
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
      for (const [name, model] of this.models) {
        const ev = await model.score(inputs);
        const perSession = new Map<number, Evidence[]>();
        for (let i = 0; i < ev.length; i++) (perSession.get(owner[i]) ?? perSession.set(owner[i], []).get(owner[i])!).push(ev[i]);
        for (const [o, list] of perSession) {
          out[o][name] = tailMean(list);
          out[o][`${name}:mean`] = { value: mean(list), detail: '' };
        }
      }
      this.opts.onProgress?.(stage, Math.min(start + chunk, sessions.length), sessions.length);
    }
    return out;
  }

  async score(sessions: readonly (readonly BehaviourEvent[])[]): Promise<SessionResult[]> {
    if (!this.calibrator) throw new Error('SessionScorer.score before fit');
    const evidence = await this.sessionEvidence(sessions, 'score');
    return evidence.map((e) => {
      const values: Partial<Record<SessionStatistic, number>> = {};
      for (const k of Object.keys(e) as SessionStatistic[]) values[k] = e[k]!.value;
      return { ...this.calibrator!.calibrate(values), evidence: e };
    });
  }
}
