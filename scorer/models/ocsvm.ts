import { quoted } from '../quoted';
import type { BehaviourEvent, Evidence, Model, ModelState, ScoringInput } from '../types';
import { hashEvent, type SparseVector } from './hashing';
import { evenSample } from '../sample';
import { pace } from '../pacing';
import { bootStart } from './boot-start';
import { unattendedPackageRun } from './package-run';

// One-Class SVM (libsvm-js) on hashed event vectors. libsvm-js only predicts ±1, so the
// model is read back from libsvm's own serialisation (support vectors, their coefficients,
// rho) and the continuous decision value f(x) = Σ αᵢ K(svᵢ, x) − ρ is computed here; that
// also means scoring never calls into libsvm again and a saved model needs no libsvm at all.

export interface OcsvmOptions {
  dims: number;
  nu: number;
  /** RBF gamma; 0 picks it from the data (median heuristic) */
  gamma: number;
  /** most training vectors handed to libsvm */
  maxTrain: number;
}

/** decision values closer than this are the fit's noise (see tailScale) */
const DECISION_NOISE = 0.02;
/** training vectors whose decision is checked against libsvm's own prediction */
const AGREEMENT_SAMPLE = 200;
const DEFAULTS: OcsvmOptions = { dims: 512, nu: 0.05, gamma: 0, maxTrain: 2000 };
/** most routine keys kept (a subject's keys seen on most of its days are a few dozen) */
const MAX_ROUTINE_KEYS = 1000;
const VERSION = 1;

export interface LibSvm {
  train(samples: number[][], labels: number[]): void;
  predict(samples: number[][]): number[];
  serializeModel(): string;
  free(): void;
  getCommand(samples: ArrayLike<unknown>[]): string;
  /** libsvm-js's own fields: the problem and model it frees, predicts with and serialises */
  problem: number | null;
  model: number | null;
}

export class OcsvmModel implements Model {
  readonly name = 'ocsvm' as const;
  private readonly opts: OcsvmOptions;
  /**
   * support vectors, sparse by feature (compressed columns): feature i's non-zero values are
   * svValue[colStart[i] … colStart[i+1]), of vectors svRow[…]. Scoring walks an event's few
   * features across the vectors that have them; a hashed event has a few dozen of 512
   * features, so a dense copy was 95 % zeros (4 kB a vector, most of a subject's off-heap
   * memory). The zeros it skips added exactly 0, so decisions are the same to the bit.
   */
  private colStart = new Int32Array(0);
  private svRow = new Int32Array(0);
  private svValue = new Float64Array(0);
  private svNorm = new Float64Array(0);
  /** scratch for decision() */
  private dot = new Float64Array(0);
  private coef = new Float64Array(0);
  private rho = 0;
  private gamma = 1;
  private trained = false;
  /** share of training vectors where the computed decision's sign matches libsvm's ±1 */
  fitAgreement = 0;
  /** the event keys of the fitted history seen on at least half its days (routineKeys) */
  private routine = new Set<string>();

  constructor(opts: Partial<OcsvmOptions> = {}) {
    this.opts = { ...DEFAULTS, ...opts };
  }

  async fit(sequences: readonly (readonly BehaviourEvent[])[]): Promise<void> {
    const vectors: SparseVector[] = [];
    const seen = new Set<string>();
    for (const seq of sequences) {
      for (let i = 0; i < seq.length; i++) {
        const v = hashEvent(seq[i], seq.slice(Math.max(0, i - 5), i), this.opts.dims);
        // identical vectors add nothing to the support but cost training time
        const key = `${v.index.join(',')}|${Array.from(v.value, (x) => x.toFixed(4)).join(',')}`;
        if (seen.has(key)) continue;
        seen.add(key);
        vectors.push(v);
      }
    }
    if (vectors.length < 2) throw new Error(`ocsvm: ${vectors.length} distinct training vectors; at least 2 are needed`);
    // libsvm's training cannot be sliced; pace around it (scorer/pacing.ts)
    await pace();
    const sample = evenSample(vectors, this.opts.maxTrain);
    this.gamma = this.opts.gamma > 0 ? this.opts.gamma : medianGamma(sample);
    const svm = await trainLibsvm(sample, { nu: this.opts.nu, gamma: this.gamma, dims: this.opts.dims });
    this.readModel(svm.serializeModel());
    await pace();
    // the decision value is ours, so check it against libsvm's own verdicts once, on a
    // sample: predicting every training vector through libsvm cost as much as training
    const checked = evenSample(
      sample.map((v, i) => i),
      AGREEMENT_SAMPLE,
    );
    const labels = silently(() => svm.predict(checked.map((i) => toDense(sample[i], this.opts.dims))));
    let agree = 0;
    checked.forEach((i, k) => {
      if (this.decision(sample[i]) >= 0 === labels[k] > 0) agree++;
    });
    this.fitAgreement = agree / checked.length;
    this.routine = routineKeys(sequences);
    svm.free();
    this.trained = true;
  }

  /** libsvm's text model: header lines, then `SV`, then `coef idx:val idx:val …` per vector */
  private readModel(text: string): void {
    const lines = text.split('\n');
    const svAt = lines.findIndex((l) => l.trim() === 'SV');
    const rhoLine = lines.find((l) => l.startsWith('rho '));
    if (svAt < 0 || !rhoLine) throw new Error('ocsvm: libsvm model has no support vectors or rho');
    this.rho = Number(rhoLine.slice(4));
    const rows = lines.slice(svAt + 1).filter((l) => l.trim());
    this.coef = new Float64Array(rows.length);
    this.setSupport(
      rows.map((row, r) => {
        const parts = row.trim().split(/\s+/);
        this.coef[r] = Number(parts[0]);
        const pairs: number[] = [];
        for (let k = 1; k < parts.length; k++) {
          const [idx, val] = parts[k].split(':');
          pairs.push(Number(idx) - 1, Number(val)); // libsvm indices start at 1
        }
        return pairs;
      }),
    );
  }

  /** the support vectors from their sparse rows ([feature, value, feature, value, …] each) */
  private setSupport(rows: readonly (readonly number[])[]): void {
    const d = this.opts.dims;
    const colStart = new Int32Array(d + 1);
    this.svNorm = new Float64Array(rows.length);
    rows.forEach((row, r) => {
      for (let k = 0; k < row.length; k += 2) {
        if (row[k + 1] !== 0) colStart[row[k] + 1]++;
        this.svNorm[r] += row[k + 1] * row[k + 1];
      }
    });
    for (let i = 0; i < d; i++) colStart[i + 1] += colStart[i];
    const fill = colStart.slice(0, d);
    this.svRow = new Int32Array(colStart[d]);
    this.svValue = new Float64Array(colStart[d]);
    // rows in order, so each feature's vectors are in ascending order as the dense loop had them
    rows.forEach((row, r) => {
      for (let k = 0; k < row.length; k += 2) {
        if (row[k + 1] === 0) continue;
        const at = fill[row[k]]++;
        this.svRow[at] = r;
        this.svValue[at] = row[k + 1];
      }
    });
    this.colStart = colStart;
  }

  /** f(x) = Σ αᵢ exp(−γ‖x − svᵢ‖²) − ρ; positive inside the learned support */
  decision(x: SparseVector): number {
    let xNorm = 0;
    for (let j = 0; j < x.value.length; j++) xNorm += x.value[j] * x.value[j];
    const n = this.coef.length;
    const dot = this.dot.length === n ? this.dot.fill(0) : (this.dot = new Float64Array(n));
    for (let j = 0; j < x.index.length; j++) {
      const v = x.value[j];
      for (let k = this.colStart[x.index[j]], end = this.colStart[x.index[j] + 1]; k < end; k++) dot[this.svRow[k]] += this.svValue[k] * v;
    }
    let f = 0;
    for (let r = 0; r < n; r++) f += this.coef[r] * Math.exp(-this.gamma * Math.max(0, xNorm + this.svNorm[r] - 2 * dot[r]));
    return f - this.rho;
  }

  /**
   * A fiftieth of one support vector's full weight (libsvm bounds each coefficient by 1, and a
   * kernel value by 1). A sparse subject's routine (a backup job's identical nightly rows)
   * gives held-out decision values that agree to a few ten-thousandths, so the sample's body
   * has no width, while the same routine row hashed with a slightly different context lands
   * 0.01-0.05 outside the support: measured against the sample alone, that hair scored 0.
   */
  tailScale(): number {
    return DECISION_NOISE;
  }

  async score(batch: readonly ScoringInput[]): Promise<Evidence[]> {
    if (!this.trained) throw new Error('ocsvm: score before fit');
    return batch.map(({ event, context, heldOut }) => {
      // an unattended package run's values are the packages' (package-run.ts): the SVM cannot
      // weigh them apart from their classes, which rarity judges in full; NaN is no evidence
      if (unattendedPackageRun(event) || bootStart(event)) return { value: NaN, detail: '' };
      // hashEvent reads the last five events of the context itself
      const inContext = this.decision(hashEvent(event, context, this.opts.dims));
      // a routine event's own shape bounds its evidence: where it happens to follow rows it never
      // followed is the order of events, which rarity's steps weigh (see routineKeys)
      const f = inContext < 0 && !heldOut && this.routine.has(event.key) ? Math.max(inContext, this.decision(hashEvent(event, [], this.opts.dims))) : inContext;
      return {
        value: -f,
        ...(f !== inContext ? { plain: -inContext } : {}),
        detail: f < 0 ? `${quoted(event.key)} lies outside the learned shape of this subject's events (SVM margin ${f.toFixed(3)})` : '',
      };
    });
  }

  toState(): ModelState {
    return {
      name: 'ocsvm',
      version: VERSION,
      opts: this.opts,
      gamma: this.gamma,
      rho: this.rho,
      coef: Array.from(this.coef),
      sv: this.sparseRows(),
      routine: [...this.routine],
    };
  }

  /** each support vector's non-zero features in ascending order, as [feature, value, …] */
  private sparseRows(): number[][] {
    const out: number[][] = Array.from(this.coef, () => []);
    for (let i = 0; i + 1 < this.colStart.length; i++)
      for (let k = this.colStart[i]; k < this.colStart[i + 1]; k++) out[this.svRow[k]].push(i, this.svValue[k]);
    return out;
  }

  static fromState(s: ModelState): OcsvmModel {
    if (s.version !== VERSION) throw new Error(`ocsvm model state version ${s.version}, this build reads ${VERSION}`);
    const m = new OcsvmModel(s.opts as OcsvmOptions);
    const d = m.opts.dims;
    m.gamma = s.gamma as number;
    m.rho = s.rho as number;
    m.coef = Float64Array.from(s.coef as number[]);
    const rows = s.sv as number[][];
    if (rows.length !== m.coef.length || rows.some((row) => row.some((x, k) => k % 2 === 0 && !(Number.isInteger(x) && x >= 0 && x < d))))
      throw new Error(`ocsvm model state: support vectors do not match ${m.coef.length} coefficients of ${d} features`);
    m.setSupport(rows);
    // a state saved before routine keys has none: every event is judged in its context, as then
    m.routine = new Set(Array.isArray(s.routine) ? (s.routine as unknown[]).filter((k): k is string => typeof k === 'string').slice(0, MAX_ROUTINE_KEYS) : []);
    m.trained = true;
    return m;
  }
}

/**
 * The keys a subject logs on at least half of the days of its fitted history (and on three at
 * least): its cron runs, its configuration agent's queries, a person's daily login. The SVM's
 * vector of an event carries the keys before it, so a routine event after rows it never
 * followed (a story's rows, or two jobs meeting for the first time) lands outside the learned
 * shape, as far as a new program does: root's hourly `cron` after an intruder's commands at
 * margin -0.19, 0.000. For such a key the evidence is bounded by the event's own shape, its
 * vector without the context; events of other keys keep theirs. Data without a clock has no
 * days, hence no routine keys.
 */
export function routineKeys(sequences: readonly (readonly BehaviourEvent[])[]): Set<string> {
  const days = new Map<string, Set<number>>();
  const all = new Set<number>();
  for (const seq of sequences)
    for (const e of seq) {
      if (!(e.time > 0)) continue;
      const day = Math.floor(e.time / 86400);
      all.add(day);
      let d = days.get(e.key);
      if (!d) days.set(e.key, (d = new Set()));
      d.add(day);
    }
  const least = Math.max(3, all.size / 2);
  const keys = [...days].filter(([, d]) => d.size >= least).sort((x, y) => y[1].size - x[1].size);
  return new Set(keys.slice(0, MAX_ROUTINE_KEYS).map(([k]) => k));
}

// libsvm-js ships no types
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let libsvm: Promise<any> | null = null;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function loadLibsvm(): Promise<any> {
  // the WebAssembly build trains the same model as the asm.js one in about half the time
  // (libsvm stores the hashed vectors densely, so training is all kernel evaluations). Its
  // loader first tries to fetch the .wasm as a URL and says so when that fails before it
  // reads the file: that and anything else emscripten prints while loading is swallowed,
  // as `quiet: true` and `silently` do for training
  libsvm ??= (async () => {
    const { warn, error } = console;
    console.warn = console.error = () => {};
    try {
      return await silently(() => require('libsvm-js/wasm'));
    } finally {
      console.warn = warn;
      console.error = error;
    }
  })();
  return libsvm;
}

/** run fn with process.stdout writes swallowed: stdout may be the osquery-style output */
function silently<T>(fn: () => T): T {
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return fn();
  } finally {
    process.stdout.write = write;
  }
}

function toDense(v: SparseVector, dims: number): number[] {
  const out = new Array<number>(dims).fill(0);
  for (let j = 0; j < v.index.length; j++) out[v.index[j]] = v.value[j];
  return out;
}

/** γ = 1 / median squared distance between a sample of pairs */
function medianGamma(vectors: readonly SparseVector[]): number {
  const d2: number[] = [];
  for (let i = 0; i < Math.min(200, vectors.length); i++) {
    const s = squaredDistance(vectors[(i * 7919) % vectors.length], vectors[(i * 104729 + 1) % vectors.length]);
    if (s > 0) d2.push(s);
  }
  d2.sort((x, y) => x - y);
  const med = d2.length ? d2[Math.floor(d2.length / 2)] : 1;
  return 1 / med;
}

/**
 * ‖a − b‖², the terms summed in ascending feature order as over the dense vectors (where
 * the features both lack added exactly 0), so the sum is the same to the bit
 */
function squaredDistance(a: SparseVector, b: SparseVector): number {
  let s = 0;
  let i = 0;
  let j = 0;
  while (i < a.index.length || j < b.index.length) {
    const fa = i < a.index.length ? a.index[i] : Infinity;
    const fb = j < b.index.length ? b.index[j] : Infinity;
    if (fa === fb) s += (a.value[i++] - b.value[j++]) ** 2;
    else if (fa < fb) s += a.value[i++] ** 2;
    else s += (0 - b.value[j++]) ** 2;
  }
  return s;
}

/**
 * A one-class libsvm model of the vectors, trained on libsvm's sparse nodes (trainSparse),
 * or as libsvm-js trains, on dense rows (`dense`: what test/models.test.ts compares with).
 * The caller frees it.
 */
export async function trainLibsvm(vectors: readonly SparseVector[], o: { nu: number; gamma: number; dims: number }, dense = false): Promise<LibSvm> {
  const SVM = await loadLibsvm();
  const svm: LibSvm = new SVM({ type: SVM.SVM_TYPES.ONE_CLASS, kernel: SVM.KERNEL_TYPES.RBF, nu: o.nu, gamma: o.gamma, quiet: true });
  silently(() =>
    dense
      ? svm.train(
          vectors.map((v) => toDense(v, o.dims)),
          vectors.map(() => 1),
        )
      : trainSparse(svm, vectors),
  );
  return svm;
}

/**
 * Train on the vectors as libsvm's own sparse nodes. libsvm-js takes dense rows only and
 * hands libsvm every one of the 512 features of each, so each kernel evaluation walked 512
 * nodes for the ~16 that are not zero: training was nearly all of that. Its `train` is
 * create_svm_nodes, add_instance per row and libsvm_train_problem; here the nodes are written
 * into libsvm's memory directly, the non-zero features only ({int index; double value},
 * 16 bytes, index −1 ends a row). libsvm's dot products walk the two rows' indices in
 * ascending order, so the products it skips are exactly the zeros the dense rows added:
 * kernel values, and so the model, are the same to the bit (test/models.test.ts compares
 * the two). Checked against libsvm-js 0.2.1's layout before use.
 */
function trainSparse(svm: LibSvm, vectors: readonly SparseVector[]): void {
  const m = libsvmModule();
  let width = 1;
  for (const v of vectors) width = Math.max(width, v.index.length);
  const problem = m.create(vectors.length, width);
  const at = problem >> 2;
  if (m.module.HEAP32[at] !== vectors.length) throw new Error('ocsvm: libsvm-js problem layout is not the one this build knows');
  const y = m.module.HEAP32[at + 1];
  const x = m.module.HEAP32[at + 2];
  const i32 = m.module.HEAP32;
  const f64 = m.module.HEAPF64;
  vectors.forEach((v, i) => {
    f64[(y >> 3) + i] = 1;
    const row = i32[(x >> 2) + i];
    for (let j = 0; j < v.index.length; j++) {
      i32[(row + 16 * j) >> 2] = v.index[j] + 1; // libsvm indices start at 1
      f64[(row + 16 * j + 8) >> 3] = v.value[j];
    }
    i32[(row + 16 * v.index.length) >> 2] = -1;
  });
  svm.free();
  svm.problem = problem;
  svm.model = m.train(problem, svm.getCommand([vectors[0].index]));
}

interface LibsvmModule {
  module: { HEAP32: Int32Array; HEAPF64: Float64Array; cwrap(name: string, ret: string | null, args: string[]): (...a: unknown[]) => number };
  create(rows: number, width: number): number;
  train(problem: number, command: string): number;
}

let raw: LibsvmModule | null = null;
/** libsvm-js's emscripten module (loaded by loadLibsvm) and the two entry points trainSparse uses */
function libsvmModule(): LibsvmModule {
  if (!raw) {
    const module = require('libsvm-js/out/wasm/libsvm') as LibsvmModule['module'];
    raw = {
      module,
      create: module.cwrap('create_svm_nodes', 'number', ['number', 'number']) as LibsvmModule['create'],
      train: module.cwrap('libsvm_train_problem', 'number', ['number', 'string']) as LibsvmModule['train'],
    };
  }
  return raw;
}
