import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { resolveConfig, type AnomalyConfig } from '../../conf/config';
import { readResultLogs } from '../parse/results';
import { rowBatches } from '../parse/batches';
import { sequenceEvent } from '../features/extract';
import { Scorer, type LogFn } from '../scorer';
import { SessionScorer, TooFewSessions } from '../sessions';
import type { Combination } from '../calibration';
import { WindowScorer, windowOptionsFrom } from '../windows';
import type { ModelName, ScoredEvent, ScoredWindow } from '../types';
import { MODEL_NAMES } from '../types';
import { DatasetError, detectKind, readLabelledSequences, readSequences, readTraces, type InputKind, type LabelledSequence } from './datasets';
import { metrics, type Metrics, type ScoredUnit } from './metrics';

// `anomaly eval`: train exactly as the product does, score the test units, and report the
// detection metrics at the product's threshold of 0.3.

export interface EvalOptions {
  train: string;
  test: string;
  config?: AnomalyConfig;
  /** what one test unit is for osquery logs: a row (default) or a subject's time window */
  unit?: 'row' | 'window';
  modelOptions?: Partial<Record<ModelName, Record<string, unknown>>>;
  /** sessions and traces: add the key-count profile (`counts`; default: for key sequences, not for syscall traces) */
  keyCounts?: boolean;
  /** sessions and traces: add the nearest training key set (`sets`; default: yes) */
  keySets?: boolean;
  /** sessions and traces: how statistics combine (default: the strongest, as for rows) */
  combination?: Combination;
  onProgress?: (stage: string, done: number, total: number) => void;
  log?: LogFn;
  /** osquery logs: each labelled test row as scored, in file order (per-story reports) */
  onRow?: (scored: ScoredEvent) => void;
  /**
   * osquery logs by window: each window evaluated (a unit of the metrics), as scored, with how
   * many of its rows were labelled and how many of those anomalous, in the order they closed.
   * The metrics say how many windows were wrong; this says which (subject, time, reasons)
   */
  onWindow?: (window: ScoredWindow, labelled: { rows: number; anomalous: number }) => void;
}

export interface EvalResult extends Metrics {
  kind: InputKind;
  unit: 'row' | 'window' | 'session';
  models: (ModelName | 'counts' | 'sets')[];
  backend?: string;
  train_units: number;
  seconds: number;
}

export async function runEval(opts: EvalOptions): Promise<EvalResult> {
  const started = Date.now();
  const config = opts.config ?? resolveConfig({}, '(defaults)', {});
  const models = MODEL_NAMES.filter((m) => config.models[m]);
  // every input is read more than once (its kind, then its units; users first for osquery
  // logs): a pipe or a device is buffered to a private temp file first
  const spool = new Spool();
  try {
    opts = { ...opts, train: spool.rereadable(opts.train), test: spool.rereadable(opts.test) };
    return await evaluate(opts, config, models, started);
  } finally {
    spool.clear();
  }
}

async function evaluate(opts: EvalOptions, config: AnomalyConfig, models: ModelName[], started: number): Promise<EvalResult> {
  const kind = await detectKind(opts.test);
  let units: ScoredUnit[];
  let trainUnits: number;
  let backend: string | undefined;
  const unit = kind === 'osquery' ? (opts.unit ?? 'row') : 'session';
  if (opts.unit === 'window' && kind !== 'osquery') throw new Error(`--unit window needs labelled osquery results logs; ${opts.test} holds ${kind}`);
  // a log session follows a protocol whose keys occur a settled number of times (an HDFS block
  // has three replicas); a syscall trace's counts grow with whatever the process did, and on
  // ADFA-LD the profile ranks at chance (AUC 0.51) and only dilutes the other statistics
  const keyCounts = kind !== 'osquery' && (opts.keyCounts ?? kind === 'sequences');
  // for the same reason a log session is judged by its steps' peaks, not their means: a
  // protocol run breaks at a step (or a count), it is not a little odd all along as an
  // exploit's syscall trace can be. Every extra statistic is one more chance for a normal
  // session to look extreme, which raises the bar of the min-p combination for every
  // anomaly: on HDFS the mean twins cost 8 % of recall (F1 0.957 against 0.998)
  const meanStatistics = kind === 'traces';
  // the nearest training key set helps both: HDFS dev F1 0.980 -> 0.999 (rarity, ocsvm, counts;
  // Fisher, with the mean statistics), ADFA-LD dev AUC 0.737 -> 0.806 (rarity, ocsvm; Fisher),
  // 0.7465 -> 0.8235 with the strongest
  const keySets = kind !== 'osquery' && (opts.keySets ?? true);
  if (!models.length && !keyCounts && !keySets)
    throw new Error(
      `no model to evaluate ${kind} with${opts.keyCounts || opts.keySets ? ' (counts and sets score sequences and traces, not osquery rows)' : ''}`,
    );
  if (kind === 'osquery') {
    ({ units, trainUnits, backend } = await evalRows(opts, config));
  } else {
    const train = kind === 'sequences' ? (await readSequences(opts.train)).map((keys) => ({ keys, anomalous: false })) : await readTraces(opts.train);
    const test = kind === 'sequences' ? await readLabelledSequences(opts.test) : await readTraces(opts.test);
    const normalTrain = train.filter((s) => !s.anomalous);
    trainUnits = normalTrain.length;
    units = await evalSessions(normalTrain, test, models, keyCounts, keySets, meanStatistics, opts);
  }
  if (!units.length) throw new DatasetError(opts.test, 0, 'no labelled unit to evaluate (osquery lines need a top-level "label": "normal" | "anomalous")');
  return {
    kind,
    unit,
    models: [...models, ...(keyCounts ? (['counts'] as const) : []), ...(keySets ? (['sets'] as const) : [])],
    backend,
    train_units: trainUnits,
    ...metrics(units),
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
}

/** copies of inputs that cannot be read twice, in a private temp directory */
class Spool {
  private dir: string | null = null;

  rereadable(file: string): string {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      return file; // the readers name the missing file
    }
    if (stat.isFile()) return file;
    this.dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-eval-'));
    const copy = path.join(this.dir, `${fs.readdirSync(this.dir).length}${file.endsWith('.gz') ? '.gz' : ''}`);
    const fd = fs.openSync(file, 'r');
    const out = fs.openSync(copy, 'wx', 0o600);
    try {
      const buf = Buffer.allocUnsafe(1 << 16);
      for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) fs.writeSync(out, buf, 0, n);
    } finally {
      fs.closeSync(fd);
      fs.closeSync(out);
    }
    return copy;
  }

  clear(): void {
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

async function evalSessions(
  train: LabelledSequence[],
  test: LabelledSequence[],
  models: ModelName[],
  keyCounts: boolean,
  keySets: boolean,
  meanStatistics: boolean,
  opts: EvalOptions,
): Promise<ScoredUnit[]> {
  const toEvents = (s: LabelledSequence) => s.keys.map((k, i) => sequenceEvent(k, i));
  // sessions are short and strictly ordered: longer n-grams and a larger LSTM pay off here
  const modelOptions = { rarity: { ngram: 4 }, lstm: { units: 64, maxWindows: 100_000 }, ...opts.modelOptions };
  const scorer = new SessionScorer({
    models,
    contextLength: 10,
    heldOutFraction: 0.2,
    crossFit: true,
    keyCounts,
    meanStatistics,
    keySets,
    // the strongest statistic decides, as for a row. Fisher's sum (`--combine fisher`) was
    // measured against it with the default models: on HDFS F1 0.9985 against 0.998 (3 and 4
    // of 1,000 normal sessions below 0.3), on ADFA-LD AUC 0.802 against 0.829 and no attack
    // below 0.3 against 22 (0.87 % of normal traces); one rule for rows and sessions, and the
    // better of the two where they differ most
    combination: opts.combination ?? 'strongest',
    modelOptions,
    onProgress: opts.onProgress,
  });
  try {
    await scorer.fit(train.map(toEvents));
  } catch (err) {
    if (err instanceof TooFewSessions) throw new DatasetError(opts.train, 0, err.message);
    throw err;
  }
  const results = await scorer.score(test.map(toEvents));
  return results.map((r, i) => ({ score: r.score, rank: -Math.log(r.p), anomalous: test[i].anomalous, type: test[i].type }));
}

async function evalRows(opts: EvalOptions, config: AnomalyConfig): Promise<{ units: ScoredUnit[]; trainUnits: number; backend: string }> {
  const scorer = await Scorer.open({ config, stateDir: null, log: opts.log, modelOptions: opts.modelOptions });
  const windows = opts.unit === 'window' ? new WindowScorer(windowOptionsFrom(config, null, opts.log)) : null;
  // as 'anomaly train' does: uid names from users snapshots and rows that carry both
  for (const file of [opts.train, opts.test]) for await (const batch of rowBatches(readResultLogs([file]))) scorer.learnUsers(batch);
  let trainUnits = 0;
  for await (const batch of rowBatches(readResultLogs([opts.train]))) {
    const scored = await scorer.scoreRows(batch);
    trainUnits += windows ? windows.add(scored).length : batch.length;
    opts.onProgress?.('train', trainUnits, 0);
  }
  if (windows) trainUnits += windows.flush().length;
  // the product would keep learning until its minimums are met; evaluation trains whatever
  // has enough history now, so that the test part is scored by models
  await scorer.trainAll();
  windows?.trainAll();
  const units: ScoredUnit[] = [];
  const labels = new Map<string, { anomalous: number; rows: number }>();
  const scoredWindows: ScoredWindow[] = [];
  let first = Infinity;
  let last = -Infinity;
  for await (const batch of rowBatches(readResultLogs([opts.test]))) {
    const scored = await scorer.scoreRows(batch);
    if (windows) {
      // a window is anomalous when most of its labelled rows are
      scored.forEach((s, i) => {
        const label = batch[i].label;
        if (!label) return;
        first = Math.min(first, s.time);
        last = Math.max(last, s.time);
        const key = `${s.subject}\u0000${s.host}\u0000${windows.windowStart(s.time)}`;
        let l = labels.get(key);
        if (!l) labels.set(key, (l = { anomalous: 0, rows: 0 }));
        l.rows++;
        if (label === 'anomalous') l.anomalous++;
      });
      scoredWindows.push(...windows.add(scored));
      opts.onProgress?.('test', scoredWindows.length, 0);
      continue;
    }
    scored.forEach((s, i) => {
      const label = batch[i].label;
      if (!label) return;
      opts.onRow?.(s);
      units.push({
        score: s.score,
        rank: s.score === null ? -2 : -s.score,
        anomalous: label === 'anomalous',
        type: label === 'anomalous' ? s.query : undefined,
      });
    });
    opts.onProgress?.('test', units.length, 0);
  }
  if (windows) {
    for (const w of [...scoredWindows, ...windows.flush()]) {
      const l = labels.get(`${w.subject}\u0000${w.host}\u0000${w.start}`);
      // a window the test log cuts at its start or end holds part of its rows only
      if (!l || w.start < first || w.end > last + 1) continue;
      opts.onWindow?.(w, { rows: l.rows, anomalous: l.anomalous });
      units.push({
        score: w.score,
        rank: w.score === null ? -2 : -w.score,
        anomalous: l.anomalous * 2 > l.rows,
        type: l.anomalous * 2 > l.rows ? 'window' : undefined,
      });
    }
  }
  return { units, trainUnits, backend: scorer.backend };
}
