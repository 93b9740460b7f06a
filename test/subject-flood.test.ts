import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { resolveConfig } from '../conf/config';
import { Scorer } from '../scorer/scorer';
import type { ResultRow, ScoredEvent } from '../scorer/types';
import { WindowScorer } from '../scorer/windows';

// A local user with a subordinate uid range (rootless containers: 65,536 uids by default in
// /etc/subuid) runs processes as uids the host has no name for; each became a subject of its
// own, with a state file, kept for ever. Measured before the bound: 5,000 such uids, one row
// each, made 5,001 files (13 MB) and 21 MB of heap that the scorer held from then on, so 65k
// passed the 200 MB the osqueryd watchdog allows. memory.max_subjects bounds them: beyond it,
// the learning subject that has learnt the least is forgotten; a monitoring one never is.

function row(uid: number, time: number): ResultRow {
  return {
    query: 'pack_user-behavior_process_events',
    host: 'h',
    time,
    action: 'added',
    columns: { pid: String(time), path: '/usr/bin/true', cmdline: `true ${time % 5}`, auid: String(uid), parent: '1' },
    decorations: {},
  };
}

t.test('a flood of distinct uids is bounded by memory.max_subjects; monitoring and active subjects stay', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-flood-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = resolveConfig(
    {
      state_dir: dir,
      learning: { min_events: 200, min_days: 0 },
      models: { rarity: true, ocsvm: false, lstm: false },
      memory: { resident_subjects: 4, max_subjects: 50 },
    },
    'test',
    {},
  );
  const log: string[] = [];
  // as the extension's scorer thread opens it (scorer/worker.ts)
  const scorer = await Scorer.open({ config, stateDir: dir, log: (l, m) => log.push(`${l} ${m}`), maxSubjects: config.memory.max_subjects });
  let time = 1_790_000_000;
  // a user who monitors, then goes quiet
  for (let i = 0; i < 300; i++) await scorer.scoreRows([row(1000, time++)]);
  t.equal(scorer.summaries().find((s) => s.subject === 'uid:1000@h')?.state, 'monitoring', 'uid 1000 monitors');
  // 400 uids of one row each, while another user keeps working (learning)
  for (let u = 0; u < 400; u++) {
    await scorer.scoreRows([row(200_000 + u, time++), row(1001, time++)]);
  }
  scorer.save();
  const names = scorer.summaries().map((s) => s.subject);
  t.ok(scorer.subjectCount <= 50, `at most 50 subjects kept (${scorer.subjectCount})`);
  const files = fs.readdirSync(path.join(dir, 'subjects')).filter((f) => f.endsWith('.json'));
  t.ok(files.length <= 50 + 2, `at most 50 subject files, and the host baseline's (${files.length})`);
  t.ok(names.includes('uid:1000@h'), 'the monitoring subject is kept');
  t.equal(scorer.summaries().find((s) => s.subject === 'uid:1000@h')?.state, 'monitoring');
  const active = scorer.summaries().find((s) => s.subject === 'uid:1001@h');
  t.equal(active?.events, 400, 'the active learning subject is kept with all its events');
  t.ok(
    log.some((l) => /^warn .*max_subjects/.test(l)),
    'the log says subjects were forgotten, and why',
  );
  t.ok(log.filter((l) => /max_subjects/.test(l)).length < 5, 'not once per subject');
});

t.test('a flood of one-row uids does not erase a user who is still learning', async (t) => {
  // Forgetting the least recently active learning subject let a flood choose whom to erase:
  // a new user's 300 rows of learning went once 1,000 one-row uids had passed a limit of 30,
  // and a flood a day would keep that user scored by the baselines alone. What has learnt the
  // least is forgotten first.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-flood-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = resolveConfig(
    {
      state_dir: dir,
      learning: { min_events: 400, min_days: 0 },
      models: { rarity: true, ocsvm: false, lstm: false },
      memory: { resident_subjects: 5, max_subjects: 30 },
    },
    'test',
    {},
  );
  const scorer = await Scorer.open({ config, stateDir: dir, log: () => {}, maxSubjects: config.memory.max_subjects });
  let time = 1_790_000_000;
  const user: ResultRow[] = [];
  for (let i = 0; i < 300; i++) user.push(row(1000, time++));
  await scorer.scoreRows(user);
  const flood: ResultRow[] = [];
  for (let u = 0; u < 1000; u++) flood.push(row(300_000 + u, time++));
  await scorer.scoreRows(flood);
  t.ok(scorer.subjectCount <= 30, `still at most 30 subjects kept (${scorer.subjectCount})`);
  const [next] = await scorer.scoreRows([row(1000, time++)]);
  t.equal(scorer.summaries().find((s) => s.subject === 'uid:1000@h')?.events, 301, `the user keeps its 300 rows of learning (${next.reasons})`);
  // the flood's subjects still make room for one another, and for users to come
  const [late] = await scorer.scoreRows([row(2000, time++)]);
  t.match(late.reasons, /learning uid:2000@h: 1 of 400/, 'a new user is modelled');
});

t.test('offline commands (train, score) keep every subject: their input is chosen by whoever runs them', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-flood-offline-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // a fleet's log given to 'anomaly train': hosts × users subjects, all learning until the end
  const config = resolveConfig(
    { state_dir: dir, models: { rarity: true, ocsvm: false, lstm: false }, memory: { resident_subjects: 4, max_subjects: 50 } },
    'test',
    {},
  );
  const scorer = await Scorer.open({ config, stateDir: dir, log: () => {} });
  let time = 1_790_000_000;
  for (let u = 0; u < 100; u++) await scorer.scoreRows([row(200_000 + u, time++)]);
  t.equal(scorer.subjectCount, 100, 'all 100 subjects kept');
});

t.test('uids that each reach monitoring are bounded by memory.max_subjects too', async (t) => {
  // a monitoring subject was never forgotten, and a new one was added over the limit when every
  // subject kept was monitoring: a user running 1,000 processes a day under each of 65,536
  // subordinate uids made as many monitoring subjects, each a file of up to
  // retrain.window_events events, kept for ever
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-flood-monitoring-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = resolveConfig(
    {
      state_dir: dir,
      learning: { min_events: 200, min_days: 0 },
      models: { rarity: true, ocsvm: false, lstm: false },
      memory: { resident_subjects: 4, max_subjects: 10 },
    },
    'test',
    {},
  );
  const log: string[] = [];
  const scorer = await Scorer.open({ config, stateDir: dir, log: (l, m) => log.push(`${l} ${m}`), maxSubjects: config.memory.max_subjects });
  let time = 1_790_000_000;
  const last: Array<{ subject: string; verdict: string; reasons: string }> = [];
  for (let u = 0; u < 30; u++) {
    const events = await scorer.scoreRows(Array.from({ length: 260 }, () => row(300_000 + u, time++)));
    last.push(events[events.length - 1]);
  }
  scorer.save();
  const subjects = scorer.summaries().filter((s) => s.subject.startsWith('uid:') && s.model === 'rarity');
  t.ok(subjects.length <= 10, `at most 10 subjects kept (${subjects.length})`);
  t.ok(
    subjects.every((s) => s.state === 'monitoring'),
    'those kept monitor',
  );
  const files = fs.readdirSync(path.join(dir, 'subjects')).filter((f) => f.endsWith('.json'));
  t.ok(files.length <= 10 + 1, `at most 10 subject files, and the host baseline's (${files.length})`);
  t.ok(
    subjects.some((s) => s.subject === 'uid:300000@h'),
    'the first, monitoring, are the ones kept',
  );
  const refused = last[29];
  t.equal(refused.subject, 'uid:300029');
  t.match(refused.reasons, /max_subjects/, `a subject not kept is still scored, and the reason says why (${refused.reasons})`);
  t.ok(log.filter((l) => /max_subjects/.test(l)).length < 5, 'logged, not once per row');
});

/** the window unit's options of the flood tests: one-minute windows, 300 rows to be scored */
function windowOptions(stateDir: string, maxSubjects: number) {
  return { seconds: 60, graceSeconds: 10, minEvents: 300, minSeconds: 0, historyRows: 20_000, retrainSeconds: 3600, stateDir, maxSubjects };
}

/** good rows of a subject at a time, numbered in order, each one of five tools */
function goodRows(): (subject: string, time: number) => ScoredEvent {
  let n = 0;
  return (subject, time) => ({
    id: `r${n++}`,
    time,
    host: 'h',
    subject,
    query: 'pack_user-behavior_process_events',
    action: 'added',
    event: `exec /usr/bin/tool${n % 5} <- /bin/bash`,
    score: 0.9,
    verdict: 'good',
    model: 'rarity',
    reasons: '',
    columns: '{}',
  });
}

t.test('a flood of distinct uids does not grow the window scorer without bound either', async (t) => {
  // the window unit keeps a subject of its own per user (scorer/windows/), each with a file
  // and loaded at every start: 5,000 uids of one row each made 5,001 files and 7.3 MB of heap,
  // kept for ever (65,536 uids: about 95 MB), whatever memory.max_subjects said
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-flood-windows-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const opts = windowOptions(dir, 50);
  let w = new WindowScorer(opts);
  const scored = goodRows();
  let time = 1_790_000_000 - (1_790_000_000 % 60);
  // a user whose windows are scored, then who goes quiet
  for (let i = 0; i < 1200; i++) w.add([scored('alice', (time += 4))]);
  t.ok(w.monitoring().includes('alice@h'), 'alice’s windows are scored');
  // 400 uids of one row each, one a second, while bob keeps working
  for (let u = 0; u < 400; u++) w.add([scored(`uid:${200_000 + u}`, time), scored('bob', time++)]);
  w.save();
  const files = () => fs.readdirSync(path.join(dir, 'subjects')).filter((f) => f.endsWith('.json')).length;
  t.ok(files() <= 50, `at most 50 window subject files (${files()})`);
  w = new WindowScorer(opts);
  t.ok(w.subjectCount <= 50, `at most 50 window subjects loaded again (${w.subjectCount})`);
  t.ok(w.monitoring().includes('alice@h'), 'alice’s scored windows are kept');
  const closed = [];
  for (let i = 0; i < 100; i++) closed.push(...w.add([scored('bob', time++)]));
  const bob = [...closed, ...w.flush()].filter((x) => x.subject === 'bob');
  const events = bob.reduce((a, x) => a + x.events, 0);
  t.ok(events >= 100, `bob, active through the flood, is kept: his windows go on (${events} rows in his windows since the restart)`);
});

t.test('a flood of one-row uids does not erase a user whose windows are still learning', async (t) => {
  // as for rows (the test before): a flood must not choose whom to erase. The window unit's
  // forgetting, least recently active first, kept carol already when this was written: a guard
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-flood-windows-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const opts = windowOptions(dir, 30);
  const w = new WindowScorer(opts);
  const scored = goodRows();
  let time = 1_790_000_000 - (1_790_000_000 % 60);
  // carol: 250 rows, 300 needed before her windows are scored
  for (let i = 0; i < 250; i++) w.add([scored('carol', (time += 4))]);
  for (let u = 0; u < 1000; u++) w.add([scored(`uid:${300_000 + u}`, time++)]);
  t.ok(w.subjectCount <= 30, `at most 30 window subjects (${w.subjectCount})`);
  w.add([scored('carol', (time += 100))]);
  const carol = [...w.add([scored('carol', (time += 100))]), ...w.flush()].filter((x) => x.subject === 'carol');
  t.match(carol[carol.length - 1]?.reasons ?? '', /25[12] of 300 events/, `carol keeps her 250 rows (${carol.map((x) => x.reasons).join('; ')})`);
});
