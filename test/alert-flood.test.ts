import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { cutColumns, cutText } from '../extension/tables/answer';
import { storedColumns } from '../scorer/features/extract';
import type { ScoredEvent, ScoredWindow } from '../scorer/types';
import { fairShares, type AnswerShare, type HeldBack } from '../state/answer-share';
import { RetainedScores } from '../state/scores';
import { RetainedWindows } from '../state/windows';
import { emulated } from './helpers/emulated';
import { ROOT } from './helpers/paths';
import { plainRow } from './helpers/scored';

// One local account's flood of its own bad rows, through the emulator (real SQLite) and the
// alert pack's queries as written: the answer stays bounded, another account's alert is in
// it, and what was held back is one row of the flooder that the same query selects, with the
// rest still there for a narrower query (extension/tables/answer.ts, state/answer-share.ts).

t.setTimeout(3_600_000);

const alerts = JSON.parse(fs.readFileSync(path.join(ROOT, 'packs', 'anomaly-alerts.conf'), 'utf8')) as { queries: Record<string, { query: string }> };
/** UTF-8 bytes of a cell, the cut's bound (CELL_BYTES) */
const CELL = 2048;
// reasons of the user's own words, three bytes a character: what review12 measured at most
// (1,582 characters) is 4.7 kB of a row the bad query reads
const OWN_WORDS = `program \`/tmp/<tmp>/x\` never seen before (rarity); arguments ${'語'.repeat(1500)}`;

t.test("one account's flood of bad rows leaves the bad query answered, another account's alert in it and the flood summed up (flood)", async (t) => {
  const N = 15_000;
  const now = Math.floor(Date.now() / 1000);
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  const store = new RetainedScores({ dir: path.join(e.stateDir, 'scores'), maxRows: 1_000_000, maxDays: 30 });
  const eve = (i: number): ScoredEvent =>
    plainRow(i, {
      id: `eve-${i}`,
      time: now - N + i,
      subject: 'eve',
      event: `exec /tmp/<tmp>/x <- /bin/bash ${'x'.repeat(260)}`,
      score: 0.05 + (i % 20) / 100,
      verdict: 'bad',
      reasons: OWN_WORDS,
    });
  for (let i = 0; i < N; i += 500) {
    const batch = Array.from({ length: Math.min(500, N - i) }, (_, k) => eve(i + k));
    // alice's one alert, in the middle of the flood
    if (i === 7000)
      batch.push(plainRow(0, { id: 'alice-nc', time: now - N + i, subject: 'alice', event: 'exec /usr/bin/nc <- /bin/bash', score: 0.12, verdict: 'bad' }));
    store.append(batch);
  }
  store.close();
  await e.launch();

  const rows = await e.emu.query(alerts.queries.bad.query);
  t.ok(
    rows.some((r) => r.id === 'alice-nc'),
    "alice's alert is in the answer",
  );
  const held = rows.filter((r) => r.model === 'held-back');
  t.equal(held.length, 1, 'one summary row for the flooding subject');
  t.equal(held[0]?.subject, 'eve', 'of eve');
  const shown = rows.filter((r) => r.subject === 'eve' && r.model !== 'held-back').length;
  t.ok(shown <= 2000, `eve's rows in the answer are bounded (${shown})`);
  t.equal(shown + Number(/held back: (\d+) rows/.exec(held[0]?.event ?? '')?.[1]), N, 'shown and held back are every one of her rows: none lost silently');
  t.ok(Number(held[0]?.score) < 0.3 && Number(held[0]?.time) > now - 86400, 'the summary is what the bad query selects');
  const bytes = rows.reduce((n, r) => n + Object.entries(r).reduce((m, [k, v]) => m + 8 + k.length + Buffer.byteLength(v ?? ''), 6), 0);
  t.ok(bytes < 48 * 2 ** 20, `the answer is ${(bytes / 2 ** 20).toFixed(1)} MB`);
  const long = rows.filter((r) => r.subject === 'eve' && r.model !== 'held-back').map((r) => r.reasons);
  t.ok(
    long.every((x) => Buffer.byteLength(x) <= CELL && / \[cut: \d+ bytes in all\]$/.test(x)),
    'her reasons are cut, saying so',
  );

  // narrower constraints read everything: by subject (a count, and each id), by id whole
  const [count] = await e.emu.query("SELECT count(*) AS n FROM anomaly_scores WHERE subject = 'eve' AND score < 0.3");
  t.equal(Number(count.n), N, 'a query that names the subject counts all her rows');
  const ids = await e.emu.query(`SELECT id FROM anomaly_scores WHERE subject = 'eve' AND score < 0.3 AND time BETWEEN ${now - N} AND ${now}`);
  t.equal(new Set(ids.map((r) => r.id)).size, N, 'and lists every one of them by time');
  const [one] = await e.emu.query(`SELECT reasons FROM anomaly_scores WHERE id = 'eve-${N - 1}'`);
  t.equal(one.reasons, OWN_WORDS, 'a row named by id has its cells whole');
});

t.test("cells of a local user's text are cut in an answer, saying so, and a row's columns stay JSON (flood)", async (t) => {
  const odd = '\u0001';
  const columns = JSON.stringify(
    storedColumns({ pid: '4242', path: `/tmp/${odd.repeat(4000)}/x`, cmdline: `x ${odd.repeat(200_000)}`, cwd: `/tmp/${odd.repeat(4000)}`, auid: '1001' }),
  );
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  const store = new RetainedScores({ dir: path.join(e.stateDir, 'scores'), maxRows: 1000, maxDays: 30 });
  const now = Math.floor(Date.now() / 1000);
  store.append([plainRow(1, { id: 'long', time: now - 10, subject: 'eve', score: 0.1, verdict: 'bad', reasons: OWN_WORDS, columns })]);
  store.close();
  const windows = new RetainedWindows({ dir: path.join(e.stateDir, 'window-scores'), maxRows: 1000, maxDays: 30 });
  const w: ScoredWindow = {
    subject: 'eve',
    host: 'h',
    start: now - 1200,
    end: now - 600,
    events: 9,
    score: 0.01,
    verdict: 'bad',
    model: 'mix',
    reasons: OWN_WORDS,
    top_ids: '[]',
  };
  windows.append([w]);
  windows.close();
  await e.launch();

  const [row] = await e.emu.query('SELECT subject, reasons, columns FROM anomaly_scores WHERE score < 0.3');
  t.ok(Buffer.byteLength(row.reasons) <= CELL, `reasons in ${Buffer.byteLength(row.reasons)} bytes`);
  t.match(row.reasons, new RegExp(`… \\[cut: ${Buffer.byteLength(OWN_WORDS)} bytes in all\\]$`), 'with its full size');
  t.ok(
    row.columns.length < columns.length && Buffer.byteLength(row.columns) <= 8192,
    `columns in ${Buffer.byteLength(row.columns)} bytes of ${columns.length}`,
  );
  const cols = JSON.parse(row.columns) as Record<string, string>;
  t.match(cols.cmdline, /… \(\d+ chars\)$/, 'columns is still JSON, each long value cut with its length');
  t.equal(cols.auid, '1001', 'the short values whole');
  const [whole] = await e.emu.query("SELECT columns FROM anomaly_scores WHERE id = 'long'");
  t.equal(whole.columns, columns, 'whole when the query names the row');
  const [win] = await e.emu.query(alerts.queries.bad_windows.query);
  t.ok(Buffer.byteLength(win.reasons) <= CELL && win.reasons.includes('[cut: '), "a window's reasons are cut too");
});

t.test('an answer over its budget gives each subject a fair share, keeps its oldest rows and sums up the rest from the index (flood)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-share-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = new RetainedScores({ dir, maxRows: 100_000, maxDays: 3650 });
  t.teardown(() => store.close());
  const rows: ScoredEvent[] = [];
  // eve 600 rows and mallory 300, interleaved, and alice 5; every row costs 100 bytes here
  for (let i = 0; i < 900; i++) rows.push(plainRow(i, { id: `f-${i}`, subject: i % 3 === 2 ? 'mallory' : 'eve', score: 0.1, verdict: 'bad' }));
  for (let i = 0; i < 5; i++) rows.push(plainRow(900 + i, { id: `a-${i}`, subject: 'alice', score: 0.2 + i / 100, verdict: 'bad' }));
  store.append(rows);
  const share: AnswerShare = { bytes: 100 * 305, heldBytes: 0, rows: 1_000, perSubject: Infinity, rowBytes: () => 100 };
  const out = [...store.answer({ score: [{ op: '<', value: 0.3 }] }, share)];
  const kept = (s: string) => out.filter((r): r is ScoredEvent => !('held' in r) && r.subject === s);
  const held = new Map(out.filter((r): r is HeldBack<ScoredEvent> => 'held' in r).map((h) => [h.subject, h]));
  t.equal(kept('alice').length, 5, 'the quiet subject whole');
  t.equal(kept('eve').length, 150, 'the two flooders split the rest evenly');
  t.equal(kept('mallory').length, 150, '(both)');
  t.same(
    kept('eve')
      .map((r) => r.time)
      .sort((a, b) => a - b)
      .slice(0, 1),
    [1_790_000_000],
    "eve's oldest rows are kept",
  );
  t.equal(held.get('eve')?.rows, 450, "eve's other rows are held back");
  t.equal(held.get('mallory')?.rows, 150, "and mallory's");
  t.equal(held.has('alice'), false, 'nothing of alice');
  t.equal(held.get('eve')?.verdict, 'bad', 'with the most severe verdict');
  t.ok(Math.abs((held.get('eve')?.score ?? 1) - 0.1) < 1e-6, 'the lowest score');
  t.equal(held.get('eve')?.to, Math.max(...rows.filter((r) => r.subject === 'eve').map((r) => r.time)), 'and the newest time held');
  // within its budget an answer is every row, as before
  t.equal([...store.answer({}, { ...share, bytes: Infinity })].length, 905, 'an answer within its budget holds every row');
});

t.test('cuts never pass their bound, never split a character, and say the full size (flood)', async (t) => {
  for (const text of ['a'.repeat(5000), '語'.repeat(2000), '😀'.repeat(1000), `${'a'.repeat(2005)}${'😀'.repeat(20)}`]) {
    const cut = cutText(text, 2048);
    t.ok(Buffer.byteLength(cut) <= 2048, `${Buffer.byteLength(cut)} bytes`);
    t.notOk(/[\ud800-\udbff](?![\udc00-\udfff])/.test(cut), 'no half of a surrogate pair');
    t.ok(cut.endsWith(`[cut: ${Buffer.byteLength(text)} bytes in all]`), 'the full size');
  }
  t.equal(cutText('short', 2048), 'short', 'short text as it is');
  const cols = cutColumns(JSON.stringify({ a: '\u0001'.repeat(5000), b: 'x'.repeat(9000), c: 'ok' }), 8192);
  t.ok(Buffer.byteLength(cols) <= 8192, `columns ${Buffer.byteLength(cols)} bytes`);
  t.equal((JSON.parse(cols) as Record<string, string>).c, 'ok', 'JSON, its short values whole');
  t.same(fairShares([1, 5, 100], 30), [1, 5, 24], 'max-min fair shares');
});

// The summary of a subject's held-back rows named no query (''), so a constraint on `query`,
// which the extension pushes down and so holds the answer to, had SQLite drop the summary:
// `score < 0.3 AND query = …` (an alert route per collection query) lost the held-back rows
// without a trace (review rev5)
t.test('a summary of held-back rows is selected by the query constraint that selected them', async (t) => {
  const N = 3_000;
  const now = Math.floor(Date.now() / 1000);
  const query = 'pack_user-behavior_process_events';
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  const store = new RetainedScores({ dir: path.join(e.stateDir, 'scores'), maxRows: 100_000, maxDays: 30 });
  const eve = (i: number, q: string): ScoredEvent =>
    plainRow(i, { id: `eve-${q}-${i}`, time: now - N + i, subject: 'eve', query: q, event: `exec /tmp/x${i % 3} <- /bin/bash`, score: 0.1, verdict: 'bad' });
  store.append(Array.from({ length: N }, (_, i) => eve(i, query)));
  store.close();
  await e.launch();
  const rows = await e.emu.query(`SELECT id, model, query, event FROM anomaly_scores WHERE score < 0.3 AND query = '${query}'`);
  const held = rows.filter((r) => r.model === 'held-back');
  t.equal(held.length, 1, 'the summary is in the answer');
  t.equal(held[0]?.query, query, 'naming the query of the rows it holds');
  const shown = rows.length - held.length;
  t.equal(shown + Number(/held back: (\d+) rows/.exec(held[0]?.event ?? '')?.[1]), N, 'shown and held back are every row: none lost silently');
});
