import { quoted } from './quoted';
import { BAD_BELOW, scoreFromP, verdictOf } from './calibration';
import { sshdAccount } from './features/lineage';
import { ownCopy } from './features/compact-value';
import { withoutLogin } from './features/security';
import type { Verdict } from './types';

// Suspicion carried down a process chain. A row's score weighs what that row shows against
// its subject's history, alone: a malicious package installed from a download (`sudo dpkg -i
// ~/Downloads/x.deb`, a path where the person never pointed a package manager) is one unusual
// row, its `dpkg`, its maintainer script's `sh`, the script's `curl` and the connection to an
// address never seen are each another, and for a person who often brings something new each
// sits at the edge of what that person's history calls usual (p ~ 0.002-0.01), none below
// the alert line. Together they are not at the edge: a process that is itself unusual, started
// by a process that was unusual, is two pieces of evidence about one chain of events.
//
// So when a process's row is unusual (score below SUSPECT_BELOW, p < 0.01) and its parent's
// row was too, or the parent inherited such a row's suspicion, the row's p-value is combined
// with the strongest of its ancestors' (Fisher's method for two p-values, p = q(1 - ln q),
// q = p1 p2); a row of that process (its connection, its listening port) is combined with
// the process's own. Suspicion passes only through processes that are themselves unusual: a
// login shell that scores as usual ends it, so a new account's first session (whose sshd
// fork is new because the account is) does not make every command of the account an alert,
// and neither does a routine parent. A row at or above SUSPECT_BELOW is not changed when its
// parent was only unusual: it shows nothing unusual of its own.
//
// What a process that is an alert on its own runs is the exception. A wrapper planted first in
// everyone's PATH (a program no one ran there, its row far below the alert line) runs the real
// program, `base64` and `curl`: each is the person's routine tool, usual alone (0.60-0.77), and
// each is what the alert did. So a process whose own row is an alert (p below BAD_BELOW's,
// ALERT_P) passes the chain's suspicion to every process it starts and their connections, usual
// or not; a usual one among them carries it no further (its own children are judged as under
// any usual parent). The parent's own row must be the alert, not a combination: two processes
// at the edge of usual pass nothing to a routine child. sshd's fork for a login is not such a
// parent: it is the login, and the login shell under it shows the same account, origin and
// hour (a new account's first login is an alert; its usual shell is not made one by it).
// Measured in docs/evaluation.md (branch `chain2`): on the fifth held-out set 15 / 20 / 27 attack
// rows more below 0.3 (the wrapper's children, a planted extension's `hostname` and
// `nvidia-smi`), no normal row more below 0.3 on any set.
//
// The steps of a package manager's run (package-run.ts: what the packages ship, run by dpkg,
// apt or rpm) are neither: dpkg starting dpkg-deb and a postinst starting run-parts and depmod
// are the packages' structure, and a first kernel or release upgrade's dozens of new steps are
// one change, so they end a chain as a usual process does (the run's own start, any shell given
// code in it and every row that leaves it are judged as any row). Measured on the fourth
// held-out set, written without this mechanism: with only the unattended runs' steps ending a
// chain, a person's release upgrade doubled its false alarms on one seed (32 to 64 rows).
//
// What it concedes and what it cannot do: it only ever lowers a score, so no row caught
// without it is missed with it; an attacker who puts a process that scores as usual between
// two unusual ones (a routine shell) cuts the chain there, and is judged row by row as before.
// The record is kept per host and pid (a pid's next exec row replaces it), bounded and not
// saved: after a restart a chain starts afresh. It is forgotten a day after the process's last
// row, not its exec: the fifth held-out set's post-link stage calls back every three hours for
// two days, and its calls after the first 24 hours were judged alone (0.31-0.49, missed).
// A stage that is quiet for a day and then calls again is judged alone.

/** a row below this score (p < 0.01) is unusual enough to carry or take a chain's suspicion */
export const SUSPECT_BELOW = 0.5;
/** a process whose own row is below this p (an alert alone, BAD_BELOW) passes the chain to every row it starts */
const ALERT_P = pOf(BAD_BELOW);
/** processes remembered at most (the oldest go first) */
const MAX_PROCESSES = 20_000;
/** how long a process's suspicion is remembered after its last row, seconds */
const MAX_AGE = 24 * 3600;
/** characters of an event kept for the reasons (a user writes their command lines) */
const MAX_EVENT = 200;

interface Unusual {
  p: number;
  /** the event of the row that p belongs to, for the reasons */
  event: string;
}

interface Suspect extends Unusual {
  /** the strongest (smallest) of the process's own row's p and its unusual ancestors' */
  p: number;
  /** when the process last showed a row (its exec or a later one): the record's age counts from it */
  time: number;
  /** the strongest of its unusual ancestors' alone, without its own row */
  ancestors?: Unusual;
  /** the p of the process's own row alone */
  own: number;
  /** the process's own row was unusual: its children may take the chain's suspicion */
  carries: boolean;
  /** its parent's own row was an alert: every row of it takes the chain's suspicion */
  underAlert: boolean;
  /** sshd's fork for an account's login: what it starts is the session the login opened */
  login: boolean;
  /** whose the process is (whoOf): an alert passes only to processes of the same login */
  who: string;
}

/**
 * Whose a process is: its login uid when a login is behind it, else its uid. An alerting
 * process's record is kept by host and pid for hours, and a pid is reused: another user's
 * fork without exec (a subshell) logs no row that would clear it, so without this the
 * children of another account's reused pid took an alert they had no part in (review: 609 of
 * 1,000 of a victim's routine rows made bad by one user's alerting execs).
 */
function whoOf(c: Record<string, string>): string {
  const auid = c.auid;
  if (auid !== undefined && auid !== '' && !withoutLogin(c)) return `a${auid.slice(0, 12)}`;
  return `u${(c.uid ?? '').slice(0, 12)}`;
}

export interface ChainRow {
  host: string;
  time: number;
  columns: Record<string, string>;
  /** the row's event kind: `process` rows start a process, others (`socket`) belong to one */
  kind: string | undefined;
  event: string;
  score: number | null;
  /** the model that decided the row's score (`rarity`, `host:rarity`, `ocsvm` …) */
  model: string;
  /**
   * the row is a step of a package manager's run, the packages' doing (package-run.ts): dpkg
   * starting dpkg-deb and a postinst starting run-parts and depmod are the packages' structure,
   * so a first kernel or release upgrade's dozens of new steps are one change, not a chain of
   * independent evidence
   */
  packagesDoing: boolean;
}

export interface ChainVerdict {
  score: number;
  verdict: Verdict;
  /** what to add to the row's reasons */
  reason: string;
}

/** the p-value a calibrated score stands for (scoreFromP's inverse) */
export function pOf(score: number): number {
  return Math.pow(10, 4 * (score - 1));
}

/**
 * The verdict of a row whose evidence, combined with other rows', is p: undefined when that is
 * no lower than the row's own score; `why` says which rows were combined.
 */
export function lowered(score: number, p: number, why: string): ChainVerdict | undefined {
  const s = scoreFromP(p);
  if (s >= score) return undefined;
  const v = verdictOf(s);
  return {
    score: s,
    verdict: v,
    reason: `${why}; together p ${p.toPrecision(2)}${v === 'bad' && score >= BAD_BELOW ? ', an alert where the row alone was not' : ''}`,
  };
}

/** Fisher's combination of independent p-values: chi-square with 2k degrees of freedom */
export function fisher(ps: readonly number[]): number {
  if (ps.length === 0) return 1;
  const x = -2 * ps.reduce((a, p) => a + Math.log(Math.max(p, 1e-300)), 0);
  const m = x / 2;
  let term = Math.exp(-m);
  let sum = term;
  for (let i = 1; i < ps.length; i++) {
    term *= m / i;
    sum += term;
  }
  return Math.min(1, sum);
}

/** a process id as osquery's tables give it */
export const PID = /^[0-9]{1,10}$/;

/**
 * Whether a row's score is evidence of that row alone: rarity weighs the row's own values. The
 * SVM's vector holds the events before it in the subject's stream, so a daemon's routine fork
 * right after an odd event (root's cron after an interactive root session) is outside its
 * shape for the same reason as its parent was: two rows, one piece of evidence.
 */
export function ofItsOwn(model: string): boolean {
  return model === 'rarity' || model.endsWith(':rarity');
}

export class ChainSuspicion {
  private readonly procs = new Map<string, Suspect>();

  /**
   * Record the row and return its combined verdict when a chain's suspicion changes it,
   * undefined otherwise. Call in row order, once per scored row.
   */
  judge(row: ChainRow): ChainVerdict | undefined {
    const pid = row.columns.pid;
    if (row.score === null || pid === undefined || !PID.test(pid)) return undefined;
    const own = pOf(row.score);
    const weighed = ofItsOwn(row.model) && !row.packagesDoing;
    const unusual = row.score < SUSPECT_BELOW && weighed;
    if (row.kind === 'process') {
      const parent = row.columns.parent;
      const recorded = parent !== undefined && PID.test(parent) ? this.get(row.host, parent, row.time) : undefined;
      const above = recorded?.carries ? recorded : undefined;
      const key = `${row.host}\u0000${pid}`;
      this.procs.delete(key);
      // sshd's fork for a login is the login itself: a login shell's row shows the same account,
      // origin and hour as the fork it is under, so an unusual login passes on no more than before
      const who = whoOf(row.columns);
      const underAlert = above !== undefined && above.own < ALERT_P && !above.login && above.who === who;
      if (!unusual && !(weighed && underAlert)) return undefined;
      const strongest = above && above.p < own ? above : { p: own, event: ownCopy(row.event.slice(0, MAX_EVENT)) };
      this.remember(key, {
        p: strongest.p,
        event: strongest.event,
        time: row.time,
        ancestors: above && { p: above.p, event: above.event },
        own,
        carries: unusual,
        underAlert,
        login: sshdAccount(row.columns.cmdline ?? '', row.columns.path ?? '', row.columns.uid) !== undefined,
        who,
      });
      return above ? this.combined(row.score, above, underAlert ? 'a process started by an alerting' : 'a process started by an unusual') : undefined;
    }
    // another row of a process (its connection, its port) shows the process's own program and
    // account again: it is combined with the process's unusual ancestors, not with its own
    // exec row (a new daemon's first listening port is one new program, not two)
    const alive = this.stillRunning(row);
    const record = weighed ? alive : undefined;
    if (!record?.ancestors || !(unusual || record.underAlert)) return undefined;
    return this.combined(row.score, record.ancestors, record.underAlert ? 'of a process started by an alerting' : 'of a process started by an unusual');
  }

  private combined(score: number, above: Unusual, how: string): ChainVerdict | undefined {
    const p = fisher([pOf(score), above.p]);
    return lowered(score, p, `suspicion carried down a process chain: ${how} process (${quoted(above.event)}, p ${above.p.toPrecision(2)})`);
  }

  /**
   * The record of the process a row that is not an exec belongs to, its age counted from this
   * row: a process that still acts is still the one its exec row started (its pid is no one
   * else's while it runs), so a stage that calls back every few hours for days keeps its chain
   * for as long as it keeps calling, not for a day after it started. A row whose login is not
   * the record's (both rows name one) is another process that reused the pid: it takes nothing
   * from the record and keeps nothing alive. Rows are judged as they arrive, not in time order:
   * the age counts from the latest row's time.
   */
  private stillRunning(row: ChainRow): Suspect | undefined {
    const s = this.get(row.host, row.columns.pid, row.time);
    if (!s) return undefined;
    const auid = row.columns.auid;
    if (s.who.startsWith('a') && auid !== undefined && auid !== '' && !withoutLogin(row.columns) && s.who !== `a${auid.slice(0, 12)}`) return undefined;
    const key = `${row.host}\u0000${row.columns.pid}`;
    // a row logged late (osqueryd sends each query's rows at its own interval) is no later sign of life
    if (row.time > s.time) s.time = row.time;
    this.procs.delete(key);
    this.procs.set(key, s);
    return s;
  }

  private get(host: string, pid: string, time: number): Suspect | undefined {
    const s = this.procs.get(`${host}\u0000${pid}`);
    return s && time - s.time <= MAX_AGE ? s : undefined;
  }

  private remember(key: string, s: Suspect): void {
    if (this.procs.size >= MAX_PROCESSES) this.procs.delete(this.procs.keys().next().value as string);
    this.procs.set(key, s);
  }
}
