import { resolveConfig, type AnomalyConfig } from '../../conf/config';
import { readResultLogs } from '../parse/results';
import { rowBatches } from '../parse/batches';
import { sequenceEvent } from '../features/extract';
import { Scorer, type LogFn } from '../scorer';
import { SessionScorer } from '../sessions';
import type { ModelName } from '../types';
import { MODEL_NAMES } from '../types';
import { detectKind, readLabelledSequences, readSequences, readTraces, type InputKind, type LabelledSequence } from './datasets';
import { metrics, type Metrics, type ScoredUnit } from './metrics';

// `anomaly eval`: train exactly as the product does, score the test units, and report the
// detection metrics at the product's threshold of 0.3.

export interface EvalOptions {
  train: string;
  test: string;
  config?: AnomalyConfig;
  modelOptions?: Partial<Record<ModelName, Record<string, unknown>>>;
  onProgress?: (stage: string, done: number, total: number) => void;
  log?: LogFn;
}

export interface EvalResult extends Metrics {
  kind: InputKind;
  models: ModelName[];
  backend?: string;
  train_units: number;
  seconds: number;
}

export async function runEval(opts: EvalOptions): Promise<EvalResult> {
  const started = Date.now();
  const config = opts.config ?? resolveConfig({}, '(defaults)', {});
  const models = MODEL_NAMES.filter((m) => config.models[m]);
  const kind = await detectKind(opts.test);
  let units: ScoredUnit[];
  let trainUnits: number;
  let backend: string | undefined;
  if (kind === 'osquery') {
    ({ units, trainUnits, backend } = await evalRows(opts, config));
  } else {
    const train = kind === 'sequences' ? (await readSequences(opts.train)).map((keys) => ({ keys, anomalous: false })) : await readTraces(opts.train);
    const test = kind === 'sequences' ? await readLabelledSequences(opts.test) : await readTraces(opts.test);
    const normalTrain = train.filter((s) => !s.anomalous);
    trainUnits = normalTrain.length;
    units = await evalSessions(normalTrain, test, models, opts);
  }
  return { kind, models, backend, train_units: trainUnits, ...metrics(units), seconds: Math.round((Date.now() - started) / 100) / 10 };
}

async function evalSessions(train: LabelledSequence[], test: LabelledSequence[], models: ModelName[], opts: EvalOptions): Promise<ScoredUnit[]> {
  const toEvents = (s: LabelledSequence) => s.keys.map((k, i) => sequenceEvent(k, i));
  // sessions are short and strictly ordered: longer n-grams and a larger LSTM pay off here
  const modelOptions = { rarity: { ngram: 4 }, lstm: { units: 64, epochs: 6, maxWindows: 100_000 }, ...opts.modelOptions };
  const scorer = new SessionScorer({ models, contextLength: 10, heldOutFraction: 0.2, modelOptions, onProgress: opts.onProgress });
  await scorer.fit(train.map(toEvents));
  const results = await scorer.score(test.map(toEvents));
  return results.map((r, i) => ({ score: r.score, rank: -Math.log(r.p), anomalous: test[i].anomalous, type: test[i].type }));
}

async function evalRows(opts: EvalOptions, config: AnomalyConfig): Promise<{ units: ScoredUnit[]; trainUnits: number; backend: string }> {
  const scorer = await Scorer.open({ config, stateDir: null, log: opts.log, modelOptions: opts.modelOptions });
  let trainUnits = 0;
  for await (const batch of rowBatches(readResultLogs([opts.train]))) {
    trainUnits += batch.length;
    await scorer.scoreRows(batch);
    opts.onProgress?.('train', trainUnits, 0);
  }
  // the product would keep learning until its minimums are met; evaluation trains whatever
  // has enough history now, so that the test part is scored by models
  await scorer.trainAll();
  const units: ScoredUnit[] = [];
  for await (const batch of rowBatches(readResultLogs([opts.test]))) {
    const scored = await scorer.scoreRows(batch);
    scored.forEach((s, i) => {
      const label = batch[i].label;
      if (!label) return;
      units.push({ score: s.score, rank: s.score === null ? -2 : -s.score, anomalous: label === 'anomalous', type: label === 'anomalous' ? s.query : undefined });
    });
    opts.onProgress?.('test', units.length, 0);
  }
  return { units, trainUnits, backend: scorer.backend };
}
