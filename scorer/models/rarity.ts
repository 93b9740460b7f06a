import { quoted } from '../quoted';
import { compactFieldValue, compactWord, holdsOlderMark, MAX_VALUE_CHARS } from '../features/compact-value';
import { countText } from '../count-text';
import { CharModel, type CharState } from '../features/chars';
import { argumentForms } from '../features/argform';
import { maskedWord, MINED_TOKENS } from '../features/extract';
import { currentEventKey, currentQueryToken, pathArguments } from '../features/kinds';
import { exeLocation, hasHiddenName } from '../features/security';
import { argumentsAreBehaviour } from '../features/lineage';
import { BOOT_START_WEIGHT, bootStart } from './boot-start';
import { packageRunWeight, unattendedPackageRun } from './package-run';
import { CONDITIONS, NO_LOGIN, type BehaviourEvent, type Evidence, type Model, type ModelState, type ScoringInput } from '../types';

// The rarity baseline: how surprising each generalised value, value pair and key n-gram is
// in this subject's history. Surprise is measured against the field's own typical surprise,
// so a field where new values are everyday (file paths of a developer) does not drown out a
// field where they never happen (the binaries a service account runs). Counts decay with a
// half-life in events so old habits fade; learning is online (observe) between retrainings.
//
// Frequency is not the only measure of normal: a login seen once every working morning is
// 0.1 % of a busy user's events and still routine. So each value also counts the distinct
// days it occurred on, and a value that recurs is judged by that too: seen on d of the D
// days its context was active (the days the field had any value, or for a pair `a>b` the
// days `a` occurred), its surprise is at most −log2(d/(D+1)). That holds from d = 1: a value
// seen on one earlier day has shown it happens on about one day in D+1, and is graded below
// a value never seen, which keeps its full novelty (by frequency alone, seen once and never
// seen differ by a hair, so a weekly user's second session weighed as much as a first-ever
// event). Events with no clock (sequence data sets) are judged by frequency alone.
//
// In a pooled baseline the event says who acted (`who=alice`), and actors differ in how often
// they bring something new: a person at a shell tries a new command most weeks, a service
// account runs the same jobs every night. So a never-seen value is as surprising as its field
// makes it, adjusted by how much more or less often this actor's events carried a never-seen
// value than the average actor's: log2(r / r_actor) bits, with the actor's rate shrunk to the
// pooled rate r while it has little history (Witten-Bell novelty rates, counted after the
// actor's first day, whose events are all new by definition). A first shell under a web
// server's account is then stronger evidence than a developer's first `docker compose up`.
//
// One new thing counts once. A never-seen value makes every pair and step it is part of
// never-seen too (a new program: `exe`, `parent>exe`, `who>exe`, the step to its key, and its
// command line's template, which starts with the program's name), so adding half of the
// second-strongest token to the strongest counted it one and a half times, and a first-time
// command of a known tool (one new template) weighed less than a first-time program for no
// reason but how many tokens repeat it. The second term takes only evidence from another
// source: a value never seen of another field, a class never seen (a new kind is a fact of
// its own, whatever value brought it), a combination of known values never seen together, or
// a rare known value.
//
// A new argument template of a program the actor already runs is a new value of a recurring
// kind: the program, its parent, where it lives and what privilege it has are all known,
// only its options are new (a developer's first `docker compose up` beside her daily `docker
// build`, an operator's first `sudo apt-get install`). Its bits, and those of the pair and
// the step it makes new, count half. Not where the arguments are the behaviour: a shell's or
// an interpreter's are code (`sh -c 'curl … | sh'` is a new program run by a known shell),
// and the title of sshd's fork names the account the session is for (`sshd: root [priv]` is
// the first session of that account, not a new option of sshd). A new kind in such a row
// (where its paths point, a privilege change) is not discounted: it is evidence of its own.
//
// A new object is not a new option. Only a template whose new words are options (`-a`,
// `--no-cache`) or paths (where a path points is a class of its own, `argloc`) is new options:
// one that names an operand none of the program's known command lines named (a unit to stop,
// a package to install, an image to run, a database to open: `systemctl stop auditd` beside a
// weekly `systemctl reload php8.2-fpm`) is the known program pointed at something it never
// acted on, which is what the command does, not how; its bits count in full (a person's are
// still halved below, as any value of theirs). Which words are verbs and which objects no
// rule can tell without knowing every program (`docker compose up` names no object), so every
// operand word counts as one. The miner can hide the new word: the next line like a known
// literal one widens it (`sudo systemctl reload php8.2-fpm` and `sudo systemctl stop auditd`
// make `sudo systemctl <*> <*>`), and a template whose `<*>` stands where a known line it
// generalises had an operand names something else there: a new object too.
// A new file in a place the subject changes is a new value of a recurring kind. File events
// (file_events, FIM) name no program and no account: they fall to the host's subject, whose
// routine brings almost nothing new, so every file a configuration agent or certbot changed for
// the first time (`/etc/chrony/chrony.conf` beside the daily `/etc/resolv.conf`) was a bad row,
// as bad as a planted key. A path is a place in a tree: when all that is new in a file event is
// its path (and the pairs and step it makes new), and the subject has changed a file of the
// same location class (`pathloc`) in the same way (the action) in one of its directories before
// (`UPDATED config` under `/etc`), the path's bits count half, new or rare, as a known program's
// new options do. Only the leaf is discounted: a class never seen (the first change to the
// accounts, SSH keys, what starts programs, a binary in /tmp, a hidden name), a change never
// made to a class (the first update of a log where logs were only ever created) are evidence
// of their own and count in full, and so does a path under no directory where the subject made
// that change (`/boot/grub/grub.cfg` on a host that never changed /boot). The places are
// recorded as the model learns file events (`places`, bounded), not tuned lists.
//
// A new working directory in a known place is a new value of a recurring kind too. A
// process's working directory is where its account was when it started it: a person's new
// project (`~/projects/thesis` beside `~/projects/vision`), an incident responder's `~/ir`, a
// CI job's new workspace beside the others. Its name is new each time work starts somewhere,
// and a first day in a new directory made every command typed there a bad row. So a working
// directory whose parent is a place the subject worked in or beside (a known working directory
// is that directory or one directly under it) counts half, new or rare, as a new file in a
// known place does. Not a temporary or hidden one (`/tmp/.X11-unix/.p`: where an attacker
// stages is a class of its own), nor one directly under the root, and nothing else in the
// event: a new program, parent or address run there counts in full. The places are the
// parents of the working directories the model counts (`cwdPlaces`, built from the counts when
// first asked, so a saved state has them too), bounded as the counts are.
//
// A person's new tool is not a service's new behaviour. A pooled baseline's held-out sample
// is the whole host's, mostly daemons and service accounts that never bring a new value; an
// account that logs in here (its login records are in the pool: `who=ops>kind=login`) is a
// person at a shell, who installs and runs new tools as work. Where the host's shell histories
// are collected, a person is also one who has typed at a shell here (`who=ops>kind=shell`):
// automation that logs in over SSH to run a script (a deploy job, a backup pull) runs a
// non-interactive shell, which saves no history, and its new values are weighed in full. So in such an account's event
// that brings no new kind and no new account, the evidence of values (which program, which
// options, which parent, which pair of them, new or rare) counts half, and the evidence of
// classes (where the program lives, where its paths point, which privilege, network and
// session origin) counts in full. What a person's session does that is a new kind, an account
// that never logs in (a web server's, a backup job's), and root's cron and daemons are
// weighed as before. Subjects' own models are calibrated on their own events and see no
// `who`: unchanged.
//
// A package manager's run is the packages' doing. An OS package manager (dpkg, rpm, apt …)
// runs, as root, the maintainer scripts and triggers its packages ship (`nginx.postinst
// configure`, ldconfig, mandb, `systemctl daemon-reload`, service restarts), and which of them
// run differs with every set of packages: the first upgrade a host's window holds is a burst
// of programs, parents and command lines never seen, under the account that typed `sudo apt-get
// upgrade`. The run is judged where it starts (who started a package manager, with what
// arguments, a package file from /tmp is a new `argloc`); below it, in an event the extractor
// marks as in the run (IN_PACKAGE_RUN), the evidence of values (which script, which helper,
// which parent, their pairs) counts half, and that of classes (where a program lives, where its
// paths point, privilege, network) in full. A shell given code on its command line, or none,
// runs what someone typed, not a package, and is weighed as anywhere. What it concedes: a
// malicious package's scripts are the package's, judged by what they do that is new in kind and
// by the rows that leave the run (its connections, its files). A run no login is behind (the
// OS's automatic upgrades, a configuration agent) is the host's own change path: its values and
// its command lines' text count a quarter, and the SVM gives no evidence (package-run.ts).
//
// A new account is evidence once. A pooled baseline learns only the events it did not call
// bad, so the first row of an account new to the host (`who=lee` never seen: bad) taught it
// nothing, and every later row of the account was its first again, for as long as the
// account's own subject learnt (weeks for a sparse one). So the model keeps a record of the
// accounts new to the host, those it first saw in an event it scored, and when (`witness`,
// whatever the verdict: a fact, not behaviour; nothing of what the account did is learnt by
// it). Past its first row, such an account's identity and every pair with it
// (`who=lee>exe=/usr/bin/git`) are new because the account is, as every value is on a
// subject's first day (which no novelty rate counts and no fold holds out), and they carry no
// evidence: for the account's first week (NEW_ACCOUNT_DAYS), and after it while the model has
// learnt none of its rows. Its rows are judged by what they do, by the host's identity-free
// tokens: does this host run git, connect to such an address, at this hour, from this source.
// An attacker's new account is still bad on its first row, and on every row whose content is
// new to the host (a binary in /tmp, a login from the internet). The accounts of the history
// a pool was first fitted on are the host's own, never new: a web server's account running a
// shell in the pool's first week is new behaviour for that account, as before. An account
// learnt and past its week leaves the record at a retraining, and is the host's own from then.

export interface RarityOptions {
  halfLifeEvents: number;
  maxTokensPerField: number;
  /**
   * longest context, in preceding keys, whose n-gram is counted. A user's stream keeps 1
   * (longer n-grams of interleaved activity are mostly unique); the strictly ordered
   * sessions of a log data set benefit from 4.
   */
  ngram: number;
  /**
   * characters of the values the model counts, all fields together: past them the field
   * holding the most characters drops its rarest tenth, as a field past maxTokensPerField does.
   * A local user's values of their own long paths and command lines (each up to
   * MAX_VALUE_CHARS, twice that in a pair) made 20,000 values a field up to ~10 MB (memcap)
   */
  maxChars: number;
}

const DEFAULTS: RarityOptions = { halfLifeEvents: 50_000, maxTokensPerField: 20_000, ngram: 1, maxChars: 8_000_000 };
const VERSION = 3;
/** pseudo-events of the pooled novelty rate an actor's own rate is shrunk with */
const ACTOR_PRIOR_EVENTS = 10;
const DAY = 86400;
/** the kind of a shell history's line (kinds.ts) */
const SHELL_KIND = 'kind=shell';
/** what the bits of a new argument template of a program the actor already runs count for */
const KNOWN_TOOL_TEMPLATE_WEIGHT = 0.5;
/** what the bits of a file's path, never seen or rare, count for under a directory where the subject made that change to a file of its class (see the top of this file) */
const KNOWN_PLACE_LEAF_WEIGHT = 0.5;
/** what the bits of values count for in an event of an account that logs in, when it brings no new kind */
const PERSON_VALUE_WEIGHT = 0.5;
/**
 * How long an account first seen on the host is new: its pairs (`who=lee>kind=shell`) carry no
 * evidence. The pool learns only the rows it calls good, so on its second day a new hire's
 * login and shell rows, never good on the first (each a first time for the host's pool too),
 * were "new behaviour for this account" once more (held-out new-developer: 20 of the second
 * day's rows below 0.3). A week holds every weekday once, the span in which a person's
 * routine shows its kinds; what the account does is judged by the host's tokens meanwhile.
 */
const NEW_ACCOUNT_DAYS = 7;
/** surprise given to the very first value of a field nobody has seen a value of */
const EMPTY_FIELD_BITS = 4;
/**
 * The fields events carry grow with the extractor (scorer/features): a field added by a later
 * build is one a model fitted before it has never seen on any event, and would take every
 * row that carries it for a new kind of behaviour (after an upgrade, each routine file row
 * of the demo's backup account fell from 0.93 to 0.30). A model ignores the fields newer than
 * its fit until it is fitted again. FEATURES counts the additions; FIELD_SINCE says which.
 */
const FEATURES = 4;
const FIELD_SINCE: ReadonlyMap<string, number> = new Map([
  // a changed file's location class (security.ts fileLocation)
  ['pathloc', 2],
  // where a command's path arguments point (kinds.ts argumentPlaces), branch `poison`
  ['argloc', 3],
  // the form of a command line (argform.ts), branch `argform`
  ['argform', 4],
]);
/**
 * Which events carry the new field in this build, told from what they carried before it: an
 * event fitted on that should carry it and does not was extracted by an earlier build. A
 * retraining fits a new model on the subject's window (or the host's pooled events) as
 * extracted when they arrived, so "fitted again" is not "fitted on events that carry it":
 * fitted on a window with no file row since the upgrade, a routine file row scored 4 bits of
 * news again. (The event's kind, not a field: a query no unit knows names its own columns,
 * `path` among them, and carries no file location.)
 */
const CARRIED_WITH: ReadonlyMap<string, (e: BehaviourEvent) => boolean> = new Map([
  ['pathloc', (e: BehaviourEvent) => carries(e, 'kind=file')],
  // a command line naming a path: its text is the command line (process and shell rows)
  ['argloc', (e: BehaviourEvent) => e.text !== '' && pathArguments(e.text).length > 0],
  // a command line of a form: its text is the command line, as for argloc
  ['argform', (e: BehaviourEvent) => e.text !== '' && argumentForms(e.text).length > 0],
]);

class FieldStats {
  counts = new Map<string, number>();
  /** characters of the values counted (the keys of counts, which days and lastDay share) */
  chars = 0;
  /** sum of counts (stored scale) */
  total = 0;
  /** running mean of the surprise of observed values, in bits: the field's normal surprise */
  typical = 0;
  seen = 0;
  /** per value: distinct days it occurred on, and the last of them (day numbers since the epoch) */
  days = new Map<string, number>();
  lastDay = new Map<string, number>();
  /** days on which the field had any value */
  activeDays = 0;
  lastActiveDay = -1;
}

/** an actor's novelty history in a pooled baseline */
interface ActorStats {
  firstDay: number;
  /** events after the actor's first day */
  events: number;
  /** of those, how many carried a never-seen value, and a never-seen class (a new kind) */
  novel: number;
  novelKind: number;
}

/** per token of an event, by index: its field's statistics, whether never seen, whether a time field */
interface TokenFacts {
  field: Array<FieldStats | undefined>;
  novel: boolean[];
  time: boolean[];
}

export class RarityModel implements Model {
  readonly name = 'rarity' as const;
  private fields = new Map<string, FieldStats>();
  private actors = new Map<string, ActorStats>();
  /** sums over actors (after each one's first day) */
  private actorEvents = 0;
  private actorNovel = 0;
  private actorNovelKind = 0;
  /**
   * the accounts new to the host: first seen acting in an event this model scored (not one
   * of the history it was first fitted on, whose accounts are the host's), and when (seconds;
   * 0 without a clock). See "A new account is evidence once" above.
   */
  private accounts = new Map<string, number>();
  /** per program, the operands of its known command lines (operandsOf); built when first asked */
  private operands: Map<string, Set<string>> | null = null;
  /** the known working directories and their parents (inKnownWorkPlace); built when first asked */
  private cwdPlaces: Set<string> | null = null;
  /**
   * the places the subject changed files in, and how: `action class<TAB>directory` (`UPDATED
   * config\t/etc`) for every directory above a learnt file event's path but the root, most
   * recently learnt last
   */
  private places = new Set<string>();
  private chars = new CharModel();
  private textTypical = 0;
  private textSeen = 0;
  /** weight of the next observation in stored scale; grows instead of decaying every count */
  private inc = 1;
  /** the extractor's fields this model was fitted with (FEATURES); 1 for states saved before */
  private features = FEATURES;
  private readonly growth: number;
  private events = 0;
  /** characters of the values of every field (FieldStats.chars summed), bounded by maxChars */
  private valueChars = 0;
  private readonly opts: RarityOptions;

  constructor(opts: Partial<RarityOptions> = {}) {
    this.opts = { ...DEFAULTS, ...opts };
    this.growth = Math.pow(2, 1 / this.opts.halfLifeEvents);
  }

  async fit(sequences: readonly (readonly BehaviourEvent[])[], previous?: Model): Promise<void> {
    for (const seq of sequences) for (let i = 0; i < seq.length; i++) this.observe(seq[i], seq.slice(Math.max(0, i - this.opts.ngram), i));
    // the record of accounts is of every event the model replaced saw, not only of the good
    // ones a retraining fits on: a new account's rows stay past its first after a retraining.
    // An account the replaced model had learnt and whose week is over is new no more: it
    // leaves the record, and is known by its counts as the host's own accounts are. Kept, its
    // identity carried no evidence for ever: once a retraining's window had lost it (months
    // dormant), its return was quiet where any other dormant account's is evidence once
    if (previous instanceof RarityModel) {
      const newest = latestTime(sequences);
      for (const [who, at] of previous.accounts) {
        const over = newest > 0 && at > 0 && newest - at >= NEW_ACCOUNT_DAYS * DAY;
        if (!(over && !previous.isNew(`who=${who}`))) this.accounts.set(who, at);
      }
    }
    // the fields this fit knows are those every event it took carries where it should: one
    // event extracted before a field existed, and the field is ignored until the next fit
    for (const [field, since] of FIELD_SINCE) {
      if (since > this.features) continue;
      const oughtTo = CARRIED_WITH.get(field);
      if (oughtTo && sequences.some((seq) => seq.some((e) => oughtTo(e) && !carries(e, field)))) this.features = since - 1;
    }
  }

  observe(event: BehaviourEvent, context: readonly BehaviourEvent[]): void {
    const tokens = this.learnable(event, tokensOf(event, context, this.opts.ngram));
    const day = event.time ? Math.floor(event.time / DAY) : -1;
    this.noteActor(event, tokens, day);
    this.notePlaces(event);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      const f = this.field(fieldOf(t));
      const s = this.surprise(f, t);
      f.typical = f.seen === 0 ? s : f.typical + (s - f.typical) / Math.min(f.seen + 1, 1000);
      f.seen++;
      const had = f.counts.get(t);
      if (had === undefined) {
        if (this.operands && t.startsWith('exe=') && fieldOf(t) === 'exe>cmd') this.noteOperands(t);
        if (this.cwdPlaces && t.startsWith(CWD)) noteCwdPlace(this.cwdPlaces, t);
        f.chars += t.length;
        this.valueChars += t.length;
      }
      f.counts.set(t, (had ?? 0) + this.inc);
      f.total += this.inc;
      if (day >= 0) {
        if (f.lastActiveDay !== day) {
          f.lastActiveDay = day;
          f.activeDays++;
        }
        if (f.lastDay.get(t) !== day) {
          f.lastDay.set(t, day);
          f.days.set(t, (f.days.get(t) ?? 0) + 1);
        }
      }
      if (f.counts.size > this.opts.maxTokensPerField) this.evict(fieldOf(t), f);
    }
    while (this.valueChars > this.opts.maxChars) {
      let most: [string, FieldStats] | undefined;
      for (const entry of this.fields) if (!most || entry[1].chars > most[1].chars) most = entry;
      if (!most || most[1].counts.size === 0) break;
      this.evict(most[0], most[1]);
    }
    if (event.text) {
      const s = this.chars.surprise(event.text);
      this.textTypical = this.textSeen === 0 ? s : this.textTypical + (s - this.textTypical) / Math.min(this.textSeen + 1, 1000);
      this.textSeen++;
      this.chars.observe(event.text);
    }
    this.events++;
    this.inc *= this.growth;
    if (this.inc > 1e12) this.rescale();
  }

  /** the rarest tenth of a field's values dropped (evictRarest), for its count or the model's characters */
  private evict(name: string, f: FieldStats): void {
    this.valueChars -= evictRarest(f);
    // the operands index is of the command lines the counts know: built again from them
    // when next asked, it is bounded as they are (it kept every operand ever learnt)
    if (this.operands && name === 'exe>cmd') this.operands = null;
    if (name === 'cwd') this.cwdPlaces = null;
  }

  /** characters of the values the model counts (at most maxChars past an observation) */
  heldChars(): number {
    return this.valueChars;
  }

  /**
   * Record that the event's account acts here (pooled baselines: events carry `who=`),
   * whatever the event's verdict: called for every event scored. An account the model has
   * learnt is no new one, and is not recorded.
   */
  witness(event: BehaviourEvent): void {
    const who = actorOf(event);
    if (who === undefined) return;
    const at = this.accounts.get(who);
    if (at !== undefined ? at <= event.time || !event.time : !this.isNew(`who=${who}`)) return;
    // bounded like a field's values: accounts whose identity the model learnt go first (their
    // counts say they are known), then those first seen longest ago; an unlearnt one dropped
    // is a new account once more (one alert)
    if (at === undefined && this.accounts.size >= this.opts.maxTokensPerField) {
      const unlearnt = (name: string) => (this.isNew(`who=${name}`) ? 1 : 0);
      const oldest = [...this.accounts].sort((x, y) => unlearnt(x[0]) - unlearnt(y[0]) || x[1] - y[1]);
      for (let i = 0; i < Math.ceil(oldest.length * 0.1); i++) this.accounts.delete(oldest[i][0]);
    }
    this.accounts.set(who, at === undefined ? event.time || 0 : event.time);
  }

  /**
   * The identity (`who=lee`) of a pooled baseline's event whose account is past its first row
   * and still new: in the NEW_ACCOUNT_DAYS after it was first seen, or later while the model
   * has learnt none of its events. Its identity tokens are new because it is (see the top of
   * this file).
   */
  private newAccount(event: BehaviourEvent): string | undefined {
    const who = actorOf(event);
    const first = who === undefined ? undefined : this.accounts.get(who);
    if (first === undefined) return undefined;
    const id = `who=${who}`;
    return this.isNew(id) || (first > 0 && event.time - first < NEW_ACCOUNT_DAYS * DAY) ? id : undefined;
  }

  /** record the directories above a learnt file event's path, with its location class (places) */
  private notePlaces(event: BehaviourEvent): void {
    const file = fileOf(event);
    if (!file) return;
    const above = directoriesAbove(file.path);
    // a planted class's place is its own directory, marked apart (`UPDATED autostart\t/etc/cron.d/`)
    const places = PLANTED_CLASSES.has(file.loc) ? [`${placeOf(file, above[0] ?? '')}/`] : above.map((dir) => placeOf(file, dir));
    for (const place of places) {
      // the most recently learnt last: the bound drops the places longest unchanged
      this.places.delete(place);
      this.places.add(place);
    }
    if (this.places.size > this.opts.maxTokensPerField) {
      let drop = Math.ceil(this.places.size * 0.1);
      for (const place of this.places) {
        if (drop-- <= 0) break;
        this.places.delete(place);
      }
    }
  }

  /**
   * The deepest directory above a file event's path where the subject made the same change to
   * a file of the same location class before, when nothing in the event but its path is new (see "A new
   * file in a place the subject changes" at the top of this file); undefined otherwise.
   */
  private knownPlaceOf(event: BehaviourEvent, tokens: readonly string[]): { dir: string; newPath: boolean } | undefined {
    const file = fileOf(event);
    if (!file) return undefined;
    // every never-seen token must be the path's: a new action, class, account, or pair of them
    // (`action=UPDATED>pathloc=log` where logs were only ever created) is a new kind
    for (const t of tokens) if (!isTimeField(t) && !t.startsWith('next') && !hasPath(t) && this.isNew(t)) return undefined;
    // a class an attacker plants in (the accounts, SSH, what starts programs, the programs) is known
    // only beside a file of it the subject changed: under /etc or /usr at large, one routine link
    // of a systemd unit made /etc/ld.so.preload and /etc/cron.d the leaves of a known place (review13)
    // (a state saved before has these classes' places unmarked: they count in full until learnt again)
    const above = directoriesAbove(file.path);
    const dir = PLANTED_CLASSES.has(file.loc)
      ? above.slice(0, 1).find((d) => this.places.has(`${placeOf(file, d)}/`))
      : above.find((d) => this.places.has(placeOf(file, d)));
    return dir === undefined ? undefined : { dir, newPath: this.isNew(`path=${file.path}`) };
  }

  /**
   * Whether a token's evidence is the path's, under a known place (knownPlaceOf): the path and
   * its pairs; a step to the event's key when the path is new, or when the step is seen (a
   * known step is no rarer than its key). A never-seen step to a known path is a new order.
   */
  private isLeafEvidence(token: string, place: { newPath: boolean } | undefined): boolean {
    if (place === undefined) return false;
    if (token.startsWith('next')) return place.newPath || !this.isNew(token);
    return hasPath(token);
  }

  /** count whether the acting account's event brings a never-seen value or kind (before it is learnt) */
  private noteActor(event: BehaviourEvent, tokens: readonly string[], day: number): void {
    const who = actorOf(event);
    // a shell history is a file its account writes, lines and times alike: what it says was typed
    // is the account's claim, what ran is the kernel's record (the process rows of the same
    // commands), so its lines make no account one that often brings something new (review13)
    if (who === undefined || day < 0 || event.values.includes(SHELL_KIND)) return;
    let a = this.actors.get(who);
    if (!a) {
      // bounded like a field's values (every uid a container runs as is an account)
      if (this.actors.size >= this.opts.maxTokensPerField) this.evictQuietActors();
      this.actors.set(who, (a = { firstDay: day, events: 0, novel: 0, novelKind: 0 }));
    }
    if (day <= a.firstDay) return;
    let novel = false;
    let novelKind = false;
    for (const t of tokens) {
      if (isTimeField(t) || isActorToken(t)) continue;
      const name = fieldOf(t);
      const f = this.fields.get(name);
      if (f && f.counts.has(t)) continue;
      if (isKindField(name)) novelKind = true;
      else novel = true;
    }
    a.events++;
    this.actorEvents++;
    if (novel) {
      a.novel++;
      this.actorNovel++;
    }
    if (novelKind) {
      a.novelKind++;
      this.actorNovelKind++;
    }
  }

  /**
   * Drop the tenth of actors with the least history after their first day, the oldest first
   * among equals, and their counts from the pooled sums: the pool is the sum over the actors
   * kept, as a saved state rebuilds it.
   */
  private evictQuietActors(): void {
    const entries = [...this.actors].sort((x, y) => x[1].events - y[1].events || x[1].firstDay - y[1].firstDay);
    const drop = Math.ceil(entries.length * 0.1);
    for (let i = 0; i < drop; i++) {
      const [who, a] = entries[i];
      this.actors.delete(who);
      this.actorEvents -= a.events;
      this.actorNovel -= a.novel;
      this.actorNovelKind -= a.novelKind;
    }
  }

  /**
   * Bits added to a never-seen value's surprise (and a never-seen kind's) for the actor of a
   * pooled baseline's event: log2(r / r_actor), positive for an actor that seldom brings new
   * ones. 0 without an actor.
   */
  private actorAdjustment(event: BehaviourEvent): { value: number; kind: number } {
    const who = actorOf(event);
    const a = who === undefined ? undefined : this.actors.get(who);
    if (!a || this.actorEvents === 0) return { value: 0, kind: 0 };
    const bits = (pooled: number, own: number) => {
      const r = (pooled + 1) / (this.actorEvents + 2);
      // the actor's rate is smoothed as the pool's is, then shrunk to it: an actor that is the
      // whole pool gets 0 bits (with the smoothing on one side only, a host whose one account
      // never brought a new value added log2((n + 10) / 10) bits to every novelty)
      const own_ = (own + 1) / (a.events + 2);
      const b = Math.log2(r / ((a.events * own_ + ACTOR_PRIOR_EVENTS * r) / (a.events + ACTOR_PRIOR_EVENTS)));
      // The smoothing read the quietest actor of a host of daemons, 0 new values in 21 events,
      // as one that brings them at 1/23, far above the pool's: negative bits until it had
      // hundreds of events. An actor no noisier than the pool gets at least 0. (Shrinking both
      // sides alike instead, positive from the start, gave a host's quiet daemons several bits
      // more on every held-out novelty: the pool's calibration moved, and planted files of the
      // host subject rose from 0.20 to 0.38, scripts/planted-file-mimicry.js.)
      return own * this.actorEvents <= pooled * a.events ? Math.max(0, b) : b;
    };
    // a person who often tries new commands does not thereby often log in from the internet
    // or run a binary from /tmp: new kinds are never discounted, only weighed up for an actor
    // that never brings any
    return { value: bits(this.actorNovel, a.novel), kind: Math.max(0, bits(this.actorNovelKind, a.novelKind)) };
  }

  /** the actor's novelty, for the reasons */
  private actorPhrase(event: BehaviourEvent, kind: boolean): string {
    const who = actorOf(event);
    // a row of a new account past its first is judged by what it does: the analyst is told whose it is
    if (this.newAccount(event) !== undefined) {
      const first = this.accounts.get(who as string) as number;
      return `, by ${quoted(String(who))}, an account new here${first > 0 ? ` since ${new Date(first * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC` : ''}`;
    }
    const a = who === undefined ? undefined : this.actors.get(who);
    if (!a || a.events === 0) return '';
    // said only where the person discount may apply: a service's child is weighed in full
    const person = kind || event.values.includes(NO_LOGIN) ? '' : this.isPerson(who as string) ? ', an account that logs in here,' : '';
    return `, where ${quoted(String(who))}${person} brought a new ${kind ? 'kind' : 'value'} in ${kind ? a.novelKind : a.novel} of ${countText(a.events)} events after its first day`;
  }

  private field(name: string): FieldStats {
    let f = this.fields.get(name);
    if (!f) this.fields.set(name, (f = new FieldStats()));
    return f;
  }

  /** Witten-Bell: a value seen c times has c/(N+D); a new value shares D/(N+D) */
  private surprise(f: FieldStats, token: string): number {
    const c = f.counts.get(token);
    const d = f.counts.size;
    if (f.total === 0) return EMPTY_FIELD_BITS;
    const n = f.total / this.inc; // effective number of observations
    // a value never seen is a little rarer than one seen once
    const p = c === undefined ? 1 / (n + d + 1) : c / this.inc / (n + d);
    return -Math.log2(p);
  }

  /** bits of surprise that the value's recurrence over days allows; Infinity when it has none */
  private irregularity(f: FieldStats, token: string): number {
    const d = f.days.get(token);
    if (d === undefined) return Infinity;
    let of = f.activeDays;
    const gt = token.startsWith('next') ? -1 : pairBoundary(token, token.indexOf('=') + 1);
    if (gt > 0) {
      // a pair recurs relative to the days its first value was active: a weekly user's habits
      // are regular on the days that user works
      const first = token.slice(0, gt);
      const days = this.fields.get(fieldOf(first))?.days.get(first);
      if (days !== undefined) of = days;
    }
    return -Math.log2(Math.min(1, d / (of + 1)));
  }

  private isNew(token: string): boolean {
    return !this.fields.get(fieldOf(token))?.counts.has(token);
  }

  /**
   * What scoring asks of each of an event's tokens more than once, asked once: the
   * template's walk and the weighing loop looked each token's field up, and tested its
   * novelty and whether it is a time field, each on its own (the template's walk was 13 % of
   * rarity's scoring in a profile of the scoring bench).
   */
  private factsOf(tokens: readonly string[]): TokenFacts {
    const facts: TokenFacts = { field: new Array(tokens.length), novel: new Array(tokens.length), time: new Array(tokens.length) };
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      const f = this.fields.get(fieldOf(t));
      facts.field[i] = f;
      facts.novel[i] = !f || !f.counts.has(t);
      facts.time[i] = isTimeField(t);
    }
    return facts;
  }

  /**
   * The strongest excess among tokens whose novelty has another source than the strongest
   * token's (tokens[at], never seen): see "One new thing counts once" above.
   */
  private otherEvidence(tokens: readonly string[], excesses: readonly number[], at: number): number {
    // the event's never-seen single values; a command line's template is new because its
    // program is, when the program is new
    const singles = tokens.filter((t) => !t.startsWith('next') && !isTimeField(t) && pairBoundary(t, t.indexOf('=') + 1) < 0 && this.isNew(t));
    const newExe = singles.find((t) => t.startsWith('exe='));
    const source = (t: string) => (newExe !== undefined && t.startsWith('cmd=') ? newExe : t);
    const sources = (t: string): string[] => {
      if (!this.isNew(t)) return [t];
      if (t.startsWith('next')) {
        // an event key names values, never their classes: the step is new because a value is
        const named = singles.filter((x) => !isKindField(fieldOf(x)));
        return named.length ? named.map(source) : [t];
      }
      if (pairBoundary(t, t.indexOf('=') + 1) < 0) return [source(t)];
      const parts = partsOf(t)
        .map(([f, v]) => `${f}=${v}`)
        .filter((p) => this.isNew(p))
        .map(source);
      return parts.length ? parts : [t];
    };
    const mine = sources(tokens[at]);
    let second = 0;
    for (let i = 0; i < tokens.length; i++) {
      if (i === at || isTimeField(tokens[i]) || excesses[i] <= second) continue;
      if (sources(tokens[i]).some((x) => mine.includes(x))) continue;
      second = excesses[i];
    }
    return second;
  }

  /**
   * The program and the new argument template of an event in which that template is all that
   * is new, of a program the actor already runs whose arguments are not code (see the top of
   * this file); undefined otherwise.
   */
  private knownProgramNewTemplate(event: BehaviourEvent, tokens: readonly string[], facts: TokenFacts): { exe: string; cmd: string } | undefined {
    let exe: string | undefined;
    let cmd: string | undefined;
    let newCmd = false;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (t.startsWith('next') || facts.time[i] || pairBoundary(t, t.indexOf('=') + 1) >= 0) continue;
      if (t.startsWith('exe=')) exe = t;
      else if (t.startsWith('cmd=')) cmd = t;
      if (!facts.novel[i]) continue;
      if (!t.startsWith('cmd=')) return undefined;
      newCmd = true;
    }
    if (!newCmd || exe === undefined || cmd === undefined || this.isNew(exe)) return undefined;
    const who = actorOf(event);
    if (who !== undefined && this.isNew(`who=${who}>${exe}`)) return undefined;
    return argumentsAreBehaviour(exe.slice(4), cmd.slice(4)) ? undefined : { exe: exe.slice(4), cmd: cmd.slice(4) };
  }

  /**
   * The operands of a known program's new template that none of the program's known command
   * lines has (see "A new object is not a new option" at the top of this file).
   */
  private newObjects(exe: string, template: string): { words: string[]; masked: boolean } {
    const known = this.operandsOf().get(exe);
    const fresh = operandsOf(template).filter((w) => !known?.has(w));
    return fresh.length > 0 ? { words: fresh, masked: false } : { words: this.widenedOperands(exe, template), masked: true };
  }

  /**
   * The operands of the program's known templates that this new template masks: a known line
   * it generalises (the same length, the same words where it has words) had an operand where it
   * has the miner's `<*>`, so the line it was mined from named something else there. Only the
   * mined words are compared: a long line's option names past them (extract.ts commandTemplate)
   * are options, and a line padded with options of its own would otherwise generalise no known
   * line, its masked object hidden (compactword).
   */
  private widenedOperands(exe: string, template: string): string[] {
    const words = template.split(' ').slice(0, MINED_TOKENS);
    if (!words.includes('<*>')) return [];
    const prefix = `exe=${exe}>cmd=`;
    const masked = new Set<string>();
    for (const t of this.fields.get('exe>cmd')?.counts.keys() ?? []) {
      if (!t.startsWith(prefix)) continue;
      const known = t.slice(prefix.length).split(' ', MINED_TOKENS);
      if (known.length !== words.length) continue;
      const here: string[] = [];
      let generalises = true;
      for (let i = 1; i < words.length && generalises; i++) {
        if (words[i] === '<*>') {
          if (operandsOf(`x ${known[i]}`).length > 0) here.push(known[i]);
        } else if (!sameWord(words[i], known[i])) generalises = false;
      }
      if (generalises) for (const w of here) masked.add(w);
    }
    return [...masked];
  }

  /**
   * Whether the event's own command line is one a known template of the program already fits
   * word for word (a `<*>` of it, whole or in part, stands for any text), so that its new
   * template is only the miner's: another line like it, an attacker's as well, widened the
   * template after it was learnt (`postgres: app appdb <*>(51234) idle` to `postgres: app appdb
   * <*> <*>` by a tunnel's backends), and every routine line after it matched the wider one, a
   * known program on a new object. Such a template counts nothing: the line is known.
   */
  private isKnownLine(exe: string, template: string, text: string): boolean {
    const words = template.split(' ');
    const line = text.trim().split(/\s+/);
    if (!words.includes('<*>') || line.length < words.length) return false;
    const prefix = `exe=${exe}>cmd=`;
    // a long known template keeps a long word as the miner masked it, then compacted (compactWord):
    // the line's word in that form, made once for every known template
    const asKept = words.map((w, i) => (w === '<*>' ? compactWord(maskedWord(line[i])) : ''));
    for (const t of this.fields.get('exe>cmd')?.counts.keys() ?? []) {
      if (!t.startsWith(prefix)) continue;
      const known = t.slice(prefix.length).split(' ');
      if (known.length !== words.length) continue;
      let fits = true;
      for (let i = 1; i < words.length && fits; i++) {
        if (words[i] !== '<*>') fits = sameWord(words[i], known[i]);
        else fits = fitsWord(known[i], line[i]) || known[i] === asKept[i];
      }
      if (fits) return true;
    }
    return false;
  }

  /**
   * The tokens of an event to learn: a known line's new template (isKnownLine) is left out.
   * Learnt, the routine line would teach the template the attacker's lines widened, and every
   * later line of the attacker's would be a known command (a tunnel's backends 0.17 → 0.35).
   */
  private learnable(event: BehaviourEvent, tokens: string[]): string[] {
    const cmd = tokens.find((t) => t.startsWith('cmd='));
    const exe = tokens.find((t) => t.startsWith('exe=') && pairBoundary(t, 4) < 0);
    if (!cmd || !exe || !cmd.includes('<*>') || !this.isNew(cmd)) return tokens;
    if (!this.isKnownLine(exe.slice(4), cmd.slice(4), event.command ?? event.text)) return tokens;
    return tokens.filter((t) => !t.includes(cmd));
  }

  /**
   * Whether a token is a working directory in a place the subject worked in or beside (see "A
   * new working directory in a known place" at the top of this file): not temporary or hidden,
   * not directly under the root, its parent a known working directory or the parent of one.
   */
  private inKnownWorkPlace(token: string): boolean {
    if (!token.startsWith(CWD)) return false;
    const dir = token.slice(CWD.length);
    const parent = parentDirectory(dir);
    if (parent === undefined || isStagingPlace(dir)) return false;
    if (!this.cwdPlaces) {
      this.cwdPlaces = new Set();
      for (const t of this.fields.get('cwd')?.counts.keys() ?? []) noteCwdPlace(this.cwdPlaces, t);
    }
    return this.cwdPlaces.has(parent);
  }

  /** the operands of each program's known templates, built from the `exe>cmd` counts when first asked */
  private operandsOf(): Map<string, Set<string>> {
    if (this.operands) return this.operands;
    this.operands = new Map();
    for (const t of this.fields.get('exe>cmd')?.counts.keys() ?? []) this.noteOperands(t);
    return this.operands;
  }

  private noteOperands(pair: string): void {
    if (!this.operands) return;
    const gt = pairBoundary(pair, 4);
    if (gt < 0) return;
    const exe = pair.slice(4, gt);
    let words = this.operands.get(exe);
    if (!words) this.operands.set(exe, (words = new Set()));
    for (const w of operandsOf(pair.slice(gt + 5))) words.add(w);
  }

  /**
   * Whether the event is a pooled baseline's event of an account that logs in to this host
   * and brings no new kind and no new account: then its values count PERSON_VALUE_WEIGHT
   * (see the top of this file).
   */
  private personsValuesOnly(event: BehaviourEvent, tokens: readonly string[]): boolean {
    const who = actorOf(event);
    // a service's child is no person at a shell, whatever login records its account has
    if (who === undefined || !this.isPerson(who) || event.values.includes(NO_LOGIN)) return false;
    // a shell or an interpreter running code given as its arguments is not a person's new
    // tool: `perl -e`, `python3 -c`, `awk BEGIN{system()}` are what an attacker's one-liners are
    const value = (field: string) => tokens.find((t) => t.startsWith(field) && pairBoundary(t, field.length) < 0);
    const exe = value('exe=');
    const cmd = value('cmd=');
    if (exe !== undefined && argumentsAreBehaviour(exe.slice(4), cmd?.slice(4) ?? '')) return false;
    return !tokens.some((t) => !isTimeField(t) && (isActorToken(t) || isClassEvidence(t)) && this.isNew(t));
  }

  /**
   * Whether the account is a person at a shell here: the pool has seen a login record of it
   * and, where the host's shell histories are collected at all (any `kind=shell` event), a
   * command of it typed at a shell. An account whose sessions never leave a history is
   * automation that logs in (`ssh deploy@web ./release.sh`: a non-interactive shell saves none).
   */
  private isPerson(who: string): boolean {
    if (this.isNew(`who=${who}>kind=login`)) return false;
    return this.isNew('kind=shell') || !this.isNew(`who=${who}>kind=shell`);
  }

  /** distinct days a value occurred on (0 when never, or when the data has no clock) */
  private daysOf(token: string): number {
    return this.fields.get(fieldOf(token))?.days.get(token) ?? 0;
  }

  async score(batch: readonly ScoringInput[]): Promise<Evidence[]> {
    const out: Evidence[] = new Array(batch.length);
    for (let b = 0; b < batch.length; b++) {
      const { event, context } = batch[b];
      const tokens = tokensOf(event, context, this.opts.ngram);
      const adjust = this.actorAdjustment(event);
      let best = 0,
        second = 0,
        timeBest = 0;
      let bestToken = '';
      let bestAt = -1;
      const excesses = new Array<number>(tokens.length);
      const facts = this.factsOf(tokens);
      const template = this.knownProgramNewTemplate(event, tokens, facts);
      const knownLine = template !== undefined && this.isKnownLine(template.exe, template.cmd, event.command ?? event.text);
      const objects = template && !knownLine ? this.newObjects(template.exe, template.cmd) : { words: [], masked: false };
      const optionsOnly = template !== undefined && !knownLine && objects.words.length === 0;
      const knownPlace = this.knownPlaceOf(event, tokens);
      const person = this.personsValuesOnly(event, tokens);
      const newIdentity = this.newAccount(event);
      // a start in the boot after root's reboot command is the host's daemon back (boot-start.ts)
      const boot = bootStart(event);
      const runWeight = boot ? Math.min(BOOT_START_WEIGHT, packageRunWeight(event)) : packageRunWeight(event);
      for (let i = 0; i < tokens.length; i++) {
        const t = tokens[i];
        if ((this.features < FEATURES && newerField(fieldOf(t), this.features)) || (newIdentity !== undefined && isOfAccount(t, newIdentity))) {
          excesses[i] = 0;
          continue;
        }
        const f = facts.field[i];
        const novel = facts.novel[i];
        const time = facts.time[i];
        const excess =
          (f ? Math.min(this.surprise(f, t) - f.typical, this.irregularity(f, t)) : EMPTY_FIELD_BITS) +
          // the actor's rates count new values and kinds, not odd hours, nor a first appearance
          (novel && !isActorToken(t) && !time ? (isKindField(fieldOf(t)) ? adjust.kind : adjust.value) : 0);
        // whether the person's and the package run's weights apply to this token: asked only
        // when one of them is not 1 (isClassEvidence splits the token into its pairs, and was
        // a tenth of scoring when asked of every token)
        const valueWeighed = (person || runWeight !== 1) && !time && !isActorToken(t) && !isClassEvidence(t);
        const weighed =
          (knownLine && novel && t.includes(`cmd=${template.cmd}`)
            ? 0
            : optionsOnly && novel && isTemplateToken(t)
              ? excess * KNOWN_TOOL_TEMPLATE_WEIGHT
              : excess) *
          (this.isLeafEvidence(t, knownPlace) || this.inKnownWorkPlace(t) ? KNOWN_PLACE_LEAF_WEIGHT : 1) *
          (person && valueWeighed ? PERSON_VALUE_WEIGHT : 1) *
          (valueWeighed ? runWeight : 1);
        excesses[i] = weighed;
        // when something happens only modifies what happens: a first weekend, an odd hour
        // alone is a hint, not an alert
        if (time) {
          if (weighed > timeBest) timeBest = weighed;
        } else if (weighed > best) {
          second = best;
          best = weighed;
          bestToken = t;
          bestAt = i;
        } else if (weighed > second) second = weighed;
      }
      if (bestAt >= 0 && this.isNew(bestToken)) second = this.otherEvidence(tokens, excesses, bestAt);
      let textExcess = 0;
      if (event.text && this.textSeen > 0) {
        // bits per character above the usual, weighed by length: a long odd blob counts more
        textExcess = (this.chars.surprise(event.text) - this.textTypical) * Math.sqrt(Math.min(event.text.length, 400));
        // an unattended run's command lines are the packages' too (package-run.ts)
        if (unattendedPackageRun(event) || boot) textExcess *= runWeight;
      }
      const value = best + 0.5 * second + 0.2 * timeBest + Math.max(0, textExcess - best) * 0.5;
      const odd = textExcess > 3 ? `command line ${truncate(event.text)} is unlike the usual ones` : '';
      const bestNew = bestToken !== '' && !isActorToken(bestToken) && this.isNew(bestToken);
      const rare =
        best > 1
          ? this.describe(
              bestToken,
              bestNew ? this.actorPhrase(event, isKindField(fieldOf(bestToken))) : '',
              this.discountedNovelty(bestToken, optionsOnly, objects, knownPlace),
            )
          : '';
      out[b] = { value, detail: [rare, odd].filter(Boolean).join('; ') };
    }
    return out;
  }

  /**
   * What a never-seen token is when a discount above weighed it and its field alone does not
   * say: a known program's new options or new object, or a new file in a known place
   */
  private discountedNovelty(
    token: string,
    optionsOnly: boolean,
    objects: { words: string[]; masked: boolean },
    place: { dir: string; newPath: boolean } | undefined,
  ): string | undefined {
    if (this.inKnownWorkPlace(token)) return `new working directory in a known place (${quoted(String(parentDirectory(token.slice(CWD.length))))})`;
    if (!isTemplateToken(token)) return this.isLeafEvidence(token, place) ? `new file in a known place (${quoted(String(place?.dir))})` : undefined;
    if (optionsOnly) return 'new options of a known program';
    if (objects.words.length === 0) return undefined;
    return `a known program on a new object (${objects.masked ? 'in place of ' : ''}${objects.words.map(quoted).join(' ')})`;
  }

  /**
   * The value is a sum of bits of surprise: an event x bits beyond anything held out is, by
   * this model's own account, 2^−x times as likely, so its p-value may not fall faster than
   * that (a scale of 1/ln 2). A bunched held-out top (routine variation) fitted tails that
   * called one more bit of a first-seen tool a thousand times less likely. Nor need it fall
   * slower: as the least scale this replaces the held-out body width (median to the 90th
   * percentile, 2-3 bits for a busy user), which made 8 bits beyond everything held out
   * (alice's first shell of a login from a public address, 14 bits against a held-out top of
   * 5.6) no rarer than the held-out sample's own edge, 1/(n+1).
   */
  naturalScale(): number {
    return 1 / Math.LN2;
  }

  /** `novelty`: what a never-seen token is when its field alone does not say (a known program's new template) */
  private describe(token: string, actor = '', novelty?: string): string {
    if (!token) return '';
    const field = fieldOf(token);
    const f = this.fields.get(field);
    const c = f?.counts.get(token);
    const times = c === undefined ? 0 : Math.round(c / this.inc);
    const history = `${countText(this.events)} events`;
    const what = describeToken(token);
    if (c === undefined) return `${novelty ?? noveltyOf(token)}: ${what} never seen before (in ${history}${actor})`;
    const days = this.daysOf(token);
    return `${what} seen ${times <= 1 ? 'once' : `${times} times`}${days > 1 ? ` on ${days} days` : ''} in ${history}`;
  }

  private rescale(): void {
    for (const f of this.fields.values()) {
      for (const [k, c] of f.counts) f.counts.set(k, c / this.inc);
      f.total /= this.inc;
    }
    this.inc = 1;
  }

  toState(): ModelState {
    const fields: Record<string, FieldState> = {};
    for (const [name, f] of this.fields) {
      fields[name] = {
        counts: [...f.counts],
        total: f.total,
        typical: f.typical,
        seen: f.seen,
        days: [...f.days].map(([k, d]) => [k, d, f.lastDay.get(k) ?? -1]),
        activeDays: f.activeDays,
        lastActiveDay: f.lastActiveDay,
      };
    }
    return {
      name: 'rarity',
      version: VERSION,
      opts: this.opts,
      fields,
      inc: this.inc,
      events: this.events,
      chars: this.chars.toState(),
      textTypical: this.textTypical,
      textSeen: this.textSeen,
      actors: [...this.actors].map(([k, a]) => [k, a.firstDay, a.events, a.novel, a.novelKind]),
      accounts: [...this.accounts],
      places: [...this.places],
      features: this.features,
    };
  }

  static fromState(s: ModelState): RarityModel {
    // version 1 had no day counts, version 2 no actor novelty: they load with none, and both
    // build up from new events
    if (s.version !== VERSION && s.version !== 2 && s.version !== 1)
      throw new Error(`rarity model state version ${s.version}, this build reads ${VERSION}, 2 and 1`);
    const m = new RarityModel(s.opts as RarityOptions);
    const fields = s.fields as Record<string, FieldState>;
    for (const [name, f] of Object.entries(fields)) {
      const st = m.field(name);
      st.counts = new Map(f.counts);
      st.total = f.total;
      st.typical = f.typical;
      st.seen = f.seen;
      for (const [k, d, last] of f.days ?? []) {
        st.days.set(k, d);
        st.lastDay.set(k, last);
      }
      if (name === 'query') respell(st, currentQueryToken);
      else if (/^next\d+$/.test(name)) respell(st, currentStepToken);
      else respell(st, compactToken);
      st.activeDays = f.activeDays ?? 0;
      st.lastActiveDay = f.lastActiveDay ?? -1;
      for (const k of st.counts.keys()) st.chars += k.length;
      m.valueChars += st.chars;
    }
    m.inc = s.inc as number;
    m.events = s.events as number;
    m.features = typeof s.features === 'number' ? s.features : 1;
    m.chars = CharModel.fromState(s.chars as CharState);
    m.textTypical = s.textTypical as number;
    m.textSeen = s.textSeen as number;
    for (const [k, firstDay, events, novel, novelKind] of (s.actors as Array<[string, number, number, number, number]> | undefined) ?? []) {
      m.actors.set(k, { firstDay, events, novel, novelKind });
      m.actorEvents += events;
      m.actorNovel += novel;
      m.actorNovelKind += novelKind;
    }
    // a state saved before the record has none: the accounts it learnt are known by their
    // counts, and one it only saw has its first row once more
    m.accounts = new Map((s.accounts as Array<[string, number]> | undefined) ?? []);
    // a state saved before places has none: a new path counts in full until the model learns
    // a file event in one of its directories (or is fitted again)
    m.places = new Set((s.places as string[] | undefined) ?? []);
    return m;
  }
}

interface FieldState {
  counts: Array<[string, number]>;
  total: number;
  typical: number;
  seen: number;
  days?: Array<[string, number, number]>;
  activeDays?: number;
  lastActiveDay?: number;
}

/** the event's values and pairs plus the key n-grams ending in it, up to `ngram` keys back */
function tokensOf(event: BehaviourEvent, context: readonly BehaviourEvent[], ngram: number): string[] {
  const tokens: string[] = [];
  for (const v of event.values) if (!CONDITIONS.has(v)) tokens.push(v);
  for (const p of event.pairs) tokens.push(p);
  const n = context.length;
  let path = event.key;
  for (let k = 1; k <= ngram; k++) {
    // at a sequence's start the missing keys are part of the n-gram: `^` marks the start
    // ⇒ joins the keys: event keys themselves contain '>' and '='
    path = `${n - k >= 0 ? context[n - k].key : '^'}${STEP}${path}`;
    tokens.push(`next${k}=${path}`);
    if (n - k < 0) break;
  }
  return tokens;
}

const STEP = '\u21d2';

/**
 * Whether a token says what kind of thing happened and nothing about which: a class value
 * (`net=internal`), or classes paired with each other or with the actor (`who=omar>net=internal`,
 * `action=UPDATED>pathloc=log`). A program's pair with a class (`exe=/usr/bin/psql>net=internal`)
 * names the program: a known kind done by another known program is a new combination of values.
 */
function isClassEvidence(token: string): boolean {
  if (token.startsWith('next')) return false;
  return partsOf(token).every(([field]) => field === 'who' || CLASS_FIELDS.has(field));
}

/**
 * Whether two words of templates of one program are the same word: a long line's template
 * keeps its long words compacted (compactWord), a short one's whole, and a wildcard makes a
 * long template short, so one word may be spelt either way
 */
function sameWord(a: string, b: string): boolean {
  return a === b || compactWord(a) === compactWord(b);
}

/**
 * Whether a word fits a template's word, each `<*>` standing for some text: matched part by
 * part, not as a regular expression, whose backtracking over a long word the row's author
 * chooses could take as long as they like.
 */
function fitsWord(pattern: string, word: string): boolean {
  const parts = pattern.split('<*>');
  if (parts.length === 1) return pattern === word;
  if (!word.startsWith(parts[0])) return false;
  let at = parts[0].length;
  for (let i = 1; i < parts.length - 1; i++) {
    const j = word.indexOf(parts[i], at + 1);
    if (j < 0) return false;
    at = j + parts[i].length;
  }
  const last = parts[parts.length - 1];
  return word.length - last.length > at && word.endsWith(last);
}

/**
 * The operands of a command template: the words after the program that are not options
 * (`-d`, `--now`), not a mined wildcard, and not a path (where a path points is its own
 * class, `argloc`): `systemctl stop auditd` → stop, auditd.
 */
export function operandsOf(template: string): string[] {
  return template
    .split(' ')
    .slice(1)
    .filter((w) => w !== '' && !w.startsWith('-') && !w.includes('<*>') && !w.startsWith('/') && !w.startsWith('~'));
}

interface FileOf {
  path: string;
  loc: string;
  action: string;
}

/** a file event's generalised path, its location class and the change; undefined for other events */
function fileOf(event: BehaviourEvent): FileOf | undefined {
  if (!event.values.includes('kind=file')) return undefined;
  const value = (field: string) => event.values.find((v) => v.startsWith(field))?.slice(field.length);
  const [path, loc] = [value('path='), value('pathloc=')];
  return path === undefined || loc === undefined ? undefined : { path, loc, action: value('action=') ?? '' };
}

/** the location classes (security.ts fileLocation) an attacker's persistence and privilege are planted in: known only in the file's own directory (knownPlaceOf) */
const PLANTED_CLASSES: ReadonlySet<string> = new Set(['accounts', 'ssh', 'autostart', 'programs']);

/** a place as `places` holds it: the change, the location class and a directory (`UPDATED config\t/etc`) */
function placeOf(file: FileOf, dir: string): string {
  return `${file.action} ${file.loc}\t${dir}`;
}

const CWD = 'cwd=';

const DELETED = ' (deleted)';
/**
 * a temporary place or a hidden name in a generalised path (`/tmp/<tmp>`, `/run/user/<n>/x`,
 * `~/.cache`, `~/src/...`), by exeLocation's temporary class; a directory removed while a
 * process works in it (the kernel's ` (deleted)`) by where it was: exeLocation's class for it,
 * `deleted`, hid a temporary or hidden one
 */
function isStagingPlace(dir: string): boolean {
  const where = dir.endsWith(DELETED) ? dir.slice(0, -DELETED.length) : dir;
  return exeLocation(where.replaceAll('<n>', '0')).startsWith('temp') || hasHiddenName(where);
}

/** `~/projects/thesis` → `~/projects`; undefined for a directory directly under the root or none (`/srv`, `~`, `/`) */
function parentDirectory(dir: string): string | undefined {
  const cut = dir.lastIndexOf('/');
  return cut > 0 ? dir.slice(0, cut) : undefined;
}

/** record a known working directory (a `cwd=` token) and its parent as places worked in */
function noteCwdPlace(places: Set<string>, token: string): void {
  if (fieldOf(token) !== 'cwd') return;
  const dir = token.slice(CWD.length);
  places.add(dir);
  const parent = parentDirectory(dir);
  if (parent !== undefined) places.add(parent);
}

/** whether a token is a file path or a pair with one (`action=UPDATED>path=/etc/motd`) */
function hasPath(token: string): boolean {
  return !token.startsWith('next') && partsOf(token).some(([field]) => field === 'path');
}

/** the directories above a path, deepest first, the root left out: `/etc/ssh/x` → `/etc/ssh`, `/etc` */
function directoriesAbove(path: string): string[] {
  const out: string[] = [];
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) out.push(path.slice(0, i));
  return out;
}

/** a token a new argument template makes new: the template, its program's pair with it, the step to its key */
function isTemplateToken(token: string): boolean {
  return token.startsWith('cmd=') || token.startsWith('next') || fieldOf(token) === 'exe>cmd';
}

/** the `who=alice` value itself (not a pair `who=alice>exe=…`) */
function isActorToken(token: string): boolean {
  return token.startsWith('who=') && pairBoundary(token, 4) < 0;
}

/** whether the token is the account's identity `id` (`who=lee`) or a pair with it (`who=lee>exe=…`) */
function isOfAccount(token: string, id: string): boolean {
  return token === id || (token.startsWith(id) && token[id.length] === '>' && pairBoundary(token, 4) === id.length);
}

/** the newest time of the events (0 when they have no clock) */
function latestTime(sequences: readonly (readonly BehaviourEvent[])[]): number {
  let newest = 0;
  for (const seq of sequences) for (const e of seq) if (e.time > newest) newest = e.time;
  return newest;
}

/** who acted, in a pooled baseline's event (`who=alice`); undefined in a subject's own */
function actorOf(event: BehaviourEvent): string | undefined {
  for (let i = event.values.length - 1; i >= 0; i--) if (event.values[i].startsWith('who=')) return event.values[i].slice(4);
  return undefined;
}

function isTimeField(token: string): boolean {
  if (token.startsWith('hour=') || token.startsWith('day=') || token.startsWith('how=')) return true;
  if (!token.startsWith('kind=') && !token.startsWith('who=')) return false;
  // the pair's second field, not `>hour=` anywhere: a program's path is the attacker's to
  // name, and `who=backup>exe=/opt/x>hour=2/nmap` is an account's program, not an hour
  const field = fieldOf(token);
  return field === 'kind>hour' || field === 'who>hour';
}

/**
 * Where the next `field=value` of a pair token starts: a `>` followed by a field name and `=`.
 * Values contain `>` of their own (`/tmp/<tmp>/kworkerd`, a mined `curl <*> | sh`), so the
 * first `>` is not the boundary.
 */
function pairBoundary(token: string, from: number): number {
  for (let gt = token.indexOf('>', from); gt >= 0; gt = token.indexOf('>', gt + 1)) {
    let i = gt + 1;
    while (i < token.length && isFieldChar(token.charCodeAt(i), i === gt + 1)) i++;
    if (i > gt + 1 && token[i] === '=') return gt;
  }
  return -1;
}

function isFieldChar(c: number, first: boolean): boolean {
  return (c >= 97 && c <= 122) || (!first && (c === 95 || (c >= 48 && c <= 57)));
}

/** `parent=/bin/bash>exe=/usr/bin/nc` → [['parent', '/bin/bash'], ['exe', '/usr/bin/nc']] */
function partsOf(token: string): Array<[string, string]> {
  const parts: Array<[string, string]> = [];
  let start = 0;
  for (;;) {
    const eq = token.indexOf('=', start);
    const end = pairBoundary(token, eq + 1);
    parts.push([token.slice(start, eq), token.slice(eq + 1, end < 0 ? token.length : end)]);
    if (end < 0) return parts;
    start = end + 1;
  }
}

/** whether an event has the value `token` (`kind=file`) or a value of field `token` (`pathloc`) */
function carries(event: BehaviourEvent, token: string): boolean {
  if (token.includes('=')) return event.values.includes(token);
  const prefix = `${token}=`;
  return event.values.some((v) => v.startsWith(prefix));
}

/** whether field `name` (a pair's `a>b` too) has a part added after extractor fields `version` */
function newerField(name: string, version: number): boolean {
  for (const part of name.split('>')) if ((FIELD_SINCE.get(part) ?? 0) > version) return true;
  return false;
}

/** a sequence token (`next2=a⇒b⇒c`) of an older build with each key as this build spells it (currentEventKey) */
function currentStepToken(token: string): string {
  // (only a key of a query no unit knows begins with Fleet's `pack/<pack>/`, and only one with a
  // value an older build compacted holds its mark)
  if (!token.includes('pack/') && !holdsOlderMark(token)) return token;
  const eq = token.indexOf('=') + 1;
  return token.slice(0, eq) + token.slice(eq).split(STEP).map(currentEventKey).join(STEP);
}

/**
 * A token of a build before values were compacted (memcap) as the extractor makes it now: each
 * value over its bound (compactFieldValue) as its head and digest. A token no longer than
 * MAX_VALUE_CHARS is unchanged.
 */
function compactToken(token: string): string {
  if (token.length <= MAX_VALUE_CHARS) return token;
  return partsOf(token)
    .map(([field, value]) => `${field}=${compactFieldValue(field, value)}`)
    .join('>');
}

/** an older build's tokens as this build spells them (query values, sequence keys), counts of one spelling added up */
function respell(f: { counts: Map<string, number>; days: Map<string, number>; lastDay: Map<string, number> }, currentToken: (token: string) => string): void {
  // a subject is read back whenever it is loaded again: its tables are rebuilt only when an
  // older spelling is there to change
  let older = false;
  for (const k of f.counts.keys()) if (currentToken(k) !== k) older = true;
  for (const k of f.days.keys()) if (currentToken(k) !== k) older = true;
  if (!older) return;
  const counts = new Map<string, number>();
  const days = new Map<string, number>();
  const lastDay = new Map<string, number>();
  for (const [k, c] of f.counts) {
    const now = currentToken(k);
    counts.set(now, (counts.get(now) ?? 0) + c);
  }
  for (const [k, d] of f.days) {
    const now = currentToken(k);
    // days a value was seen on: two spellings of one day are one day, so the larger count
    days.set(now, Math.max(days.get(now) ?? 0, d));
    lastDay.set(now, Math.max(lastDay.get(now) ?? -1, f.lastDay.get(k) ?? -1));
  }
  f.counts = counts;
  f.days = days;
  f.lastDay = lastDay;
}

/** `exe=/usr/bin/nc` → exe; `parent=/bin/bash>exe=/usr/bin/nc` → parent>exe */
function fieldOf(token: string): string {
  if (token.startsWith('next') && token[5] === '=') return token.slice(0, 5);
  const eq = token.indexOf('=');
  const gt = pairBoundary(token, eq + 1);
  if (gt < 0) return token.slice(0, eq);
  return `${token.slice(0, eq)}>${token.slice(gt + 1, token.indexOf('=', gt))}`;
}

/** fields whose values are classes: a value new there is a new kind of behaviour, not just a new name */
const CLASS_FIELDS = new Set(['kind', 'exeloc', 'pathloc', 'argloc', 'argform', 'priv', 'lineage', 'net', 'session', 'exposure', 'tty', 'action', 'type']);
const TOOL_FIELDS = new Set(['exe', 'cmd']);

/** a field whose last part is a class (`exeloc`, `who>net`): its new values are new kinds of behaviour */
function isKindField(field: string): boolean {
  return CLASS_FIELDS.has(field.slice(field.lastIndexOf('>') + 1));
}

/**
 * What kind of novelty a never-seen token is, for the reasons: an analyst reads "new tool"
 * (something not run before) differently from "new behaviour" (known things done in a way
 * never seen) or a new kind of event altogether.
 */
function noveltyOf(token: string): string {
  if (/^next\d=/.test(token)) return 'new sequence';
  const field = fieldOf(token);
  if (field === 'who') return 'first activity of this account here';
  if (field.startsWith('who>')) return 'new behaviour for this account';
  if (field.includes('>')) return 'new behaviour';
  if (CLASS_FIELDS.has(field)) return 'new kind of behaviour';
  if (TOOL_FIELDS.has(field)) return 'new tool';
  return 'new value';
}

const FIELD_NAMES: Record<string, string> = {
  exeloc: 'executable location',
  pathloc: 'file location',
  priv: 'privilege change',
  lineage: 'shell ancestry',
  net: 'network',
  session: 'session from',
  exposure: 'listening on',
  who: 'account',
  how: 'hour of week',
  laddr: 'local address',
  exe: 'program',
  parent: 'parent',
  cmd: 'command',
  raddr: 'remote address',
  rport: 'remote port',
  lport: 'local port',
  src: 'login source',
  tty: 'terminal',
  path: 'path',
  action: 'action',
  hour: 'time of day',
  day: 'day type',
  kind: 'kind of event',
  cwd: 'working directory',
  key: 'event',
};

function describeToken(token: string): string {
  if (/^next\d=/.test(token)) return `the steps ${token.slice(6).split(STEP).map(quoted).join(' → ')}`;
  const shown = partsOf(token).map(([field, value]) => `${FIELD_NAMES[field] ?? field} ${quoted(value)}`);
  return shown.length === 1 ? shown[0] : `${shown[0]} with ${shown.slice(1).join(' with ')}`;
}

/** drops the field's rarest tenth (counts weighted by recency); returns the characters of their values */
function evictRarest(f: FieldStats): number {
  const entries = [...f.counts].sort((a, b) => a[1] - b[1]);
  const drop = Math.ceil(entries.length * 0.1);
  let chars = 0;
  for (let i = 0; i < drop; i++) {
    f.counts.delete(entries[i][0]);
    f.days.delete(entries[i][0]);
    f.lastDay.delete(entries[i][0]);
    f.total -= entries[i][1];
    chars += entries[i][0].length;
  }
  f.chars -= chars;
  return chars;
}

function truncate(s: string): string {
  return quoted(s.length > 60 ? `${s.slice(0, 57)}...` : s);
}
