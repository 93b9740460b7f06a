import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { DEMO_USERS, generateDemo } from '../demo/generate';
import { generateContext } from '../emulator/sql';
import { windowsTable, WINDOW_COLUMNS } from '../extension/tables/windows';
import { RetainedWindows } from '../state/windows';
import type { ScoredWindow } from '../scorer/types';
import { emulated, until } from './helpers/emulated';

// anomaly_windows through osqueryd (emulated) and the real extension: windows close as rows
// arrive, are retained, and SQL selects them; constraints are pushed down to the store.

const DAY = 86400;

t.test('anomaly_windows through the emulator: closed windows are selectable in SQL', async (t) => {
  const start = 1_790_000_000 - (1_790_000_000 % DAY);
  const stream = generateDemo({ seed: 3, days: 4, start, host: 'web-01', attacks: false });
  const e = await emulated({
    config: { learning: { min_events: 200, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false }, windows: { seconds: 3600, grace_seconds: 0 } },
    users: DEMO_USERS,
  });
  t.teardown(() => e.close());
  await e.launch();
  for (const line of stream.lines) await e.emu.logResult('anomaly', line);
  await until(
    () => e.emu.query("SELECT queued FROM anomaly_models WHERE subject = '*'"),
    (rows) => rows.length === 1 && rows[0].queued === '0',
  );
  const all = await e.emu.query('SELECT subject, host, start, end, events, score, verdict, model, reasons, top_ids FROM anomaly_windows');
  t.ok(all.length > 50, `${all.length} windows closed`);
  const malformed = all.filter(
    (w) =>
      Number(w.end) - Number(w.start) !== 3600 ||
      Number(w.start) % 3600 !== 0 ||
      !(Number(w.events) > 0) ||
      !['good', 'ugly', 'bad', 'learning'].includes(w.verdict) ||
      !Array.isArray(JSON.parse(w.top_ids)),
  );
  t.same(malformed, [], 'every window is an hour, aligned to the hour, with events, a verdict and a list of row ids');
  t.equal(new Set(all.map((w) => w.host)).size, 1, 'one host');
  const subjects = new Set(all.map((w) => w.subject));
  t.ok(subjects.has('alice') && subjects.has('bob'), `per subject: ${[...subjects].join(', ')}`);
  // every row of a closed window was counted once: the rows of alice's scored rows in hours
  // that closed add up to her windows' events
  const aliceWindows = all.filter((w) => w.subject === 'alice');
  const lastClosed = Math.max(...all.map((w) => Number(w.end)));
  const [rows] = await e.emu.query(
    `SELECT count(*) AS n FROM anomaly_scores WHERE subject = 'alice' AND time < ${lastClosed} AND time >= ${Math.min(...aliceWindows.map((w) => Number(w.start)))}`,
  );
  t.equal(
    aliceWindows.reduce((n, w) => n + Number(w.events), 0),
    Number(rows.n),
    "alice's windows hold each of her rows once",
  );

  const since = Number(all[Math.floor(all.length / 2)].start);
  const narrowed = await e.emu.query(`SELECT start, subject FROM anomaly_windows WHERE subject = 'alice' AND start >= ${since}`);
  t.same(
    narrowed.map((w) => `${w.subject}@${w.start}`).sort(),
    aliceWindows
      .filter((w) => Number(w.start) >= since)
      .map((w) => `${w.subject}@${w.start}`)
      .sort(),
    'subject and start constraints select the same windows as filtering all of them',
  );
  const scored = all.filter((w) => w.score !== '');
  t.ok(scored.length > 0, `${scored.length} windows were scored once their subjects had history`);
  const good = await e.emu.query("SELECT count(*) AS n FROM anomaly_windows WHERE verdict = 'good' AND score >= 0.7");
  t.equal(Number(good[0].n), all.filter((w) => w.verdict === 'good').length, 'verdict and score agree');

  // the alert pack's window query logs its results through the anomaly logger too: they are
  // accepted and not scored as behaviour
  const w = all[0];
  const echoed = JSON.stringify({
    name: 'pack_anomaly-alerts_bad_windows',
    hostIdentifier: 'web-01',
    calendarTime: 'Mon Sep 21 00:00:58 2026 UTC',
    unixTime: Number(w.end) + 60,
    epoch: 0,
    counter: 0,
    numerics: false,
    columns: { ...w, score: w.score || '0.1' },
    action: 'added',
  });
  await e.emu.logResult('anomaly', echoed);
  await until(
    () => e.emu.query("SELECT queued FROM anomaly_models WHERE subject = '*'"),
    (rows) => rows.length === 1 && rows[0].queued === '0',
  );
  const [echo] = await e.emu.query("SELECT count(*) AS n FROM anomaly_scores WHERE query = 'pack_anomaly-alerts_bad_windows'");
  t.equal(echo.n, '0', "the extension's own window rows are not scored");
});

t.test('constraints on start, subject, host, score and verdict are pushed down', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-windows-table-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = new RetainedWindows({ dir, maxRows: 1000, maxDays: 30 });
  t.teardown(() => store.close());
  const windows: ScoredWindow[] = [];
  for (let i = 0; i < 40; i++) {
    const score = i % 10 === 3 ? 0.1 : i % 10 === 5 ? null : 0.5 + (i % 5) / 10;
    windows.push({
      subject: i % 2 ? 'alice' : 'bob',
      host: i % 4 < 2 ? 'h1' : 'h2',
      start: 1000 + i * 600,
      end: 1600 + i * 600,
      events: i + 1,
      score,
      verdict: score === null ? 'learning' : score < 0.3 ? 'bad' : score < 0.7 ? 'ugly' : 'good',
      model: score === null ? '' : 'mix',
      reasons: `w${i}`,
      top_ids: '[]',
    });
  }
  store.append(windows);
  const table = windowsTable(store);
  const routes = WINDOW_COLUMNS.map((c) => ({ id: 'column', name: c.name, type: c.type, op: '0' }));
  const generate = async (sql: string) =>
    [
      ...(((await table.call({ action: 'generate', context: generateContext(sql, routes, 'anomaly_windows') }, new Map())).rows ?? []) as Iterable<
        Record<string, string>
      >),
    ].map((r) => r.reasons);
  const expect = (pred: (w: ScoredWindow) => boolean) =>
    windows
      .filter(pred)
      .reverse()
      .map((w) => w.reasons);
  t.same(
    await generate('SELECT * FROM anomaly_windows WHERE start >= 13000'),
    expect((w) => w.start >= 13000),
    'start',
  );
  t.same(
    await generate("SELECT * FROM anomaly_windows WHERE subject = 'alice' AND host = 'h2'"),
    expect((w) => w.subject === 'alice' && w.host === 'h2'),
    'subject and host',
  );
  t.same(
    await generate('SELECT * FROM anomaly_windows WHERE score < 0.3'),
    expect((w) => w.score !== null && w.score < 0.3),
    'score',
  );
  t.same(
    await generate("SELECT * FROM anomaly_windows WHERE verdict = 'learning'"),
    expect((w) => w.verdict === 'learning'),
    'verdict',
  );
  t.equal((await generate('SELECT * FROM anomaly_windows')).length, 40, 'no constraint, every window');
});
