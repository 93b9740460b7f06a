import type { QueryOverride } from '../../conf/config';
import type { ResultRow } from '../types';

// Who a row belongs to. The login user (auid) is preferred over uid/euid because it
// survives sudo and su: a root shell opened by alice is still alice's behaviour.

/**
 * uid → username. The manager's `SELECT uid, username FROM users` is authoritative; rows that
 * carry both a uid and a username (shell_history, user_ssh_keys, …) fill the gaps, so that
 * results read offline, with no manager to ask, still put alice's uid-only rows under alice.
 */
export class UidMap {
  private names = new Map<string, string>();
  /**
   * uid → name learnt from rows, per host (`uid\u0000host`): a fleet's log read offline holds
   * every host's users, and uid 1001 is one person on one machine and another elsewhere. An
   * entry without a host (a file of an earlier build, or the manager's table saved) stands in
   * for every host.
   */
  private learned = new Map<string, string>();
  /** name → uid of the manager's table and of the rows (per host, as `learned`), for uidOf */
  private uidsByName = new Map<string, string>();
  private learnedUidsByName = new Map<string, string>();

  update(rows: ReadonlyArray<{ uid: string; username: string }>): void {
    const next = new Map<string, string>();
    for (const r of rows) if (r && r.uid !== undefined && r.username) next.set(String(r.uid), r.username);
    if (!next.has('0')) next.set('0', 'root');
    this.names = next;
    this.uidsByName = new Map([...next].map(([uid, name]) => [name, uid]));
  }

  learn(uid: string, username: string, host: string): void {
    const key = onHost(uid, host);
    const was = this.learned.get(key);
    if (was === username || (was === undefined && this.learned.size >= 100_000)) return;
    this.learned.set(key, username);
    // the uid's name before names it no more: kept, a pack's query giving one uid a new name
    // at every row grew this map by a row each, for as long as the process ran (rootsafe)
    if (was !== undefined && this.learnedUidsByName.get(onHost(was, host)) === uid) this.learnedUidsByName.delete(onHost(was, host));
    this.learnedUidsByName.set(onHost(username, host), uid);
  }

  name(uid: string, host: string): string {
    return this.names.get(uid) ?? this.learned.get(onHost(uid, host)) ?? this.learned.get(uid) ?? (uid === '0' ? 'root' : `uid:${uid}`);
  }

  /** the uid this name stands for on `host`: the manager's users table's, else one rows named */
  uidOf(name: string, host: string): string | undefined {
    const uid = this.uidsByName.get(name) ?? this.learnedUidsByName.get(onHost(name, host)) ?? this.learnedUidsByName.get(name);
    // a name the table gives another uid now is not this one's
    return uid !== undefined && this.name(uid, host) === name ? uid : undefined;
  }

  toState(): Array<[string, string]> {
    return [...new Map([...this.learned, ...this.names])];
  }

  /** names from an earlier run stand in until the manager answers */
  load(state: Array<[string, string]>): void {
    this.learned = new Map(state);
    this.learnedUidsByName = new Map(
      state.map(([key, name]) => {
        const at = key.indexOf('\u0000');
        return at < 0 ? [name, key] : [onHost(name, key.slice(at + 1)), key.slice(0, at)];
      }),
    );
  }
}

/** a uid (or a name) on one host, as UidMap keys what rows taught it */
function onHost(id: string, host: string): string {
  return `${id}\u0000${host}`;
}

/** auid 4294967295 (−1) means "no login user" (daemons, early boot) */
const UNSET_IDS = new Set(['', '-1', '4294967295']);
const NOT_USERS = new Set(['', 'LOGIN', '(unknown)', 'reboot', 'shutdown', 'runlevel']);

const NAME_COLUMNS = ['username', 'user'];
const ID_COLUMNS = ['auid', 'uid', 'euid'];

/**
 * Learn uid → name from a row that carries both: a `users` snapshot row, shell_history,
 * user_ssh_keys. Offline there is no manager to ask, so `anomaly train` reads the logs once
 * for these before scoring, and a person's uid-only rows join their named ones.
 */
export function learnIdentity(row: ResultRow, users: UidMap): void {
  const c = row.columns;
  if (c.uid !== undefined && c.username && /^\d+$/.test(c.uid) && !NOT_USERS.has(c.username)) users.learn(c.uid, c.username, row.host);
}

/**
 * `noLogin`: no login is behind the row's process although its auid is set (a process no login
 * was behind wrote it, ProcessTable.loginless): the auid names whoever the writer chose, so it
 * names nobody, as an unset one.
 */
export function resolveSubject(row: ResultRow, users: UidMap, override?: QueryOverride, noLogin = false): string {
  const c = row.columns;
  learnIdentity(row, users);
  if (override?.subject) {
    if (override.subject === 'host') return 'host';
    const v = c[override.subject] ?? row.decorations[override.subject];
    if (v !== undefined) return /^\d+$/.test(v) ? users.name(v, row.host) : NOT_USERS.has(v) ? 'host' : v;
  }
  // auid first: the login identity, kept across sudo
  const auid = c.auid;
  if (auid !== undefined && !UNSET_IDS.has(auid) && !noLogin) return users.name(auid, row.host);
  for (const k of NAME_COLUMNS) {
    const v = c[k];
    if (v !== undefined && !NOT_USERS.has(v)) return v;
  }
  for (const k of ID_COLUMNS) {
    if (k === 'auid' && noLogin) continue;
    const v = c[k];
    if (v !== undefined && !UNSET_IDS.has(v) && /^\d+$/.test(v)) return users.name(v, row.host);
  }
  for (const k of NAME_COLUMNS) {
    const v = row.decorations[k];
    if (v !== undefined && !NOT_USERS.has(v)) return v;
  }
  return 'host';
}
