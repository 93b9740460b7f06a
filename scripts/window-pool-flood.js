// node scripts/window-pool-flood.js [ROWS_PER_MINUTE] (review13, docs/hardening.md): does one busy
// subject move its host's window baseline? The host of test/windows.test.ts's winbase test
// (alice a row a second, deploy three routine rows every half hour, 60 s windows), eight hours,
// with a third account, eve, whose every minute holds ROWS_PER_MINUTE rows of her own routine
// (none bad); then deploy's burst of 200 rows of curl in a minute, while deploy's own windows
// still learn. Prints the burst window's score, verdict, model and reasons. 0 = no eve.
// Since winpace the burst is measured against deploy's own usual pace: 0.000 (bad) at any N
// (before: 0.259 / 0.158 / 0.430 / 0.923 at 0 / 60 / 150 / 400).
const { WindowScorer } = require('../dist/scorer/windows');
const { seededRandom } = require('../dist/demo/generate');
const START = 1_790_000_400;
const USUAL = [
  'exec /usr/bin/git <- /bin/bash',
  'exec /usr/bin/vim <- /bin/bash',
  'connect /usr/bin/ssh -> private:10.0:22',
  'exec /usr/bin/make <- /bin/bash',
];
const perMinute = Number(process.argv[2] ?? 400);
let id = 0;
const row = (time, event, subject = 'alice', score = 0.9) => ({
  id: `id${id++}`,
  time,
  host: 'h1',
  subject,
  query: 'pack_x_process_events',
  action: 'added',
  event,
  score,
  verdict: 'good',
  model: 'rarity',
  reasons: '',
  columns: '{}',
});
const r = seededRandom(21);
const hours = 8;
const rows = [];
for (let s = 0; s < hours * 3600; s++) rows.push(row(START + s, USUAL[Math.floor(r() * 4)]));
for (let at = START + 600; at < START + hours * 3600; at += 1800)
  rows.push(
    row(at + 1, 'login pts from private:10.40', 'deploy'),
    row(at + 2, 'exec /usr/bin/rsync <- /bin/bash', 'deploy'),
    row(at + 3, 'exec /usr/bin/systemctl <- /usr/bin/sudo', 'deploy'),
  );
for (let m = 0; m < hours * 60; m++)
  for (let i = 0; i < perMinute; i++) rows.push(row(START + m * 60 + Math.floor((i * 60) / perMinute), 'exec /usr/bin/make <- /bin/bash', 'eve'));
rows.sort((a, b) => a.time - b.time);
const w = new WindowScorer({ seconds: 60, graceSeconds: 10, minEvents: 300, minSeconds: 0, historyRows: 20_000, retrainSeconds: 3600, stateDir: null });
w.add(rows);
const t0 = START + hours * 3600;
const burst = Array.from({ length: 200 }, (_, i) => row(t0 + 600 + Math.floor(i / 4), 'exec /usr/bin/curl <- /bin/bash', 'deploy'));
const after = [];
for (let s = 0; s < 1200; s++) after.push(row(t0 + s, USUAL[Math.floor(r() * 4)]));
const closed = [...w.add([...after, ...burst].sort((a, b) => a.time - b.time)), ...w.flush()];
const x = closed.find((c) => c.subject === 'deploy' && c.start === t0 + 600);
console.log(`eve ${perMinute}/min: deploy's burst ${x?.score?.toFixed(3)} ${x?.verdict} ${x?.model} ${x?.reasons}`);
