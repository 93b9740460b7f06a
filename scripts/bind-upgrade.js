#!/usr/bin/env node
// A host's binds across an osquery upgrade (docs/evaluation.md, branch bind0): five daemons
// bind (about 48 a day) and curl connects (96 a day) for 14 days on osquery 5.14, which writes
// "0" for a bind's remote_address and a connect's local_address, then --days more on 5.15.0 or
// later, which leaves them empty (osquery #8510). Trains a state on the 14 days, scores the
// days after, and prints each later day's verdicts of bind rows.
//   node scripts/bind-upgrade.js [--days 7] [--osquery 5.15|5.14] [--train-dist DIR] [--dist DIR]
// --train-dist trains with another build (an extension upgraded over an older one's state);
// --dist scores with it (both default to this tree's dist/).
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const days = Number(arg('days', '7'));
const later = arg('osquery', '5.15');
const dist = path.resolve(arg('dist', path.join(__dirname, '..', 'dist')));
const trainDist = path.resolve(arg('train-dist', dist));

const START = Date.UTC(2026, 10, 1) / 1000;
let seed = 7;
const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const pick = (xs) => xs[Math.floor(random() * xs.length)];
const DAEMONS = [
  ['/usr/sbin/nginx', '8443'],
  ['/usr/sbin/sshd', '22'],
  ['/usr/bin/python3', '0'],
  ['/usr/sbin/chronyd', '323'],
  ['/usr/lib/systemd/systemd-resolved', '5355'],
];
const PEERS = ['151.101.2.132', '91.189.91.39', '140.82.121.4', '10.0.4.17'];

function line(time, columns) {
  const fixed = { pid: String(500 + Math.floor(random() * 9000)), fd: '6', auid: '4294967295', family: '2', protocol: '0', time: String(time) };
  return JSON.stringify({
    name: 'pack_user-behavior_socket_events',
    hostIdentifier: 'web-3',
    calendarTime: new Date(time * 1000).toUTCString(),
    unixTime: time,
    epoch: 0,
    counter: 0,
    numerics: false,
    decorations: { host_uuid: 'u' },
    columns: { ...fixed, uptime: '9', status: 'succeeded', success: '1', local_port: '0', remote_port: '0', ...columns },
    action: 'added',
  });
}

/** one day's rows; `none` is how that osquery writes the address a row has not */
function day(d, none) {
  const rows = [];
  for (let i = 0; i < 96; i++) {
    const t = START + d * 86400 + i * 900 + Math.floor(random() * 600);
    if (random() < 0.5) {
      const [exe, port] = pick(DAEMONS);
      rows.push(line(t, { action: 'bind', path: exe, local_address: '0.0.0.0', local_port: port, remote_address: none }));
    }
    rows.push(line(t + 1, { action: 'connect', path: '/usr/bin/curl', remote_address: pick(PEERS), remote_port: '443', local_address: none }));
  }
  return rows;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bind-upgrade-'));
const state = path.join(dir, 'state');
fs.mkdirSync(state, { mode: 0o700 });
const write = (name, rows) => fs.writeFileSync(path.join(dir, name), `${rows.join('\n')}\n`);
const before = [];
for (let d = 0; d < 14; d++) before.push(...day(d, '0'));
const after = [];
for (let d = 14; d < 14 + days; d++) after.push(...day(d, later === '5.14' ? '0' : ''));
write('train.log', before);
write('score.log', after);
fs.writeFileSync(path.join(dir, 'anomaly.json'), JSON.stringify({ models: { lstm: false }, learning: { min_events: 300 } }));
const cli = (build, command, log) =>
  execFileSync(
    process.execPath,
    [path.join(build, 'cli', 'main.js'), command, '--log', path.join(dir, log), '--state', state, '--config', path.join(dir, 'anomaly.json'), '--quiet'],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 28,
    },
  );
cli(trainDist, 'train', 'train.log');
const perDay = new Map();
for (const text of cli(dist, 'score', 'score.log').trim().split('\n')) {
  const row = JSON.parse(text);
  if (!row.event.startsWith('bind ')) continue;
  const d = Math.floor((row.time - START) / 86400);
  const counts = perDay.get(d) ?? { bad: 0, ugly: 0, good: 0, learning: 0 };
  counts[row.verdict]++;
  perDay.set(d, counts);
}
console.log(`binds after 14 days on osquery 5.14, then on ${later} (trained by ${trainDist}, scored by ${dist}):`);
for (const [d, c] of perDay) console.log(`  day ${d + 1}: ${c.bad} bad, ${c.ugly} ugly, ${c.good} good`);
fs.rmSync(dir, { recursive: true, force: true });
