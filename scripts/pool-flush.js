#!/usr/bin/env node
// Can one account's volume make the host pool forget the others' habits, so that a learning
// account's new tool passes? Three accounts work six days (150 rows a day each, five habits);
// eve runs `nc` 300 times; with `flood`, eve then logs 6,000 rows (her habits, nc every 7th)
// before the pool's daily retraining; two days on, alice (still learning, scored by the pool)
// runs `git` and `nc` twice. Prints alice's three rows.
//   npm run build && node scripts/pool-flush.js none && node scripts/pool-flush.js flood
'use strict';
const path = require('path');
const dist = path.join(__dirname, '..', 'dist');
const { resolveConfig } = require(path.join(dist, 'conf', 'config.js'));
const { Scorer } = require(path.join(dist, 'scorer', 'scorer.js'));
const { seededRandom } = require(path.join(dist, 'demo', 'generate.js'));
const HOUR = 3600,
  DAY = 86400,
  START = 1_790_000_000,
  HOST = 'db-02';
const HABITS = [
  ['/usr/bin/git', 'git status', '/bin/bash'],
  ['/usr/bin/vim', 'vim notes.md', '/bin/bash'],
  ['/usr/bin/make', 'make test', '/bin/bash'],
  ['/usr/bin/ls', 'ls -la', '/bin/bash'],
  ['/usr/bin/psql', 'psql -h 10.0.0.5 app', '/bin/bash'],
];
let pid = 1000;
const row = (time, auid, exe, cmdline, parent) => ({
  query: 'pack_user-behavior_process_events',
  host: HOST,
  time,
  action: 'added',
  columns: { pid: String(pid++), path: exe, cmdline, auid, uid: auid, euid: auid, parent_path: parent },
  decorations: {},
});
const flood = process.argv[2] === 'flood';
(async () => {
  const r = seededRandom(5);
  const config = resolveConfig(
    { learning: { min_events: 1000, min_days: 1 }, models: { rarity: true, ocsvm: true, lstm: false }, retrain: { window_events: 4000 } },
    'x',
    {},
  );
  const scorer = await Scorer.open({ config, stateDir: null });
  scorer.setUsers([
    { uid: '1000', username: 'alice' },
    { uid: '1001', username: 'bob' },
    { uid: '1002', username: 'eve' },
  ]);
  const rows = [];
  for (let d = 0; d < 6; d++)
    for (const u of ['1000', '1001', '1002'])
      for (let i = 0; i < 150; i++) {
        const [exe, cmd, parent] = HABITS[Math.floor(r() * HABITS.length)];
        rows.push(row(START + d * DAY + 9 * HOUR + Math.floor(r() * 8 * HOUR), u, exe, cmd, parent));
      }
  rows.sort((a, b) => a.time - b.time);
  for (let i = 0; i < rows.length; i += 500) await scorer.scoreRows(rows.slice(i, i + 500));
  let t = START + 6 * DAY + 9 * HOUR;
  // eve teaches the pool nc (both runs)
  const eveNc = [];
  for (let i = 0; i < 300; i++) eveNc.push(row((t += 20), '1002', '/usr/bin/nc', 'nc -z 10.0.0.5 5432', '/bin/bash'));
  await scorer.scoreRows(eveNc);
  if (flood) {
    // eve's volume: her routine, a window's worth and more, within a day
    const f = [];
    for (let i = 0; i < 6000; i++) {
      const [exe, cmd, parent] = i % 7 ? HABITS[i % 5] : ['/usr/bin/nc', 'nc -z 10.0.0.5 5432', '/bin/bash'];
      f.push(row((t += 5), '1002', exe, cmd, parent));
    }
    for (let i = 0; i < f.length; i += 500) await scorer.scoreRows(f.slice(i, i + 500));
  }
  // a day and more later (the pool retrains every 4 x 6 h): eve's ordinary row triggers it
  t = START + 8 * DAY + 9 * HOUR;
  await scorer.scoreRows([row(t, '1002', '/usr/bin/git', 'git status', '/bin/bash')]);
  const out = await scorer.scoreRows([
    row(t + 60, '1000', '/usr/bin/git', 'git status', '/bin/bash'),
    row(t + 120, '1000', '/usr/bin/nc', 'nc -z 10.0.0.5 5432', '/bin/bash'),
    row(t + 180, '1000', '/usr/bin/nc', 'nc -z 10.0.0.5 5432', '/bin/bash'),
  ]);
  for (const e of out) console.log(flood ? 'flood' : 'none ', e.subject, e.score.toFixed(3), e.verdict, e.model, '|', e.reasons.slice(0, 220));
})();
