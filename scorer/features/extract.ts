import type { QueryOverride } from '../../conf/config';
import { cutColumns, MAX_COMMAND, MAX_FIELD, storedColumns } from './value-bounds';
import { LearnedMarks, NO_LOGIN, type BehaviourEvent, type LearnedMark, type ResultRow, type RowMark } from '../types';
import { generalisePath, hourOf, weekdayOf } from './generalise';
import { generaliseValue, shortQuery, UNITS, type EventBuilder, type Lookup, type QueryKind } from './kinds';
import { ProcessTable } from './lineage';
import { TemplateMiner, type MinerState } from './miner';
import { fnv1a32 } from '../hash';
import { baseName } from './security';
import { compactFieldValue, compactValue, compactWord, withoutMarks } from './compact-value';
import { resolveSubject, UidMap } from './subject';

export type { QueryKind } from './kinds';

// A result row → (subject, BehaviourEvent). The event key names what happened in the
// generalised vocabulary the models learn: `exec /usr/bin/nc <- /bin/bash`,
// `connect /usr/bin/curl -> public:198.51:443`, `login pts from public:203.0`.
//
// Two paths, as Drain3 separates add_log_message from match: `extract` learns (command-line
// templates, which pid is which program, who listens, uid names) and is what scoring uses;
// `match` changes nothing and is what feedback and inspection use. The per-kind work lives
// in kinds.ts.

const KIND_BY_NAME: Array<[RegExp, QueryKind]> = [
  [/process_events|processes|process(?!_open)|proc_/, 'process'],
  [/socket_events|open_sockets|process_open_sockets|sockets|connections/, 'socket'],
  [/listening_ports|listening|ports/, 'listen'],
  [/logged_in_users|\blast\b|_last$|^last|logins?|wtmp/, 'login'],
  [/shell_history|history/, 'shell'],
  [/file_events|fim|file_changes/, 'file'],
];

/**
 * Numeric strings and masks that command-line templates should not keep. Each runs in time
 * linear in its input: no unbounded quantifier is followed by one that can match the same
 * characters (`(\d+\.){3}\d+` took 14 s on 100k digits).
 */
const CMD_MASKS = [/\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b/g, /\b[0-9a-f]{8,}\b/gi, /(?<=[\s=:/])\d+\b/g];

/**
 * One word of a command line as the miner masks it within its line (an address, a hex run, the
 * digits after a separator as `<*>`): what the word of a long line's template holds in its place
 * before compactWord bounds it, so a raw word can be set against a template's word (rarity.ts
 * isKnownLine). The leading space stands for the one before the word in its line.
 */
export function maskedWord(word: string): string {
  let s = ` ${word}`;
  for (const m of CMD_MASKS) s = s.replace(m, '<*>');
  return s.slice(1);
}

/**
 * words of a command line the miner reads (a template's words past them are option names,
 * commandTemplate); characters of a template kept whole (longer, each of its words is bounded
 * instead)
 */
export const MINED_TOKENS = 24;
const TEMPLATE_HEAD = 160;
/**
 * option names a long line's template adds after its head: at most OPTION_NAMES, each a dash
 * or two and letters (`--console-socket`, `-it`, `--log=<value>` as `--log`), so a hostile
 * line of a thousand invented options adds at most about 200 characters and no number or id
 */
const OPTION_NAMES = 6;
const OPTION_NAME = /^--?[A-Za-z][A-Za-z-]{0,30}$/;

/** the distinct option names among `words`, the first OPTION_NAMES of them, sorted */
function optionNames(words: string[]): string[] {
  const names = new Set<string>();
  for (const w of words) {
    const name = w.split('=', 1)[0];
    if (OPTION_NAME.test(name)) names.add(name);
    if (names.size === OPTION_NAMES) break;
  }
  return [...names].sort();
}

/**
 * A long line's template, its words each in its place and each bounded (compactWord): the
 * known-line check and the widening guard match a template to the program's known ones word by
 * word (rarity.ts isKnownLine), which a cut by characters (a wildcard moves it, headForm) or a
 * digest of the whole template (compactValue) made impossible for every long line
 * (compactword). What sets one run apart is often an option past the mined words
 * (`--console-socket` of an interactive exec): then their names, as a set. No mark between
 * them: a mark would be a word the rarity model reads as an operand (a known program's first
 * long line would name a new object)
 */
function wordForm(template: string, tokens: string[]): string {
  const names = optionNames(tokens.slice(MINED_TOKENS));
  return template.split(' ').map(compactWord).concat(names).join(' ');
}

/**
 * A long line's template as builds before compactword made it, for a state whose models
 * learnt it (FeatureExtractor.longForm): its first TEMPLATE_HEAD characters, then the option
 * names of the words that follow, as a set
 */
function headForm(template: string, tokens: string[]): string {
  const head = template.slice(0, TEMPLATE_HEAD);
  // the word the head cuts through is not an option name (`-socket` of `--console-socket`)
  const after = template.slice(TEMPLATE_HEAD).split(' ');
  if (!head.endsWith(' ')) after.shift();
  const names = optionNames(after.concat(tokens.slice(MINED_TOKENS)));
  return names.length ? `${head} ${names.join(' ')}` : head;
}

/** characters of the strings the extractor shares among events (intern) */
const INTERNED_CHARS = 8_000_000;

// cut before the marks are respelt: the respelling keeps a value's length, and a cut through a mark leaves none
const truncate = (v: string, max: number) => withoutMarks(v.length > max ? v.slice(0, max) : v);
/**
 * The row's columns as every feature reads them: cut to the bounds above, and with no mark of
 * a compacted value in them (withoutMarks), so that only compaction makes one
 */
function boundedColumns(c: Record<string, string>): Record<string, string> {
  return cutColumns(c, truncate);
}

export { MAX_COMMAND, MAX_FIELD, storedColumns };

export interface ExtractorState {
  miner: MinerState;
  users: Array<[string, string]>;
  /** the session contexts of running processes (absent in files of older builds) */
  sessions?: Array<[string, string, string]>;
  /** the executables seen listening, `host:exe` (absent in files of older builds) */
  listeners?: string[];
  /** the processes known, `[host:pid, exe, parent pid, start time]` (absent in files of older builds) */
  procs?: Array<[string, string, string, number]>;
  /** the processes of procs a package manager's run passes through (review13) */
  runs?: string[];
  /** the processes no login is behind whose children's login uid is none either, `[host:pid, parent pid]` (absent in files of older builds) */
  noLogin?: Array<[string, string]>;
  /** per host, when root last ran a reboot command, `[host, time]` (features/boot.ts; absent in files of older builds) */
  reboots?: Array<[string, number]>;
  /** the programs seen running, `host:exe` (features/boot.ts; absent in files of older builds) */
  programs?: string[];
  /** the last queue row learned (absent in files of older builds) */
  learned?: LearnedMark | null;
  /** the last row of the command line's last run learned (LearnedMarks.run; absent in files of older builds) */
  runLearned?: LearnedMark | null;
  /** an older build's templates, mined across subjects (FeatureExtractor.legacy; absent when there were none) */
  legacyMiner?: MinerState;
  /** the form of a long line's template (FeatureExtractor.longForm; absent in files of builds before compactword: `head`) */
  longForm?: LongForm;
}

/** how a long line's template is spelt: word by word (wordForm), or its first characters and option names (headForm) */
export type LongForm = 'words' | 'head';

export class FeatureExtractor {
  private readonly miner: TemplateMiner;
  private readonly processes = new ProcessTable();
  private readonly learning: Lookup;
  private readonly matching: Lookup;
  /**
   * A replayed row the miner counted before the crash: counted again, a template would look
   * twice as common. The process table still takes it in: only the sessions are saved, and
   * the rows after it look up their parents there.
   */
  private readonly replaying: Lookup;
  private readonly interned = new Map<string, string>();
  private internedChars = 0;
  /** the template scope of the row being built: its subject on its host (scopeToken) */
  private scope = '';
  /**
   * The templates of a state saved before templates were mined per subject, read only. Each
   * subject's models learnt their text (`git commit -m <*>`): dropped, the first line of each
   * after an upgrade was a literal command the subject never had, and scored bad (0.204 for
   * a subject's usual commands, 0.89-1.0 without the upgrade). A subject's line that fits no
   * template of its own starts one from the old template it fits (inherit); from then on the
   * template is the subject's, widened by its own lines only. Frozen, so bounded as it was.
   */
  private legacy: TemplateMiner | null = null;
  private learned = new LearnedMarks();
  /**
   * How this extractor spells a long line's template. A state saved before compactword goes on
   * with the head form its models learnt: spelt anew, every routine long line (a node's runc
   * execs) was a new template to its rarity model and a new shape to its SVM, and stayed so
   * until they were refit from windows of the new spelling (the fourth held-out set's runc
   * rows not good 15 -> 59 of 159 over two days, scored by a state of 878ff45). A new state,
   * or one trained anew, has the word form.
   */
  private longForm: LongForm = 'words';
  private readonly users: UidMap;
  private readonly overrides: Record<string, QueryOverride>;

  constructor(opts: { users: UidMap; overrides: Record<string, QueryOverride> }, miner?: TemplateMiner) {
    this.users = opts.users;
    this.overrides = opts.overrides;
    // depth 5: the executable and its first argument lead down the tree, so `git push …` and
    // `git pull …` never compete for one template
    this.miner = miner ?? newMiner();
    const p = this.processes;
    const ask = {
      parentOf: (row: ResultRow) => this.parentOf(row),
      exeOfPid: (host: string, pid: string | undefined) => p.exeOf(host, pid),
      lineage: (host: string, ppid: string | undefined, parentExe: string) => p.lineage(host, ppid, parentExe),
      packageRun: (host: string, ppid: string | undefined, parentExe: string, ids: { uid?: string; euid?: string }, time: number) =>
        p.inPackageRun(host, ppid, parentExe, ids, time),
      session: (host: string, pid: string | undefined, ppid: string | undefined, sshdUser: string | undefined, time: number) =>
        p.session(host, pid, ppid, sshdUser, time),
      sessionOfPid: (host: string, pid: string | undefined) => p.sessionOfPid(host, pid),
      bootStart: (host: string, ppid: string | undefined, path: string, exe: string, time: number, auid: string | undefined) =>
        p.bootStart(host, ppid, path, exe, time, auid),
    };
    this.learning = {
      ...ask,
      template: (cmdline, exe) =>
        this.commandTemplate(cmdline, exe, (line) => {
          this.inherit(line);
          return this.miner.add(line).template;
        }),
      noteProcess: (host, pid, ppid, exe, time, session, sshdUser, ids) => p.learnProcess(host, pid, ppid, exe, time, session, sshdUser, ids),
      noteListener: (host, exe) => p.learnListener(host, exe),
      noteProgram: (host, exe) => p.learnProgram(host, exe),
      noteLogin: (host, user, pid, time, session) => p.learnLogin(host, user, pid, time, session),
    };
    this.matching = {
      ...ask,
      template: (cmdline, exe) =>
        this.commandTemplate(cmdline, exe, (line) => this.miner.template(line) ?? this.legacyTemplate(line) ?? this.miner.match(line)),
      noteProcess: () => {},
      noteListener: () => {},
      noteProgram: () => {},
      noteLogin: () => {},
    };
    this.replaying = { ...this.learning, template: this.matching.template };
  }

  /**
   * identical strings share one copy: windows of events repeat the same few tokens. Forgotten
   * at 200,000 strings, or at INTERNED_CHARS characters: a local user's tokens of new long
   * paths, every one new, are up to 1,300 characters each (rootsafe)
   */
  private intern(s: string): string {
    const hit = this.interned.get(s);
    if (hit !== undefined) return hit;
    if (this.interned.size > 200_000 || this.internedChars > INTERNED_CHARS) {
      this.interned.clear();
      this.internedChars = 0;
    }
    this.interned.set(s, s);
    this.internedChars += s.length;
    return s;
  }

  kindOf(row: ResultRow): QueryKind {
    // the query's own name: its pack's may say anything (pack_network-connections_listening_ports)
    const name = shortQuery(row.query).toLowerCase();
    for (const [re, kind] of KIND_BY_NAME) if (re.test(name)) return kind;
    const c = row.columns;
    if ('target_path' in c) return 'file';
    if ('remote_address' in c || 'remote_port' in c) return 'socket';
    if ('command' in c && ('history_file' in c || 'uid' in c)) return 'shell';
    if ('tty' in c && ('host' in c || 'type' in c)) return 'login';
    if ('port' in c && ('address' in c || 'protocol' in c)) return 'listen';
    if ('cmdline' in c || ('path' in c && 'parent' in c)) return 'process';
    return 'other';
  }

  /**
   * The learning path: the row's subject and event, learning what the row tells. A row the
   * extension's queue replays after a crash (`replay`), up to the last one this extractor
   * learned before it was saved, is not counted by the template miner again; nor is a row
   * another command learnt (`learnt`: `anomaly train`'s, scored by `anomaly score`).
   */
  extract(row: ResultRow, replay?: { epoch: string; mark: RowMark }, learnt = false): { subject: string; event: BehaviourEvent } {
    let look = learnt ? this.replaying : this.learning;
    if (replay) {
      if (!this.learned.mark(replay.epoch, replay.mark)) look = this.replaying;
    }
    const subject = resolveSubject(row, this.users, this.overrides[row.query], this.loginless(row));
    this.scope = scopeToken(subject, row.host);
    return { subject, event: this.build(row, look) };
  }

  /** the side-effect-free path: the event the row maps to now, learning nothing */
  match(row: ResultRow): BehaviourEvent {
    this.scope = scopeToken(resolveSubject(row, this.users, this.overrides[row.query], this.loginless(row)), row.host);
    return this.build(row, this.matching);
  }

  private build(row: ResultRow, look: Lookup): BehaviourEvent {
    const override = this.overrides[row.query];
    // every field read below is cut to its bound first (a user controls their command lines)
    const bounded = boundedColumns(row.columns);
    if (bounded !== row.columns) row = { ...row, columns: bounded };
    const kind = this.kindOf(row);
    const values: string[] = [];
    const pairs: string[] = [];
    const b: EventBuilder = {
      // a long value as its head and a digest: every store keyed by values is bounded in characters (memcap)
      value: (field, value) => values.push(this.intern(`${field}=${compactFieldValue(field, value)}`)),
      pair: (a, x, f, y) => pairs.push(this.intern(`${a}=${compactFieldValue(a, x)}>${f}=${compactFieldValue(f, y)}`)),
      text: '',
    };
    b.value('kind', kind);
    let key = UNITS[kind](row, b, look);
    if (override?.key?.length) {
      key = `${shortQuery(row.query)} ${override.key.map((k) => `${k}=${generaliseValue(row.columns[k] ?? '')}`).join(' ')}`;
    }
    const hour = hourOf(row.time);
    b.value('hour', hour);
    b.value('day', weekdayOf(row.time));
    // hour of the week: a weekly routine recurs in its slot
    b.value('how', `${new Date(row.time * 1000).getUTCDay()}-${hour}`);
    b.value('query', shortQuery(row.query));
    b.pair('kind', kind, 'hour', hour);
    if (row.action === 'removed') b.value('removed', 'yes');
    if (this.loginless(row)) values.push(NO_LOGIN);
    return { key: this.intern(key.length > 300 ? key.slice(0, 300) : key), values, pairs, text: b.text, time: row.time };
  }

  /**
   * Whether no login is behind the row's process (ProcessTable.loginless): a process row's
   * login uid came from its parent or the program it replaced, another row's is its process's.
   * The same before and after the row's process is learnt (it is asked both for the subject
   * and for the event).
   */
  private loginless(row: ResultRow): boolean {
    const c = row.columns;
    return this.processes.loginless(row.host, c.pid, this.kindOf(row) === 'process' ? (c.parent ?? '') : undefined, c.auid);
  }

  /** the parent's executable from the row itself, else from earlier rows of that pid */
  private parentOf(row: ResultRow): string {
    const c = row.columns;
    const direct = c.parent_path || c.ppath || c.parent_exe;
    if (direct) return generalisePath(direct);
    const name = c.parent_name || c.pname;
    if (name) return name;
    if (c.pcmdline) return c.pcmdline.trim().split(/\s+/)[0] ?? 'unknown';
    return this.processes.exeOf(row.host, c.parent) || 'unknown';
  }

  /** a scoped line's template among the older build's (legacy), in its scope; null if none fits */
  private legacyTemplate(scopedLine: string): string | null {
    if (!this.legacy) return null;
    const at = scopedLine.indexOf(' ');
    const old = this.legacy.template(scopedLine.slice(at + 1));
    return old === null ? null : `${scopedLine.slice(0, at)} ${old}`;
  }

  /** before a scoped line is mined: if its scope has no template for it, the older build's that fits becomes one */
  private inherit(scopedLine: string): void {
    if (!this.legacy || this.miner.template(scopedLine) !== null) return;
    const old = this.legacyTemplate(scopedLine);
    if (old !== null) this.miner.seed(old);
  }

  /** executable plus the mined template of the arguments, e.g. `tar czf <*> <*>` */
  private commandTemplate(cmdline: string, exe: string, mine: (line: string) => string): string {
    const trimmed = cmdline.trim();
    if (!trimmed) return exe ? baseName(exe) : '';
    const tokens = trimmed.split(/\s+/);
    tokens[0] = baseName(tokens[0]);
    const line = tokens
      .slice(0, MINED_TOKENS)
      .map((t) => (t.startsWith('/') ? generalisePath(t) : t))
      .join(' ');
    // mined within the row's subject: another account's lines never generalise this one's
    const scoped = mine(`${this.scope} ${line}`);
    const template = scoped.slice(scoped.indexOf(' ') + 1);
    if (template.length <= TEMPLATE_HEAD && tokens.length <= MINED_TOKENS) return template;
    // the older form as its builds stored it: over MAX_VALUE_CHARS, their head and digest (memcap)
    return this.longForm === 'words' ? wordForm(template, tokens) : compactValue(headForm(template, tokens));
  }

  /** characters the extractor holds by its own accounting (memcap): the tables of one copy, the templates, the programs of the process table */
  heldChars(): { interned: number; templates: number; processes: number } {
    return { interned: this.internedChars, templates: this.miner.heldChars(), processes: this.processes.heldChars() };
  }

  toState(): ExtractorState {
    return {
      miner: this.miner.toState(),
      users: this.users.toState(),
      sessions: this.processes.sessionsState(),
      listeners: this.processes.listenersState(),
      procs: this.processes.procsState(),
      runs: this.processes.runsState(),
      noLogin: this.processes.noLoginState(),
      reboots: this.processes.rebootsState(),
      programs: this.processes.programsState(),
      learned: this.learned.queue,
      ...(this.learned.run ? { runLearned: this.learned.run } : {}),
      ...(this.legacy ? { legacyMiner: this.legacy.toState() } : {}),
      longForm: this.longForm,
    };
  }

  static fromState(state: ExtractorState, opts: { users: UidMap; overrides: Record<string, QueryOverride> }): FeatureExtractor {
    if (!state || !state.miner) throw new Error('extractor state has no template miner');
    if (state.users?.length) opts.users.load(state.users);
    // masks come from this build, not the file: an older file carries a slower pattern. An
    // older file's templates were mined across subjects and name none: new templates are
    // mined per subject, and the old ones are kept aside for the subjects that learnt them
    const withMasks = (m: MinerState) => TemplateMiner.fromState({ ...m, options: { ...m.options, masks: CMD_MASKS.map((r) => r.source) } });
    const x = new FeatureExtractor(opts, state.miner.options.scoped ? withMasks(state.miner) : newMiner());
    const legacy = state.miner.options.scoped ? state.legacyMiner : state.miner;
    if (legacy) x.legacy = withMasks(legacy);
    if (state.sessions) x.processes.loadSessions(state.sessions);
    if (state.listeners) x.processes.loadListeners(state.listeners);
    if (state.procs) x.processes.loadProcs(state.procs);
    if (state.runs) x.processes.loadRuns(state.runs);
    if (state.noLogin) x.processes.loadNoLogin(state.noLogin);
    if (state.reboots) x.processes.loadReboots(state.reboots);
    if (state.programs) x.processes.loadPrograms(state.programs);
    x.learned.queue = state.learned ?? null;
    x.learned.run = state.runLearned ?? null;
    x.longForm = state.longForm === 'words' ? 'words' : 'head';
    return x;
  }
}

/**
 * The product's miner. Lines are mined per subject and host (one user's flood of `curl -s
 * <url>` generalised another user's literal `curl -s https://api…/health` to `curl -s <*>`, a
 * command never seen for that user, every day: test/poison-template.test.ts). The scope is the
 * first token, so depth 6: the scope, the executable and its first argument lead down the tree,
 * and `git push …` and `git pull …` still never compete for one template.
 */
function newMiner(): TemplateMiner {
  return new TemplateMiner({ masks: CMD_MASKS, similarity: 0.5, depth: 6, maxTemplates: 20_000, scoped: true });
}

/**
 * A subject on a host as one token of letters g to z: no whitespace (it is one token), no
 * digit (the tree sends tokens with digits to its wildcard child) and none of a to f (the
 * hexadecimal mask would take it)
 */
function scopeToken(subject: string, host: string): string {
  let h = fnv1a32(`${subject}@${host}`) >>> 0;
  let out = '';
  for (let i = 0; i < 8; i++) {
    out += String.fromCharCode(103 + (h % 20));
    h = Math.floor(h / 20);
  }
  return out;
}

/** an event of a sequence data set: an HDFS log key or a syscall number */
export function sequenceEvent(key: string, _index: number): BehaviourEvent {
  return { key, values: [`key=${key}`], pairs: [], text: '', time: 0 };
}
