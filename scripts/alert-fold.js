#!/usr/bin/env node
// The fold attack on the alert pack's `bad` answer (docs/hardening.md, branch fold): a local
// user with `--flood` subjects (a rootless container's subuids, `uid:N`) of one bad row each,
// scored 0, in the last hour, and another account's one alert, scored 0 too, among a store of
// `--rows` retained rows in all (the rest ordinary rows of 50 users over 20 days, user7's
// among them). Prints, for `--runs` answers: the answer's time, the rows it shows, whether the
// alert is one of them, and the load.
//   node scripts/alert-fold.js [--flood 40000] [--rows 1000000] [--runs 5] [--dist DIR]
// --dist runs another build (its dist/ directory), e.g. the tree before a change.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const { alertRun } = require('./lib/alert-run');

const { opt, load, badAnswer } = alertRun(process.argv.slice(2));
const FLOOD = Number(opt('flood', 40000));
const ROWS = Number(opt('rows', 1000000));
const RUNS = Number(opt('runs', 5));
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
        event: 'write /home/<user>/.local/share/containers/<*>',
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
          subject: 'user7',
          event: 'exec /usr/bin/nc <- /bin/bash',
          score: 0,
          verdict: 'bad',
          reasons: `${'r'.repeat(700)}`,
        }),
      );
    if (batch.length >= 10_000) {
      store.append(batch);
      batch = [];
    }
  }
  store.append(batch);
  const table = scoresTable(store);
  for (let n = 0; n < RUNS; n++) {
    const t0 = process.hrtime.bigint();
    const rows = [];
    for await (const r of await badAnswer(table, NOW)) rows.push(r);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const shown = rows.filter((r) => r.model !== 'held-back').length;
    const folded = rows.find((r) => r.model === 'held-back' && r.subject === '*');
    console.log(
      JSON.stringify({
        answerMs: Math.round(ms),
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
