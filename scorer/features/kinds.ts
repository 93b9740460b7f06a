import { AT_BOOT, IN_PACKAGE_RUN, type ResultRow } from '../types';
import { argumentForms } from './argform';
import { currentMarks } from './compact-value';
import { addressClass, generaliseExe, generalisePath, hourOf, ipVersion, loginOrigin, portClass, ttyClass, VOLATILE } from './generalise';
import { sshdAccount } from './lineage';
import { exeLocation, fileLocation, isShell, networkClass, privilegeTransition } from './security';

// One unit per kind of event: each reads its row's columns, adds the generalised values and
// pairs the models see, and returns the event key. What a unit needs from history (the
// template of a command line, a pid's executable, a shell's lineage) it asks the Lookup,
// which the extractor backs with learning or with read-only state.

export type QueryKind = 'process' | 'socket' | 'listen' | 'login' | 'shell' | 'file' | 'other';

export interface Lookup {
  /** executable plus the mined template of the arguments, e.g. `tar czf <*> <*>` */
  template(cmdline: string, exe: string): string;
  /** the parent's executable, from the row or from earlier rows of that pid */
  parentOf(row: ResultRow): string;
  exeOfPid(host: string, pid: string | undefined): string | undefined;
  lineage(host: string, ppid: string | undefined, parentExe: string): string;
  /** whether a process below this parent runs in an OS package manager's run (ProcessTable.inPackageRun) */
  packageRun(host: string, ppid: string | undefined, parentExe: string, ids: { uid?: string; euid?: string }, time: number): boolean;
  /** whether a process the service manager started is a start of the boot after root's reboot command (ProcessTable.bootStart) */
  bootStart(host: string, ppid: string | undefined, path: string, exe: string, time: number, auid: string | undefined): boolean;
  /** the class of address the login session of a new process came from, when known */
  /** `sshdUser`: the account sshd forked this process for, when it is sshd's own fork (sshdAccount) */
  session(host: string, pid: string | undefined, ppid: string | undefined, sshdUser: string | undefined, time: number): string | undefined;
  /** the session context of a running process (a socket's), when known */
  sessionOfPid(host: string, pid: string | undefined): string | undefined;
  /** learning path only: what this row tells about the host's processes */
  noteProcess(
    host: string,
    pid: string | undefined,
    ppid: string | undefined,
    exe: string,
    time: number,
    session: string | undefined,
    sshdUser: string | undefined,
    /** the row's auid, uid and euid: whether no login is behind it (ProcessTable.loginless) */
    ids: Record<string, string>,
  ): void;
  noteListener(host: string, exe: string): void;
  /** learning path only: a program seen running on the host (a socket's) */
  noteProgram(host: string, exe: string): void;
  noteLogin(host: string, user: string, pid: string | undefined, time: number, session: string): void;
}

/** when the row's event happened: its own `time` column (event tables, wtmp), else when it was logged */
function eventTime(row: ResultRow): number {
  const t = Number(row.columns.time);
  return row.columns.time && Number.isFinite(t) && t > 0 ? t : row.time;
}

export interface EventBuilder {
  value(field: string, value: string): void;
  pair(a: string, x: string, b: string, y: string): void;
  text: string;
}

type Unit = (row: ResultRow, b: EventBuilder, look: Lookup) => string;

function exeOf(row: ResultRow, look: Lookup): string {
  const c = row.columns;
  return generaliseExe(c.path ?? '', c.name ?? '') || look.exeOfPid(row.host, c.pid) || 'unknown';
}

const process: Unit = (row, b, look) => {
  const c = row.columns;
  const exe = generaliseExe(c.path ?? '', c.name ?? '');
  const time = eventTime(row);
  const sshdUser = sshdAccount(c.cmdline ?? '', c.path || c.name || '', c.uid);
  const session = look.session(row.host, c.pid, c.parent, sshdUser, time);
  // asked before the row is learnt: a boot's start is of a program seen running here before it
  const boot = look.bootStart(row.host, c.parent, c.path ?? '', exe, time, c.auid);
  look.noteProcess(row.host, c.pid, c.parent, exe, time, session, sshdUser, c);
  const parent = look.parentOf(row);
  const cmd = look.template(c.cmdline ?? '', exe);
  b.text = c.cmdline ?? '';
  b.value('exe', exe);
  b.value('parent', parent);
  b.value('cmd', cmd);
  if (c.cwd) b.value('cwd', generalisePath(c.cwd));
  const loc = exeLocation(c.path ?? '');
  b.value('exeloc', loc);
  b.value('priv', privilegeTransition(c));
  if (isShell(exe)) b.value('lineage', look.lineage(row.host, c.parent, parent));
  // where the login this process runs under came from: the rows of a session opened from the
  // internet carry it, not only the login record (an attacker's SSH session looks like its
  // owner's otherwise: the same sshd fork, the same login shell)
  if (session) b.value('session', session);
  b.pair('parent', parent, 'exe', exe);
  b.pair('exe', exe, 'cmd', cmd);
  argumentPlaces(c.cmdline ?? '', exe, b);
  commandForms(c.cmdline ?? '', exe, b);
  b.pair('parent', parent, 'exeloc', loc);
  // a condition, not a value (types.ts IN_PACKAGE_RUN): `run=package-manager`
  if (look.packageRun(row.host, c.parent, parent, c, time)) b.value('run', IN_PACKAGE_RUN.slice(4));
  // a condition too (types.ts AT_BOOT): `boot=after-reboot`
  if (boot) b.value('boot', AT_BOOT.slice(5));
  if (c.euid !== undefined && c.uid !== undefined && c.euid !== c.uid) b.pair('exe', exe, 'euid', c.euid === '0' ? 'root' : 'other');
  return `exec ${exe} <- ${parent}`;
};

const socket: Unit = (row, b, look) => {
  const c = row.columns;
  const exe = exeOf(row, look);
  look.noteProgram(row.host, exe);
  const raddr = addressClass(c.remote_address ?? '');
  // a row with no action column (process_open_sockets) and no peer is a bound socket
  const action = (c.action || (raddr === 'none' ? 'bind' : 'connect')).toLowerCase();
  const net = networkClass(c.remote_address ?? '');
  const rport = portClass(c.remote_port ?? '');
  const lport = portClass(c.local_port ?? '');
  b.value('exe', exe);
  b.value('action', action);
  b.value('raddr', raddr);
  b.value('net', net);
  b.value('rport', rport);
  const session = look.sessionOfPid(row.host, c.pid);
  if (session) b.value('session', session);
  if (action !== 'connect') b.value('lport', lport);
  if (action === 'bind' || action === 'listen') look.noteListener(row.host, exe);
  b.pair('exe', exe, 'rport', rport);
  b.pair('exe', exe, 'raddr', raddr);
  b.pair('exe', exe, 'net', net);
  b.pair('net', net, 'rport', rport);
  return action === 'connect' ? `connect ${exe} -> ${raddr}:${rport}` : `${action} ${exe} :${lport}`;
};

const listen: Unit = (row, b, look) => {
  const c = row.columns;
  const exe = exeOf(row, look);
  look.noteProgram(row.host, exe);
  const port = portClass(c.port ?? '');
  const proto = c.protocol === '17' ? 'udp' : c.protocol === '6' ? 'tcp' : c.protocol || '';
  const exposure = networkClass(c.address ?? '');
  look.noteListener(row.host, exe);
  b.value('exe', exe);
  b.value('lport', port);
  b.value('laddr', addressClass(c.address ?? ''));
  b.value('exposure', exposure);
  b.pair('exe', exe, 'lport', port);
  b.pair('exposure', exposure, 'lport', port);
  return `listen ${exe} :${port}/${proto}`;
};

const login: Unit = (row, b, look) => {
  const c = row.columns;
  const tty = ttyClass(c.tty ?? '');
  const from = loginOrigin(c.host ?? '');
  const src = from ? addressClass(from) : 'local';
  const type = c.type_name || c.type || '';
  const net = from ? networkClass(from) : 'local';
  // only a user's login opens a session: not a logout (wtmp's dead-process), a boot record,
  // or a snapshot row going away
  if (row.action !== 'removed' && (!type || /^(?:7|user|user-process)$/.test(type)))
    look.noteLogin(row.host, c.username ?? c.user ?? '', c.pid, eventTime(row), net);
  b.value('tty', tty);
  b.value('src', src);
  b.value('net', net);
  if (type) b.value('type', type);
  b.pair('src', src, 'hour', hourOf(row.time));
  return `login ${tty} from ${src}`;
};

const shell: Unit = (row, b, look) => {
  const command = row.columns.command ?? '';
  const first = command.trim().split(/\s+/)[0] ?? '';
  const cmd = look.template(command, first);
  b.text = command;
  b.value('exe', first);
  b.value('cmd', cmd);
  // a command run by path says where its program lives
  if (first.includes('/')) b.value('exeloc', exeLocation(first));
  b.pair('exe', first, 'cmd', cmd);
  argumentPlaces(command, first, b);
  commandForms(command, first, b);
  return `shell ${cmd}`;
};

/**
 * Where the paths a command line names live, by what the place is for (as a changed file's
 * `pathloc`): `argloc=accounts` for `less /etc/shadow`, `temp-hidden` for `make -f
 * /tmp/.x/Makefile`. The template keeps an argument's text, which a new argument under a
 * template the subject generalised (`vim <*>`) loses, and a new path is one more value of a
 * field where new values are common: a known program pointed at the accounts or what starts
 * programs scored ugly (0.57 to 0.68) for a person who often runs something new. As a class,
 * the first such place in a subject's commands is a new kind of behaviour. The first 24
 * tokens, as the template; `--file=/etc/shadow` names its path after the `=`.
 */
function argumentPlaces(cmdline: string, exe: string, b: EventBuilder): void {
  const seen = new Set<string>();
  for (const p of pathArguments(cmdline)) {
    const place = fileLocation(p);
    if (seen.has(place)) continue;
    seen.add(place);
    b.value('argloc', place);
    b.pair('exe', exe, 'argloc', place);
  }
}

/**
 * The form of a command line (argform.ts): `argform=inline-code` for `python3 -c …`, `encoded`,
 * `pipe-shell`. As `argloc`, a class: the first such form in a subject's commands is a new
 * kind of behaviour, whatever program brought it.
 */
function commandForms(cmdline: string, exe: string, b: EventBuilder): void {
  for (const form of argumentForms(cmdline)) {
    b.value('argform', form);
    b.pair('exe', exe, 'argform', form);
  }
}

/**
 * The paths a command line names in its first 24 tokens (its program's aside): a token that
 * is one, or an option's value that is one (`--file=/etc/shadow`). Also what tells the rarity
 * model an event extracted before `argloc` existed (rarity.ts CARRIED_WITH).
 */
export function pathArguments(cmdline: string): string[] {
  const out: string[] = [];
  for (const t of cmdline.trim().split(/\s+/).slice(1, 24)) {
    // a path, or an option's value that is one; 0 when neither
    const at = t.startsWith('/') ? 0 : t.indexOf('=/') + 1;
    if (at === 0 && !t.startsWith('/')) continue;
    out.push(t.slice(at).replace(/['"]$/, ''));
  }
  return out;
}

const file: Unit = (row, b) => {
  const c = row.columns;
  const raw = c.target_path ?? c.path ?? '';
  const path = generalisePath(raw);
  const action = c.action ?? '';
  b.value('path', path);
  b.value('action', action);
  b.pair('action', action, 'path', path);
  // what the place is for (security.ts): the first change to a kind of place the host's
  // routine never changes (its accounts, SSH keys, what starts programs) is a new kind of
  // event, where a new path alone is one more file among those that come and go
  const loc = fileLocation(raw);
  b.value('pathloc', loc);
  b.pair('action', action, 'pathloc', loc);
  return `file ${action} ${path}`;
};

/**
 * Field names the scorer gives meaning to: the time hints, the acting account of a pooled
 * baseline (`who`), where a login session came from (`session`, like `who` kept out of the
 * SVM), the event's kind and query, the sequence tokens, and the package manager's run (`run`,
 * a condition on how values are weighed: types.ts IN_PACKAGE_RUN). A column of a
 * query nobody here wrote may carry one of these names (`SELECT user AS who ...`); read as
 * it is, its value would pass for an actor or an hour.
 */
const RESERVED_FIELD = /^(?:kind|hour|day|how|query|removed|who|session|run|next\d)$/;

const other: Unit = (row, b) => {
  const c = row.columns;
  const parts: string[] = [];
  for (const k of Object.keys(c).sort()) {
    if (VOLATILE.has(k) || parts.length >= 6) continue;
    const val = generaliseValue(c[k]);
    if (!val) continue;
    const field = RESERVED_FIELD.test(k) ? `column_${k}` : k;
    b.value(field, val);
    parts.push(`${field}=${val}`);
  }
  return `${shortQuery(row.query)} ${parts.join(' ')}`;
};

export const UNITS: Record<QueryKind, Unit> = { process, socket, listen, login, shell, file, other };

/**
 * A saved `query=` feature token as this build spells it. The build before branch `newcomer3`
 * kept Fleet's names whole (`query=pack/Global/process_events`): read as saved, a subject's
 * counts and training events named a query that no row names any more, and every row after
 * the upgrade was a query never seen (bad, and as bad rows are not learned, for good).
 */
export function currentQueryToken(token: string): string {
  // Fleet's prefix only: osquery's default `pack_<pack>_` was stripped by every build, and
  // stripped again from a saved value (the query `pack_audit_log` of a pack) it made another
  // value of it at every restart
  // (the token is the query's name whole: a pack's name may hold spaces, `Osquery Monitoring`,
  // as shortQuery reads it)
  const fleet = /^query=pack\/[^/]+\/(.+)$/.exec(token);
  return fleet ? `query=${fleet[1]}` : token;
}

/**
 * A saved event key as this build spells it: the key of a query no unit knows (and of one the
 * config keys by columns) begins with the query's name, which the build before `newcomer3`
 * kept whole under Fleet (`pack/Global/vendor_inventory name=…`). Read as saved, a key
 * labelled normal or anomalous no longer matched its rows, and every step of rarity's
 * sequences through such keys was new. The same for a value in it an older build compacted
 * with its mark (currentMarks).
 */
export function currentEventKey(key: string): string {
  // the pack's name holds no `=`: `pack/agent path=/opt/…`, a query whose own name begins
  // `pack/`, is no Fleet name (read as one, up to the path's slash, it lost its labels); the
  // key's fields are `column=value`, and a pack's name may hold spaces (`Osquery Monitoring`)
  const fleet = /^pack\/[^/=]+\//.exec(key);
  // and a value compacted before heapmem with its older mark (a parent from the process table)
  return currentMarks(fleet ? key.slice(fleet[0].length) : key);
}

export function shortQuery(name: string): string {
  // pack/<pack>/<query>: Fleet runs osqueryd with --pack_delimiter=/ and names its packs by
  // team (pack/Global/…, pack/team-3/…), so a host moved to another team would otherwise
  // bring every row a query value never seen
  const fleet = /^pack\/[^/]+\/(.+)$/.exec(name);
  if (fleet) return fleet[1];
  // pack_<pack>_<query> (osquery's default delimiter): the pack name may itself contain '_' (pack_external_pack_x)
  const m = /^pack_(?:external_pack|[^_]+)_(.+)$/.exec(name);
  return m ? m[1] : name;
}

export function generaliseValue(value: string): string {
  if (!value) return '';
  if (value.startsWith('/') || value.startsWith('~')) return generalisePath(value);
  // by addressClass's own rule: an IPv6 address with no `::` (`2001:0db8:0000:…:0001` as
  // socket_events writes it) was masked as digits, another value than `2001:db8::1`
  if (ipVersion(value)) return addressClass(value);
  return value.length > 80 ? `${value.slice(0, 80)}…` : value.replace(/\d+/g, '<n>');
}
