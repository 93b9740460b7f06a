import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { anomaly } from './helpers/cli';
import { rowId, RowIds } from '../scorer/row-id';
import { parseResultLine } from '../scorer/parse/results';
import type { ResultRow } from '../scorer/types';
import { JUMPVM_LOG, WORKSTATION_EXPORT } from './helpers/paths';

// A row's id counts the identical rows of its second met before it (scorer/row-id.ts). The
// count started again whenever the time changed, so in a fleet log, whose hosts' lines are
// interleaved, two identical rows of one second with a row of another second between them
// shared one id: the second was dropped as a replay (retained store) or taken for the first
// (ledgers), never scored nor learnt (crashlearn).

const row = (time: number, pid: string, host = 'web-01'): ResultRow => ({
  query: 'pack_process_events',
  host,
  time,
  action: 'added',
  columns: { pid, path: '/usr/bin/curl' },
  decorations: {},
});

/** the ids as counted before crashlearn: identical rows counted while the time stays the same */
function idsBefore(rows: readonly ResultRow[]): string[] {
  let time = -1;
  const seen = new Map<string, number>();
  return rows.map((r) => {
    if (r.time !== time) {
      time = r.time;
      seen.clear();
    }
    const first = rowId(r, 0);
    const before = seen.get(first) ?? 0;
    seen.set(first, before + 1);
    return before ? `${first}-${before}` : first;
  });
}

t.test('identical rows of one second separated by a row of another second have ids of their own', async (t) => {
  const rows = [row(100, '1'), row(101, '2', 'web-02'), row(100, '1'), row(101, '2', 'web-02'), row(100, '1')];
  const ids = new RowIds();
  const got = rows.map((r) => ids.next(r));
  t.equal(new Set(got).size, rows.length, 'five rows, five ids');
  t.same(got, [rowId(rows[0], 0), rowId(rows[1], 0), rowId(rows[0], 1), rowId(rows[1], 1), rowId(rows[0], 2)], 'each counted within its second');
  t.equal(new Set(idsBefore(rows)).size, 2, 'counted as before, they were two');
});

t.test('a log whose seconds each come in one stretch keeps the ids it had (old ledgers match)', async (t) => {
  const rows = fs
    .readFileSync(JUMPVM_LOG, 'utf8')
    .trim()
    .split('\n')
    .flatMap((l) => parseResultLine(l));
  // the log twice over, the second copy a day on, and each line once more right after itself
  const log = [...rows, ...rows.map((r) => ({ ...r, time: r.time + 86_400 }))].flatMap((r) => [r, r]);
  const ids = new RowIds();
  t.same(
    log.map((r) => ids.next(r)),
    idsBefore(log),
  );
});

t.test('a count put back gives the rows met again the ids they had, also past the seconds kept', async (t) => {
  const ids = new RowIds();
  for (let i = 0; i < 10; i++) ids.next(row(100, '1'));
  const at = ids.count();
  // more distinct rows than are kept: the first seconds met are forgotten on the way
  const many = Array.from({ length: 21_000 }, (_, i) => row(200 + Math.floor(i / 1000), String(i)));
  const batch = [row(100, '1'), ...many, row(100, '1'), row(300, '5')];
  const first = batch.map((r) => ids.next(r));
  t.equal(first[0], rowId(batch[0], 10), 'the eleventh of its second');
  t.equal(
    first[first.length - 2],
    `${rowId(batch[0], 0)}-1.0`,
    'met again once 20,000 rows of later seconds were counted, its second forgotten: counted anew, apart',
  );
  ids.restore(at);
  t.same(
    batch.map((r) => ids.next(r)),
    first,
    'scored again from the count, the same ids',
  );
  ids.restore(at);
  t.same(
    batch.map((r) => ids.next(r)),
    first,
    'and again',
  );
  t.equal(ids.next(row(200, '0')), `${rowId(row(200, '0'), 0)}-1.0`, 'a second forgotten counts its rows from the start again, apart');
});

t.test('identical rows of one second that 20,000 rows of other seconds separate have ids of their own', async (t) => {
  // revcrash: a fleet log whose host sent a query's rows of one second in two batches (osquery's
  // TLS logger: 1,024 lines every 4 s) with 20,000 rows of other hosts between them: its second
  // was forgotten, its rows met again counted from 0, and a row identical to one of the first
  // batch took its id (dropped as a replay of it, or taken for it by the ledgers)
  const others = Array.from({ length: 20_001 }, (_, i) => row(101 + Math.floor(i / 5_000), String(i), `host-${i % 500}`));
  const log = [row(100, '1'), row(100, '1'), ...others, row(100, '1'), row(100, '1'), row(100, '2')];
  const ids = new RowIds();
  const got = log.map((r) => ids.next(r));
  t.equal(new Set(got).size, log.length, 'every row its own id');
  t.same(got.slice(0, 2), [rowId(log[0], 0), rowId(log[0], 1)], 'the first ones as before');
  const again = new RowIds();
  t.same(
    log.map((r) => again.next(r)),
    got,
    'the log read again: the same ids',
  );
});

t.test('a log past the rows counted whose seconds each come in one stretch keeps the ids it had', async (t) => {
  const log = Array.from({ length: 45_000 }, (_, i) => row(100 + Math.floor(i / 1_000), String(i % 900)));
  const ids = new RowIds();
  t.same(
    log.map((r) => ids.next(r)),
    idsBefore(log),
  );
});

t.test('score of a grown fleet log scores the second of two identical rows another second separates', async (t) => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-row-ids-'));
  t.teardown(() => fs.rmSync(state, { recursive: true, force: true }));
  const cfg = path.join(state, 'anomaly.json');
  fs.writeFileSync(cfg, JSON.stringify({ learning: { min_events: 150, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false } }));
  t.equal(anomaly(['train', '--log', WORKSTATION_EXPORT, '--state', state, '--config', cfg, '--quiet']).code, 0);
  const lines = fs.readFileSync(JUMPVM_LOG, 'utf8').trim().split('\n');
  const time = (l: string) => JSON.parse(l).unixTime as number;
  const other = lines.find((l) => time(l) !== time(lines[100]))!;
  const log = path.join(state, 'fleet.log');
  fs.writeFileSync(log, `${lines[100]}\n`);
  t.equal(anomaly(['score', '--log', log, '--state', state, '--config', cfg]).code, 0);
  // the log grown: another host's line of another second, then the first line's row again
  fs.writeFileSync(log, `${[lines[100], other, lines[100]].join('\n')}\n`);
  const grown = anomaly(['score', '--log', log, '--state', state, '--config', cfg]);
  t.equal(grown.code, 0, grown.err);
  t.match(grown.err, /scored 2 rows and showed 1 rows/, 'the row again is scored: it was taken for the first, "not shown, nor scored or learned again"');
  t.notMatch(grown.err, /not shown/);
});
