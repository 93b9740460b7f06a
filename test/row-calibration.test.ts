import t from 'tap';
import { seededRandom as rng } from '../demo/generate';
import { resolveConfig } from '../conf/config';
import { Scorer } from '../scorer/scorer';
import type { ResultRow } from '../scorer/types';

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
