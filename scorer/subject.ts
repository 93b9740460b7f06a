import { firstPhrase } from './quoted';
import { Calibrator, MIN_CALIBRATION, verdictOf, scoreFromP, BAD_BELOW, GOOD_FROM } from './calibration';
import { createModel, loadModel } from './models';
import { fitInHelper, fitsElsewhere } from './fit-helper';
import { countText } from './count-text';
import { fnv1a32 } from './hash';
import { plausibleTime } from './clock';
import { currentEventKey, currentQueryToken } from './features/kinds';
import { currentMarks } from './features/compact-value';
import { fitEnded, pace } from './pacing';
import type { BehaviourEvent, Evidence, Model, ModelName, ModelState, ModelSummary, RowMark, ScoringInput, SubjectState, Verdict } from './types';
import { LearnedMarks, type LearnedMark } from './types';
import { EventColumns, WINDOW_CHARS_PER_EVENT, historyOf, numberedOf } from './event-columns';
import type { Form, Numbered } from './event-columns';
import { CROSS_FIT_FOLDS, calibrationSample, dayFolds } from './day-folds';

// One subject's behaviour: its models, its calibration and where it is in the lifecycle
// (design.md, "Lifecycle"). A subject learns until it has seen enough events over enough
// time, then trains on the older part of what it saw and calibrates on the newer part, and
// monitors. Only good events and events labelled normal feed later retraining, so an
// attacker cannot make an attack normal by repeating it.

export interface SubjectOptions {
  models: readonly ModelName[];
  minEvents: number;
  minSeconds: number;
  windowEvents: number;
  retrainSeconds: number;
  /** how many preceding events a model sees as context */
  contextLength: number;
  /** fraction of the window held out for calibration */
  heldOutFraction: number;
  /** backend name reported for the lstm */
  backend: string;
  /** 2: unpaced, the LSTM is fitted in the fit helper's thread (budget.training_threads) */
  trainingThreads?: number;
  /** lstm and ocsvm sizes; small values keep tests fast */
  modelOptions?: Partial<Record<ModelName, Record<string, unknown>>>;
}

export interface SubjectVerdict {
  score: number | null;
  verdict: Verdict;
  /** the model that decided; a baseline's verdict names it as `host:rarity`, `fleet:ocsvm` */
  model: string;
  reasons: string;
}

export interface SubjectStateFile {
  name: string;
  state: SubjectState;
  events: number;
  firstTime: number;
  lastTime: number;
  lastTrained: number;
  trainedAtEvents: number;
  window: Numbered[];
  recent: Numbered[];
  seq: number;
  context: BehaviourEvent[];
  models: ModelState[];
  calibration: ReturnType<Calibrator['toState']> | null;
  normalKeys: string[];
  anomalousKeys: string[];
  /** the last row of the extension's queue learned (absent in files of earlier builds) */
  learned?: LearnedMark | null;
  /** the last row of the command line's last run learned (LearnedMarks.run; absent in files of earlier builds) */
  runLearned?: LearnedMark | null;
  /** the window's events labelled normal, by number (absent in files of earlier builds) */
  labelled?: number[];
  /** of those, the ones a label on an anomaly_scores row put there: [row id, number] (absent in files of earlier builds) */
  labelledRows?: Array<[string, number]>;
  /**
   * its models were fitted in an older spelling and are retrained before it scores
   * (fittedInOlderSpelling): saved again before its first row, its events are respelt by then,
   * and only this says so (absent when not, and in files of earlier builds)
   */
  fittedInOlderSpelling?: true;
}

const DAY = 86400;
/** held-out events scored between two pacing checks */
const HELD_OUT_SLICE = 256;

function sameTokens(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * a saved event with an older build's spellings as this build's: the query value and key
 * (Fleet's whole name), and the values compacted with the older mark (currentMarks)
 */
function respelt(e: BehaviourEvent): BehaviourEvent {
  const key = currentEventKey(e.key);
  const values = respeltTokens(e.values, true);
  const pairs = respeltTokens(e.pairs, false);
  // a new event only where a spelling changed: a new one flags the subject as fitted in an older
  // spelling, and one made for a raw `…#` (which currentMarks leaves) retrained it at every load
  return key === e.key && values === e.values && pairs === e.pairs ? e : { ...e, key, values, pairs };
}

/** tokens as this build spells them (the first `query=` one's name too, if `query`): the same array where none changes, as in most events at each load */
function respeltTokens(saved: string[], query: boolean): string[] {
  let out = saved;
  for (let j = 0; j < saved.length; j++) {
    const fleet = query && saved[j].startsWith('query=');
    if (fleet) query = false;
    const now = currentMarks(fleet ? currentQueryToken(saved[j]) : saved[j]);
    if (now === saved[j]) continue;
    if (out === saved) out = saved.slice();
    out[j] = now;
  }
  return out;
}

/**
 * Characters the tables of one copy of a subject may hold per event of retrain.window_events:
 * a routine repeats a few hundred strings, which they share among thousands of events
 */
const SHARED_CHARS_PER_EVENT = 100;

export class Subject {
  state: SubjectState = 'learning';
  events = 0;
  firstTime = 0;
  lastTime = 0;
  lastTrained = 0;
  private trainedAtEvents = 0;
  /** what retraining fits on: learning-phase, good and normal-labelled events */
  private window = new EventColumns();
  /**
   * what calibration holds out: the newest events that were not bad. Calibrating on good
   * events only would make normal look narrower than it is, and flag its edges.
   */
  private recent = new EventColumns();
  private seq = 0;
  private context: BehaviourEvent[] = [];
  private models = new Map<ModelName, Model>();
  private calibrator: Calibrator | null = null;
  /** generalised event keys labelled through feedback */
  private normalKeys = new Set<string>();
  private anomalousKeys = new Set<string>();
  /**
   * The numbers of the window's events that a `normal` label put there: learnt, never held out
   * for calibration. A row a person vouched for (a sanctioned reverse shell) is no sample of
   * the evidence the subject gives unprompted; held out, it became the top of the
   * calibration, and every later anomaly less extreme than it was at best 1/(n+1)
   */
  private labelled = new Set<number>();
  /**
   * The anomaly_scores row each of those came from, by id: a label is saved here before its
   * line is appended to feedback.jsonl, and the client's retry after a SIGKILL between the two
   * (the line lost, the label not listed) put the row into the window a second time
   */
  private labelledRows = new Map<string, number>();
  /**
   * Read back from a file in an older spelling (Fleet's whole query names, `respelt`): the
   * events are respelt, but the SVM fitted hashes of the old tokens, which cannot be, and
   * called every routine row of a Fleet host outside its shape until the next retraining
   * (hours). Such a subject retrains on its respelt events before it scores again.
   */
  private fittedInOlderSpelling = false;
  private training: Promise<void> | null = null;
  /**
   * The last row of the extension's durable queue this subject learned (types.ts LineMarks),
   * and of the command line's run (cli/run-journal.ts). Saved with what it learned, so that
   * the rows the queue or a killed run replays, up to here, are scored but not learned a
   * second time.
   */
  private learned = new LearnedMarks();
  /**
   * One copy of each distinct key and token the window holds. A subject's routine repeats
   * the same few dozen strings in thousands of events; the extractor (and a state file read
   * back) makes a new string for each, which was most of a subject's memory.
   */
  private strings = new Map<string, string>();
  /**
   * One copy of each distinct form (key, values, pairs) the window holds, by a hash of its
   * content. A routine event repeats its key and token lists exactly, and two arrays of a few
   * tokens each were two thirds of an event's memory (heap snapshot of the watchdog stream
   * replayed for 20 days: 355 bytes per windowed event, 225 of them the lists). Shared lists
   * are never written to: every reader of a BehaviourEvent only reads its tokens.
   */
  private forms = new Map<number, Form>();
  private texts = new Map<string, string>();
  /** characters of the strings those three tables hold (shareChars) */
  private sharedChars = 0;
  dirty = true;

  constructor(
    readonly name: string,
    private readonly opts: SubjectOptions,
  ) {}

  /**
   * Score a batch of this subject's events in order, learning from them as the lifecycle
   * allows. The result does not depend on how events are cut into batches: the subject
   * starts monitoring, and retrains, right after the event that makes it due, and models
   * that learn online see every earlier event before scoring the next one. So the offline
   * CLI and the extension, which batch differently, give the same scores for the same log.
   */
  async scoreEvents(events: readonly BehaviourEvent[]): Promise<SubjectVerdict[]> {
    const out: SubjectVerdict[] = [];
    if (this.fittedInOlderSpelling && this.state === 'monitoring' && events.length > 0) {
      this.fittedInOlderSpelling = false;
      await this.train();
    }
    let i = 0;
    while (i < events.length && this.state === 'learning') {
      const event = events[i++];
      this.note(event);
      // while learning every event is learnt, except a key labelled anomalous: never learnt
      const learn = !this.anomalousKeys.has(event.key);
      this.remember(event, learn, learn);
      out.push(this.learningVerdict());
      if (this.ready()) await this.train();
    }
    while (i < events.length) {
      // the batch models score the rest at once; if a retraining falls due on the way, the
      // events after it are scored again by the retrained models
      const rest = events.slice(i);
      const inputs: ScoringInput[] = [];
      const ctx = this.context.slice();
      for (const event of rest) {
        inputs.push({ event, context: this.lastOf(ctx) });
        ctx.push(event);
      }
      const batchEvidence = await this.evaluate(inputs, (m) => !m.observe);
      for (let j = 0; j < rest.length; j++) {
        const event = rest[j];
        const evidence = { ...batchEvidence[j], ...(await this.evaluate([inputs[j]], (m) => Boolean(m.observe)))[0] };
        const verdict = this.judge(event, evidence);
        this.note(event);
        const plain = this.plainVerdict(event, evidence, verdict);
        const learn = plain === 'good' && !this.anomalousKeys.has(event.key);
        this.remember(event, learn, plain !== 'bad' && !this.anomalousKeys.has(event.key));
        if (learn) for (const m of this.models.values()) m.observe?.(event, inputs[j].context);
        // that an account acted is a fact whatever the verdict: a pool that recorded only the
        // accounts of rows it learnt called every row of a new account its first (baseline.ts)
        for (const m of this.models.values()) m.witness?.(event);
        out.push(verdict);
        i++;
        if (this.dueForRetraining()) {
          const before = this.models;
          await this.train();
          // a retraining that found too little to hold out changed nothing to re-score with
          if (this.models !== before) break;
        }
      }
    }
    return out;
  }

  /** the context a model sees: the last contextLength events (none when it is 0) */
  private lastOf(events: readonly BehaviourEvent[]): BehaviourEvent[] {
    const n = this.opts.contextLength;
    return n > 0 ? events.slice(-n) : [];
  }

  private note(event: BehaviourEvent): void {
    this.events++;
    // a row dated 1970 or 9999 would make years of history at once (monitoring before
    // min_days) and, as the newest time, stop retraining until that date (scorer/clock.ts)
    if (event.time && plausibleTime(event.time)) {
      // the host's clock went back (set ahead, then put right by NTP): the newest time seen is
      // no longer plausible, and kept it would hold retraining until the rows caught up with
      // it, months perhaps; as the load path does with such a time, the rows now count
      if (this.lastTime && !plausibleTime(this.lastTime)) {
        this.lastTime = event.time;
        if (this.lastTrained > event.time) this.lastTrained = event.time;
      }
      if (!this.firstTime || event.time < this.firstTime) this.firstTime = event.time;
      if (event.time > this.lastTime) this.lastTime = event.time;
    }
    this.dirty = true;
  }

  /**
   * The tables of one copy (texts, strings, forms) forgotten at once when they hold more than
   * this many characters: they are for what repeats, and a local user's events of new long
   * paths and command lines, every one new, kept 10,000 events' strings in them (each table
   * bounded by its count only) after the window had let them go (rootsafe)
   */
  private shareChars(added: number): void {
    this.sharedChars += added;
    if (this.sharedChars <= this.opts.windowEvents * SHARED_CHARS_PER_EVENT) return;
    this.texts.clear();
    this.strings.clear();
    this.forms.clear();
    this.sharedChars = 0;
  }

  /** the command text repeats as often as the routine does; kept apart from the tokens, whose table stays small */
  private text(x: string): string {
    if (!x) return x;
    if (this.texts.size > this.opts.windowEvents * 2) this.texts.clear();
    const y = this.texts.get(x);
    if (y !== undefined) return y;
    this.shareChars(x.length);
    this.texts.set(x, x);
    return x;
  }

  private formOf(event: BehaviourEvent): Form {
    // a subject whose tokens keep changing would grow the tables without end: start them again
    if (this.strings.size > this.opts.windowEvents * 4) this.strings.clear();
    if (this.forms.size > this.opts.windowEvents * 2) this.forms.clear();
    const one = (x: string) => {
      const y = this.strings.get(x);
      if (y !== undefined) return y;
      this.strings.set(x, x);
      this.sharedChars += x.length;
      return x;
    };
    // as a small integer, which a Map keeps without a heap number per entry
    const h = fnv1a32(`${event.key}\t${event.values.join('\n')}\t${event.pairs.join('\n')}`) | 0;
    const found = this.forms.get(h);
    if (found && found.key === event.key && sameTokens(found.values, event.values) && sameTokens(found.pairs, event.pairs)) return found;
    const own = { key: one(event.key), values: event.values.map(one), pairs: event.pairs.map(one) };
    // a hash collision keeps the form it found: this event holds its own
    if (!found) this.forms.set(h, own);
    this.shareChars(0);
    return own;
  }

  /** `event` as the last the subject saw, in the form it keeps */
  private pushContext(event: BehaviourEvent): { form: Form; text: string } {
    const form = this.formOf(event);
    const text = this.text(event.text);
    this.context.push({ key: form.key, values: form.values, pairs: form.pairs, text, time: event.time });
    if (this.context.length > this.opts.contextLength * 4) this.context.splice(0, this.context.length - this.opts.contextLength);
    return { form, text };
  }

  private remember(event: BehaviourEvent, learn: boolean, calibrate: boolean): void {
    const { form, text } = this.pushContext(event);
    const n = ++this.seq;
    if (calibrate) {
      this.recent.push(form, text, event.time, n);
      const keep = Math.ceil(this.opts.windowEvents * this.opts.heldOutFraction);
      this.recent.bound(keep, keep * WINDOW_CHARS_PER_EVENT);
    }
    if (!learn) return;
    this.window.push(form, text, event.time, n);
    this.window.bound(this.opts.windowEvents, this.opts.windowEvents * WINDOW_CHARS_PER_EVENT);
  }

  private learningVerdict(): SubjectVerdict {
    const days = this.lastTime && this.firstTime ? (this.lastTime - this.firstTime) / DAY : 0;
    const needDays = this.opts.minSeconds / DAY;
    return {
      score: null,
      verdict: 'learning',
      model: '',
      reasons:
        `learning ${this.name}: ${this.events} of ${this.opts.minEvents} events` + (needDays > 0 ? `, ${days.toFixed(1)} of ${needDays.toFixed(1)} days` : ''),
    };
  }

  private ready(): boolean {
    return (
      this.events >= this.opts.minEvents &&
      this.lastTime - this.firstTime >= this.opts.minSeconds &&
      // a training that found too few events to calibrate on waits as a retraining does
      this.events - this.trainedAtEvents >= this.opts.minEvents / 4
    );
  }

  private dueForRetraining(): boolean {
    if (this.recent.length < MIN_CALIBRATION) return false;
    const now = this.lastTime || Date.now() / 1000;
    return now - this.lastTrained >= this.opts.retrainSeconds && this.events - this.trainedAtEvents >= this.opts.minEvents / 4;
  }

  private async evaluate(inputs: ScoringInput[], which: (model: Model) => boolean): Promise<Partial<Record<ModelName, Evidence>>[]> {
    const perEvent: Partial<Record<ModelName, Evidence>>[] = inputs.map(() => ({}));
    for (const [name, model] of this.models) {
      if (!which(model)) continue;
      const ev = await model.score(inputs);
      for (let i = 0; i < ev.length; i++) perEvent[i][name] = ev[i];
    }
    return perEvent;
  }

  private judge(event: BehaviourEvent, evidence: Partial<Record<ModelName, Evidence>>): SubjectVerdict {
    const cal = this.calibrator!;
    const values: Partial<Record<ModelName, number>> = {};
    for (const k of Object.keys(evidence) as ModelName[]) values[k] = evidence[k]!.value;
    const c = cal.calibrate(values);
    return this.withFeedback(event.key, { score: c.score, verdict: c.verdict, model: c.model, reasons: this.explain(evidence, c.model, c.score) });
  }

  /**
   * The verdict of the evidence before any bound a model put on this row (Evidence.plain): what
   * is learnt, and what the next fit calibrates on, is decided by it, so that what a bound
   * spares an alarm does not move the subject's later models (the verdict is the row's own)
   */
  private plainVerdict(event: BehaviourEvent, evidence: Partial<Record<ModelName, Evidence>>, verdict: SubjectVerdict): SubjectVerdict['verdict'] {
    const names = Object.keys(evidence) as ModelName[];
    if (!names.some((k) => evidence[k]!.plain !== undefined)) return verdict.verdict;
    const values: Partial<Record<ModelName, number>> = {};
    for (const k of names) values[k] = evidence[k]!.plain ?? evidence[k]!.value;
    const c = this.calibrator!.calibrate(values);
    return this.withFeedback(event.key, { score: c.score, verdict: c.verdict, model: c.model, reasons: '' }).verdict;
  }

  /**
   * Feedback outranks the models, whoever scored the event (this subject's models or a
   * baseline): "normal" stops flagging the same generalised event, "anomalous" keeps
   * flagging it however often it recurs.
   */
  withFeedback(key: string, v: SubjectVerdict): SubjectVerdict {
    if (v.score === null) return v;
    if (this.normalKeys.has(key) && v.score < GOOD_FROM) {
      return { ...v, score: GOOD_FROM, verdict: verdictOf(GOOD_FROM), reasons: `marked normal by feedback for ${this.name}; models alone said: ${v.reasons}` };
    }
    if (this.anomalousKeys.has(key) && v.score >= BAD_BELOW) {
      const score = Math.min(v.score, scoreFromP(0.001));
      return { ...v, score, verdict: verdictOf(score), reasons: `labelled anomalous by feedback for ${this.name}; ${v.reasons}` };
    }
    return v;
  }

  /** whether the row at `mark` of queue `epoch` was learned already (a replay after a crash) */
  hasLearned(epoch: string, mark: RowMark): boolean {
    return this.learned.has(epoch, mark);
  }

  /** the rows up to `mark` of queue `epoch` are learned */
  markLearned(epoch: string, mark: RowMark): void {
    if (this.learned.mark(epoch, mark)) this.dirty = true;
  }

  /**
   * Score events this subject has learned already, learning nothing: replayed after a crash
   * (the retained scores keep the first scoring of a row, so these verdicts matter only for a
   * row whose first scoring was lost with the process), or learnt by `anomaly train` and given
   * to `anomaly score` (shown and retained). Each is judged after the ones before it, as they
   * were learnt: judged all in the context the subject last saw, a routine sequence read as
   * transitions it never made (rarity's n-grams of keys, the SVM's last five events).
   * `advance`: the rows after these see them before them (train's rows within score's stream);
   * a crash's replay leaves the context as it was saved, after the same rows.
   */
  async rejudge(events: readonly BehaviourEvent[], advance = false): Promise<SubjectVerdict[]> {
    if (this.state !== 'monitoring') {
      // learning, the context is what the first rows judged after training see (crashlearn)
      if (advance) for (const event of events) this.pushContext(event);
      return events.map(() => this.learningVerdict());
    }
    const ctx = this.context.slice();
    const inputs: ScoringInput[] = [];
    for (const event of events) {
      inputs.push({ event, context: this.lastOf(ctx) });
      ctx.push(event);
    }
    const evidence = await this.evaluate(inputs, () => true);
    if (advance) for (const event of events) this.pushContext(event);
    return events.map((event, i) => this.judge(event, evidence[i]));
  }

  /**
   * Score events against the models as they stand, learning nothing: a fleet prior is a
   * frozen reference, shipped as a file. The events are one stretch of one subject's stream.
   * The accounts it sees act are recorded in memory (never written to the file): after a
   * restart a new account's next row is its first once more for the prior.
   */
  async judgeOnly(events: readonly BehaviourEvent[]): Promise<SubjectVerdict[]> {
    if (this.state !== 'monitoring') return events.map(() => this.learningVerdict());
    // the context runs on across calls, as the pooled stream it was trained on did
    const inputs: ScoringInput[] = [];
    for (const event of events) {
      inputs.push({ event, context: this.lastOf(this.context) });
      this.context.push(event);
    }
    if (this.context.length > this.opts.contextLength * 4) this.context.splice(0, this.context.length - this.opts.contextLength);
    // what it learns is nothing; what it records is that an account acted (Model.witness), so
    // that a new account's rows after its first are not each its first again for the prior
    // either. Models that record are run one event at a time, each seeing the events before it
    const evidence = await this.evaluate(inputs, (m) => !m.witness);
    for (let i = 0; i < events.length; i++) {
      const recorded = await this.evaluate([inputs[i]], (m) => Boolean(m.witness));
      Object.assign(evidence[i], recorded[0]);
      for (const m of this.models.values()) m.witness?.(events[i]);
    }
    return events.map((event, i) => this.judge(event, evidence[i]));
  }

  get calibrated(): boolean {
    return this.state === 'monitoring';
  }

  private explain(evidence: Partial<Record<ModelName, Evidence>>, decided: ModelName | '', score: number): string {
    const history = this.historyPhrase();
    if (score >= GOOD_FROM || !decided) return `usual for ${this.name} (${history})`;
    const cal = this.calibrator!;
    const parts: string[] = [];
    const ranked = (Object.keys(evidence) as ModelName[])
      .map((name) => ({ name, p: cal.modelP(name, evidence[name]!.value), detail: evidence[name]!.detail }))
      .sort((a, b) => a.p - b.p);
    // one short sentence: the deciding model's phrase, and one more if another model agrees
    for (const r of [...ranked.filter((x) => x.name === decided), ...ranked.filter((x) => x.name !== decided)]) {
      if (parts.length >= 2) break;
      if (r.name !== decided && r.p > 0.01) continue;
      const first = firstPhrase(r.detail);
      if (first && !parts.includes(first)) parts.push(first);
    }
    return `${parts.join('; ') || `unusual for ${this.name}`} (${decided}; ${history})`;
  }

  private historyPhrase(): string {
    const days = this.lastTime && this.firstTime ? (this.lastTime - this.firstTime) / DAY : 0;
    const span = days >= 1 ? `${Math.round(days)} days` : days > 0 ? `${Math.max(1, Math.round(days * 24))} hours` : '';
    return `${countText(this.events)} events${span ? ` in ${span}` : ''} of history`;
  }

  /**
   * Fit the models and calibrate them, then swap. Calibration is cross-fitted by days: the
   * subject's history is cut into folds of whole days, each fold is scored by models fitted
   * on the other folds, and those values are the held-out sample. One stretch of the newest
   * days is not a sample of the days to come: a rare-but-recurring value (a weekly sudo) is
   * missing from it, and the novelty a person shows on some days and not others is measured
   * on a handful of days. Folds of days cover every day of the window, each judged without
   * its own day in the model, as a new day will be. This is for models that learn online
   * (rarity), whose state when they score is the whole history anyway. Batch models (the SVM,
   * the LSTM) are frozen between retrainings: they are fitted on the older part and held out
   * on the newest stretch, so the model calibrated is the model that scores (an SVM refitted
   * on everything has margins the folds' do not match). The combined statistic is calibrated
   * on the events every model scored.
   */
  async train(): Promise<void> {
    if (this.training) return this.training;
    this.training = (async () => {
      // hold out the newest non-bad events; fit on what the window has from before them
      const span = this.window.length ? this.seq - this.window.ns[0] + 1 : 0;
      const want = Math.max(MIN_CALIBRATION, Math.floor(Math.min(span, this.opts.windowEvents) * this.opts.heldOutFraction));
      const held = Math.min(want, this.recent.length);
      if (held < MIN_CALIBRATION) return;
      const cutAt = this.recent.ns[this.recent.length - held];
      let fitCount = 0;
      while (fitCount < this.window.length && this.window.ns[fitCount] < cutAt) fitCount++;
      if (fitCount < MIN_CALIBRATION) return;
      // everything the subject may learn from or calibrate on, in order
      const numbered = historyOf(this.window, this.recent);
      const history = numbered.map((x) => x.e);
      // what the models may learn, as before: the window's (good and labelled) events before
      // the stretch, and the stretch. Older events that were only not bad (ugly) are scored
      // for calibration but never learnt, so repeating an odd thing does not make it normal
      const inWindow = new Set(this.window.ns);
      const learnable = numbered.map((x) => x.n >= cutAt || inWindow.has(x.n));
      // an event a `normal` label put in the window is learnt but never held out (`labelled`)
      const heldOutOk = (n: number) => !this.labelled.has(n);
      // what the batch models fit: the window's events before the stretch, the same objects as
      // in the history, and the labelled ones in the stretch (held out by none)
      const fitPart = numbered.filter((x) => inWindow.has(x.n) && (x.n < cutAt || !heldOutOk(x.n))).map((x) => x.e);
      const folds = dayFolds(
        history,
        CROSS_FIT_FOLDS,
        this.firstTime ? Math.floor(this.firstTime / DAY) : NaN,
        numbered.map((x) => !heldOutOk(x.n)),
      );
      const inputs: ScoringInput[] = history.map((event, i) => ({ event, context: this.lastOf(history.slice(Math.max(0, i - this.opts.contextLength), i)) }));
      const heldOut: Partial<Record<ModelName, number[]>> = {};
      const models = new Map<ModelName, Model>();
      const trainOne = async (name: ModelName): Promise<[ModelName, Model, number[]]> => {
        const options = this.opts.modelOptions?.[name] ?? {};
        const model = createModel(name, options);
        const crossFit = folds !== null && model.observe !== undefined;
        const values = new Array<number>(history.length).fill(NaN);
        if (crossFit) {
          for (let k = 0; k < CROSS_FIT_FOLDS; k++) {
            const rest = history.filter((_, i) => folds[i] !== k && learnable[i]);
            const scored = calibrationSample(folds, k).filter((i) => heldOutOk(numbered[i].n));
            if (scored.length === 0 || rest.length < MIN_CALIBRATION) continue;
            const foldModel = await this.fit(createModel(name, options), rest);
            await this.scoreInto(
              foldModel,
              scored.map((i) => inputs[i]),
              scored,
              values,
            );
            foldModel.dispose?.();
          }
          return [
            name,
            await this.fit(
              model,
              history.filter((_, i) => learnable[i]),
            ),
            values,
          ];
        }
        const fitted =
          (this.opts.trainingThreads ?? 1) > 1 && fitsElsewhere(name)
            ? await fitInHelper(name, options, this.sequencesOf(fitPart), this.models.get(name), () => this.fit(model, fitPart))
            : await this.fit(model, fitPart);
        const last: number[] = [];
        for (let i = 0; i < numbered.length; i++) if (numbered[i].n >= cutAt && heldOutOk(numbered[i].n)) last.push(i);
        await this.scoreInto(
          fitted,
          last.map((i) => inputs[i]),
          last,
          values,
        );
        // the held-out events are normal history too: models that learn online take them in
        for (const i of last) fitted.observe?.(inputs[i].event, inputs[i].context);
        return [name, fitted, values];
      };
      let trained: [ModelName, Model, number[]][] = [];
      if ((this.opts.trainingThreads ?? 1) > 1 && this.opts.models.some(fitsElsewhere)) {
        // side by side: the LSTM's fit runs in the fit helper's thread (fit-helper.ts) while
        // this thread fits the others; each model's work is independent of the others'
        const settled = await Promise.allSettled(this.opts.models.map(trainOne));
        const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) {
          for (const r of settled) if (r.status === 'fulfilled') r.value[1].dispose?.();
          throw failed.reason;
        }
        trained = (settled as PromiseFulfilledResult<[ModelName, Model, number[]]>[]).map((r) => r.value);
      } else {
        // one after the other, so that one model's training state is alive at a time (the
        // watchdog limits resident memory too)
        for (const name of this.opts.models) trained.push(await trainOne(name));
      }
      // in the configured order, whichever finished first
      for (const [name, model, values] of trained) {
        models.set(name, model);
        heldOut[name] = values;
      }
      const calibrator = new Calibrator(scoredOnly(heldOut), naturalScales(models), 1, tailScales(models));
      // the combined statistic is calibrated on the events every model scored: the stretch's
      // events in rarity's cross-fitted sample. Fewer than MIN_CALIBRATION (a key labelled
      // anomalous took most of the stretch) cannot keep the contract: the subject stays as it
      // was, and tries again after as many more events as a retraining waits for, not at each
      if (calibrator.size < MIN_CALIBRATION) {
        for (const model of models.values()) model.dispose?.();
        this.trainedAtEvents = this.events;
        this.dirty = true;
        return;
      }
      // the models replaced hold tfjs tensors, which no garbage collector frees
      this.dispose();
      this.models = models;
      this.calibrator = calibrator;
      this.state = 'monitoring';
      this.lastTrained = this.lastTime || Math.floor(Date.now() / 1000);
      this.trainedAtEvents = this.events;
      this.dirty = true;
    })().finally(() => {
      this.training = null;
    });
    return this.training;
  }

  private async fit(model: Model, events: BehaviourEvent[]): Promise<Model> {
    await pace();
    // a retrain starts from the model it replaces (the LSTM warm-starts from its weights)
    await model.fit(this.sequencesOf(events), this.models.get(model.name));
    fitEnded();
    return model;
  }

  /** with no context, every event stands alone in fitting as it does in scoring */
  private sequencesOf(events: BehaviourEvent[]): BehaviourEvent[][] {
    return this.opts.contextLength > 0 ? [events] : events.map((e) => [e]);
  }

  /** score inputs into values[at[i]], in slices, so that the pacer can hold the process to its CPU budget */
  private async scoreInto(model: Model, inputs: ScoringInput[], at: number[], values: number[]): Promise<void> {
    for (let i = 0; i < inputs.length; i += HELD_OUT_SLICE) {
      await pace();
      const ev = await model.score(inputs.slice(i, i + HELD_OUT_SLICE).map((x) => ({ ...x, heldOut: true })));
      for (let j = 0; j < ev.length; j++) values[at[i + j]] = ev[j].value;
    }
  }

  /** feedback on a scored event of this subject; `row`: the anomaly_scores id it names */
  label(event: BehaviourEvent, label: 'normal' | 'anomalous', row?: string): void {
    if (label === 'normal') {
      this.anomalousKeys.delete(event.key);
      this.normalKeys.add(event.key);
      // the same row's label, still in the window: learnt already (saved, then its line lost)
      const given = row === undefined ? undefined : this.labelledRows.get(row);
      if (given !== undefined && this.labelled.has(given) && this.window.ns.includes(given)) {
        this.dirty = true;
        return;
      }
      const n = ++this.seq;
      this.window.push(this.formOf(event), this.text(event.text), event.time, n);
      this.labelled.add(n);
      if (row !== undefined) this.labelledRows.set(row, n);
      for (const m of this.models.values()) m.observe?.(event, []);
    } else {
      this.normalKeys.delete(event.key);
      this.anomalousKeys.add(event.key);
      // drop it from what later retraining would learn
      this.window = this.window.without(event.key);
      this.recent = this.recent.without(event.key);
    }
    this.dirty = true;
  }

  /** free the models' tensors: before dropping the subject (it can be loaded again from its state) */
  dispose(): void {
    for (const m of this.models.values()) m.dispose?.();
    this.models = new Map();
  }

  /**
   * Characters this subject holds in strings by its own accounting (memcap): the window's and
   * held-out events', the tables of one copy, and each model's values
   */
  heldChars(): { window: number; recent: number; shared: number; models: Record<string, number> } {
    const models: Record<string, number> = {};
    for (const [name, m] of this.models) if (m.heldChars) models[name] = m.heldChars();
    return { window: this.window.heldChars, recent: this.recent.heldChars, shared: this.sharedChars, models };
  }

  summaries(): ModelSummary[] {
    const names = this.models.size ? [...this.models.keys()] : this.opts.models;
    return names.map((model) => ({
      subject: this.name,
      model,
      state: this.state,
      events: this.events,
      lastTrained: this.lastTrained,
      calibration: this.calibrator?.size ?? 0,
      backend: model === 'lstm' ? this.opts.backend : 'js',
    }));
  }

  toState(): SubjectStateFile {
    return {
      name: this.name,
      state: this.state,
      events: this.events,
      firstTime: this.firstTime,
      lastTime: this.lastTime,
      lastTrained: this.lastTrained,
      trainedAtEvents: this.trainedAtEvents,
      window: numberedOf(this.window),
      recent: numberedOf(this.recent),
      seq: this.seq,
      context: this.lastOf(this.context),
      models: [...this.models.values()].map((m) => m.toState()),
      calibration: this.calibrator?.toState() ?? null,
      normalKeys: [...this.normalKeys],
      anomalousKeys: [...this.anomalousKeys],
      learned: this.learned.queue,
      ...(this.learned.run ? { runLearned: this.learned.run } : {}),
      labelled: this.labelledInWindow(),
      ...(this.labelledRows.size ? { labelledRows: [...this.labelledRows] } : {}),
      ...(this.fittedInOlderSpelling ? { fittedInOlderSpelling: true as const } : {}),
    };
  }

  /** the labelled events still in the window (the others were dropped from it) */
  private labelledInWindow(): number[] {
    if (this.labelled.size === 0) return [];
    const inWindow = new Set(this.window.ns);
    for (const n of this.labelled) if (!inWindow.has(n)) this.labelled.delete(n);
    for (const [row, n] of this.labelledRows) if (!this.labelled.has(n)) this.labelledRows.delete(row);
    return [...this.labelled];
  }

  static fromState(s: SubjectStateFile, opts: SubjectOptions): Subject {
    const subject = new Subject(s.name, opts);
    subject.state = s.state;
    subject.events = s.events;
    subject.firstTime = s.firstTime;
    subject.lastTime = s.lastTime;
    subject.lastTrained = s.lastTrained;
    subject.trainedAtEvents = s.trainedAtEvents;
    let older = false;
    const current = (e: BehaviourEvent) => {
      const now = respelt(e);
      if (now !== e) older = true;
      return now;
    };
    // an event in both the window and the recent events is in the file twice: both share one form
    for (const x of s.window) subject.window.push(subject.formOf(current(x.e)), subject.text(x.e.text), x.e.time, x.n);
    for (const x of s.recent) subject.recent.push(subject.formOf(current(x.e)), subject.text(x.e.text), x.e.time, x.n);
    subject.seq = s.seq;
    // an earlier build let a row dated far ahead (year 9999) or in 1970 into these times: read
    // back as they are, the subject would not retrain until that date. The newest plausible
    // event kept stands in for the last time; the first, if wrong, is lost (the span shrinks)
    if ((s.lastTime && !plausibleTime(s.lastTime)) || (s.firstTime && !plausibleTime(s.firstTime))) {
      let first = Infinity;
      let last = 0;
      for (const x of [...s.window, ...s.recent]) {
        if (!plausibleTime(x.e.time)) continue;
        if (x.e.time > last) last = x.e.time;
        if (x.e.time < first) first = x.e.time;
      }
      if (s.lastTime && !plausibleTime(s.lastTime)) {
        subject.lastTime = last;
        if (subject.lastTrained > last) subject.lastTrained = last;
      }
      if (s.firstTime && !plausibleTime(s.firstTime)) subject.firstTime = Number.isFinite(first) ? first : 0;
    }
    subject.context = s.context.map(current);
    subject.fittedInOlderSpelling = older || s.fittedInOlderSpelling === true;
    for (const m of s.models) subject.models.set(m.name, loadModel(m));
    subject.calibrator = s.calibration ? Calibrator.fromState(s.calibration, naturalScales(subject.models), tailScales(subject.models)) : null;
    if (subject.state === 'monitoring' && (!subject.calibrator || subject.models.size === 0)) {
      throw new Error(`subject ${s.name}: state says monitoring but has no ${subject.calibrator ? 'models' : 'calibration'}`);
    }
    subject.normalKeys = new Set(s.normalKeys.map(currentEventKey));
    subject.anomalousKeys = new Set(s.anomalousKeys.map(currentEventKey));
    subject.learned.queue = s.learned ?? null;
    subject.learned.run = s.runLearned ?? null;
    subject.labelled = new Set(s.labelled ?? []);
    subject.labelledRows = new Map(s.labelledRows ?? []);
    subject.dirty = false;
    return subject;
  }
}

/** the held-out values of the events some model scored: the calibration keeps no row of gaps */
function scoredOnly(heldOut: Partial<Record<ModelName, number[]>>): Partial<Record<ModelName, number[]>> {
  const columns = Object.values(heldOut) as number[][];
  const keep: number[] = [];
  for (let i = 0; i < (columns[0]?.length ?? 0); i++) if (columns.some((c) => c[i] === c[i])) keep.push(i);
  const out: Partial<Record<ModelName, number[]>> = {};
  for (const [name, values] of Object.entries(heldOut) as [ModelName, number[]][]) out[name] = keep.map((i) => values[i]);
  return out;
}

/** the scales at which the models' evidence falls by their own account (Model.naturalScale) */
function naturalScales(models: ReadonlyMap<ModelName, Model>): Partial<Record<ModelName, number>> {
  const out: Partial<Record<ModelName, number>> = {};
  for (const [name, model] of models) {
    const scale = model.naturalScale?.();
    if (scale !== undefined) out[name] = scale;
  }
  return out;
}

/** the models' own least tail scales, for the calibration of their evidence */
function tailScales(models: ReadonlyMap<ModelName, Model>): Partial<Record<ModelName, number>> {
  const out: Partial<Record<ModelName, number>> = {};
  for (const [name, model] of models) {
    const scale = model.tailScale?.();
    if (scale !== undefined) out[name] = scale;
  }
  return out;
}
