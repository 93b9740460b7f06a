// The contract between the parts of the product. The extension (protocol side), the
// offline CLI and the learning side all speak in these types, so keep them small and
// stable; ../shared/docs/design.md is the prose version of the same contract.

/** One result row as osqueryd logged it, after the log line format has been unpacked. */
export interface ResultRow {
  /** scheduled query name as logged, pack prefix kept (`pack_user-behavior_process_events`) */
  query: string;
  /** hostIdentifier */
  host: string;
  /** unixTime of the result, seconds */
  time: number;
  action: RowAction;
  /** column values; osquery logs strings unless --logger_numerics, parse() normalises to strings */
  columns: Record<string, string>;
  /** decorations, hoisted ones included; empty object when none */
  decorations: Record<string, string>;
  /** evaluation only: a top-level "label" on a labelled results line */
  label?: Label;
}

export type RowAction = 'added' | 'removed' | 'snapshot';

/**
 * The value an event carries when no login is behind its process: osquery's audit tables give
 * auid 4294967295 to what a system service started (php-fpm's children, a database's), while
 * sshd, login and cron set it through pam_loginuid, as root. A process whose auid is unset may
 * write its own once, to any uid, without privilege: an auid below such a process is no login
 * either (ProcessTable.loginless). A
 * condition, not evidence: no model counts it (an upgrade adding it to a daemon's events
 * changes no fitted model), and rarity reads it only to withhold the person discount from a
 * service's child, however many login records its account has (one forged through
 * libutempter made a web shell's `nc -e` ugly instead of bad: docs/hardening.md, `review7`).
 */
export const NO_LOGIN = 'loginuid=unset';
/**
 * The value an event carries when its process runs below an OS package manager, in the run it
 * started (security.ts isPackageManager, ProcessTable.inPackageRun): the maintainer scripts and
 * triggers a package ships are run as root by the manager, and which of them run is the
 * packages' doing, not the account's. A condition like NO_LOGIN: no model counts it; rarity
 * reads it to weigh the run's values as the run's, and the SVM to give no evidence on a run no
 * login is behind (models/package-run.ts).
 */
export const IN_PACKAGE_RUN = 'run=package-manager';
/**
 * The value an event carries when the service manager started its process in the boot that
 * followed root's command to reboot the host (features/boot.ts): a condition like NO_LOGIN;
 * rarity reads it to weigh a known program's start as the host's own change, and the SVM to
 * give no evidence (models/boot-start.ts).
 */
export const AT_BOOT = 'boot=after-reboot';
/** values that are conditions on how an event is weighed, never evidence: no model counts them */
export const CONDITIONS: ReadonlySet<string> = new Set([NO_LOGIN, IN_PACKAGE_RUN, AT_BOOT]);
export type Label = 'normal' | 'anomalous';
export type Verdict = 'good' | 'ugly' | 'bad' | 'learning';
export type ModelName = 'rarity' | 'ocsvm' | 'lstm' | 'ngram';
export const MODEL_NAMES: readonly ModelName[] = ['rarity', 'ocsvm', 'lstm', 'ngram'];

/**
 * The generalised event the models see. Feature extraction turns a ResultRow into one of
 * these; sequence data sets (HDFS, ADFA-LD) build them straight from their keys.
 */
export interface BehaviourEvent {
  /** generalised event key, e.g. `exec /usr/bin/nc <- /bin/bash`; the LSTM's vocabulary */
  key: string;
  /**
   * generalised single values as `field=value` tokens, e.g. `exe=/usr/bin/nc`,
   * `rport=high`, `raddr=public:203.0`, `exeloc=system`, `hour=12-14`, `day=weekday`,
   * `query=socket_events`
   */
  values: string[];
  /**
   * generalised value pairs as `a=x>b=y` tokens, e.g. `parent=/bin/bash>exe=/usr/bin/nc`,
   * `exe=/usr/bin/nc>rport=high`, `src=public:109.159>hour=09-11`, `kind=socket>hour=12-14`
   */
  pairs: string[];
  /** raw command line (or other free text) for character-level rarity; '' when none */
  text: string;
  /**
   * the row's command line where `text` is kept empty (a pooled baseline's event, whose
   * character statistics would be the busiest account's): for telling a known line from a
   * template the miner widened (rarity.ts isKnownLine), never for character statistics
   */
  command?: string;
  /** unixTime seconds; 0 when the data has no clock (sequence data sets) */
  time: number;
}

/**
 * Evidence one model gives about one event. `value` is a nonconformity: larger means less
 * normal, on the model's own scale (calibration makes the scales comparable). `detail` is a
 * short phrase for the reasons sentence, e.g. "`/usr/bin/nc` never run by alice".
 */
export interface Evidence {
  value: number;
  detail: string;
  /**
   * the value before a bound the model put on the row being judged (ocsvm.ts, routine keys):
   * what the subject learns by, so that a bound that spares a row an alarm teaches nothing
   */
  plain?: number;
}

/** What one model needs to score an event: the event and the subject's recent events before it. */
export interface ScoringInput {
  event: BehaviourEvent;
  /** preceding events of the same subject/session, oldest first (may be empty) */
  context: readonly BehaviourEvent[];
  /** a held-out event scored to calibrate the model's evidence (not a row being judged) */
  heldOut?: boolean;
}

/**
 * The one small interface every model implements (loglizer style). Models are per subject.
 * `fit` sees sequences (a subject's stream is one sequence; a data set of sessions is many).
 * `score` is batched because the LSTM is far cheaper per event in batches; it must not
 * change the model.
 */
export interface Model {
  readonly name: ModelName;
  /** `previous`, the model this one replaces, lets a retrain start from what it had learnt (the LSTM) */
  fit(sequences: readonly (readonly BehaviourEvent[])[], previous?: Model): Promise<void>;
  /**
   * The same training as `fit`, one step at a time, for models whose training is long (the
   * LSTM): the caller paces it to a CPU budget by waiting between steps. `previous`, the
   * model this one replaces, lets a retrain start from what it had learnt.
   */
  train?(sequences: readonly (readonly BehaviourEvent[])[], previous?: Model): AsyncGenerator<TrainingStep>;
  score(batch: readonly ScoringInput[]): Promise<Evidence[]>;
  /** learn one event incrementally where the model can (rarity can, the others wait for retraining) */
  observe?(event: BehaviourEvent, context: readonly BehaviourEvent[]): void;
  /**
   * note what any event scored shows, whatever its verdict, that is a fact and not behaviour:
   * in a pooled baseline, that its account acts on this host (rarity's record of accounts).
   * What the event did is learnt by `observe` only, and only when the event was good.
   */
  witness?(event: BehaviourEvent): void;
  /** characters of the values the model keeps as strings (its own accounting, memcap); absent when it keeps none */
  heldChars?(): number;
  /**
   * the least scale the tail of its evidence may have in calibration: differences smaller
   * than this are the fit's own noise (by default the held-out sample's body width)
   */
  tailScale?(): number;
  /**
   * how fast its evidence falls by the model's own account, where its value has a meaning
   * that fixes one (bits of surprise: 1/ln 2). It stands in for the held-out body width as
   * the least scale of the tail: the body width measures how routine rows spread, not how
   * fast a row beyond all of them becomes unlikely
   */
  naturalScale?(): number;
  /** JSON-serialisable state; `loadModel` in scorer/models/index.ts restores it */
  toState(): ModelState;
  /** free what the garbage collector cannot (tfjs tensors); the model is unusable after */
  dispose?(): void;
}

/** progress of a model's stepwise training */
export interface TrainingStep {
  epoch: number;
  step: number;
  /** steps in this epoch */
  steps: number;
  /** mean training loss of the epoch so far */
  loss: number;
}

export interface ModelState {
  name: ModelName;
  version: number;
  [key: string]: unknown;
}

/** One row of `anomaly_scores` (design doc): what the scorer produced for one result row. */
export interface ScoredEvent {
  id: string;
  time: number;
  host: string;
  subject: string;
  query: string;
  action: RowAction;
  event: string;
  /** calibrated normality in [0,1]; null while the subject is learning */
  score: number | null;
  verdict: Verdict;
  /** the model that decided: `rarity` for the subject's own, `host:rarity` / `fleet:ocsvm` for a baseline's; '' while learning */
  model: string;
  reasons: string;
  /** the original row's columns as JSON */
  columns: string;
  /**
   * where the row's line sat in the extension's queue (absent for rows not from it): kept with
   * the retained row, so that a replay after a crash or a damaged queue cursor, however long,
   * finds the rows retained already (state/scores.ts)
   */
  queued?: QueuedMark;
}

/** a row's place in the queue with its epoch: [epoch, segment, end, row] (see RowMark) */
export type QueuedMark = [epoch: string, segment: number, end: number, row: number];

export function isQueuedMark(v: unknown): v is QueuedMark {
  return Array.isArray(v) && v.length === 4 && typeof v[0] === 'string' && v.slice(1).every((n) => Number.isSafeInteger(n) && (n as number) >= 0);
}

export type SubjectState = 'learning' | 'monitoring';

/** One row of `anomaly_models`: a subject and one of its models. */
export interface ModelSummary {
  subject: string;
  model: ModelName;
  state: SubjectState;
  events: number;
  /** unixTime seconds of the last (re)training, 0 if never */
  lastTrained: number;
  calibration: number;
  backend: string;
}

export interface FeedbackRecord {
  id: string;
  label: Label;
  note: string;
  time: number;
}

/** What about a window decided its score (scorer/windows/statistics.ts). */
export type WindowEvidence = 'mix' | 'sequence' | 'rate' | 'peak' | 'mean';

/** One row of `anomaly_windows` (design doc): one subject's rows in one closed time window. */
export interface ScoredWindow {
  subject: string;
  host: string;
  /** unixTime seconds; the window is [start, end) */
  start: number;
  end: number;
  events: number;
  /** calibrated normality in [0,1]; null while the subject's windows are learning */
  score: number | null;
  verdict: Verdict;
  /** the evidence that decided; a subject still learning was judged by its host's window baseline: `host:mix`, … */
  model: WindowEvidence | `host:${WindowEvidence}` | 'host' | '';
  reasons: string;
  /** JSON array of the ids (anomaly_scores.id) of the window's least normal rows */
  top_ids: string;
}

/**
 * Where each line of a batch sits in the extension's durable queue (extension/queue.ts),
 * parallel to the lines: its segment and the byte just after it. Positions grow under one
 * epoch. A subject records the last row it learned by them, so that lines the queue replays
 * after a crash are scored but not learned a second time.
 */
export interface LineMarks {
  epoch: string;
  segment: number[];
  end: number[];
  /** the first segment the queue appended to since it started: no line in it or after it was retained before */
  since?: number;
}

/** one row's place in the queue: its line's segment and end, and its index among the line's rows */
export type RowMark = readonly [segment: number, end: number, row: number];

/** the order of rows in the queue: segment, then byte, then row of the line */
export function compareMarks(a: RowMark, b: RowMark): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** the last queue row the window scorer took in, saved with its open windows (scorer/windows/open.ts) */
export interface TakenMark {
  epoch: string;
  at: [number, number, number];
}

/** what of a scored row its window needs: a window is rebuilt from retained rows (scorer/service.ts) */
export type WindowRow = Pick<ScoredEvent, 'id' | 'time' | 'host' | 'subject' | 'event' | 'score'>;

/** the last row of the queue a learner (a subject, the feature extractor) learned, saved with what it learned */
export interface LearnedMark {
  epoch: string;
  at: [number, number, number];
}

/**
 * How the epochs of the command line's runs begin (cli/run-journal.ts, its places of rows in
 * a run as marks): a learner keeps the last mark of such a run apart from the queue's (see
 * LearnedMarks), or `anomaly score` run between an extension's crash and its restart would
 * erase the mark the queue's replay is checked against, and the replay be learnt twice
 */
export const RUN_EPOCH = 'run:';

/** a learner's last marks: of the extension's queue, and of the command line's last run */
export class LearnedMarks {
  queue: LearnedMark | null = null;
  run: LearnedMark | null = null;

  /** whether the row at `mark` of `epoch` was learnt already (replayed after a crash) */
  has(epoch: string, mark: RowMark): boolean {
    return learnedAlready(epoch.startsWith(RUN_EPOCH) ? this.run : this.queue, epoch, mark);
  }

  /** the rows up to `mark` of `epoch` are learnt; false when they were already */
  mark(epoch: string, mark: RowMark): boolean {
    if (this.has(epoch, mark)) return false;
    const learned = { epoch, at: [mark[0], mark[1], mark[2]] as [number, number, number] };
    if (epoch.startsWith(RUN_EPOCH)) this.run = learned;
    else this.queue = learned;
    return true;
  }
}

/** whether the row at `mark` of queue `epoch` is at or before `learned`: replayed after a crash */
export function learnedAlready(learned: LearnedMark | null, epoch: string, mark: RowMark): boolean {
  return learned !== null && learned.epoch === epoch && compareMarks(mark, learned.at) <= 0;
}
