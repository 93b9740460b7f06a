import t from 'tap';
import { seededRandom as rng } from '../demo/generate';
import { resolveConfig } from '../conf/config';
import { Scorer } from '../scorer/scorer';
import { Subject } from '../scorer/subject';
import type { BehaviourEvent, ResultRow } from '../scorer/types';

// Row calibration is cross-fitted over folds of days (docs/scoring.md, "From evidence to one
// calibrated score"): a value the subject uses on some days and not others is in the held-out
// sample even when the newest days lack it, so it is not called bad when it comes back. Only
// rarity is cross-fitted, so only rarity runs here: the SVM is calibrated on the newest stretch
// with the model that scores (docs/evaluation.md, "Cross-fitted row calibration").

const HOUR = 3600;
const DAY = 24 * HOUR;
const START = 1_790_000_000 - (1_790_000_000 % DAY);
const HABITS: Array<[string, string]> = [
  ['/usr/bin/git', 'git status'],
  ['/usr/bin/vim', 'vim notes.md'],
  ['/usr/bin/make', 'make test'],
  ['/usr/bin/ls', 'ls -la'],
  ['/usr/bin/less', 'less /var/log/syslog'],
];
const SUDO: [string, string] = ['/usr/bin/sudo', 'sudo systemctl restart nginx'];

/** a subject with rarity alone, monitoring from 100 events, 30 % held out */
function raritySubject(name: string): Subject {
  return new Subject(name, {
    models: ['rarity'],
    minEvents: 100,
    minSeconds: 0,
    windowEvents: 20_000,
    retrainSeconds: 10 * DAY,
    contextLength: 0,
    heldOutFraction: 0.3,
    backend: 'none',
  });
}

function row(time: number, exe: string, cmdline: string, parent = '/bin/bash'): ResultRow {
  return {
    query: 'pack_user-behavior_process_events',
    host: 'app-01',
    time,
    action: 'added',
    columns: { pid: String(1000 + (time % 30000)), path: exe, cmdline, auid: '1000', uid: '1000', euid: '1000', parent_path: parent },
    decorations: {},
  };
}

t.test('a command of the first days, absent from the newest, is not bad; a new tool from /tmp is', async (t) => {
  const r = rng(5);
  const rows: ResultRow[] = [];
  for (let d = 0; d < 14; d++) {
    for (let i = 0; i < 120; i++) {
      const [exe, cmd] = HABITS[Math.floor(r() * HABITS.length)];
      rows.push(row(START + d * DAY + 9 * HOUR + Math.floor(r() * 8 * HOUR), exe, cmd));
    }
    // a restart on each of the first days (while the subject learns), none since
    if (d < 3) rows.push(row(START + d * DAY + 12 * HOUR, ...SUDO));
  }
  rows.sort((a, b) => a.time - b.time);
  const config = resolveConfig({ learning: { min_events: 400, min_days: 1 }, models: { rarity: true, ocsvm: false, lstm: false } }, 'test', {});
  const scorer = await Scorer.open({ config, stateDir: null });
  await scorer.scoreRows(rows);
  const t0 = START + 14 * DAY + 10 * HOUR;
  const [habit, sudo, tool] = await scorer.scoreRows([
    row(t0, '/usr/bin/git', 'git status'),
    row(t0 + 60, ...SUDO),
    row(t0 + 120, '/tmp/.x/kworker', 'kworker -d'),
  ]);
  t.equal(habit.verdict, 'good', `a habit is good (${habit.score}: ${habit.reasons})`);
  t.equal(sudo.model, 'rarity', `the subject's own model scores it (${sudo.model})`);
  t.not(sudo.verdict, 'bad', `the sudo of the first 3 days is not bad (${sudo.score}: ${sudo.reasons})`);
  t.equal(tool.verdict, 'bad', `a never-seen program in a temp dir is bad (${tool.score}: ${tool.reasons})`);
});

t.test("a subject's first day is learnt by every fold but never held out", async (t) => {
  // Command templates are mined online: a line is its own template until a second one like it
  // generalises it, so the first day's events carry tokens no later day repeats. Held out,
  // each looked new to the fold models fitted on the other days, and a first-seen command
  // ranked among them instead of beyond them.
  const subject = raritySubject('svc@db-01');
  // keyed as shell history is: by the mined template
  const event = (time: number, exe: string, cmd: string, cwd = '/home/svc'): BehaviourEvent => ({
    key: `shell ${cmd}`,
    values: ['kind=process', `exe=${exe}`, `cmd=${cmd}`, `cwd=${cwd}`],
    pairs: [`exe=${exe}>cmd=${cmd}`],
    text: '',
    time,
  });
  const r = rng(9);
  const history: BehaviourEvent[] = [];
  for (let d = 0; d < 14; d++) {
    for (let i = 0; i < 100; i++) {
      const [exe] = HABITS[Math.floor(r() * HABITS.length)];
      history.push(event(START + d * DAY + 9 * HOUR + i * 200, exe, `${exe.split('/').pop()} <*>`));
    }
    // the nightly job: literal on the first night (its template and its dated directory),
    // generalised from the second on
    for (let j = 0; j < 30; j++) {
      const time = START + d * DAY + 2 * HOUR + j * 60;
      history.push(d === 0 ? event(time, '/usr/bin/tar', `tar -cf db-${j}-20454.tar`, `/b/20454-${j}`) : event(time, '/usr/bin/tar', 'tar -cf <*>', '/b/<*>'));
    }
  }
  history.sort((a, b) => a.time - b.time);
  // learn the first day, then train on all fourteen at once
  const firstDay = history.filter((e) => e.time < START + DAY);
  await subject.scoreEvents(firstDay);
  t.equal(subject.state, 'monitoring', 'trained after the first day');
  await subject.scoreEvents(history.slice(firstDay.length));
  await subject.train();
  // as new as each first-night line was to the folds without it, and bad only if those are not held out
  const [odd] = await subject.scoreEvents([event(START + 14 * DAY + 10 * HOUR, '/usr/bin/tar', 'tar -cf - /etc/shadow')]);
  t.equal(odd.verdict, 'bad', `a first-seen use of the nightly program is beyond every held-out event (${odd.score}: ${odd.reasons})`);
});

t.test('more surprise beyond every held-out event is rarer than the edge of the held-out range', async (t) => {
  // Rarity's value is bits of surprise, so its tail beyond the held-out range falls at its own
  // scale (Model.naturalScale), not at the width of the held-out body: a developer's many
  // tools of all frequencies spread the body over 4 bits, and with that as the tail's scale a
  // row with two never-seen kinds (a login from a public address) was no rarer than one just
  // past the held-out top, both 0.311 (the conformal edge with 520 held-out events).
  const subject = raritySubject('dev@app-01');
  const event = (time: number, exe: string, cwd: string, kind = 'process', session = 'local'): BehaviourEvent => ({
    key: `${kind} ${exe}`,
    values: [`kind=${kind}`, `exe=${exe}`, `cwd=${cwd}`, `session=${session}`],
    pairs: [`exe=${exe}>cwd=${cwd}`],
    text: '',
    time,
  });
  const r = rng(3);
  const history: BehaviourEvent[] = [];
  for (let d = 0; d < 14; d++) {
    for (let i = 0; i < 40; i++) {
      // 40 tools, the k-th about 1/(k+1) as frequent as the first; a dozen project directories
      const k = Math.floor(Math.exp(r() * Math.log(41))) - 1;
      history.push(event(START + d * DAY + 9 * HOUR + i * 300, `/usr/bin/t${k}`, `/home/dev/p${Math.floor(r() * r() * 12)}`));
    }
  }
  await subject.scoreEvents(history.slice(0, 40));
  await subject.scoreEvents(history.slice(40));
  await subject.train();
  const t0 = START + 14 * DAY + 10 * HOUR;
  const [habit, oneNew, twoNew] = await subject.scoreEvents([
    event(t0, '/usr/bin/t3', '/home/dev/p1'),
    event(t0 + 60, '/usr/bin/t2', '/home/dev/p0', 'process', 'public'),
    event(t0 + 120, '/usr/bin/t1', '/home/dev/p0', 'login', 'public'),
  ]);
  t.equal(habit.verdict, 'good', `a habit is good (${habit.score}: ${habit.reasons})`);
  t.not(oneNew.verdict, 'bad', `one never-seen value with 500 events of history is not bad alone (${oneNew.score}: ${oneNew.reasons})`);
  t.equal(twoNew.verdict, 'bad', `two never-seen kinds are bad (${twoNew.score}: ${twoNew.reasons})`);
  t.ok(twoNew.score! < oneNew.score! - 0.1, `and clearly rarer than one (${twoNew.score} < ${oneNew.score})`);
});
