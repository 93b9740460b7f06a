import { Calibrator, MIN_CALIBRATION, type Calibrated } from './calibration';
import { createModel } from './models';
import type { BehaviourEvent, Evidence, Model, ModelName, ScoringInput } from './types';

// Session-level scoring for data whose unit is a whole sequence (an HDFS block session, an
// ADFA-LD syscall trace). The models are the product's own, fitted the same way; a session's
// evidence from each model is the strongest evidence over its events (DeepLog flags a session
// when any step is unexpected), and it is calibrated the same way a row is, against held-out
// normal sessions, so 0.3 means the same for a session as for a row.

export interface SessionScorerOptions {
  models: readonly ModelName[];
  contextLength: number;
  heldOutFraction: number;
  modelOptions?: Partial<Record<ModelName, Record<string, unknown>>>;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface SessionResult extends Calibrated {
  evidence: Partial<Record<ModelName, Evidence>>;
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

export class SessionScorer {
  private models = new Map<ModelName, Model>();
  private calibrator: Calibrator | null = null;

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
    const perModel: Partial<Record<ModelName, number[]>> = {};
    for (const name of this.models.keys()) perModel[name] = evidence.map((e) => e[name]!.value);
    this.calibrator = new Calibrator(perModel);
  }

  private async sessionEvidence(sessions: readonly (readonly BehaviourEvent[])[], stage: string): Promise<Partial<Record<ModelName, Evidence>>[]> {
    const out: Partial<Record<ModelName, Evidence>>[] = sessions.map(() => ({}));
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
        for (const [o, list] of perSession) out[o][name] = tailMean(list);
      }
      for (let j = 0; j < slice.length; j++) {
        for (const name of this.models.keys()) out[start + j][name] ??= { value: 0, detail: 'empty session' };
      }
      this.opts.onProgress?.(stage, Math.min(start + chunk, sessions.length), sessions.length);
    }
    return out;
  }

  async score(sessions: readonly (readonly BehaviourEvent[])[]): Promise<SessionResult[]> {
    if (!this.calibrator) throw new Error('SessionScorer.score before fit');
    const evidence = await this.sessionEvidence(sessions, 'score');
    return evidence.map((e) => {
      const values: Partial<Record<ModelName, number>> = {};
      for (const k of Object.keys(e) as ModelName[]) values[k] = e[k]!.value;
      return { ...this.calibrator!.calibrate(values), evidence: e };
    });
  }
}
