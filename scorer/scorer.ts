import * as fs from 'fs';
import * as path from 'path';
import { BinaryHeap } from './binary-heap';
import type { AnomalyConfig } from '../conf/config';
import { FeatureExtractor, storedColumns } from './features/extract';
import { currentEventKey } from './features/kinds';
import { learnIdentity, UidMap } from './features/subject';
import { RowIds, type IdCount } from './row-id';
import { announceBackend, selectBackend } from './models/backend';
import { pace } from './pacing';
import { Subject, type SubjectOptions, type SubjectStateFile, type SubjectVerdict } from './subject';
import { ChainSuspicion, type ChainRow } from './chain-suspicion';
import { ConnectionFan } from './connection-fan';
import { SharedPeer } from './shared-peer';
import { bootStart } from './models/boot-start';
import { packagesDoing } from './models/package-run';
import { combineBaselines, FLEET_SUBJECT, hostBaselineName, isBaselineName, subjectKey, withIdentity, type BaselineVerdict } from './baseline';
import { createHash } from 'crypto';
import { makeDir, quarantine, readForeignStateFile, readStateFile, untrustedFile, writeStateFile, StateFileError } from '../state/atomic';
import { checkExtractor, checkSubject } from '../state/schema';
import type { BehaviourEvent, FeedbackRecord, ModelSummary, ResultRow, RowMark, ScoredEvent } from './types';
import { MODEL_NAMES, type ModelName } from './types';
import type { LogFn } from '../conf/log';

// The scorer: result rows in, scored events out, one Subject per user per host (and one for
// the host itself), plus the pooled baselines that score a subject while it learns
// (scorer/baseline.ts). The extension runs it inside a worker thread (scorer/worker.ts); the
// CLI runs it in-process. Both paths therefore learn and score identically.
//
// Memory: at most `memory.resident_subjects` subjects are loaded at once. When another one is
// needed, the least recently active is saved to its file and unloaded (its tensors freed),
// and loaded again from that file when its rows next arrive; Subject.toState holds all that
// scoring depends on, so scores are the same as if it had stayed. Without a state directory
// (evaluation) every subject stays loaded.

export type { LogFn };

export interface ScorerOptions {
  config: AnomalyConfig;
  /** where subjects are persisted; null keeps everything in memory (evaluation) */
  stateDir: string | null;
  log?: LogFn;
  /** overrides for model sizes (tests, benchmarks) */
  modelOptions?: SubjectOptions['modelOptions'];
  contextLength?: number;
  /**
   * the most subjects kept: the extension passes memory.max_subjects; offline commands keep
   * every subject, as their input is chosen by whoever runs them (a fleet's log given to
   * 'anomaly train' holds hosts × users subjects, all learning until the end)
   */
  maxSubjects?: number;
  /**
   * Only read the state directory (`anomaly report`): nothing is created in it and a file
   * that cannot be loaded is left where it is, listed in `unreadable`, instead of being moved
   * to quarantine/ under a running extension
   */
  readOnly?: boolean;
}

const SUBJECT_KIND = 'subject';
const SUBJECT_VERSION = 1;
const EXTRACTOR_KIND = 'extractor';
const EXTRACTOR_VERSION = 1;
export const FLEET_KIND = 'fleet';
export const FLEET_VERSION = 1;

/** a subject unloaded to its file; what anomaly_models shows of it stays */
interface Parked {
  file: string;
  summaries: ModelSummary[];
  /** when it was parked: an entry of `forgettable` of another time is stale */
  order: number;
}

export class Scorer {
  /** the loaded subjects, least recently used first */
  private readonly subjects = new Map<string, Subject>();
  private readonly parked = new Map<string, Parked>();
  private readonly residentLimit: number;
  /** memory.max_subjects with a state directory (evaluation keeps every subject) */
  private readonly subjectLimit: number;
  /** learning subjects forgotten for memory.max_subjects, for the log */
  private forgotten = 0;
  /** the parked learning subjects, the one with the fewest events first (forgetBeyondLimit) */
  private readonly forgettable = new Forgettable();
  private parkOrder = 0;
  /** rows of subjects not modelled for memory.max_subjects, for the log */
  private unmodelled = 0;
  /** pooled host baselines by host */
  private readonly baselines = new Map<string, Subject>();
  private fleet: Subject | null = null;
  private readonly log: LogFn;
  readonly backend: string;
  private readonly subjectOptions: SubjectOptions;
  /** pooled baselines mix many subjects' streams: no sequence model, whose context would be noise */
  private readonly baselineOptions: SubjectOptions;
  /** the ids of the rows scored, identical rows of a second told apart by their order */
  private readonly ids = new RowIds();
  /** suspicion carried down a process chain (chain-suspicion.ts) */
  private readonly chains = new ChainSuspicion();
  /** one tool against many peers (connection-fan.ts) */
  private readonly fans = new ConnectionFan();
  /** another program at an alert's public peer (shared-peer.ts) */
  private readonly peers = new SharedPeer();
  /** a subject started monitoring or retrained since the last save: save soon */
  changedState = false;

  private constructor(
    private readonly opts: ScorerOptions,
    backend: string,
    private readonly extractor: FeatureExtractor,
    private readonly users: UidMap,
  ) {
    this.log = opts.log ?? (() => {});
    this.backend = backend;
    const c = opts.config;
    this.residentLimit = opts.stateDir ? c.memory.resident_subjects : Infinity;
    this.subjectLimit = opts.stateDir && opts.maxSubjects !== undefined ? Math.max(opts.maxSubjects, c.memory.resident_subjects) : Infinity;
    this.subjectOptions = {
      models: MODEL_NAMES.filter((m) => c.models[m]),
      minEvents: c.learning.min_events,
      minSeconds: c.learning.min_days * 86400,
      windowEvents: c.retrain.window_events,
      retrainSeconds: c.retrain.interval_seconds,
      contextLength: opts.contextLength ?? 10,
      heldOutFraction: 0.3,
      backend,
      trainingThreads: c.budget.training_threads,
      // a subject retrains every interval on a window of at most retrain.window_events: its
      // LSTM stops after eight epochs over its distinct contexts, because the benchmarks'
      // default of 30 with early stopping more than doubled the demo's CPU (not yet measured
      // against the earlier four epochs over every window)
      modelOptions: { ...opts.modelOptions, lstm: { epochs: 8, ...opts.modelOptions?.lstm } },
    };
    // a baseline changes slowly (it pools everything) and its SVM trains on the most varied
    // vectors of the host: retrain it a quarter as often, on half the vectors, to keep the
    // extension inside osquery's CPU budget. Its stream interleaves many subjects, so what
    // came just before an event says nothing about it: no context, no sequence model.
    this.baselineOptions = {
      ...this.subjectOptions,
      contextLength: 0,
      models: baselineModels(this.subjectOptions.models),
      retrainSeconds: this.subjectOptions.retrainSeconds * 4,
      modelOptions: { ...opts.modelOptions, ocsvm: { maxTrain: 1000, ...opts.modelOptions?.ocsvm } },
    };
  }

  static async open(opts: ScorerOptions): Promise<Scorer> {
    const log = opts.log ?? (() => {});
    const backend = opts.config.models.lstm ? await selectBackend() : 'none';
    const users = new UidMap();
    let extractor: FeatureExtractor | null = null;
    // a reader needs no extractor (it scores nothing) and writes nothing, the backend's note included
    if (opts.stateDir && !opts.readOnly) {
      makeDir(path.join(opts.stateDir, 'subjects'));
      if (backend !== 'none') announceBackend(backend, opts.stateDir, log);
      try {
        const saved = readStateFile(path.join(opts.stateDir, 'extractor.json'), EXTRACTOR_KIND, EXTRACTOR_VERSION, checkExtractor);
        if (saved) extractor = FeatureExtractor.fromState(saved as never, { users, overrides: opts.config.queries });
      } catch (err) {
        log('error', `${(err as Error).message}; feature extraction starts afresh (templates are re-mined as rows arrive)`);
      }
    }
    extractor ??= new FeatureExtractor({ users, overrides: opts.config.queries });
    const scorer = new Scorer(opts, backend, extractor, users);
    if (opts.stateDir) await scorer.loadSubjects(opts.stateDir);
    if (opts.config.baselines.fleet_prior) scorer.loadFleet(opts.config.baselines.fleet_prior);
    return scorer;
  }

  /** a fleet prior is an aid: when it cannot be read, say so and score without it */
  private loadFleet(file: string): void {
    try {
      // a prior others can write would let them teach every new subject what is normal
      const state = readForeignStateFile(file, FLEET_KIND, FLEET_VERSION, (st) => untrustedFile(st, file), checkSubject) as SubjectStateFile | undefined;
      if (!state) throw new Error('no such file');
      this.fleet = Subject.fromState(state, this.baselineOptions);
      if (!this.fleet.calibrated) throw new Error('the fleet prior was never calibrated');
      this.log('info', `fleet prior loaded from ${file} (${this.fleet.events} events)`);
    } catch (err) {
      this.fleet = null;
      this.log('error', `fleet prior ${file}: ${(err as Error).message}; subjects still learning are scored by their host baseline only`);
    }
  }

  /**
   * `anomaly train --fleet`: pool the rows of many hosts into one model, the way a host
   * baseline pools its subjects. Call for every batch, then `writeFleet`.
   */
  async learnFleet(rows: readonly ResultRow[]): Promise<void> {
    this.fleet ??= new Subject(FLEET_SUBJECT, this.baselineOptions);
    await this.fleet.scoreEvents(
      rows.map((row) => {
        const x = this.extractor.extract(row);
        return withIdentity(x.event, x.subject);
      }),
    );
  }

  /** train the fleet prior on what it saw and write it as one file; false when too little was seen */
  async writeFleet(file: string): Promise<{ events: number; calibrated: boolean }> {
    const fleet = this.fleet;
    if (!fleet) return { events: 0, calibrated: false };
    await fleet.train();
    if (fleet.calibrated) writeStateFile(file, FLEET_KIND, FLEET_VERSION, fleet.toState());
    return { events: fleet.events, calibrated: fleet.calibrated };
  }

  /** the subjects saved in the state directory: the most recently active loaded, the others parked */
  private async loadSubjects(stateDir: string): Promise<void> {
    const dir = path.join(stateDir, 'subjects');
    const loaded: Subject[] = [];
    let monitoring = 0;
    const readOnly = this.opts.readOnly === true;
    let files: string[];
    try {
      files = fs.readdirSync(dir);
    } catch (err) {
      // (made by open() unless only reading)
      if (readOnly && (err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const file of files) {
      if (!file.endsWith('.json')) continue;
      await pace();
      const full = path.join(dir, file);
      try {
        const state = readStateFile(full, SUBJECT_KIND, SUBJECT_VERSION, checkSubject, readOnly) as SubjectStateFile | undefined;
        if (!state) continue;
        if (isBaselineName(state.name)) {
          // a host's baseline, `*@<host>`, whatever the host is called: the fleet prior is
          // never saved here (its own file, baselines.fleet_prior), and a host named `*`,
          // whose root chooses its name, had its pool read back as every host's prior (review12)
          this.baselines.set(state.name.slice(2), Subject.fromState(state, this.baselineOptions));
          continue;
        }
        const subject = Subject.fromState(state, this.subjectOptions);
        if (subject.state === 'monitoring') monitoring++;
        loaded.push(subject);
        this.files.set(subject.name, full);
        if (loaded.length > this.residentLimit) {
          // one over the limit: the least recently active goes back to its file
          const oldest = loaded.reduce((a, b) => (b.lastTime < a.lastTime ? b : a));
          this.park(oldest, this.fileOf(oldest.name));
          loaded.splice(loaded.indexOf(oldest), 1);
        }
      } catch (err) {
        if (readOnly) {
          const why = err instanceof StateFileError ? err.message : `${full}: ${(err as Error).message}`;
          this.unreadable.push(why);
          this.log('error', `${why}; left in place (this command only reads the state directory); its models are not shown`);
          continue;
        }
        const why = err instanceof StateFileError ? err.message : `${full}: ${(err as Error).message}; moved to ${quarantine(full)}`;
        this.log('error', `${why}; that subject starts learning again from new events`);
      }
    }
    for (const s of loaded.sort((a, b) => a.lastTime - b.lastTime)) this.subjects.set(s.name, s);
    const total = this.subjectCount;
    if (total) this.log('info', `resumed ${total} subjects (${monitoring} monitoring, ${this.subjects.size} loaded) from ${dir}`);
  }

  /** with `readOnly`: the subject files that could not be loaded and why, each naming its file */
  readonly unreadable: string[] = [];

  /** the file each loaded subject was read from: its own hashed name, or an earlier version's name until it is saved */
  private readonly files = new Map<string, string>();

  private fileOf(name: string): string {
    return this.files.get(name) ?? path.join(this.opts.stateDir!, 'subjects', subjectFileName(name));
  }

  /** unload a subject that its file holds as it is */
  private park(s: Subject, file: string): void {
    const order = ++this.parkOrder;
    this.parked.set(s.name, { file, summaries: s.summaries(), order });
    if (s.state === 'learning') this.forgettable.push(s.events, order, s.name);
    // each time a subject is loaded again its entry goes stale: rebuilt, the heap stays
    // within twice the subjects parked
    if (this.forgettable.size > 2 * this.parked.size + 1024) {
      this.forgettable.clear();
      for (const [name, p] of this.parked) {
        const learning = p.summaries[0];
        if (learning && learning.state === 'learning') this.forgettable.push(learning.events, p.order, name);
      }
    }
    this.files.delete(s.name);
    s.dispose();
  }

  /**
   * The subject, made the most recently used: loaded from its file if it was parked, new if
   * never seen. Then the least recently used beyond the limit are saved and parked. Null for
   * a new subject when memory.max_subjects are kept and none can be forgotten.
   */
  private async use(name: string): Promise<Subject | null> {
    let s = this.subjects.get(name);
    if (s) this.subjects.delete(name);
    else if (this.parked.has(name)) {
      // reading a window of events back is a slice of CPU like any other
      await pace();
      s = this.unpark(name);
    }
    if (!s) {
      this.forgetBeyondLimit();
      // every subject kept is monitoring (or loaded and active): a new one is not modelled,
      // its rows are scored by the baselines alone. Adding it over the limit let a user with
      // a range of subordinate uids make one monitoring subject per uid (1,000 events each),
      // every one a file of up to retrain.window_events events, kept for ever; forgetting a
      // monitoring subject instead would let such a flood erase a quiet user's model
      if (this.subjectCount >= this.subjectLimit) return null;
      s = new Subject(name, this.subjectOptions);
    }
    this.subjects.set(name, s);
    while (this.subjects.size > this.residentLimit) {
      await pace();
      if (!this.evictLeastRecent()) break;
    }
    return s;
  }

  /**
   * Before a new subject is added: while the subjects kept are at memory.max_subjects, forget
   * the unloaded learning subject that has learnt the least, file and all (the least recently
   * parked of those with as few events). A local user with a subordinate uid range (65,536
   * uids) made a subject per uid, each kept for ever: heap and files without bound. A
   * monitoring subject has earned its place and is kept. Forgetting the least recently active
   * instead let such a flood erase a real user still learning: 1,000 one-row uids through a
   * limit of 30 took a new user's 300 rows of learning, and a flood a day would keep that user
   * scored by the baselines alone for ever; now the flood's one-row subjects go first, and
   * erasing a user who learnt n rows takes max_subjects subjects of more than n rows each.
   */
  private forgetBeyondLimit(): void {
    while (this.subjectCount >= this.subjectLimit) {
      const next = this.forgettable.pop();
      // every subject kept is monitoring (or loaded): none to forget
      if (!next) return;
      const [, order, name] = next;
      const p = this.parked.get(name);
      // loaded again since, or parked again later (with another count)
      if (!p || p.order !== order) continue;
      this.parked.delete(name);
      try {
        fs.unlinkSync(p.file);
      } catch {
        /* already gone: nothing to free */
      }
      if (this.forgotten++ % 10_000 === 0)
        this.log(
          'warn',
          `${this.forgotten} learning subject(s) forgotten, those that learnt the least first (last ${JSON.stringify(name.slice(0, 100))}): more than memory.max_subjects (${this.subjectLimit}) subjects were seen`,
        );
    }
  }

  /** load a parked subject; one whose file has become unreadable starts afresh, as at start-up */
  private unpark(name: string): Subject | undefined {
    const { file } = this.parked.get(name)!;
    this.parked.delete(name);
    try {
      const state = readStateFile(file, SUBJECT_KIND, SUBJECT_VERSION, checkSubject) as SubjectStateFile | undefined;
      if (!state) throw new Error('the file is gone');
      if (state.name !== name) throw new Error(`it holds subject ${JSON.stringify(state.name.slice(0, 100))}`);
      const s = Subject.fromState(state, this.subjectOptions);
      this.files.set(name, file);
      return s;
    } catch (err) {
      const why = err instanceof StateFileError ? err.message : `${file}: ${(err as Error).message}; moved to ${quarantine(file)}`;
      this.log('error', `${why}; subject ${JSON.stringify(name.slice(0, 100))} starts learning again from new events`);
      return undefined;
    }
  }

  /** subjects taken over from a bare uid's, and the file that one was read from: removed once the new one is written */
  private readonly adoptedFrom = new Map<string, string>();

  /**
   * A user's subject that is new here while the subject of their uid (`uid:998@web-01`) is
   * not: `anomaly train` learnt it from logs that named no uid (a service account has no
   * shell history, and the users snapshot is daily), and the extension, which names uids
   * from osqueryd's users table, started the user afresh beside an orphaned model. The
   * uid's subject is taken over under the name, once, with its models and state.
   */
  private adoptBareUid(name: string, user: string, host: string, perHost: boolean): void {
    if (user.startsWith('uid:') || this.subjects.has(name) || this.parked.has(name)) return;
    const uid = this.users.uidOf(user, host);
    if (uid === undefined) return;
    const alias = subjectKey(`uid:${uid}`, host, perHost);
    let state: SubjectStateFile | undefined;
    let from: string | undefined;
    try {
      const loaded = this.subjects.get(alias);
      if (loaded) {
        from = this.files.get(alias) ?? path.join(this.opts.stateDir ?? '', 'subjects', subjectFileName(alias));
        // through JSON: the new subject must share no array with the one disposed of
        state = JSON.parse(JSON.stringify(loaded.toState())) as SubjectStateFile;
        this.subjects.delete(alias);
        this.files.delete(alias);
        loaded.dispose();
      } else if (this.parked.has(alias)) {
        from = this.parked.get(alias)!.file;
        state = readStateFile(from, SUBJECT_KIND, SUBJECT_VERSION, checkSubject) as SubjectStateFile | undefined;
        this.parked.delete(alias);
      }
      if (!state) return;
      const s = Subject.fromState({ ...state, name }, this.subjectOptions);
      s.dirty = true;
      this.subjects.set(name, s);
      this.changedState = true;
      if (this.opts.stateDir && from) this.adoptedFrom.set(name, from);
      this.log(
        'info',
        `subject ${JSON.stringify(alias.slice(0, 100))} is ${JSON.stringify(name.slice(0, 100))} (osqueryd's users table names uid ${uid}): its models carry on under that name`,
      );
    } catch (err) {
      this.log(
        'error',
        `subject ${JSON.stringify(alias.slice(0, 100))} could not be taken over as ${JSON.stringify(name.slice(0, 100))}: ${(err as Error).message}; it starts learning`,
      );
    }
  }

  /** save (if its file is not current) and park the least recently used subject; false if it could not be saved */
  private evictLeastRecent(): boolean {
    const [name, s] = this.subjects.entries().next().value as [string, Subject];
    const dir = this.opts.stateDir!;
    const own = path.join(dir, 'subjects', subjectFileName(name));
    if (s.dirty || this.fileOf(name) !== own) {
      try {
        this.writeSubject(dir, s);
      } catch (err) {
        // it stays loaded, and is tried again when the next subject is needed
        this.log('error', `subject ${JSON.stringify(name.slice(0, 100))} could not be saved to unload it: ${(err as Error).message}; it stays in memory`);
        return false;
      }
    }
    this.subjects.delete(name);
    this.park(s, own);
    return true;
  }

  private writeSubject(dir: string, s: Subject): void {
    writeStateFile(path.join(dir, 'subjects', subjectFileName(s.name)), SUBJECT_KIND, SUBJECT_VERSION, s.toState());
    s.dirty = false;
    this.files.delete(s.name);
    removeLegacyFile(dir, s.name);
    const adopted = this.adoptedFrom.get(s.name);
    if (adopted !== undefined) {
      this.adoptedFrom.delete(s.name);
      try {
        fs.unlinkSync(adopted);
      } catch {
        /* already gone */
      }
    }
  }

  /** rows attributed to a bare uid (`uid:1001`) because nothing named it, by subject */
  readonly bareUidRows = new Map<string, number>();

  /** learn uid → name from rows that carry both (a first pass over logs read offline) */
  learnUsers(rows: readonly ResultRow[]): void {
    for (const row of rows) learnIdentity(row, this.users);
  }

  /** uid → username rows from the manager's `users` table */
  setUsers(rows: ReadonlyArray<{ uid: string; username: string }>): void {
    this.users.update(rows);
  }

  /**
   * Score rows in order; rows of one subject keep their order. Every row also goes to its
   * host's baseline, in row order, so the baseline learns the host as a whole and scores
   * the rows of subjects still learning.
   *
   * `replay`, from the extension's queue, says where each row sits in it: a subject (or
   * baseline) saved after learning some of these rows, before the queue saved its cursor,
   * meets them again after a crash, and scores them without learning them twice.
   *
   * `ids`, the rows' ids (scorer/row-id.ts) when the caller counted them over rows it does not
   * score (`anomaly score`'s ledger, over the rows scored before too): counted here over these
   * rows only, a row identical to one of those at the same second took that row's id. Counted
   * here, in the order of the rows (not of their subjects), as the ledger counts them.
   *
   * `learnt`, true for each row another command learnt already (`anomaly train`, whose ledger
   * `anomaly score` reads): scored without learning, as a row replayed after a crash is.
   */
  async scoreRows(
    rows: readonly ResultRow[],
    replay?: { epoch: string; marks: readonly RowMark[] },
    ids?: readonly string[],
    learnt?: readonly boolean[],
  ): Promise<ScoredEvent[]> {
    const out = new Array<ScoredEvent | undefined>(rows.length);
    const rowIds = ids ?? rows.map((row) => this.ids.next(row));
    const perHost = this.opts.config.baselines.per_host_users;
    const bySubject = new Map<string, { index: number[]; events: BehaviourEvent[] }>();
    const byHost = new Map<string, { index: number[]; events: BehaviourEvent[] }>();
    const extracted: { subject: string; key: string; event: BehaviourEvent }[] = [];
    for (let i = 0; i < rows.length; i++) {
      const x = this.extractor.extract(rows[i], replay && { epoch: replay.epoch, mark: replay.marks[i] }, learnt?.[i]);
      const key = subjectKey(x.subject, rows[i].host, perHost);
      if (x.subject.startsWith('uid:')) this.bareUidRows.set(x.subject, (this.bareUidRows.get(x.subject) ?? 0) + 1);
      extracted.push({ ...x, key });
      push(bySubject, key, i, x.event);
      if (this.opts.config.baselines.host) push(byHost, rows[i].host, i, withIdentity(x.event, x.subject));
    }
    const fromHost = new Array<SubjectVerdict | undefined>(rows.length);
    for (const [host, group] of byHost) {
      const verdicts = await learnOnce(this.baseline(host), group, replay, learnt);
      verdicts.forEach((v, j) => (fromHost[group.index[j]] = v));
    }
    for (const [name, group] of bySubject) {
      this.adoptBareUid(name, extracted[group.index[0]].subject, rows[group.index[0]].host, perHost);
      const subject = await this.use(name);
      let verdicts: SubjectVerdict[];
      if (subject) {
        const before = `${subject.state}/${subject.lastTrained}`;
        verdicts = await learnOnce(subject, group, replay, learnt);
        if (`${subject.state}/${subject.lastTrained}` !== before) this.changedState = true;
      } else verdicts = this.notModelled(name, group.events.length);
      const learning = verdicts.map((v, j) => (v.verdict === 'learning' ? j : -1)).filter((j) => j >= 0);
      const fromFleet =
        this.fleet && learning.length ? await this.fleet.judgeOnly(learning.map((j) => withIdentity(group.events[j], extracted[group.index[j]].subject))) : [];
      learning.forEach((j, k) => {
        const candidates: BaselineVerdict[] = [];
        const h = fromHost[group.index[j]];
        if (h) candidates.push({ baseline: 'host', verdict: h });
        if (fromFleet[k]) candidates.push({ baseline: 'fleet', verdict: fromFleet[k] });
        const combined = combineBaselines(candidates);
        if (combined) {
          const v = { ...combined, reasons: `${combined.reasons}; ${verdicts[j].reasons}` };
          verdicts[j] = subject ? subject.withFeedback(group.events[j].key, v) : v;
        }
      });
      for (let j = 0; j < verdicts.length; j++) {
        const i = group.index[j];
        const row = rows[i];
        const v = verdicts[j];
        out[i] = {
          id: rowIds[i],
          time: row.time,
          host: row.host,
          subject: extracted[i].subject,
          query: row.query,
          action: row.action,
          event: extracted[i].event.key,
          score: v.score,
          verdict: v.verdict,
          model: v.model,
          reasons: v.reasons,
          columns: JSON.stringify(storedColumns(row.columns)),
        };
      }
    }
    // in row order, after every subject has scored its rows: a parent's row may be another subject's
    for (let i = 0; i < rows.length; i++) {
      const e = out[i] as ScoredEvent;
      const kind = extracted[i].event.values.find((v) => v.startsWith('kind='))?.slice(5);
      const row: ChainRow = {
        host: rows[i].host,
        time: rows[i].time,
        columns: rows[i].columns,
        kind,
        event: e.event,
        score: e.score,
        model: e.model,
        packagesDoing: packagesDoing(extracted[i].event) || bootStart(extracted[i].event),
      };
      const chained = this.chains.judge(row);
      const fanned = this.fans.judge(row);
      const lower = fanned && (!chained || fanned.score < chained.score) ? fanned : chained;
      if (lower) out[i] = { ...e, score: lower.score, verdict: lower.verdict, reasons: `${lower.reason}; ${e.reasons}` };
      // after them: an alert the chain made is an alert's peer too
      const now = out[i] as ScoredEvent;
      const shared = this.peers.judge({ ...row, score: now.score });
      if (shared) out[i] = { ...now, score: shared.score, verdict: shared.verdict, reasons: `${shared.reason}; ${now.reasons}` };
    }
    return out as ScoredEvent[];
  }

  /** verdicts for the rows of a subject memory.max_subjects left out: the baselines' alone */
  private notModelled(name: string, rows: number): SubjectVerdict[] {
    if (this.unmodelled === 0 || Math.floor((this.unmodelled + rows) / 100_000) > Math.floor(this.unmodelled / 100_000))
      this.log(
        'warn',
        `subject ${JSON.stringify(name.slice(0, 100))} is not modelled: memory.max_subjects (${this.subjectLimit}) subjects are kept and none is learning to make room; its rows are scored by the baselines (${this.unmodelled + rows} such rows so far)`,
      );
    this.unmodelled += rows;
    const verdict: SubjectVerdict = {
      score: null,
      verdict: 'learning',
      model: '',
      reasons: `not modelled: memory.max_subjects (${this.subjectLimit}) subjects are kept`,
    };
    return Array.from({ length: rows }, () => ({ ...verdict }));
  }

  private baseline(host: string): Subject {
    let b = this.baselines.get(host);
    if (!b) {
      b = new Subject(hostBaselineName(host), this.baselineOptions);
      this.baselines.set(host, b);
    }
    return b;
  }

  /** where the count of identical rows (RowIds) stands: a batch scored again from here gets the same ids */
  idCount(): IdCount {
    return this.ids.count();
  }

  /** go back to a count idCount gave, before a batch is scored again */
  restoreIdCount(count: IdCount): void {
    this.ids.restore(count);
  }

  /** apply feedback to the subject of a scored event */
  feedback(scored: ScoredEvent, record: FeedbackRecord): void {
    let columns: Record<string, string>;
    try {
      columns = JSON.parse(scored.columns);
    } catch {
      throw new Error(`feedback ${record.id}: the retained row's columns are not JSON`);
    }
    // the label goes to the key the row was scored under; re-extracting now could give another
    // one (templates and the process table have moved on), and must not teach the extractor
    const matched = this.extractor.match({ query: scored.query, host: scored.host, time: scored.time, action: scored.action, columns, decorations: {} });
    // (a row retained before an upgrade keeps the key as that build spelt it)
    const event = { ...matched, key: currentEventKey(scored.event) };
    const perHost = this.opts.config.baselines.per_host_users;
    let name = subjectKey(scored.subject, scored.host, perHost);
    // a row scored under a bare uid before the users table named it: its subject is carried on
    // under the name since (adoptBareUid), and the retained row still says `uid:1005`
    if (!this.subjects.has(name) && !this.parked.has(name) && scored.subject.startsWith('uid:')) {
      const named = this.users.name(scored.subject.slice(4), scored.host);
      if (!named.startsWith('uid:')) name = subjectKey(named, scored.host, perHost);
    }
    const subject = this.subjects.get(name) ?? (this.parked.has(name) ? this.unpark(name) : undefined);
    if (!subject) throw new Error(`feedback ${record.id}: subject ${name} is not modelled`);
    this.subjects.delete(name);
    this.subjects.set(name, subject);
    subject.label(event, record.label, record.id);
    // unloading the least recently used waits for the next rows, which may pace it
  }

  summaries(): ModelSummary[] {
    const out: ModelSummary[] = [];
    for (const s of this.subjects.values()) out.push(...s.summaries());
    for (const p of this.parked.values()) out.push(...p.summaries);
    for (const s of this.baselines.values()) out.push(...s.summaries());
    if (this.fleet) out.push(...this.fleet.summaries());
    return out;
  }

  /** characters each resident subject and baseline, and the extractor, hold by their own accounting (memcap) */
  heldChars(): { extractor: ReturnType<FeatureExtractor['heldChars']>; subjects: Record<string, ReturnType<Subject['heldChars']>> } {
    const subjects: Record<string, ReturnType<Subject['heldChars']>> = {};
    for (const [name, s] of this.subjects) subjects[name] = s.heldChars();
    for (const [name, s] of this.baselines) subjects[name] = s.heldChars();
    return { extractor: this.extractor.heldChars(), subjects };
  }

  get subjectCount(): number {
    return this.subjects.size + this.parked.size;
  }

  /** subjects loaded in memory now (the rest are parked in their files) */
  get residentCount(): number {
    return this.subjects.size;
  }

  /**
   * Train now, whatever the lifecycle's time minimum (CLI `train`, `eval`): every subject with
   * the minimum number of events, and every host baseline. A subject with fewer events stays
   * learning and is scored by its baseline, as it would be in the extension: a model
   * calibrated on a few dozen events would promise a contract it cannot keep.
   */
  async trainAll(): Promise<void> {
    for (const name of [...this.subjects.keys(), ...this.parked.keys()]) {
      const s = await this.use(name);
      // (null only for a subject whose file became unreadable, with no room to start it again)
      if (s && s.events >= this.subjectOptions.minEvents) await s.train();
    }
    for (const s of this.baselines.values()) await s.train();
  }

  /**
   * Persist the extractor and the subjects that changed, atomically. Each file is saved on
   * its own: one that fails (a full disk, a subject too large to write) is reported and
   * tried again next time, and the others are saved all the same. Throws, after trying all,
   * with what failed.
   */
  save(): void {
    const failed: string[] = [];
    for (const write of this.pendingWrites(failed)) write();
    throwIfNotSaved(failed);
  }

  /**
   * The same, calling `between` before each file: a subject's window is megabytes of JSON,
   * so the scorer thread saves one subject per slice of its CPU budget.
   */
  async saveInSlices(between: () => Promise<void>): Promise<void> {
    const failed: string[] = [];
    for (const write of this.pendingWrites(failed)) {
      await between();
      write();
    }
    throwIfNotSaved(failed);
  }

  /** one write per changed file; each is atomic, reads the subject when it runs, and adds to `failed` instead of throwing */
  private *pendingWrites(failed: string[]): Generator<() => void> {
    const dir = this.opts.stateDir;
    if (!dir) return;
    this.changedState = false;
    const attempt = (what: string, write: () => void) => () => {
      try {
        write();
      } catch (err) {
        failed.push(`${what}: ${(err as Error).message}`);
      }
    };
    yield attempt('extractor', () => writeStateFile(path.join(dir, 'extractor.json'), EXTRACTOR_KIND, EXTRACTOR_VERSION, this.extractor.toState()));
    for (const s of [...this.subjects.values(), ...this.baselines.values()]) {
      if (!s.dirty) continue;
      yield attempt(`subject ${JSON.stringify(s.name.slice(0, 100))}`, () => this.writeSubject(dir, s));
    }
  }
}

function throwIfNotSaved(failed: readonly string[]): void {
  if (failed.length) throw new Error(`${failed.length} state files not saved (they are tried again at the next save): ${failed.slice(0, 5).join('; ')}`);
}

/**
 * A pooled baseline is judged by rarity when it is enabled: its identity and recurrence
 * tokens are what tell a sparse account's routine from a stranger. The SVM over a pooled
 * stream degenerates (most held-out vectors repeat a training vector exactly, every margin
 * is about 0, and the tail fitted to them calls any small step outside impossible); the
 * LSTM's context would be other subjects' events. Without rarity, the SVM stands in.
 */
function baselineModels(models: readonly ModelName[]): ModelName[] {
  if (models.includes('rarity')) return ['rarity'];
  return models.filter((m) => m !== 'lstm');
}

/**
 * A subject's rows of a batch, learned unless it learned them before: before a crash (the
 * first of the group, rows keep the queue's order), or in another command (`learnt`, by the
 * rows' places in the batch). Those are scored without learning, each stretch in its turn.
 */
async function learnOnce(
  s: Subject,
  group: { index: number[]; events: BehaviourEvent[] },
  replay: { epoch: string; marks: readonly RowMark[] } | undefined,
  learnt: readonly boolean[] | undefined,
): Promise<SubjectVerdict[]> {
  if (!replay && !learnt) return s.scoreEvents(group.events);
  let replayed = 0;
  if (replay) while (replayed < group.index.length && s.hasLearned(replay.epoch, replay.marks[group.index[replayed]])) replayed++;
  const replayedRow = (j: number) => j < replayed;
  const known = (j: number) => replayedRow(j) || Boolean(learnt?.[group.index[j]]);
  const out: SubjectVerdict[] = [];
  for (let from = 0; from < group.events.length;) {
    let to = from + 1;
    // (the replay ends a stretch: rows train learnt right after it move the context, which was
    // saved after the replay only; one stretch with them moved it for none, crashlearn)
    while (to < group.events.length && known(to) === known(from) && replayedRow(to) === replayedRow(from)) to++;
    const events = group.events.slice(from, to);
    // (a stretch train learnt moves the context for the rows after it; a crash's replay, the
    // first stretch, was saved with the context after it)
    const verdicts = !known(from) ? await s.scoreEvents(events) : await s.rejudge(events, from >= replayed);
    for (const v of verdicts) out.push(v);
    from = to;
  }
  if (replay) s.markLearned(replay.epoch, replay.marks[group.index[group.index.length - 1]]);
  return out;
}

function push(groups: Map<string, { index: number[]; events: BehaviourEvent[] }>, key: string, index: number, event: BehaviourEvent): void {
  let group = groups.get(key);
  if (!group) groups.set(key, (group = { index: [], events: [] }));
  group.index.push(index);
  group.events.push(event);
}

/** how earlier versions named subject files (`alice@web-01` …; scorer/windows/ still names its files so) */
function fileNameFor(subject: string): string {
  return encodeURIComponent(subject).replace(/\./g, '%2E');
}

/** a file named the way earlier versions named subjects would be read again at the next start */
function removeLegacyFile(dir: string, subject: string): void {
  try {
    fs.rmSync(path.join(dir, 'subjects', `${fileNameFor(subject)}.json`), { force: true });
  } catch {
    /* a name too long for a file never had one */
  }
}

/** any user name, of any length, gives a short safe file name; the name itself is inside */
export function subjectFileName(subject: string): string {
  return `${createHash('sha256').update(subject).digest('hex').slice(0, 32)}.json`;
}

export { fnv1a64 } from './hash';
export type { IdCount } from './row-id';

/**
 * The parked learning subjects by (events, order): the one that has learnt the least first,
 * the least recently parked among equals. Entries are not removed when a subject is loaded
 * again; the caller drops stale ones as they come out.
 */
class Forgettable {
  private readonly heap = new BinaryHeap<[number, number, string]>((x, y) => x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]));

  get size(): number {
    return this.heap.size;
  }

  clear(): void {
    this.heap.clear();
  }

  push(events: number, order: number, name: string): void {
    this.heap.push([events, order, name]);
  }

  pop(): [number, number, string] | undefined {
    return this.heap.pop();
  }
}
