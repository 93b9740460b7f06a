import { BoundedMap } from '../bounded-map';
import { isBootStart, isRebootCommand } from './boot';
import { compactValue } from './compact-value';
import { baseName, exeLocation, isDownloader, isPackageManager, isShell, withoutLogin } from './security';

// What each host's processes are and who started them, from the process rows seen so far:
// resolves a socket's pid to its executable, a process's parent when the row names only a
// pid, and a shell's lineage (is one of its ancestors a network-facing service or a
// downloader?) and the login session a process belongs to. Learning (`learn*`) and asking are
// separate, so the side-effect-free match path of the extractor can ask without changing
// anything.

const MAX_PIDS = 20_000;
const MAX_LISTENERS = 2_000;
/** ancestors walked at most: a web shell is a few steps below its server */
const MAX_DEPTH = 6;
/**
 * How long a package manager's run lasts at most, from the manager's start: a daemon a
 * maintainer script started itself (no service manager between) and its children stay below
 * dpkg for as long as they run, and a pid a past run had may be taken again (review13)
 */
const MAX_RUN_SECONDS = 3 * 3600;
/** ancestors walked at most for a session: a build tool's compiler runs a few levels below the login shell */
const MAX_SESSION_DEPTH = 12;
const MAX_LOGINS = 5_000;
/**
 * How far apart a login record and the session's first process may be, in seconds: sshd
 * forks for the user and writes wtmp within the same second or two; a login minutes away is
 * another session.
 */
const LOGIN_SLACK = 120;

interface Proc {
  exe: string;
  ppid: string;
  /** when it started (a pid is reused; a login record names the process of its own moment) */
  time: number;
  /** whether a package manager's run passes through it (carriesRun): root's, and an installed program's */
  carriesRun: boolean;
}

/** interpreters' options that give code on the command line (`sh -c`, `perl -e`, `php -r`); others (`sh -e`, a shebang's) do not */
const CODE_OPTION: Record<string, RegExp> = { perl: /^-\w*[eE]/, ruby: /^-\w*e/, node: /^-(?:\w*e|-eval|p|-print)/, lua: /^-\w*e/, php: /^-\w*[rR]/ };
const SHELL_CODE_OPTION = /^-\w*c|^-(?:Command|EncodedCommand)/i;

/**
 * Whether a package manager's run passes through this process to what it starts: it runs as
 * root, as a package manager runs what its packages ship, and it is an installed program (from a
 * system location, which only root writes), or an interpreter running such a program's file
 * (`/bin/sh /var/lib/dpkg/info/nginx.postinst configure`). A shell given code on its command line
 * or none (a pager's `!sh`), a script from /tmp, a program from a home (`sudo PAGER=~/p apt-get
 * changelog`), a user's own process (`apt-get changelog`'s pager, `dpkg --force-not-root`, a pid
 * of a past run a user's fork took again) run what someone chose, not the packages (review13).
 */
export function carriesRun(exe: string, cmdline: string, ids: { uid?: string; euid?: string }): boolean {
  if (ids.uid !== '0' && ids.euid !== '0') return false;
  if (exeLocation(exe) !== 'system') return false;
  if (!isShell(exe)) return true;
  const script = scriptArgument(exe, cmdline);
  return script !== undefined && exeLocation(script) === 'system';
}

/**
 * The file an interpreter (isShell) runs, as its command line names it: the first word after
 * its options (`/bin/sh -e /var/lib/dpkg/info/x.postinst configure`, a shebang's option first);
 * undefined when an option gives code (`sh -c`, `perl -e`) or no word follows (an interactive
 * shell). The exe may be generalised (`python<n>`).
 */
export function scriptArgument(exe: string, cmdline: string): string | undefined {
  const program = baseName(exe).replace(/(<n>|[\d.])+$/, '') || baseName(exe);
  for (const word of cmdline.trim().split(/\s+/).slice(1)) {
    if (!word.startsWith('-')) return word;
    if (isCodeOption(program, word)) return undefined;
  }
  return undefined;
}

/** whether `word` is an option by which interpreter `program` (a base name, version dropped) takes code (`-c`, `-e`, `-r`) */
export function isCodeOption(program: string, word: string): boolean {
  return (CODE_OPTION[program] ?? SHELL_CODE_OPTION).test(word);
}

/**
 * Programs besides isShell's whose arguments are code: awk's programs (system(), gawk's
 * /inet/tcp sockets), a debugger's commands (`gdb -ex 'python …'`), Debian's name for node,
 * Tcl and expect scripts.
 */
const CODE_ARGUMENT_PROGRAMS = new Set(['awk', 'gawk', 'mawk', 'nawk', 'gdb', 'nodejs', 'tclsh', 'wish', 'expect']);

/**
 * Whether a command line's arguments are what it does rather than options of its program: a
 * shell's or an interpreter's (code), and the title of sshd's fork for an account (the
 * account a session is opened for; sshdAccount below reads it so too). The exe is generalised: a
 * version in its name is `<n>` (`python<n>`, `perl<n>.<n>`), dropped as isShell drops digits.
 */
export function argumentsAreBehaviour(exe: string, template: string): boolean {
  const name = baseName(exe);
  const program = name.replace(/(<n>|[\d.])+$/, '') || name;
  return isShell(program) || CODE_ARGUMENT_PROGRAMS.has(program) || (SSHD_BINARIES.has(name) && SSHD_USER.test(template));
}

/** an OS package manager (security.ts isPackageManager) by its installed path: a name (comm, argv[0]) or a copy in a home is anyone's */
function isInstalledPackageManager(exe: string): boolean {
  return exe !== 'unknown' && isPackageManager(exe) && exeLocation(exe) === 'system';
}

interface Login {
  time: number;
  session: string;
  /** the sshd fork (host:pid) that took it: one login is one session */
  fork?: string;
}

/** logins and sshd forks kept per account: sessions of one account opened within LOGIN_SLACK of each other */
const PER_ACCOUNT = 4;

interface InSession {
  session: string;
  /** the parent it ran under: a pid seen again with the same parent is the same process (an exec) */
  ppid: string;
}

/**
 * the account an sshd session process serves: `sshd: alice [priv]`, `sshd: alice@pts/0`,
 * `sshd: alice`; OpenSSH 9.8 and later run sessions in `sshd-session`, titled alike
 */
export const SSHD_USER = /^sshd(?:-session)?: ([^\s@[\]]+)/;
export const SSHD_BINARIES = new Set(['sshd', 'sshd-session']);

/**
 * The account sshd forked this process for, when it is sshd's own fork: the sshd binary, run
 * as root (the `[priv]` monitor). Any user sets their own process's command line (`exec -a
 * 'sshd: root [priv]' ...`, and audit records exactly that), but not its binary or its uid;
 * a name alone would let them take another account's login, or hide that account's real fork.
 */
export function sshdAccount(cmdline: string, path: string, uid: string | undefined): string | undefined {
  if (uid !== '0' || !SSHD_BINARIES.has(baseName(path))) return undefined;
  return SSHD_USER.exec(cmdline)?.[1];
}

export class ProcessTable {
  private readonly procs = new BoundedMap<Proc>(MAX_PIDS);
  /**
   * The session context (the class of the address its login came from) per host and pid, kept
   * apart from `procs`: the rest of a busy host's processes (a build, a user churning pids on
   * purpose) would push a session's shell, idle for an hour, out of that, and the next command
   * typed in the session would carry no context. Here only session processes take room, and a
   * process that passes its context on is kept among the newest.
   */
  private readonly sessions = new BoundedMap<InSession>(MAX_PIDS);
  /** executables seen listening on a port, per host */
  private readonly listeners = new Set<string>();
  /** the newest login records per host and account, and per host and the pid it names */
  private readonly loginsByUser = new BoundedMap<Login[]>(MAX_LOGINS);
  private readonly loginsByPid = new BoundedMap<Login>(MAX_LOGINS);
  /** the newest processes sshd forked for each account (`sshd: alice [priv]`), per host */
  private readonly sshdForks = new BoundedMap<string[]>(MAX_LOGINS);
  /**
   * The processes no login is behind (loginless) whose children's login uid is no login's
   * either, per host and pid: all but a privileged process with none of its own (sshd-session,
   * login, cron's fork run pam_loginuid as root), which need no room: they are root's jobs and
   * daemons, the bulk of a server's execs, and would push a service's child that wrote its own
   * login uid out of the bound within a busy day. Each with its parent pid: the same pid with
   * the same parent is the same process running another program (kept apart from `procs`,
   * which every process churns).
   */
  private readonly noLogin = new BoundedMap<string>(MAX_PIDS);
  /** per host, when root last ran a command to reboot it (boot.ts): the starts after it are the boot's */
  private readonly reboots = new BoundedMap<number>(MAX_LOGINS);
  /** per host, the programs seen running here (a process's, a socket's): a boot's start must be one of them */
  private readonly programs = new BoundedMap<true>(MAX_PIDS);

  learnProcess(
    host: string,
    pid: string | undefined,
    ppid: string | undefined,
    exe: string,
    time: number,
    session?: string,
    sshdUser?: string,
    ids: Record<string, string> = {},
  ): void {
    if (!pid || !exe) return;
    if (isRebootCommand(exe, ids.cmdline ?? '', ids)) this.reboots.set(host, time);
    this.learnProgram(host, exe);
    const key = `${host}:${pid}`;
    // (asked before the row is kept: an exec in place is judged by the program it replaces)
    if (this.loginless(host, pid, ppid ?? '', ids.auid) && !((ids.uid === '0' || ids.euid === '0') && withoutLogin(ids))) {
      this.noLogin.set(key, ppid ?? '');
    } else if (ids.auid) this.noLogin.delete(key);
    // (a row with no auid, a `processes` snapshot of the same process, says nothing: kept)
    // kept as an event's value is (memcap): 20,000 programs of a user's own long paths are not 20,000 paths of 1,024 characters
    this.procs.set(key, { exe: compactValue(exe), ppid: ppid ?? '', time, carriesRun: carriesRun(exe, ids.cmdline ?? '', ids) });
    if (session) {
      const up = `${host}:${ppid}`;
      const parent = ppid ? this.sessions.get(up) : undefined;
      if (parent?.session === session) this.sessions.set(up, parent);
      this.sessions.set(key, { session, ppid: ppid ?? '' });
    } else this.sessions.delete(key);
    if (sshdUser) {
      const account = `${host}:${sshdUser}`;
      this.sshdForks.set(account, [...(this.sshdForks.get(account) ?? []).filter((p) => p !== pid), pid].slice(-PER_ACCOUNT));
      const login = this.forkLogin(account, key, time);
      if (login && login.session === session) login.fork = key;
    }
  }

  /**
   * The login record an sshd fork of `account` (host:user) at `time` belongs to: the nearest
   * in time within LOGIN_SLACK that no other fork took. The newest alone would give a second
   * session of the account opened a minute after the first (its owner's key used from
   * elsewhere) the first one's origin, whenever wtmp is polled between the two.
   */
  private forkLogin(account: string, fork: string, time: number): Login | undefined {
    let best: Login | undefined;
    for (const l of this.loginsByUser.get(account) ?? []) {
      if ((l.fork && l.fork !== fork) || Math.abs(l.time - time) > LOGIN_SLACK) continue;
      if (!best || Math.abs(l.time - time) < Math.abs(best.time - time)) best = l;
    }
    return best;
  }

  /**
   * A login record (wtmp's `last`, `logged_in_users`): the session it opened is known by its
   * account and time and, as osquery reports it, by the pid of the session's process. osqueryd
   * polls wtmp on a schedule, so the record often arrives after the session's first processes:
   * the process it names, or else sshd's fork for the account at that moment, takes the context
   * now, and what the session runs from then on inherits it.
   */
  learnLogin(host: string, user: string, pid: string | undefined, time: number, session: string): void {
    if (!user) return;
    const account = `${host}:${user}`;
    // a login reported again (by both wtmp queries, or a snapshot query at every poll) is the
    // same login, taken by the same fork, not a second one for another fork to take
    const known = this.loginsByUser.get(account) ?? [];
    const again = known.find((l) => l.time === time && l.session === session);
    const login: Login = again ?? { time, session };
    if (!again) this.loginsByUser.set(account, [...known, login].slice(-PER_ACCOUNT));
    if (pid) this.loginsByPid.set(`${host}:${pid}`, login);
    const mark = (key: string, p: Proc) => this.sessions.set(key, { session, ppid: p.ppid });
    const named = pid ? this.procs.get(`${host}:${pid}`) : undefined;
    if (named && !this.sessions.has(`${host}:${pid}`) && Math.abs(time - named.time) <= LOGIN_SLACK) mark(`${host}:${pid}`, named);
    // sshd's fork for the account nearest that moment, in no session yet
    let fork: { key: string; p: Proc } | undefined;
    for (const f of this.sshdForks.get(account) ?? []) {
      const key = `${host}:${f}`;
      const p = this.procs.get(key);
      if (!p || this.sessions.has(key) || Math.abs(time - p.time) > LOGIN_SLACK) continue;
      if (!fork || Math.abs(time - p.time) < Math.abs(time - fork.p.time)) fork = { key, p };
    }
    if (fork && !login.fork) {
      mark(fork.key, fork.p);
      login.fork = fork.key;
    }
  }

  /**
   * The context of the login session a new process belongs to, or undefined when none is
   * known: an ancestor already in a session, a login record naming this pid, or, for the
   * process sshd forks for an account (`sshdUser`, see sshdAccount), that account's login
   * record of the same moment. Sessions with no login record (a cron job, a daemon) have none.
   */
  session(host: string, pid: string | undefined, ppid: string | undefined, sshdUser: string | undefined, time: number): string | undefined {
    const near = (l: Login | undefined) => (l && Math.abs(l.time - time) <= LOGIN_SLACK ? l.session : undefined);
    // the ancestor's first: where a session came from does not change inside it, and a user
    // can write a login record of their own (libutempter's helper takes any host) naming a
    // process they are about to start
    const inherited = this.sessionOfPid(host, ppid);
    if (inherited) return inherited;
    // the same process running another program (`exec bash`, or a snapshot table's row of it
    // again): audit has no row of sshd's user process, the shell's parent, so nothing above
    // the shell says where the session came from once its login record is minutes old
    const same = pid ? this.sessions.get(`${host}:${pid}`) : undefined;
    if (same && same.ppid === (ppid ?? '')) return same.session;
    const own = pid ? near(this.loginsByPid.get(`${host}:${pid}`)) : undefined;
    if (own) return own;
    return sshdUser && pid ? this.forkLogin(`${host}:${sshdUser}`, `${host}:${pid}`, time)?.session : undefined;
  }

  /**
   * Whether no login is behind a process, given its row's auid: the auid is unset (−1), or it
   * was written by a process no login was behind. Linux lets any process whose login uid is
   * unset write /proc/self/loginuid once, to any uid, with no privilege (audit_set_loginuid_perm):
   * a web shell under php-fpm that writes its own uid there looks logged in to every later row,
   * and with one forged login record (libutempter) its account had the person discount again.
   * So an auid set is a login's only when the process it comes from (the program this one
   * replaced in place, `ppid` the same, else its parent, `ppid` given; a socket's own process,
   * `ppid` undefined) is not known to have had no login, or is a privileged one with none of
   * its own (pam_loginuid runs as root in sshd-session, login, cron's fork). A set-uid program
   * an unprivileged writer started passes on what it was given. An auid absent or empty says
   * nothing, as does a process never seen (its start was before the rows, or not logged).
   */
  loginless(host: string, pid: string | undefined, ppid: string | undefined, auid: string | undefined): boolean {
    if (!auid) return false;
    if (withoutLogin({ auid })) return true;
    const mine = pid ? this.noLogin.get(`${host}:${pid}`) : undefined;
    if (mine !== undefined && (ppid === undefined || mine === ppid)) return true;
    return ppid ? this.noLogin.has(`${host}:${ppid}`) : false;
  }

  /**
   * The processes no login is behind whose children's is no login's either, for the state file,
   * oldest first, as `[host:pid, parent pid]`: process_events reports a process once, so after
   * a restart the children of a shell that wrote its own login uid were a login's.
   */
  noLoginState(): Array<[string, string]> {
    return [...this.noLogin];
  }

  loadNoLogin(list: ReadonlyArray<readonly [string, string]>): void {
    for (const [key, ppid] of list.slice(-MAX_PIDS)) this.noLogin.set(key, ppid);
  }

  /** the session context of a running process: its own, or its nearest ancestor's */
  sessionOfPid(host: string, pid: string | undefined): string | undefined {
    let at = pid;
    for (let depth = 0; at && depth < MAX_SESSION_DEPTH; depth++) {
      const key = `${host}:${at}`;
      const session = this.sessions.get(key)?.session;
      if (session) return session;
      const p = this.procs.get(key);
      if (!p || !p.ppid || p.ppid === at) break;
      at = p.ppid;
    }
    return undefined;
  }

  /**
   * The session contexts for the state file, oldest first, as `[host:pid, context, parent pid]`:
   * the extension restarts (osqueryd's restart, the scorer thread's after a row over budget)
   * in the middle of open sessions, and a session's login record is not read again.
   */
  sessionsState(): Array<[string, string, string]> {
    return [...this.sessions].map(([key, s]) => [key, s.session, s.ppid]);
  }

  /** characters of the programs it holds: the processes', the host's programs seen running and listening (each compacted as an event's value, memcap) */
  heldChars(): number {
    let n = 0;
    for (const p of this.procs.values()) n += p.exe.length;
    for (const key of this.programs.keys()) n += key.length;
    for (const key of this.listeners) n += key.length;
    return n;
  }

  /**
   * The processes known, for the state file, oldest first, as `[host:pid, exe, parent pid,
   * start time]`. Rows do not teach them again after a restart: process_events reports a
   * process once, when it starts, so every command typed in a shell opened before the restart
   * (a tmux session kept for weeks) had the parent `unknown`, a value its user's training never
   * had. At most MAX_PIDS, as in memory.
   */
  procsState(): Array<[string, string, string, number]> {
    return [...this.procs].map(([key, p]) => [key, p.exe, p.ppid, p.time]);
  }

  loadProcs(list: ReadonlyArray<readonly [string, string, string, number]>): void {
    for (const [key, exe, ppid, time] of list.slice(-MAX_PIDS)) this.procs.set(key, { exe: compactValue(exe), ppid, time, carriesRun: false });
  }

  /** the processes a package manager's run passes through (carriesRun), for the state file */
  runsState(): string[] {
    return [...this.procs].filter(([, p]) => p.carriesRun).map(([key]) => key);
  }

  /** (after loadProcs; a state saved before review13 has none: its processes carry no run, which only withholds a discount) */
  loadRuns(keys: ReadonlyArray<string>): void {
    for (const key of keys) {
      const p = this.procs.get(key);
      if (p) p.carriesRun = true;
    }
  }

  /**
   * The executables seen listening, for the state file (`host:exe`). As processes, a few
   * minutes of rows do not teach them again: listening_ports is a differential
   * query, and osqueryd keeps its last results across its own restarts, so sshd's port is
   * logged once, when it first listens. Without them, every shell under sshd after a restart
   * (or in `anomaly score` after `anomaly train`) had the ancestry `none` its training never
   * had, and scored bad.
   */
  rebootsState(): Array<[string, number]> {
    return [...this.reboots];
  }

  loadReboots(list: ReadonlyArray<readonly [string, number]>): void {
    for (const [host, time] of list.slice(-MAX_LOGINS)) this.reboots.set(host, time);
  }

  programsState(): string[] {
    return [...this.programs.keys()];
  }

  loadPrograms(list: ReadonlyArray<string>): void {
    for (const key of list.slice(-MAX_PIDS)) this.programs.set(compactKey(key), true);
  }

  listenersState(): string[] {
    return [...this.listeners];
  }

  loadListeners(list: ReadonlyArray<string>): void {
    for (const key of list.slice(-MAX_LISTENERS)) this.listeners.add(compactKey(key));
  }

  loadSessions(list: ReadonlyArray<readonly [string, string, string]>): void {
    for (const [key, session, ppid] of list.slice(-MAX_PIDS)) this.sessions.set(key, { session, ppid });
  }

  /**
   * Bounded by the first comers, which a flood of new ones cannot push out (evicted, a service
   * known for months could be made to forget by any user with 2,000 listeners). But any user
   * may listen with programs of their own, so past the bound a program from a system directory
   * (which only root can write) takes the place of the oldest of the host's that is not:
   * before, 2,000 programs a user started from ~ or /tmp (a listening_ports row each) left every
   * service started after them, for good, without the lineage of a shell under it (review12)
   */
  learnListener(host: string, exe: string): void {
    if (!exe || exe === 'unknown') return;
    const key = programKey(host, exe);
    if (this.listeners.has(key)) return;
    if (this.listeners.size >= MAX_LISTENERS) {
      if (exeLocation(exe) !== 'system') return;
      let userPlaced: string | undefined;
      for (const k of this.listeners)
        if (k.startsWith(`${host}:`) && exeLocation(k.slice(host.length + 1)) !== 'system') {
          userPlaced = k;
          break;
        }
      if (userPlaced === undefined) return;
      this.listeners.delete(userPlaced);
    }
    this.listeners.add(key);
  }

  /** a program seen running on the host: a process's executable, a socket's */
  learnProgram(host: string, exe: string): void {
    if (exe && exe !== 'unknown') this.programs.set(programKey(host, exe), true);
  }

  /**
   * Whether a process the service manager started is a start of the boot after root's reboot
   * command, of a program seen running on the host before (boot.ts). Asked before the row's own
   * process is learnt.
   */
  bootStart(host: string, ppid: string | undefined, path: string, exe: string, time: number, auid: string | undefined): boolean {
    return this.programs.has(programKey(host, exe)) && isBootStart(ppid, path, time, this.reboots.get(host), auid);
  }

  exeOf(host: string, pid: string | undefined): string | undefined {
    return pid ? this.procs.get(`${host}:${pid}`)?.exe : undefined;
  }

  /**
   * Whether a process runs below an OS package manager (security.ts isPackageManager): its
   * parent or an ancestor within MAX_DEPTH is one. The manager itself, started by a person or a
   * timer, is not: that is where the run is judged. The direct parent may come from the row.
   * The manager is known by its installed path, and the run passes only through processes that
   * carry it (carriesRun): a user cannot bring their own processes into it (review13).
   */
  inPackageRun(host: string, ppid: string | undefined, parentExe: string, ids: { uid?: string; euid?: string }, time: number): boolean {
    // the process itself runs as root; what it runs is weighed by the model (rarity packagesDoing)
    if (ids.uid !== '0' && ids.euid !== '0') return false;
    let exe = parentExe;
    let pid = ppid;
    for (let depth = 0; depth < MAX_DEPTH; depth++) {
      const p = pid ? this.procs.get(`${host}:${pid}`) : undefined;
      if (isInstalledPackageManager(exe)) return p === undefined || (p.carriesRun && time - p.time <= MAX_RUN_SECONDS);
      // every process between it and the manager passes the run on (carriesRun)
      if (!p || !p.carriesRun || !p.ppid || p.ppid === pid) break;
      pid = p.ppid;
      exe = this.procs.get(`${host}:${pid}`)?.exe ?? '';
    }
    return false;
  }

  /**
   * The nearest ancestor that faces the network: `service:<name>` (it listens on a port),
   * `downloader:<name>`, or `none`. The direct parent may come from the row itself.
   */
  lineage(host: string, ppid: string | undefined, parentExe: string): string {
    let exe = parentExe;
    let pid = ppid;
    for (let depth = 0; depth < MAX_DEPTH; depth++) {
      if (exe && exe !== 'unknown') {
        if (this.listeners.has(programKey(host, exe))) return `service:${baseName(exe)}`;
        if (isDownloader(exe)) return `downloader:${baseName(exe)}`;
      }
      const p = pid ? this.procs.get(`${host}:${pid}`) : undefined;
      if (!p || !p.ppid || p.ppid === pid) break;
      pid = p.ppid;
      exe = this.procs.get(`${host}:${pid}`)?.exe ?? '';
    }
    return 'none';
  }
}

/**
 * A host's program as the programs seen running and the listeners know it: its path compacted
 * as an event's value is (memcap), as the process table's own programs are, so that an
 * ancestor's program read from there finds its listener. Kept whole, a local user's 20,000
 * programs of 900-character names held 15 MB of the scorer's heap (heapmem).
 */
function programKey(host: string, exe: string): string {
  return `${host}:${compactValue(exe)}`;
}

/** a `host:exe` key of a state saved before heapmem, as programKey makes it now */
function compactKey(key: string): string {
  const colon = key.indexOf(':');
  return colon < 0 ? compactValue(key) : programKey(key.slice(0, colon), key.slice(colon + 1));
}
