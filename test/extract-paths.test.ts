import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { FeatureExtractor } from '../scorer/features/extract';
import { TemplateMiner } from '../scorer/features/miner';
import { UidMap } from '../scorer/features/subject';
import { sshdAccount } from '../scorer/features/lineage';
import { exeLocation, fileLocation } from '../scorer/features/security';
import { runEval } from '../scorer/eval/run';
import { DatasetError } from '../scorer/eval/datasets';
import { checkExtractor } from '../state/schema';
import type { ResultRow } from '../scorer/types';

// The learning and the side-effect-free paths of feature extraction, the miner's bound, and
// eval's handling of inputs it cannot read twice.

const proc = (pid: string, parent: string, p: string, cmdline: string, extra: Record<string, string> = {}): ResultRow => ({
  query: 'pack_x_process_events',
  host: 'h',
  time: 1_790_000_000,
  action: 'added',
  columns: { pid, parent, path: p, cmdline, auid: '1000', uid: '1000', euid: '1000', ...extra },
  decorations: {},
});

/** a wtmp login record as osquery's `last` table logs it */
const lastRow = (user: string, from: string, pid: string, time: number, tty = 'pts/0'): ResultRow => ({
  query: 'pack_x_last',
  host: 'h',
  time,
  action: 'added',
  columns: { username: user, tty, pid, type: '7', type_name: 'user-process', time: String(time), host: from },
  decorations: {},
});
/** the row as logged at another time */
const at = (row: ResultRow, time: number): ResultRow => ({ ...row, time, columns: { ...row.columns, time: String(time) } });
/** the session context the extractor gives the row, learning it */
const sessionIn = (x: FeatureExtractor, row: ResultRow) => x.extract(row).event.values.find((v) => v.startsWith('session='));

t.test('a changed file carries what its place is for', async (t) => {
  const cases: Array<[string, string]> = [
    ['/etc/shadow', 'accounts'],
    ['/etc/sudoers.d/90-x', 'accounts'],
    ['/home/omar/.ssh/authorized_keys', 'ssh'],
    ['/root/.ssh/authorized_keys', 'ssh'],
    ['/etc/cron.d/php-sess-clean', 'autostart'],
    ['/etc/systemd/system/x.service', 'autostart'],
    ['/home/dana/.bashrc', 'autostart'],
    ['/etc/ld.so.preload', 'autostart'],
    ['/var/log/auth.log', 'log'],
    ['/root/.bash_history', 'log'],
    ['/usr/local/bin/x', 'programs'],
    ['/etc/resolv.conf', 'config'],
    ['/tmp/.k', 'temp-hidden'],
    ['/var/www/shop/index.php', 'other'],
  ];
  for (const [p, want] of cases) t.equal(fileLocation(p), want, p);
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const row: ResultRow = {
    query: 'pack_x_file_events',
    host: 'h',
    time: 1_790_000_000,
    action: 'added',
    columns: { target_path: '/etc/shadow', action: 'UPDATED', time: '1790000000' },
    decorations: {},
  };
  const e = x.extract(row).event;
  t.ok(e.values.includes('pathloc=accounts'), 'the class is a value');
  t.ok(e.pairs.includes('action=UPDATED>pathloc=accounts'), 'and paired with the action');
});

// (tidy6) A name that starts with a dot is hidden, `..x` and `...` as much as `.x`: exeLocation's
// pattern asked for a character other than a dot after the first and took them for plain names,
// for a program and for the paths of its arguments (the working directory's test had its own
// rule, rev3). One rule for all three now; `.` and `..` name no place of their own.
t.test('a name that starts with two dots is hidden, for a program and its arguments; `.` and `..` are not', async (t) => {
  const cases: Array<[string, string]> = [
    ['/tmp/..x/k', 'temp-hidden'],
    ['/dev/shm/.../k', 'temp-hidden'],
    ['/home/dana/..cache/k', 'home-hidden'],
    ['/srv/...', 'other-hidden'],
    ['/tmp/.k', 'temp-hidden'],
    ['/usr/bin/../lib/x', 'system'],
    ['/srv/./x', 'other'],
    ['/srv/x..y/z', 'other'],
  ];
  for (const [p, want] of cases) t.equal(exeLocation(p), want, p);
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const e = x.extract(proc('30', '1', '/var/tmp/..k/x', 'x -c /srv/.../y')).event;
  t.ok(e.values.includes('exeloc=temp-hidden'), `the program (${e.values.join(' ')})`);
  t.ok(e.values.includes('argloc=other-hidden'), `its argument (${e.values.join(' ')})`);
});

t.test('match learns nothing; extract does', async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const shell = proc('10', '1', '/bin/bash', 'bash');
  const nc = proc('11', '10', '/usr/bin/nc', 'nc -l 4444');
  t.equal(x.match(nc).key, 'exec /usr/bin/nc <- unknown', 'before the shell is seen, match cannot name the parent');
  t.equal(x.match(shell).key, 'exec /bin/bash <- unknown');
  t.equal(x.match(nc).key, 'exec /usr/bin/nc <- unknown', 'and matching the shell taught it nothing');
  x.extract(shell);
  t.equal(x.match(nc).key, 'exec /usr/bin/nc <- /bin/bash', 'extracting the shell did');
  const before = JSON.stringify(x.toState());
  x.match(proc('12', '10', '/usr/bin/tar', 'tar czf a.tgz docs'));
  t.equal(JSON.stringify(x.toState()), before, 'match leaves the template miner as it was');
});

t.test('security features: location, privilege, lineage, address class', async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const listen: ResultRow = {
    query: 'pack_x_listening_ports',
    host: 'h',
    time: 1_790_000_000,
    action: 'added',
    columns: { pid: '5', path: '/usr/sbin/nginx', port: '80', address: '0.0.0.0', protocol: '6' },
    decorations: {},
  };
  x.extract(proc('5', '1', '/usr/sbin/nginx', 'nginx'));
  x.extract(listen);
  x.extract(proc('20', '5', '/usr/bin/php', 'php-fpm'));
  const e = x.extract(proc('21', '20', '/bin/sh', 'sh -c id', { uid: '33', euid: '33', auid: '4294967295' })).event;
  t.ok(e.values.includes('lineage=service:nginx'), `a shell under a listening server says so (${e.values.join(' ')})`);
  t.ok(e.values.includes('exeloc=system'));
  const dropped = x.extract(proc('22', '21', '/dev/shm/.k/x', './x', { euid: '0' })).event;
  t.ok(
    dropped.values.includes('exeloc=temp-hidden') && dropped.values.includes('priv=setuid-root'),
    `temp, hidden, set-uid root (${dropped.values.join(' ')})`,
  );
  const out: ResultRow = {
    query: 'pack_x_socket_events',
    host: 'h',
    time: 1_790_000_000,
    action: 'added',
    columns: { pid: '22', remote_address: '203.0.113.7', remote_port: '4444', action: 'connect' },
    decorations: {},
  };
  t.ok(x.extract(out).event.values.includes('net=public'), 'a public address is a class of its own');
});

t.test("a session's rows carry where its login came from", async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const t0 = 1_790_000_000;
  // the scenario set's order: the login record, then sshd's fork for the account, then its shell
  x.extract(lastRow('omar', '192.0.2.201', '999', t0));
  t.equal(sessionIn(x, at(proc('30', '612', '/usr/sbin/sshd', 'sshd: omar [priv]', { auid: '0', uid: '0', euid: '0' }), t0)), 'session=public');
  t.equal(sessionIn(x, at(proc('31', '30', '/bin/bash', '-bash'), t0 + 2)), 'session=public', 'the login shell inherits it');
  t.equal(sessionIn(x, at(proc('32', '31', '/usr/bin/cat', 'cat .pgpass'), t0 + 30)), 'session=public', 'and what runs in it');
  const sock: ResultRow = { ...at(proc('32', '', '', ''), t0 + 31), query: 'pack_x_socket_events' };
  sock.columns = { pid: '32', remote_address: '203.0.113.7', remote_port: '443', action: 'connect', time: String(t0 + 31) };
  t.equal(sessionIn(x, sock), 'session=public', "a socket of the session's process too");
  // osquery's wtmp names the session's process: a record after the shell's row still reaches its children
  x.extract(at(proc('40', '612', '/usr/sbin/sshd', 'sshd: ann [priv]', { auid: '0', uid: '0', euid: '0' }), t0 + 100));
  x.extract(at(proc('41', '40', '/bin/bash', '-bash'), t0 + 101));
  x.extract(lastRow('ann', '10.40.8.21', '41', t0 + 100));
  t.equal(sessionIn(x, at(proc('42', '41', '/usr/bin/git', 'git status'), t0 + 160)), 'session=internal');
  // the wtmp record polled after the session's first processes: what the session runs next inherits it
  x.extract(at(proc('70', '612', '/usr/sbin/sshd', 'sshd: cy [priv]', { auid: '0', uid: '0', euid: '0' }), t0 + 300));
  t.equal(sessionIn(x, at(proc('71', '70', '/bin/bash', '-bash'), t0 + 302)), undefined, 'before the record, nothing is known');
  x.extract(lastRow('cy', '198.51.100.4', '5555', t0 + 300));
  t.equal(sessionIn(x, at(proc('72', '71', '/usr/bin/id', 'id'), t0 + 330)), 'session=public', 'after it, the session is');
  // a login an hour earlier is another session; a cron job has none
  t.equal(sessionIn(x, at(proc('50', '612', '/usr/sbin/sshd', 'sshd: omar [priv]', { auid: '0', uid: '0', euid: '0' }), t0 + 3600)), undefined);
  t.equal(sessionIn(x, at(proc('51', '1', '/usr/sbin/cron', 'cron -f'), t0 + 10)), undefined);
  // a logout record opens nothing
  const logout = lastRow('bea', '198.51.100.9', '60', t0 + 200);
  logout.columns.type = '8';
  logout.columns.type_name = 'dead-process';
  x.extract(logout);
  t.equal(sessionIn(x, at(proc('61', '612', '/usr/sbin/sshd', 'sshd: bea [priv]'), t0 + 200)), undefined);
});

t.test("a process named like sshd's fork is not one unless it is root's sshd", async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const t0 = 1_790_000_000;
  const root = { auid: '0', uid: '0', euid: '0' };
  // root logs in from inside; a local user (uid 1000) names processes after root's sshd fork
  // (`exec -a 'sshd: root [priv]' ...`, which audit records as the command line)
  x.extract(lastRow('root', '10.40.8.21', '9000', t0));
  t.equal(
    sessionIn(x, at(proc('80', '1', '/usr/sbin/sshd', 'sshd: root [priv]'), t0 + 5)),
    undefined,
    "the sshd binary run by a user does not take root's session",
  );
  t.equal(sessionIn(x, at(proc('81', '1', '/home/u/sshd', 'sshd: root [priv]'), t0 + 6)), undefined, 'nor does a program of their own');
  t.equal(sessionIn(x, at(proc('82', '80', '/bin/bash', 'bash'), t0 + 7)), undefined, 'nor what it runs');
  // nor can such a process take the place of root's real fork before its login record arrives
  x.extract(at(proc('90', '612', '/usr/sbin/sshd', 'sshd: root [priv]', root), t0 + 600));
  x.extract(at(proc('91', '1', '/usr/sbin/sshd', 'sshd: root [priv]'), t0 + 601));
  x.extract(lastRow('root', '198.51.100.4', '5555', t0 + 600));
  t.equal(sessionIn(x, at(proc('92', '90', '/bin/bash', '-bash', root), t0 + 602)), 'session=public', "root's real session is marked");
  t.equal(sessionIn(x, at(proc('93', '91', '/bin/bash', 'bash'), t0 + 603)), undefined, "the user's is not");
});

t.test('a login on a display or in a terminal multiplexer is not one from the internet', async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const t0 = 1_790_000_000;
  const login = (user: string, from: string, pid: string): ResultRow => lastRow(user, from, pid, t0, 'pts/1');
  const shell = (pid: string): ResultRow => ({
    ...proc(pid, '1', '/bin/bash', 'bash'),
    columns: { ...proc(pid, '1', '/bin/bash', 'bash').columns, time: String(t0 + 1) },
  });
  const values = (row: ResultRow) => x.extract(row).event.values;
  // gdm and lightdm write the X display as wtmp's host; an xterm under ssh -X writes the forwarded one
  for (const [from, pid] of [
    [':0', '100'],
    [':1.0', '101'],
    ['localhost:10.0', '102'],
  ]) {
    const v = values(login('ann', from, pid));
    t.notOk(v.includes('net=public'), `${from} is not a public address (${v.join(' ')})`);
    t.notOk(values(shell(pid)).includes('session=public'), `nor is the session on ${from}`);
  }
  // screen writes the address the session came from with its window after it
  t.ok(values(login('ann', '198.51.100.4:S.0', '103')).includes('net=public'), "screen's window keeps its session's origin");
  t.ok(values(shell('103')).includes('session=public'));
  t.ok(values(login('ann', '10.1.2.3:S.1', '104')).includes('net=internal'));
});

t.test('a login record cannot change the origin of a session a process is already in', async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const t0 = 1_790_000_000;
  const login = (user: string, from: string, pid: string, time: number): ResultRow => lastRow(user, from, pid, time, 'pts/3');
  x.extract(login('mal', '198.51.100.4', '200', t0));
  t.equal(sessionIn(x, at(proc('200', '1', '/bin/bash', '-bash'), t0 + 1)), 'session=public');
  // libutempter's setgid helper writes wtmp for any user, with the host they pass and the pid
  // of the process that called it: a record naming a process about to start in this session
  x.extract(login('mal', '10.0.0.5', '205', t0 + 60));
  t.equal(sessionIn(x, at(proc('205', '200', '/bin/bash', 'bash'), t0 + 61)), 'session=public', 'the session it runs in');
  t.equal(sessionIn(x, at(proc('206', '205', '/usr/bin/curl', 'curl http://x'), t0 + 62)), 'session=public', 'and so do its children');
});

t.test("a session outlives the host's other processes", async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const t0 = 1_790_000_000;
  x.extract(lastRow('ann', '198.51.100.4', '500', t0));
  t.equal(sessionIn(x, at(proc('500', '1', '/bin/bash', '-bash'), t0 + 1)), 'session=public');
  // a build host: a few hours of other processes (or a user churning pids on purpose) while the session's shell sits idle
  for (let i = 0; i < 25_000; i++)
    x.extract(at(proc(String(10_000 + i), '900', '/usr/bin/cc', 'cc -c x.c', { auid: '4294967295', uid: '998', euid: '998' }), t0 + 2 + i / 10));
  t.equal(
    sessionIn(x, at(proc('40000', '500', '/usr/bin/curl', 'curl http://x'), t0 + 3000)),
    'session=public',
    'the next command in the session still carries it',
  );
});

t.test('a process that execs another program stays in its session', async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const t0 = 1_790_000_000;
  // as sshd runs a session: its user process (650) forks and never execs, so audit has no row
  // of it; the shell (700) is the process wtmp names
  x.extract(lastRow('ann', '198.51.100.4', '700', t0));
  t.equal(sessionIn(x, at(proc('700', '650', '/bin/bash', '-bash'), t0 + 1)), 'session=public');
  // ten minutes on, `exec bash` (or `exec python3`): the same pid and parent, another program
  t.equal(sessionIn(x, at(proc('700', '650', '/bin/bash', 'bash'), t0 + 600)), 'session=public', 'the exec keeps it');
  t.equal(sessionIn(x, at(proc('701', '700', '/usr/bin/curl', 'curl http://x'), t0 + 610)), 'session=public', 'and what runs after it');
  // a pid used again by another process (another parent) does not inherit it
  t.equal(sessionIn(x, at(proc('700', '1', '/usr/sbin/cron', 'cron -f'), t0 + 9000)), undefined);
});

t.test('open sessions keep their context across a restart', async (t) => {
  const users = new UidMap();
  const x = new FeatureExtractor({ users, overrides: {} });
  const t0 = 1_790_000_000;
  x.extract(lastRow('ann', '198.51.100.4', '700', t0));
  t.equal(sessionIn(x, at(proc('700', '650', '/bin/bash', '-bash'), t0 + 1)), 'session=public');
  // the extension restarts (osqueryd's restart, the scorer thread's after a row over budget) while ann is logged in
  const saved = JSON.parse(JSON.stringify(x.toState()));
  t.equal(checkExtractor(saved), null, 'the saved state is valid');
  const y = FeatureExtractor.fromState(saved, { users: new UidMap(), overrides: {} });
  t.equal(sessionIn(y, at(proc('701', '700', '/usr/bin/curl', 'curl http://x'), t0 + 3600)), 'session=public', 'the next command in the session');
  t.equal(sessionIn(y, at(proc('702', '1', '/usr/sbin/cron', 'cron -f'), t0 + 3600)), undefined, 'and only there');
  t.equal(checkExtractor({ ...saved, sessions: [['h:1', 3]] }), '/sessions/0 must NOT have fewer than 3 items', 'a malformed list is refused');
});

t.test('the listeners learnt before a restart still give a shell its ancestry after it', async (t) => {
  const t0 = 1_790_000_000;
  const lineageOf = (x: FeatureExtractor, row: ResultRow) => x.extract(row).event.values.find((v) => v.startsWith('lineage='));
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  // listening_ports is differential: sshd's port is logged once, when sshd starts, and never
  // again while it listens (osqueryd keeps its last results across its own restarts too)
  x.extract({
    query: 'pack_x_listening_ports',
    host: 'h',
    time: t0,
    action: 'added',
    columns: { pid: '612', port: '22', protocol: '6', family: '2', address: '0.0.0.0', path: '/usr/sbin/sshd' },
    decorations: {},
  });
  const root = { auid: '0', uid: '0', euid: '0' };
  x.extract(at(proc('100', '612', '/usr/sbin/sshd', 'sshd: ann [priv]', root), t0 + 60));
  t.equal(lineageOf(x, at(proc('101', '100', '/bin/bash', '-bash'), t0 + 61)), 'lineage=service:sshd', 'a login shell before the restart');
  // the extension restarts (or `anomaly score` reads what `anomaly train` saved); a day later ann logs in again
  const saved = JSON.parse(JSON.stringify(x.toState()));
  t.equal(checkExtractor(saved), null, 'the saved state is valid');
  const y = FeatureExtractor.fromState(saved, { users: new UidMap(), overrides: {} });
  y.extract(at(proc('200', '612', '/usr/sbin/sshd', 'sshd: ann [priv]', root), t0 + 86_400));
  t.equal(lineageOf(y, at(proc('201', '200', '/bin/bash', '-bash'), t0 + 86_401)), 'lineage=service:sshd', 'and after it');
  t.equal(checkExtractor({ ...saved, listeners: [3] }), '/listeners/0 must be string', 'a malformed list is refused');
});

t.test('a shell opened before a restart still names the parent of what it runs after it', async (t) => {
  const t0 = 1_790_000_000;
  const parentOf = (x: FeatureExtractor, row: ResultRow) => x.extract(row).event;
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  // process_events reports a process once, when it starts: ann's shell (700), kept open in tmux
  x.extract(at(proc('700', '650', '/bin/bash', '-bash'), t0));
  t.equal(parentOf(x, at(proc('701', '700', '/usr/bin/git', 'git status'), t0 + 60)).key, 'exec /usr/bin/git <- /bin/bash', 'before the restart');
  const saved = JSON.parse(JSON.stringify(x.toState()));
  t.equal(checkExtractor(saved), null, 'the saved state is valid');
  const y = FeatureExtractor.fromState(saved, { users: new UidMap(), overrides: {} });
  const after = parentOf(y, at(proc('702', '700', '/usr/bin/git', 'git pull'), t0 + 86_400));
  t.equal(after.key, 'exec /usr/bin/git <- /bin/bash', 'and after it');
  t.ok(after.values.includes('parent=/bin/bash'));
  t.equal(checkExtractor({ ...saved, procs: [['h:1', '/bin/sh', '0']] }), '/procs/0 must NOT have fewer than 4 items', 'a malformed list is refused');
});

t.test("a query's name without its pack, as osquery's default delimiter and Fleet's write it", async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const queryOf = (query: string) => x.match({ ...proc('900', '1', '/usr/bin/git', 'git status'), query }).values.find((v) => v.startsWith('query='));
  t.equal(queryOf('pack_user-behavior_process_events'), 'query=process_events');
  // Fleet: --pack_delimiter=/, one pack per team; a host moved to another team keeps its queries
  t.equal(queryOf('pack/Global/process_events'), 'query=process_events');
  t.equal(queryOf('pack/team-3/process_events'), 'query=process_events');
  t.equal(queryOf('process_events'), 'query=process_events', 'a schedule entry has no pack');
  // the kind of event comes from the query's name, not its pack's
  const listening = { query: 'pack_network-connections_listening_ports', host: 'h', time: 1_790_000_000, action: 'added' as const, decorations: {} };
  t.equal(x.kindOf({ ...listening, columns: { pid: '612', port: '22', protocol: '6', address: '0.0.0.0', path: '/usr/sbin/sshd' } }), 'listen');
  t.equal(x.kindOf({ ...listening, query: 'pack/process-audit/users', columns: { uid: '1000', username: 'ann', shell: '/bin/bash' } }), 'other');
});

t.test('two logins of one account a minute apart: each sshd fork takes its own', async (t) => {
  const t0 = 1_790_000_000;
  const root = { auid: '0', uid: '0', euid: '0' };
  const login = (from: string, pid: string, time: number): ResultRow => lastRow('omar', from, pid, time);
  const run = (order: string[]) => {
    const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
    const seen: Record<string, string | undefined> = {};
    const rows: Record<string, ResultRow> = {
      // the owner from inside; the owner's key used from outside 30 s later
      recordA: login('10.40.8.21', '9001', t0),
      recordB: login('198.51.100.4', '9002', t0 + 30),
      forkA: at(proc('100', '612', '/usr/sbin/sshd', 'sshd: omar [priv]', root), t0),
      forkB: at(proc('200', '612', '/usr/sbin/sshd', 'sshd: omar [priv]', root), t0 + 30),
      // logged_in_users reports the first session too, at every poll of a snapshot query
      seenA: {
        query: 'pack_x_logged_in_users',
        host: 'h',
        time: t0 + 10,
        action: 'snapshot',
        columns: { type: 'user', user: 'omar', tty: 'pts/0', host: '10.40.8.21', time: String(t0), pid: '9001' },
        decorations: {},
      },
    };
    for (const name of order) x.extract(rows[name]);
    for (const [name, parent] of [
      ['A', '100'],
      ['B', '200'],
    ])
      seen[name] = x.extract(at(proc(`${parent}1`, parent, '/bin/bash', '-bash'), t0 + 300)).event.values.find((v) => v.startsWith('session='));
    return seen;
  };
  // osqueryd polls wtmp between the two logins: the first record before either fork's row
  t.same(run(['recordA', 'forkA', 'forkB', 'recordB']), { A: 'session=internal', B: 'session=public' }, 'the record polled between them');
  t.same(run(['forkA', 'forkB', 'recordA', 'recordB']), { A: 'session=internal', B: 'session=public' }, 'both records after both forks');
  t.same(run(['recordA', 'recordB', 'forkA', 'forkB']), { A: 'session=internal', B: 'session=public' }, 'both records first');
  t.same(
    run(['recordA', 'seenA', 'forkA', 'seenA', 'seenA', 'forkB', 'recordB']),
    { A: 'session=internal', B: 'session=public' },
    'the first login reported again',
  );
});

t.test("the miner's forget() drops the least used half", async (t) => {
  const m = new TemplateMiner({ maxTemplates: 10, similarity: 0.9 });
  for (let i = 0; i < 10; i++) {
    m.add(`cmd${i} alpha beta`);
    m.add(`cmd${i} alpha beta`);
  }
  m.add('fresh one two three');
  const kept = m.toState().clusters.map((c) => c[1][0]);
  t.equal(kept.length, 6, `half of the 11 go (${kept.join(', ')})`);
  t.ok(kept.includes('fresh'), 'a new template is not dropped just because it is new');
  m.add('another one two three four');
  t.ok(
    m.toState().clusters.some((c) => c[1][0] === 'another'),
    'and the next new one has room',
  );
});

t.test('eval buffers a pipe and refuses a test set with no labelled unit', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-evalpipe-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const line = (label?: string) =>
    JSON.stringify({
      name: 'pack_x_process_events',
      hostIdentifier: 'h',
      unixTime: 1_790_000_000,
      action: 'added',
      columns: { pid: '1', path: '/bin/ls', cmdline: 'ls', auid: '1000' },
      ...(label ? { label } : {}),
    });
  const train = path.join(dir, 'train.log');
  fs.writeFileSync(train, Array.from({ length: 20 }, () => line()).join('\n') + '\n');
  const fifo = path.join(dir, 'test.fifo');
  require('child_process').execFileSync('mkfifo', [fifo]);
  const writer = require('child_process').spawn('sh', ['-c', `printf '%s\\n%s\\n' '${line('normal')}' '${line('anomalous')}' > ${fifo}`]);
  const config = { ...require('../conf/config').resolveConfig({ models: { rarity: true, ocsvm: false, lstm: false } }, 't', {}) };
  const r = await runEval({ train, test: fifo, config });
  writer.kill();
  t.equal(r.n, 2, 'both labelled rows of a pipe are scored');
  const unlabelled = path.join(dir, 'unlabelled.log');
  fs.writeFileSync(unlabelled, line() + '\n');
  await t.rejects(runEval({ train, test: unlabelled, config }), DatasetError, 'no labelled unit is a data error');
});

t.test("a custom query's columns cannot pass for the scorer's own fields", async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const row: ResultRow = {
    query: 'pack_custom_badge_reads',
    host: 'h',
    time: 1_790_000_000,
    action: 'added',
    columns: { who: 'mallory', hour: '3', door: 'lab' },
    decorations: {},
  };
  const e = x.match(row);
  t.notOk(
    e.values.some((v) => v.startsWith('who=')),
    `no actor token, which pooled baselines read as the acting account (${e.values.join(' ')})`,
  );
  t.equal(e.values.filter((v) => v.startsWith('hour=')).length, 1, "one hour token: the row's time, not the column");
  t.ok(e.values.includes('column_who=mallory') && e.values.includes('column_hour=<n>'), 'the columns are kept under their own names');
  t.ok(e.values.includes('door=lab'), 'other columns keep their names');
  // `session` is read as where a login session came from, kept out of the SVM like `who`
  const s = x.match({ ...row, columns: { session: 'public', door: 'lab' } });
  t.notOk(
    s.values.some((v) => v.startsWith('session=')),
    `no session token from a column (${s.values.join(' ')})`,
  );
  t.ok(s.values.includes('column_session=public'));
});

t.test("sshd's fork is known by its binary and uid, the account by its title", async (t) => {
  t.equal(sshdAccount('sshd: alice [priv]', '/usr/sbin/sshd', '0'), 'alice');
  t.equal(sshdAccount('sshd: alice@pts/0', '/usr/sbin/sshd', '0'), 'alice');
  t.equal(sshdAccount('sshd-session: bob [priv]', '/usr/lib/openssh/sshd-session', '0'), 'bob', 'OpenSSH 9.8 and later');
  t.equal(sshdAccount('sshd: root [priv]', '/tmp/sshd', '1000'), undefined, 'a user names their process, not its uid');
  t.equal(sshdAccount('sshd: root [priv]', '/usr/bin/python3', '0'), undefined, 'nor its binary');
  t.equal(sshdAccount('/usr/sbin/sshd -D', '/usr/sbin/sshd', '0'), undefined, 'the listener serves no account');
});

t.test('listeners a user starts from their home fill no room a system service needs (review12)', async (t) => {
  // The programs known to listen (for `lineage=service:<name>`, a shell under a network-facing
  // service) were a set of 2,000 that took the first comers and then nothing more, in memory
  // and in the saved state: any local user listening with 2,000 programs of their own
  // (copies under names of their choosing in ~ or /tmp, a few at a time, each a listening_ports
  // row) left every service started after it without the lineage that says a shell under it
  // is the service's (a web shell under the new service: lineage=none)
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const listener = (pid: string, exe: string, port: string): ResultRow => ({
    query: 'pack_x_listening_ports',
    host: 'h',
    time: 1_790_000_000,
    action: 'added',
    columns: { pid, path: exe, port, address: '0.0.0.0', protocol: '6' },
    decorations: {},
  });
  // names without digits: the generalised path folds digits together
  const name = (i: number) => i.toString(26).replace(/[0-9]/g, (d) => 'qrstuvwxyz'[Number(d)]);
  x.extract(proc('4', '1', '/usr/sbin/sshd', 'sshd -D'));
  x.extract(listener('4', '/usr/sbin/sshd', '22'));
  // (a temporary directory's name folds to /tmp/<tmp>: the program's own name tells them apart)
  for (let i = 0; i < 2500; i++) x.extract(listener(String(10_000 + i), i % 2 ? `/home/eve/.l/${name(i)}` : `/tmp/l/${name(i)}`, String(20_000 + i)));
  x.extract(proc('5', '1', '/usr/sbin/nginx', 'nginx'));
  x.extract(listener('5', '/usr/sbin/nginx', '80'));
  x.extract(proc('20', '5', '/usr/bin/php', 'php-fpm'));
  const e = x.extract(proc('21', '20', '/bin/sh', 'sh -c id', { uid: '33', euid: '33', auid: '4294967295' })).event;
  t.ok(
    e.values.includes('lineage=service:nginx'),
    `a shell under the service started after the flood says so (${e.values.filter((v) => v.startsWith('lineage')).join(' ')})`,
  );
  const s = x.extract(proc('30', '4', '/bin/bash', '-bash')).event;
  t.ok(s.values.includes('lineage=service:sshd'), 'a service known before the flood still is');
  // and across a save
  const y = FeatureExtractor.fromState(JSON.parse(JSON.stringify(x.toState())), { users: new UidMap(), overrides: {} });
  y.extract(proc('5', '1', '/usr/sbin/nginx', 'nginx'));
  y.extract(proc('20', '5', '/usr/bin/php', 'php-fpm'));
  const again = y.extract(proc('22', '20', '/bin/sh', 'sh -c id', { uid: '33', euid: '33', auid: '4294967295' })).event;
  t.ok(again.values.includes('lineage=service:nginx'), 'read back from the saved state');
  t.ok(x.toState().listeners!.length <= 2000, 'still at most 2,000');
});
