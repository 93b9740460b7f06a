#!/usr/bin/env node
// What the SIEM gets of one account's flood of distinct bad events (a new command line each),
// and whether every one of them is ever in an alert answer as a row of its own: eve makes
// `--per-minute` of them a minute for `--minutes`, then none; the pack's `bad` query's answer is
// made each minute by the table plugin, with the context osqueryd sends, for twice as long. A
// line reaches the SIEM when a row is not in the previous answer (the differential log).
// `--restart` reopens the store (as a restart of the extension would) when the flood stops.
//   node scripts/alert-burst.js [--per-minute 2300] [--minutes 60] [--restart] [--dist DIR]
// --dist runs another build (its dist/ directory), e.g. the tree before a change.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const { alertRun } = require('./lib/alert-run');

const args = process.argv.slice(2);
const { opt, load, badAnswer } = alertRun(args);
const PER_MINUTE = Number(opt('per-minute', 2300));
const MINUTES = Number(opt('minutes', 60));
const RESTART = args.includes('--restart');
const { RetainedScores } = load('state', 'scores.js');
const { scoresTable } = load('extension', 'tables', 'scores.js');

const row = (i, time) => ({
  id: `eve-${i}`,
  time,
  host: 'web-01',
  subject: 'eve',
  query: 'pack_user-behavior_process_events',
  action: 'added',
  event: 'exec /tmp/<tmp>/x <- /bin/bash',
  score: 0.05 + (i % 5) / 100,
  verdict: 'bad',
  model: 'rarity',
  reasons: 'program `/tmp/<tmp>/x` never seen before (rarity)',
  columns: JSON.stringify({ pid: String(4000 + i), cmdline: `x --target host${i.toString(36)}q` }),
});

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alert-burst-'));
  const opts = { dir, maxRows: 1_000_000, maxDays: 30 };
  let store = new RetainedScores(opts);
  try {
    const start = Math.floor(Date.now() / 1000) - 2 * MINUTES * 60;
    let made = 0;
    let previous = new Set();
    const lines = [];
    const answered = new Set();
    for (let minute = 1; minute <= 2 * MINUTES; minute++) {
      const now = start + minute * 60;
      if (minute <= MINUTES) {
        const batch = [];
        for (let k = 0; k < PER_MINUTE; k++, made++) batch.push(row(made, now - 60 + Math.floor((k * 60) / PER_MINUTE)));
        store.append(batch);
      }
      if (RESTART && minute === MINUTES + 1) {
        store.close();
        store = new RetainedScores(opts);
      }
      const seen = new Set();
      let fresh = 0;
      for await (const r of await badAnswer(scoresTable(store), now)) {
        const key = JSON.stringify(r);
        seen.add(key);
        if (!previous.has(key)) fresh++;
        if (r.model !== 'held-back') answered.add(r.id);
      }
      lines.push(fresh);
      previous = seen;
    }
    const sum = (a, b) => lines.slice(a, b).reduce((x, y) => x + y, 0);
    console.log(
      JSON.stringify({
        per_minute: PER_MINUTE,
        minutes: MINUTES,
        restart: RESTART,
        eve_rows: made,
        eve_rows_answered_once: answered.size,
        siem_rows_during_flood: sum(0, MINUTES),
        siem_rows_after: sum(MINUTES, 2 * MINUTES),
      }),
    );
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
