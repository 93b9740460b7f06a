import { seededRandom } from './random';

// The demo host's event writer: one method per kind of osquery row the personas cause
// (a process, a connection, a login, a shell-history line, a file change, a listener).
// Everything random comes from the one seeded generator, in call order, so a seed always
// gives the same stream.

export const DAY = 86400;
export const HOUR = 3600;
export const UNSET_AUID = '4294967295';

export interface User {
  name: string;
  uid: string;
  home: string;
}

export interface Row {
  time: number;
  query: string;
  columns: Record<string, string>;
  action: 'added' | 'removed' | 'snapshot';
  story?: string;
}

export class DemoHost {
  readonly rows: Row[] = [];
  readonly r: () => number;
  private pid = 3000;

  constructor(
    seed: number,
    readonly start: number,
  ) {
    this.r = seededRandom(seed);
  }

  pick<T>(a: readonly T[]): T {
    return a[Math.floor(this.r() * a.length)];
  }

  /** a process_events row; returns the new pid */
  proc(time: number, user: User | null, path: string, cmdline: string, parent: number, cwd: string, story?: string, euid?: string): number {
    const p = ++this.pid;
    const uid = user?.uid ?? '0';
    const start = this.start;
    this.rows.push({
      time,
      query: 'process_events',
      action: 'added',
      story,
      columns: {
        pid: String(p),
        path,
        mode: '0100755',
        cmdline,
        cwd,
        auid: user ? user.uid : UNSET_AUID,
        uid: euid === '0' ? '0' : uid,
        euid: euid ?? uid,
        gid: uid,
        egid: uid,
        owner_uid: '0',
        owner_gid: '0',
        atime: String(time - 86400),
        mtime: String(start - 30 * DAY),
        ctime: String(start - 30 * DAY),
        btime: '0',
        parent: String(parent),
        time: String(time),
        uptime: String(time - start + 1000),
        syscall: 'execve',
      },
    });
    return p;
  }

  connect(time: number, user: User | null, procPid: number, path: string, addr: string, port: number, story?: string): void {
    const r = this.r;
    this.rows.push({
      time,
      query: 'socket_events',
      action: 'added',
      story,
      columns: {
        action: 'connect',
        pid: String(procPid),
        path,
        fd: String(3 + Math.floor(r() * 20)),
        auid: user ? user.uid : UNSET_AUID,
        family: '2',
        protocol: '6',
        local_address: '10.0.2.15',
        remote_address: addr,
        local_port: String(32768 + Math.floor(r() * 28000)),
        remote_port: String(port),
        time: String(time),
        uptime: '0',
        status: 'succeeded',
        success: '1',
      },
    });
  }

  /** sshd, the user's shell and the wtmp row; returns the shell's pid */
  login(time: number, user: User, from: string, story?: string): number {
    const tty = `pts/${Math.floor(this.r() * 4)}`;
    const sshd = this.proc(time, null, '/usr/sbin/sshd', `sshd: ${user.name} [priv]`, 812, '/', story);
    const shell = this.proc(time + 1, user, '/bin/bash', '-bash', sshd, user.home, story);
    this.rows.push({
      time,
      query: 'last',
      action: 'added',
      story,
      columns: { username: user.name, tty, pid: String(shell), type: '7', type_name: 'user-process', time: String(time), host: from },
    });
    return shell;
  }

  /** a logged_in_users snapshot row for a session */
  loggedIn(time: number, user: User, tty: string, from: string, since: number, shell: number, story?: string): void {
    this.rows.push({
      time,
      query: 'logged_in_users',
      action: 'snapshot',
      story,
      columns: { type: 'user', user: user.name, tty, host: from, time: String(since), pid: String(shell) },
    });
  }

  history(time: number, user: User, command: string, story?: string): void {
    this.rows.push({
      time,
      query: 'shell_history',
      action: 'added',
      story,
      columns: { uid: user.uid, username: user.name, time: String(time), command, history_file: `${user.home}/.bash_history` },
    });
  }

  fileEvent(time: number, user: User | null, target: string, action: string, story?: string): void {
    const r = this.r;
    this.rows.push({
      time,
      query: 'file_events',
      action: 'added',
      story,
      columns: {
        target_path: target,
        category: 'etc',
        action,
        transaction_id: String(Math.floor(r() * 1e6)),
        inode: String(100000 + Math.floor(r() * 900000)),
        uid: user?.uid ?? '0',
        gid: user?.uid ?? '0',
        mode: '0644',
        size: String(200 + Math.floor(r() * 4000)),
        atime: String(time),
        mtime: String(time),
        ctime: String(time),
        md5: '',
        sha1: '',
        sha256: '',
        hashed: '0',
        time: String(time),
      },
    });
  }

  listen(time: number, procPid: number, path: string, port: number, address: string, action: 'added' | 'removed' = 'added', story?: string): void {
    const r = this.r;
    this.rows.push({
      time,
      query: 'listening_ports',
      action,
      story,
      columns: {
        pid: String(procPid),
        port: String(port),
        protocol: '6',
        family: '2',
        address,
        fd: String(3 + Math.floor(r() * 10)),
        socket: String(20000 + Math.floor(r() * 80000)),
        path,
        net_namespace: '4026531840',
      },
    });
  }
}
