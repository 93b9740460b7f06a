#!/usr/bin/env node
// The fold attack on the alert pack's `bad` answer (docs/hardening.md, branch fold): a local
// user with `--flood` subjects (a rootless container's subuids, `uid:N`) of one bad row each,
// scored 0, in the last hour, and another account's one alert, scored 0 too, among a store of
// `--rows` retained rows in all (the rest ordinary rows of 50 users over 20 days, user7's
// among them). Prints, for `--runs` answers: the answer's time (wall and the process's CPU),
// the rows it shows, whether the alert is one of them, and the load.
//   node scripts/alert-fold.js [--flood 40000] [--rows 1000000] [--runs 5] [--dist DIR]
//                              [--pad N] [--backdoor]
// --dist runs another build (its dist/ directory), e.g. the tree before a change. --pad puts N
// characters more in each flood row's event, which the answer sends (1200: the crowd no longer
// fits, and subjects are ranked). --backdoor makes the alert a new account's, `sysupd`, still
// learning (scored 0.12 by the host's baseline), and gives the table the host's users table
// (user0..user49 and sysupd), for a build that takes it (branch foldacct).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const { alertRun } = require('./lib/alert-run');

const { opt, load, badAnswer } = alertRun(process.argv.slice(2));
const FLOOD = Number(opt('flood', 40000));
const ROWS = Number(opt('rows', 1000000));
const RUNS = Number(opt('runs', 5));
const PAD = Number(opt('pad', 0));
const BACKDOOR = process.argv.includes('--backdoor');
const { RetainedScores } = load('state', 'scores.js');
const { scoresTable } = load('extension', 'tables', 'scores.js');

const NOW = 1_800_000_000;
const row = (o) => ({
  id: 'x',
  time: NOW,
  host: 'web-01',
  subject: 'bob',
  query: 'pack_user-behavior_process_events',
  action: 'added',
  event: 'exec /usr/bin/git <- /bin/bash',
  score: 0.9,
  verdict: 'good',
  model: 'rarity',
  reasons: 'usual',
  columns: '{"pid":"1","path":"/usr/bin/git"}',
  ...o,
});

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alert-fold-'));
  const store = new RetainedScores({ dir, maxRows: 2 * ROWS, maxDays: 30 });
  const ordinary = ROWS - FLOOD - 1;
  for (let i = 0; i < ordinary; i += 10_000)
    store.append(
      Array.from({ length: Math.min(10_000, ordinary - i) }, (_, k) =>
        row({ id: `g-${i + k}`, time: NOW - 20 * 86400 + Math.floor(((i + k) * 19 * 86400) / ordinary), subject: `user${(i + k) % 50}` }),
      ),
    );
  let batch = [];
  for (let k = 0; k < FLOOD; k++) {
    const uid = `uid:${100_000 + k}`;
    batch.push(
      row({
        id: `f-${k}`,
        time: NOW - 3600 + (k % 3600),
        subject: uid,
        query: 'pack_user-behavior_file_events',
        event: `write /home/<user>/.local/share/containers/<*>${'a'.repeat(PAD)}`,
        score: 0,
        verdict: 'bad',
        model: 'host:rarity',
        reasons: `new account \`${uid}\` never acted on this host before (host:rarity)`,
        columns: JSON.stringify({ target_path: `/home/mallory/.local/share/containers/${'a'.repeat(1000)}`, uid: String(100_000 + k) }),
      }),
    );
    if (k === Math.floor(FLOOD / 2))
      batch.push(
        row({
          id: 'alert',
          time: NOW - 1800,
          subject: BACKDOOR ? 'sysupd' : 'user7',
          event: 'exec /usr/bin/nc <- /bin/bash',
          score: BACKDOOR ? 0.12 : 0,
          verdict: 'bad',
          model: BACKDOOR ? 'host:rarity' : 'rarity',
          reasons: `${'r'.repeat(700)}`,
        }),
      );
    if (batch.length >= 10_000) {
      store.append(batch);
      batch = [];
    }
  }
  store.append(batch);
  let accounts;
  if (BACKDOOR) {
    try {
      const { HostAccounts } = load('extension', 'host-accounts.js');
      accounts = new HostAccounts();
      accounts.update([...Array.from({ length: 50 }, (_, u) => ({ uid: String(1000 + u), username: `user${u}` })), { uid: '1050', username: 'sysupd' }]);
    } catch {
      // a build before foldacct takes no users table
    }
  }
  const table = scoresTable(store, accounts);
  for (let n = 0; n < RUNS; n++) {
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    const rows = [];
    for await (const r of await badAnswer(table, NOW)) rows.push(r);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpu = process.cpuUsage(cpu0);
    const shown = rows.filter((r) => r.model !== 'held-back').length;
    const folded = rows.find((r) => r.model === 'held-back' && r.subject === '*');
    console.log(
      JSON.stringify({
        answerMs: Math.round(ms),
        // (the process's CPU time over the answer: less of the machine's load in it than the wall time)
        cpuMs: Math.round((cpu.user + cpu.system) / 1000),
        shown,
        summaries: rows.length - shown,
        folded: folded ? Number(/ of (\d+) subjects/.exec(folded.event)?.[1] ?? /of (\d+) subjects/.exec(folded.reasons)?.[1]) : 0,
        alertShown: rows.some((r) => r.id === 'alert'),
        load: Number(os.loadavg()[0].toFixed(1)),
      }),
    );
  }
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
})();
