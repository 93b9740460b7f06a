// A second, independent scenario set for judging detection (issue 7). It shares no code and
// no personas with demo/: three hosts of a small company (a CI runner, a database server, a
// web edge), people with daily, weekly and nightly rhythms, service accounts that log a
// handful of events a night, benign first-time behaviour labelled normal, and attack stories
// written from the public descriptions of MITRE ATT&CK Linux techniques (stories.ts).
// Output: osquery filesystem-logger result lines ("event" format), the test days carrying a
// top-level "label" that `anomaly eval` reads.

export const DAY = 86400;
export const HOUR = 3600;

/** xorshift32: small, seedable, and deliberately not the demo's generator */
export function xorshift(seed: number): () => number {
  let x = seed | 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

export type Label = 'normal' | 'anomalous';

export interface Row {
  host: string;
  query: string;
  time: number;
  columns: Record<string, string>;
  action?: 'added' | 'removed' | 'snapshot';
  /** attack story id, for the per-story tables; absent for normal rows */
  story?: string;
  /** benign novelty: normal, but never seen before */
  novelty?: string;
}

/** the auid of a process no login is behind */
const UNSET_AUID = '4294967295';

export interface Account {
  name: string;
  uid: string;
  home: string;
  /**
   * a service's account, whose processes a daemon started (systemd → php-fpm → convert): no
   * login is behind them, so their auid is unset, as Linux leaves it for every process a
   * system service starts (cron and sshd set it, through pam_loginuid)
   */
  service?: boolean;
}

/** builds rows for one host: pids, parents and the columns osquery's tables carry */
export class Host {
  private pid = 3000;
  readonly rows: Row[] = [];

  constructor(
    readonly name: string,
    readonly accounts: Account[],
    private readonly rand: () => number,
  ) {}

  nextPid(): string {
    this.pid += 1 + Math.floor(this.rand() * 40);
    if (this.pid > 4_000_000) this.pid = 3000;
    return String(this.pid);
  }

  account(name: string): Account {
    const a = this.accounts.find((x) => x.name === name);
    if (!a) throw new Error(`${this.name}: no account ${name}`);
    return a;
  }

  /**
   * One process start (process_events, audit-based): returns its pid so children can name it.
   * `login` is the auid: the person behind the process, unset (4294967295) for daemons.
   */
  exec(
    time: number,
    who: string | null,
    path: string,
    cmdline: string,
    parentPid: string,
    opts: { cwd?: string; euid?: string; uid?: string; story?: string; novelty?: string } = {},
  ): string {
    const pid = this.nextPid();
    const acct = who ? this.account(who) : null;
    const uid = opts.uid ?? acct?.uid ?? '0';
    this.rows.push({
      host: this.name,
      query: 'pack_hids_process_events',
      time,
      story: opts.story,
      novelty: opts.novelty,
      columns: {
        pid,
        parent: parentPid,
        path,
        cmdline,
        cwd: opts.cwd ?? acct?.home ?? '/',
        uid,
        euid: opts.euid ?? uid,
        auid: acct && acct.uid !== '0' && !acct.service ? acct.uid : who === 'root' ? '0' : UNSET_AUID,
        time: String(time),
      },
    });
    return pid;
  }

  /**
   * An SSH session as routines open one: sshd forks for the user, the login shell runs under
   * it. In a story both rows are the attacker's doing and carry its label.
   */
  session(time: number, who: string, opts: { story?: string; novelty?: string } = {}): string {
    const sshd = this.exec(time, 'root', '/usr/sbin/sshd', `sshd: ${who} [priv]`, this.sshdPid, opts);
    return this.exec(time + 2, who, '/bin/bash', '-bash', sshd, opts);
  }

  /** the listening sshd every host runs */
  readonly sshdPid = '612';

  connect(time: number, pid: string, path: string, uid: string, address: string, port: number, opts: { story?: string; novelty?: string } = {}): void {
    const auid = this.accounts.find((a) => a.uid === uid)?.service ? UNSET_AUID : uid;
    this.socket(time, pid, path, 'connect', address, String(port), String(this.ephemeralPort()), auid, opts);
  }

  /**
   * An inbound connection a listening daemon accepts (socket_events' `accept`): how an SSH
   * password guess shows before any login record exists. No login is behind it (auid unset).
   */
  accept(time: number, pid: string, path: string, address: string, localPort: number, opts: { story?: string; novelty?: string } = {}): void {
    this.socket(time, pid, path, 'accept', address, String(this.ephemeralPort()), String(localPort), UNSET_AUID, opts);
  }

  private ephemeralPort(): number {
    return 32768 + Math.floor(this.rand() * 28000);
  }

  private socket(
    time: number,
    pid: string,
    path: string,
    action: string,
    address: string,
    remotePort: string,
    localPort: string,
    auid: string,
    opts: { story?: string; novelty?: string },
  ): void {
    this.rows.push({
      host: this.name,
      query: 'pack_hids_socket_events',
      time,
      story: opts.story,
      novelty: opts.novelty,
      columns: {
        pid,
        path,
        action,
        remote_address: address,
        remote_port: remotePort,
        local_port: localPort,
        family: '2',
        protocol: '6',
        auid,
        time: String(time),
      },
    });
  }

  /**
   * From this time on the host logs nothing: osqueryd was stopped (a story that disables the
   * security tooling). The generator drops the host's later rows, as no log would hold them.
   */
  silencedFrom?: number;

  listen(time: number, pid: string, port: number, address: string, opts: { story?: string } = {}): void {
    this.rows.push({
      host: this.name,
      query: 'pack_hids_listening_ports',
      time,
      story: opts.story,
      columns: { pid, port: String(port), address, protocol: '6', family: '2', socket: String(10000 + Math.floor(this.rand() * 90000)) },
    });
  }

  login(time: number, who: string, from: string, opts: { story?: string; novelty?: string } = {}): void {
    this.rows.push({
      host: this.name,
      query: 'pack_hids_last',
      time,
      story: opts.story,
      novelty: opts.novelty,
      columns: {
        username: who,
        tty: `pts/${Math.floor(this.rand() * 4)}`,
        pid: this.nextPid(),
        type: '7',
        type_name: 'user-process',
        time: String(time),
        host: from,
      },
    });
  }

  history(time: number, who: string, command: string, opts: { story?: string; novelty?: string } = {}): void {
    const a = this.account(who);
    this.rows.push({
      host: this.name,
      query: 'pack_hids_shell_history',
      time,
      story: opts.story,
      novelty: opts.novelty,
      columns: { uid: a.uid, username: a.name, command, time: String(time), history_file: `${a.home}/.bash_history` },
    });
  }

  file(time: number, path: string, action: string, opts: { story?: string; novelty?: string; category?: string } = {}): void {
    this.rows.push({
      host: this.name,
      query: 'pack_hids_file_events',
      time,
      story: opts.story,
      novelty: opts.novelty,
      columns: {
        target_path: path,
        action,
        category: opts.category ?? 'config',
        time: String(time),
        md5: '',
        inode: String(100000 + Math.floor(this.rand() * 900000)),
      },
    });
  }

  /** the daily `users` snapshot the pack logs: how uids get names offline */
  users(time: number): void {
    for (const a of this.accounts)
      this.rows.push({
        host: this.name,
        query: 'pack_hids_users',
        time,
        action: 'snapshot',
        columns: { uid: a.uid, username: a.name, directory: a.home, shell: a.name === 'www-data' ? '/usr/sbin/nologin' : '/bin/bash' },
      });
  }
}

/** osquery's calendarTime, e.g. "Tue Mar  3 02:00:05 2026 UTC" */
function osqueryCalendar(t: number): string {
  const d = new Date(t * 1000);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const two = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} ${d.getUTCFullYear()} UTC`;
}

/** one results line; `label` only on the labelled (test) part */
export function resultLine(row: Row, counter: number, label?: Label): string {
  const line: Record<string, unknown> = {
    name: row.query,
    hostIdentifier: row.host,
    calendarTime: osqueryCalendar(row.time),
    unixTime: row.time,
    epoch: 0,
    counter,
    numerics: false,
    decorations: { host_uuid: `uuid-${row.host}` },
    columns: row.columns,
    action: row.action ?? 'added',
  };
  if (label) line.label = label;
  return JSON.stringify(line);
}

export interface LabelledSplit {
  train: string[];
  test: string[];
  /** per test line: the attack story or benign novelty it belongs to, '' for routine */
  testStory: string[];
}

/**
 * Every host's rows in time order, cut at midnight of the first labelled day: rows before it
 * are unlabelled training, rows after it are labelled, anomalous exactly where an attack story
 * made them. A host silenced by a story logs nothing after that time.
 */
export function splitLabelled(hosts: Iterable<Host>, cut: number): LabelledSplit {
  const rows: Row[] = [];
  for (const h of hosts) rows.push(...h.rows.filter((row) => h.silencedFrom === undefined || row.time < h.silencedFrom));
  rows.sort((a, b) => a.time - b.time);
  const train: string[] = [];
  const test: string[] = [];
  const testStory: string[] = [];
  rows.forEach((row, i) => {
    if (row.time < cut) {
      if (row.story) throw new Error(`story row before the labelled days: ${row.story}`);
      train.push(resultLine(row, i));
    } else {
      test.push(resultLine(row, i, row.story ? 'anomalous' : 'normal'));
      testStory.push(row.story ?? row.novelty ?? '');
    }
  });
  return { train, test, testStory };
}
