import { DAY, HOUR, Host } from './world';

// Normal life at the company, one function per rhythm. Times are UTC; `day` is the day's
// midnight. Every routine varies a little from day to day (counts, minutes, arguments).

type Rand = () => number;

const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const at = (day: number, hour: number, r: Rand, spreadMinutes = 30) => day + hour * HOUR + Math.floor(r() * spreadMinutes * 60);
const isWeekend = (day: number) => [0, 6].includes(new Date(day * 1000).getUTCDay());
const weekday = (day: number) => new Date(day * 1000).getUTCDay();

/** system daemons every host runs: cron's hourly jobs, logrotate, apt timers, systemd */
export function daemons(h: Host, day: number, r: Rand): void {
  for (let hour = 0; hour < 24; hour += 1 + Math.floor(r() * 3)) {
    const t = at(day, hour, r, 50);
    const cron = h.exec(t, null, '/usr/sbin/cron', '/usr/sbin/CRON -f', '1');
    const sh = h.exec(t + 1, null, '/bin/sh', '/bin/sh -c cd / && run-parts --report /etc/cron.hourly', cron);
    h.exec(t + 1, null, '/bin/run-parts', 'run-parts --report /etc/cron.hourly', sh);
  }
  const lr = at(day, 0, r, 10);
  h.exec(lr, null, '/usr/sbin/logrotate', '/usr/sbin/logrotate /etc/logrotate.conf', '1');
  const apt = at(day, 6, r, 60);
  const aptPid = h.exec(apt, null, '/usr/lib/apt/apt.systemd.daily', '/bin/sh /usr/lib/apt/apt.systemd.daily update', '1');
  h.exec(apt + 2, null, '/usr/bin/apt-get', 'apt-get -qq update', aptPid);
  h.connect(apt + 3, aptPid, '/usr/lib/apt/methods/http', '0', pick(r, ['151.101.2.132', '151.101.66.132', '91.189.91.39']), 80);
  h.exec(at(day, 3, r, 5), null, '/usr/bin/systemd-tmpfiles', 'systemd-tmpfiles --clean', '1');
  h.users(day + 5 * 60);
  h.listen(day + 60, h.sshdPid, 22, '0.0.0.0');
  // file integrity monitoring sees the daily churn of /etc and the logs
  h.file(at(day, 0, r, 10), '/var/log/syslog.1', 'CREATED');
  h.file(at(day, 6, r, 60), '/etc/resolv.conf', 'UPDATED');
  if (r() < 0.3) h.file(at(day, 6, r, 60), '/etc/apt/trusted.gpg.d/ubuntu-keyring-2018-archive.gpg', 'UPDATED');
}

/** the nightly backup account: a few events a night, every night, on every host it exists */
export function nightlyBackup(h: Host, day: number, r: Rand, target: string): void {
  const t = at(day, 2, r, 10);
  const cron = h.exec(t, null, '/usr/sbin/cron', '/usr/sbin/CRON -f', '1');
  const sh = h.exec(t + 1, 'backup', '/bin/sh', '/bin/sh -c /usr/local/sbin/nightly-backup', cron, { cwd: '/var/backups' });
  const script = h.exec(t + 1, 'backup', '/bin/bash', '/bin/bash /usr/local/sbin/nightly-backup', sh, { cwd: '/var/backups' });
  h.exec(t + 2, 'backup', '/usr/bin/tar', `tar --zstd -cf /var/backups/${h.name}-${Math.floor(day / DAY)}.tar.zst ${target}`, script, { cwd: '/var/backups' });
  const rs = h.exec(t + 40 + Math.floor(r() * 60), 'backup', '/usr/bin/rsync', `rsync -a /var/backups/ vault.internal::${h.name}/`, script, {
    cwd: '/var/backups',
  });
  h.connect(t + 41 + Math.floor(r() * 60), rs, '/usr/bin/rsync', h.account('backup').uid, '10.40.0.9', 873);
  h.exec(t + 200, 'backup', '/usr/bin/find', 'find /var/backups -mtime +7 -delete', script, { cwd: '/var/backups' });
}

/**
 * a developer on the CI runner: working days, about nine to six, in bursts. `from` is the
 * developer's workstation; a late start (a holiday) shortens the day.
 */
export function developer(h: Host, day: number, r: Rand, who: string, opts: { from?: string; startHour?: number } = {}): void {
  if (isWeekend(day)) return;
  const start = at(day, opts.startHour ?? 8, r, 60);
  h.login(start, who, opts.from ?? '10.40.8.21');
  const shell = h.session(start, who);
  const tasks: Array<[string, string, ((t: number, pid: string) => void)?]> = [
    ['/usr/bin/git', 'git status'],
    ['/usr/bin/git', 'git pull --rebase', (t, pid) => h.connect(t, pid, '/usr/bin/ssh', h.account(who).uid, '10.40.0.5', 22)],
    ['/usr/bin/git', 'git log --oneline -n 20'],
    ['/usr/bin/git', 'git push origin HEAD', (t, pid) => h.connect(t, pid, '/usr/bin/ssh', h.account(who).uid, '10.40.0.5', 22)],
    ['/usr/bin/make', 'make -j8 test'],
    ['/usr/bin/go', 'go test ./...'],
    ['/usr/bin/go', 'go build -o bin/runner ./cmd/runner'],
    ['/usr/bin/vim', `vim internal/queue/worker.go`],
    ['/usr/bin/docker', 'docker ps'],
    [
      '/usr/bin/docker',
      'docker build -t runner:dev .',
      (t, pid) => h.connect(t, pid, '/usr/bin/docker', h.account(who).uid, pick(r, ['104.18.121.25', '104.18.122.25']), 443),
    ],
    ['/usr/bin/less', 'less build.log'],
    ['/usr/bin/grep', 'grep -rn TODO internal'],
  ];
  const n = 25 + Math.floor(r() * 20);
  for (let i = 0; i < n; i++) {
    const t = start + Math.floor(((i + r()) / n) * (17 - (opts.startHour ?? 8)) * HOUR);
    const [exe, cmd, net] = pick(r, tasks);
    const pid = h.exec(t, who, exe, cmd, shell, { cwd: `${h.account(who).home}/src/runner` });
    if (exe === '/usr/bin/go' || exe === '/usr/bin/make')
      h.exec(t + 3, who, '/usr/lib/go/pkg/tool/linux_amd64/compile', 'compile -o $WORK/b001/_pkg_.a -p main', pid, {
        cwd: `${h.account(who).home}/src/runner`,
      });
    net?.(t + 1, pid);
    if (r() < 0.5) h.history(t, who, cmd);
  }
}

/** the DBA: logs in on Mondays only, from the office, and checks the database */
export function weeklyDba(h: Host, day: number, r: Rand, who: string): void {
  if (weekday(day) !== 1) return;
  const start = at(day, 10, r, 40);
  h.login(start, who, '10.40.8.37');
  const shell = h.session(start, who);
  const cmds: Array<[string, string]> = [
    ['/usr/bin/psql', 'psql -U postgres -c select * from pg_stat_activity'],
    ['/usr/bin/df', 'df -h'],
    ['/usr/bin/journalctl', 'journalctl -u postgresql --since yesterday'],
    ['/usr/bin/vacuumdb', 'vacuumdb --all --analyze-only'],
    ['/usr/bin/du', 'du -sh /var/lib/postgresql'],
  ];
  const n = 8 + Math.floor(r() * 6);
  for (let i = 0; i < n; i++) {
    const [exe, cmd] = pick(r, cmds);
    const t = start + 60 + i * (120 + Math.floor(r() * 300));
    const pid = h.exec(t, who, exe, cmd, shell);
    if (exe === '/usr/bin/psql') h.connect(t + 1, pid, exe, h.account(who).uid, '127.0.0.1', 5432);
    h.history(t, who, cmd);
  }
}

/** the database daemon: connections spawn backends all day, and it listens on 5432 */
export function postgres(h: Host, day: number, r: Rand): void {
  const n = 15 + Math.floor(r() * 10);
  for (let i = 0; i < n; i++) {
    const t = day + Math.floor(r() * DAY);
    h.exec(t, 'postgres', '/usr/lib/postgresql/15/bin/postgres', 'postgres: app appdb 10.40.2.11(51234) idle', '701', { cwd: '/var/lib/postgresql/15/main' });
  }
  h.listen(day + 60, '701', 5432, '0.0.0.0');
  h.exec(at(day, 4, r, 20), 'postgres', '/usr/lib/postgresql/15/bin/postgres', 'postgres: autovacuum worker', '701', { cwd: '/var/lib/postgresql/15/main' });
}

/** the web edge: nginx serves, php-fpm renders and talks to the database; www-data rarely runs anything */
export function webEdge(h: Host, day: number, r: Rand): void {
  h.listen(day + 60, '900', 443, '0.0.0.0');
  h.listen(day + 60, '900', 80, '0.0.0.0');
  const n = 3 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const t = day + Math.floor(r() * DAY);
    const pid = h.exec(t, 'www-data', '/usr/sbin/php-fpm8.2', 'php-fpm: pool www', '950', { cwd: '/var/www/shop' });
    h.connect(t + 1, pid, '/usr/sbin/php-fpm8.2', h.account('www-data').uid, '10.40.2.7', 5432);
    if (r() < 0.5) h.exec(t + 2, 'www-data', '/usr/bin/convert', 'convert upload.png -resize 800x600 thumb.png', pid, { cwd: '/var/www/shop/uploads' });
  }
}

/** an operator on the web edge: daily checks of the site and its logs */
export function operator(h: Host, day: number, r: Rand, who: string): void {
  const start = at(day, isWeekend(day) ? 11 : 9, r, 45);
  h.login(start, who, '10.40.8.44');
  const shell = h.session(start, who);
  const cmds: Array<[string, string]> = [
    ['/usr/bin/tail', 'tail -n 200 /var/log/nginx/error.log'],
    ['/usr/bin/grep', 'grep -c " 500 " /var/log/nginx/access.log'],
    ['/usr/bin/systemctl', 'systemctl status nginx'],
    ['/usr/bin/curl', 'curl -sI https://localhost/health'],
    ['/usr/bin/df', 'df -h /var'],
    ['/usr/bin/free', 'free -m'],
  ];
  const n = 6 + Math.floor(r() * 8);
  for (let i = 0; i < n; i++) {
    const [exe, cmd] = pick(r, cmds);
    const t = start + 60 + i * (60 + Math.floor(r() * 600));
    const pid = h.exec(t, who, exe, cmd, shell);
    if (exe === '/usr/bin/curl') h.connect(t + 1, pid, exe, h.account(who).uid, '127.0.0.1', 443);
    if (r() < 0.6) h.history(t, who, cmd);
  }
  // root work now and then: a root login for maintenance
  if (r() < 0.2) {
    const root = h.session(start + 1800, 'root');
    h.exec(start + 1830, 'root', '/usr/bin/journalctl', 'journalctl -p err --since today', root);
  }
  // a reload with sudo now and then: the privilege change is part of the routine
  if (r() < 0.3) {
    const sudo = h.exec(start + 3000, who, '/usr/bin/sudo', 'sudo systemctl reload nginx', shell, { euid: '0' });
    h.exec(start + 3001, who, '/usr/bin/systemctl', 'systemctl reload nginx', sudo, { uid: '0', euid: '0' });
  }
}

/** the deploy account: every Thursday a release is pushed to the web edge */
export function weeklyDeploy(h: Host, day: number, r: Rand): void {
  if (weekday(day) !== 4) return;
  const t = at(day, 15, r, 60);
  h.login(t, 'deploy', '10.40.0.3');
  const sshd = h.exec(t, 'root', '/usr/sbin/sshd', 'sshd: deploy [priv]', h.sshdPid);
  const sh = h.exec(t + 1, 'deploy', '/bin/bash', 'bash -c ./release.sh', sshd, { cwd: '/srv/deploy' });
  h.file(t + 5, '/var/www/shop/index.php', 'UPDATED');
  const rs = h.exec(t + 2, 'deploy', '/usr/bin/rsync', 'rsync -a --delete releases/current/ /var/www/shop/', sh, { cwd: '/srv/deploy' });
  h.connect(t + 3, rs, '/usr/bin/rsync', h.account('deploy').uid, '10.40.0.3', 873);
  const sudo = h.exec(t + 30, 'deploy', '/usr/bin/sudo', 'sudo systemctl reload php8.2-fpm', sh, { euid: '0' });
  h.exec(t + 31, 'deploy', '/usr/bin/systemctl', 'systemctl reload php8.2-fpm', sudo, { uid: '0', euid: '0' });
}

/**
 * One package unpacked by an apt run, as dpkg logs it: dpkg, its dpkg-deb, and the package's
 * postinst `configureAfter` seconds later, all under `parent` with the run's ids.
 */
export function unpackPackage(
  h: Host,
  t: number,
  who: string,
  pkg: string,
  parent: string,
  ids: { uid?: string; euid?: string; cwd?: string; novelty?: string },
  opts: { statusFd: number; configureAfter: number },
): void {
  const deb = `/var/cache/apt/archives/${pkg}.deb`;
  const dpkg = h.exec(t, who, '/usr/bin/dpkg', `/usr/bin/dpkg --status-fd ${opts.statusFd} --no-triggers --unpack --auto-deconfigure ${deb}`, parent, ids);
  h.exec(t + 1, who, '/usr/bin/dpkg-deb', `dpkg-deb --fsys-tarfile ${deb}`, dpkg, ids);
  h.exec(t + opts.configureAfter, who, `/var/lib/dpkg/info/${pkg}.postinst`, `/var/lib/dpkg/info/${pkg}.postinst configure`, dpkg, ids);
}

/** the independent set's working day on its three hosts: the developer, the DBA, the database, the site, its operator and the weekly deploy */
export function companyWorkday(ci: Host, pg: Host, web: Host, day: number, r: Rand): void {
  developer(ci, day, r, 'dana');
  weeklyDba(pg, day, r, 'omar');
  postgres(pg, day, r);
  webEdge(web, day, r);
  operator(web, day, r, 'ops');
  weeklyDeploy(web, day, r);
}

export { pick, at, isWeekend, weekday };
