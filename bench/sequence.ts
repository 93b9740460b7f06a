import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { sequenceEvent } from '../scorer/features/extract';
import { createModel, loadModel, selectBackend } from '../scorer/models';
import { END_OF_SESSION } from '../scorer/sessions';
import type { LstmModel } from '../scorer/models/lstm';
import type { Model, ScoringInput } from '../scorer/types';
import { demoEvents } from './demo-events';

// Sequence-model benchmarks (issue 10, "Faster, so that the budget is enough"):
//   node dist/bench/sequence.js [training] [scoring]
// Every figure next to a baseline measured in the same run, as a ratio (the machines are
// shared and absolute numbers drift); larger ratios are better unless the row says otherwise.

const DATA = path.resolve(__dirname, '..', '..', '..', 'shared', 'data');
/** restored copies of the LSTM that the scoring benchmark scores the test part with, once each */
const LSTM_PASSES = 8;

export type SequenceReport = (measure: string, value: string, baseline: string, ratio: string, target: string, met: string) => void;

const printRow: SequenceReport = (...cells) => console.log(`| ${cells.join(' | ')} |`);

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

/** a fixed amount of dense algebra on the same backend: what the machine gives right now */
export function matmulProbe(): number {
  const a = tf.randomNormal([256, 256]);
  const t0 = process.cpuUsage();
  for (let i = 0; i < 200; i++) tf.tidy(() => tf.matMul(a, a).dataSync());
  a.dispose();
  return cpuSeconds(t0);
}

export async function training(report: SequenceReport = printRow): Promise<void> {
  const file = path.join(DATA, 'hdfs', 'train_normal.txt');
  if (!fs.existsSync(file)) {
    console.log(`(training skipped: ${file} not found)`);
    return;
  }
  const backend = await selectBackend();
  const sessions = fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => [
      ...l
        .trim()
        .split(/\s+/)
        .map((k, i) => sequenceEvent(k, i)),
      END_OF_SESSION,
    ]);
  const probe = matmulProbe();
  const model = createModel('lstm', { units: 64, maxWindows: 100_000 });
  const wall = Date.now();
  const cpu = process.cpuUsage();
  let epochs = 0;
  let steps = 0;
  for await (const s of model.train!(sessions)) {
    epochs = s.epoch + 1;
    steps++;
  }
  const seconds = cpuSeconds(cpu);
  // CPU seconds of this (single-threaded) process: the wall time on an idle core
  report(
    `LSTM training on HDFS train (${sessions.length} sessions, 64 units, ${epochs} epochs, ${steps} steps, ${backend}); wall ${((Date.now() - wall) / 1000).toFixed(1)} s on this machine now`,
    `${seconds.toFixed(1)} s CPU`,
    `${probe.toFixed(2)} s CPU (200 matmuls 256×256)`,
    // baseline ÷ value, as every cost in the table: larger is better
    `${(probe / seconds).toFixed(3)}×`,
    '≤ 120 s',
    seconds <= 120 ? 'met' : 'missed',
  );
}

export async function scoring(report: SequenceReport = printRow): Promise<void> {
  await selectBackend();
  const events = demoEvents();
  const fitPart = events.slice(0, Math.floor(events.length / 2));
  const inputs: ScoringInput[] = events
    .slice(fitPart.length)
    .map((event, i) => ({ event, context: events.slice(Math.max(0, fitPart.length + i - 10), fitPart.length + i) }));
  // baseline: what a trivial scorer costs per event (a Map lookup of the key)
  const counts = new Map<string, number>();
  for (const e of fitPart) counts.set(e.key, (counts.get(e.key) ?? 0) + 1);
  const reps = Math.ceil(50_000 / inputs.length);
  let t0 = process.cpuUsage();
  let sink = 0;
  for (let r = 0; r < reps; r++) for (const i of inputs) sink += counts.get(i.event.key) ?? 0;
  const baseRate = (reps * inputs.length) / cpuSeconds(t0);
  const rates: Record<string, number> = {};
  for (const name of ['rarity', 'ocsvm', 'lstm'] as const) {
    const trained: Model = createModel(name);
    await trained.fit([fitPart]);
    // warm (compiled code, backend) on the training part, then measured on a restored copy,
    // so that what a model remembers of earlier calls does not flatter it: every event of the
    // test part is scored once, in the scorer's batches
    await trained.score(fitPart.slice(-300).map((event, i, a) => ({ event, context: a.slice(Math.max(0, i - 10), i) })));
    // The LSTM remembers scored (context, key) pairs, so each pass is a newly restored copy
    // (restoring is not timed): every pass scores every event of the test part once. Several
    // passes, as for the other models: one pass of ~50 ms measured mostly the JIT's first
    // optimisation of the scoring code and whatever the machine did in those 50 ms.
    const state = name === 'lstm' ? trained.toState() : null;
    let cpu = 0;
    let n = 0;
    for (let r = 0; r < (name === 'lstm' ? LSTM_PASSES : reps); r++) {
      const model = state ? loadModel(state) : trained;
      t0 = process.cpuUsage();
      for (let b = 0; b < inputs.length; b += 2000) n += (await model.score(inputs.slice(b, b + 2000))).length;
      cpu += cpuSeconds(t0);
      if (state) model.dispose?.();
    }
    rates[name] = n / cpu;
    report(
      `Scoring throughput, ${name}${name === 'lstm' ? ` (${tf.getBackend()}, ${inputs.length} events once per restored copy, ${LSTM_PASSES} copies)` : ''}, one core`,
      `${Math.round(rates[name])} events/s`,
      `${Math.round(baseRate)} events/s (key lookup)`,
      `${(rates[name] / baseRate).toFixed(4)}×`,
      '—',
      '',
    );
  }
  // the LSTM's forward pass alone over the test part's contexts: the lean pass that score()
  // runs against the tensor graph that trains (and scored before issue 10), in the same run
  const lstm = createModel('lstm') as LstmModel;
  await lstm.fit([fitPart]);
  const keys = new Map((lstm.toState().keys as string[]).map((k, i) => [k, i]));
  const ids = new Int32Array(inputs.length * 10).fill(1);
  inputs.forEach((x, b) => x.context.forEach((e, j) => (ids[b * 10 + 10 - x.context.length + j] = keys.get(e.key) ?? 0)));
  const forward = (pass: () => unknown) => {
    pass();
    const t = process.cpuUsage();
    for (let r = 0; r < 3; r++) pass();
    return (3 * inputs.length) / cpuSeconds(t);
  };
  const tensorRate = forward(() => lstm.tensorProbabilities(ids, inputs.length));
  const leanRate = forward(() => lstm.leanProbabilities(ids, inputs.length));
  lstm.dispose();
  report(
    `LSTM forward pass, ${inputs.length} contexts in one batch: lean pass (what score() runs)`,
    `${Math.round(leanRate)} contexts/s`,
    `${Math.round(tensorRate)} contexts/s (the training tensor graph)`,
    `${(leanRate / tensorRate).toFixed(2)}×`,
    '—',
    '',
  );
  const ensemble = 1 / (1 / rates.rarity + 1 / rates.ocsvm + 1 / rates.lstm);
  report(
    'Scoring throughput, ensemble (the three in turn)',
    `${Math.round(ensemble)} events/s`,
    `${Math.round(baseRate)} events/s (key lookup)`,
    `${(ensemble / baseRate).toFixed(4)}×`,
    '≥ 20,000 events/s',
    ensemble >= 20_000 ? 'met' : 'missed',
  );
  if (sink < 0) console.log(sink);
}

/**
 * Each model of another build (`dist`: its dist/ directory, e.g. an earlier commit's) and of
 * this one scores the test part once per round, the two interleaved in this process and
 * alternating who goes first, LSTM copies restored afresh each round; the median round of
 * each. Both load the one tfjs of this node_modules. On a shared machine this is the fair
 * before/after: both see the same load, round by round.
 */
export async function scoringAgainst(dist: string, report: SequenceReport = printRow, rounds = 25): Promise<void> {
  type Models = { createModel: typeof createModel; loadModel: typeof loadModel; selectBackend: typeof selectBackend };
  const other = require(path.join(dist, 'scorer', 'models')) as Models;
  await selectBackend();
  await other.selectBackend();
  const events = demoEvents();
  const fitPart = events.slice(0, Math.floor(events.length / 2));
  const inputs: ScoringInput[] = events
    .slice(fitPart.length)
    .map((event, i) => ({ event, context: events.slice(Math.max(0, fitPart.length + i - 10), fitPart.length + i) }));
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const rates: Record<string, { that: number; self: number }> = {};
  for (const name of ['rarity', 'ocsvm', 'lstm'] as const) {
    const builds = { that: other, self: { createModel, loadModel, selectBackend } };
    const fitted: Record<'that' | 'self', Model> = {} as never;
    for (const k of ['that', 'self'] as const) {
      fitted[k] = builds[k].createModel(name);
      await fitted[k].fit([fitPart]);
      await fitted[k].score(inputs.slice(0, 300));
    }
    const cpu: Record<'that' | 'self', number[]> = { that: [], self: [] };
    for (let r = 0; r < rounds; r++) {
      for (const k of r % 2 ? (['self', 'that'] as const) : (['that', 'self'] as const)) {
        const model = name === 'lstm' ? builds[k].loadModel(fitted[k].toState()) : fitted[k];
        const t = process.cpuUsage();
        await model.score(inputs);
        cpu[k].push(cpuSeconds(t));
        if (name === 'lstm') model.dispose?.();
      }
    }
    rates[name] = { that: inputs.length / median(cpu.that), self: inputs.length / median(cpu.self) };
    report(
      `Scoring throughput, ${name}, one core, median of ${rounds} passes over ${inputs.length} events`,
      `${Math.round(rates[name].self)} events/s`,
      `${Math.round(rates[name].that)} events/s (${dist}, interleaved)`,
      `${(rates[name].self / rates[name].that).toFixed(2)}×`,
      '—',
      '',
    );
  }
  const ensemble = (k: 'that' | 'self') => 1 / (1 / rates.rarity[k] + 1 / rates.ocsvm[k] + 1 / rates.lstm[k]);
  report(
    'Scoring throughput, ensemble (the three in turn)',
    `${Math.round(ensemble('self'))} events/s`,
    `${Math.round(ensemble('that'))} events/s (${dist})`,
    `${(ensemble('self') / ensemble('that')).toFixed(2)}×`,
    '≥ 20,000 events/s',
    ensemble('self') >= 20_000 ? 'met' : 'missed',
  );
}

async function main(): Promise<void> {
  const parts: Record<string, () => Promise<void>> = { training: () => training(), scoring: () => scoring() };
  const only = process.argv.slice(2);
  const unknown = only.filter((p) => !(p in parts));
  if (unknown.length) {
    console.error(`unknown part ${unknown.join(', ')}; parts: ${Object.keys(parts).join(', ')}`);
    process.exit(64);
  }
  console.log(`node ${process.version}, ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''}, load ${os.loadavg()[0].toFixed(1)}`);
  console.log('| measure | value | baseline (same run) | ratio, larger is better | target | met? |');
  console.log('|---|---|---|---|---|---|');
  for (const [name, fn] of Object.entries(parts)) if (!only.length || only.includes(name)) await fn();
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
