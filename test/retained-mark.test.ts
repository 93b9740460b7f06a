import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import type { ScoredEvent, ScoredWindow } from '../scorer/types';
import { STORED_MARK } from '../state/retained';
import { RetainedScores } from '../state/scores';
import { RetainedWindows } from '../state/windows';
import { answerBytes } from './helpers/answer-bytes';
import { plainRow } from './helpers/scored';

// Each segment the store creates begins with a mark saying its records were written by
// storedJson (hidden characters as \u escapes), so that a load skips measuring each record's
// shown size for it (a third of the load of a million records with non-ASCII text). A segment without the mark (an
// earlier build's) is measured as before, and a damaged mark falls back to measuring: never a
// crash, never a record lost.

const DEL = '\x7f';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-mark-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** row i of one of 20 users, with hidden and non-ASCII characters where `hidden` */
function row(i: number, hidden = true): ScoredEvent {
  return plainRow(i, {
    subject: `u${i % 20}`,
    event: hidden ? `exec /tmp/${DEL.repeat(50)} ü€😀` : `exec /bin/tool${i % 7}`,
    reasons: hidden ? DEL.repeat(50) : 'usual',
    columns: JSON.stringify({ cmdline: hidden ? `${DEL.repeat(100)}\u202e` : 'ls' }),
    score: 0.1,
    verdict: 'bad',
  });
}

const segments = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('segment-'))
    .sort();
const firstLine = (file: string) => fs.readFileSync(file, 'utf8').split('\n')[0];
const all = (store: RetainedScores) => store.select({}).sort((a, b) => a.time - b.time);

/** the bytes an answer of every row shows within a budget of 200,000 */
function answered(store: RetainedScores): { shown: number; budget: number; rows: number } {
  return { ...answerBytes(store, 200_000), budget: 200_000 };
}

t.test('segments this build writes begin with the mark, read back whole without measuring a record', (t) => {
  const dir = tmp(t);
  const rows = Array.from({ length: 300 }, (_, i) => row(i));
  const store = new RetainedScores({ dir, maxRows: 100_000, maxDays: 36500 });
  store.append(rows);
  store.close();
  const files = segments(dir);
  t.same(files, ['segment-00000001.jsonl']);
  t.equal(firstLine(path.join(dir, files[0])), STORED_MARK, 'the segment begins with the mark');

  const messages: string[] = [];
  const again = new RetainedScores({ dir, maxRows: 100_000, maxDays: 36500, log: (_level, msg) => messages.push(msg) });
  t.teardown(() => again.close());
  t.equal(again.size, 300, 'every record is read');
  t.equal(again.measuredAtLoad, 0, "no record's shown size is measured");
  t.equal(again.unreadableAtLoad, 0, 'the mark is no unreadable record');
  t.same(all(again), rows, 'the records read back exact');
  t.notMatch(messages.join('\n'), /unreadable|damaged|torn/, 'and nothing is said about the mark');
  // appended after a restart: to the same segment, which keeps its one mark
  again.append([row(300)]);
  again.flush();
  const lines = fs.readFileSync(path.join(dir, files[0]), 'utf8').split('\n').filter(Boolean);
  t.equal(lines.filter((l) => l === STORED_MARK).length, 1, 'one mark, first');
  t.equal(lines.length, 302, 'and the records after it');
  const budget = answered(again);
  t.ok(
    budget.rows > 0 && budget.shown <= budget.budget,
    `an answer of them stays within its budget (${budget.shown} of ${budget.budget} bytes, ${budget.rows} rows)`,
  );
  t.end();
});

t.test('a store an earlier build wrote (no mark) loads as before: each record measured and budgeted at its shown size', (t) => {
  const dir = tmp(t);
  const rows = Array.from({ length: 300 }, (_, i) => row(i));
  // as the build before the marks wrote it: JSON.stringify, the hidden characters raw
  const file = path.join(dir, 'segment-00000001.jsonl');
  const old = rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  fs.writeFileSync(file, old, { mode: 0o600 });
  const messages: string[] = [];
  const store = new RetainedScores({ dir, maxRows: 100_000, maxDays: 36500, log: (_level, msg) => messages.push(msg) });
  t.equal(store.size, 300, 'every record is read');
  t.equal(store.measuredAtLoad, 300, 'each measured');
  t.equal(store.unreadableAtLoad, 0, 'none unreadable');
  t.same(all(store), rows, 'the records read back exact');
  t.equal(fs.readFileSync(file, 'latin1'), Buffer.from(old).toString('latin1'), 'the file is left as it was');
  const budget = answered(store);
  t.ok(budget.rows > 0 && budget.shown <= budget.budget, `an answer of its raw records stays within its budget (${budget.shown} of ${budget.budget} bytes)`);
  // this build appends to the earlier build's last segment: it stays unmarked, and measured
  store.append([row(300)]);
  store.close();
  t.not(firstLine(file), STORED_MARK, 'no mark is put before records this build did not write');
  const again = new RetainedScores({ dir, maxRows: 100_000, maxDays: 36500 });
  t.teardown(() => again.close());
  t.equal(again.size, 301);
  t.equal(again.measuredAtLoad, 301, 'every record of the unmarked segment is measured again');
  t.end();
});

t.test("an earlier build's full segment, then this build's: only the earlier one's records are measured", (t) => {
  const dir = tmp(t);
  // 100,000 records fill a segment: the next go to a new one, marked
  const old = Array.from({ length: 100_000 }, (_, i) => JSON.stringify(row(i, i % 1000 === 0))).join('\n') + '\n';
  fs.writeFileSync(path.join(dir, 'segment-00000001.jsonl'), old, { mode: 0o600 });
  const store = new RetainedScores({ dir, maxRows: 1_000_000, maxDays: 36500 });
  t.equal(store.measuredAtLoad, 100_000);
  store.append(Array.from({ length: 50 }, (_, i) => row(100_000 + i)));
  store.close();
  t.same(segments(dir), ['segment-00000001.jsonl', 'segment-00000002.jsonl']);
  t.not(firstLine(path.join(dir, 'segment-00000001.jsonl')), STORED_MARK);
  t.equal(firstLine(path.join(dir, 'segment-00000002.jsonl')), STORED_MARK, "this build's new segment is marked");
  const again = new RetainedScores({ dir, maxRows: 1_000_000, maxDays: 36500 });
  t.teardown(() => again.close());
  t.equal(again.size, 100_050, 'every record is read');
  t.equal(again.measuredAtLoad, 100_000, 'and only the unmarked segment measured');
  const budget = answered(again);
  t.ok(budget.rows > 0 && budget.shown <= budget.budget, `an answer of both stays within its budget (${budget.shown} of ${budget.budget} bytes)`);
  t.end();
});

t.test('a damaged mark is said, loses no record, and its segment is measured as an earlier build’s', (t) => {
  const rows = Array.from({ length: 200 }, (_, i) => row(i));
  const damages: [string, (mark: string) => string][] = [
    ['a byte changed', (m) => m.replace('storedJson', 'storedJsoN')],
    ['cut short', (m) => m.slice(0, 20)],
    ['a newer mark', (m) => m.replace('storedJson', 'somethingElse')],
    ['not UTF-8', (m) => m.replace('retained', 'r\xe9tained')],
  ];
  for (const [what, damage] of damages) {
    const dir = tmp(t);
    const store = new RetainedScores({ dir, maxRows: 100_000, maxDays: 36500 });
    store.append(rows);
    store.close();
    const file = path.join(dir, segments(dir)[0]);
    const text = fs.readFileSync(file, 'latin1');
    fs.writeFileSync(file, damage(STORED_MARK) + text.slice(STORED_MARK.length), 'latin1');
    const messages: string[] = [];
    const again = new RetainedScores({ dir, maxRows: 100_000, maxDays: 36500, log: (_level, msg) => messages.push(msg) });
    t.equal(again.size, 200, `${what}: every record is read`);
    t.same(all(again), rows, `${what}: exact`);
    t.equal(again.measuredAtLoad, 200, `${what}: each measured`);
    t.match(messages.join('\n'), /segment-00000001\.jsonl: its first line is a damaged mark/, `${what}: the log says so`);
    t.equal(again.unreadableAtLoad, 1, `${what}: the file is counted among those not read whole`);
    again.append([row(200)]);
    again.close();
    const last = new RetainedScores({ dir, maxRows: 100_000, maxDays: 36500 });
    t.equal(last.size, 201, `${what}: appends after it are read back`);
    last.close();
  }
  t.end();
});

t.test('a segment left with its mark alone (its first records torn by a crash) is dropped, and the next is marked', (t) => {
  const dir = tmp(t);
  const store = new RetainedScores({ dir, maxRows: 100_000, maxDays: 36500 });
  store.append([row(0)]);
  store.close();
  const file = path.join(dir, 'segment-00000001.jsonl');
  fs.writeFileSync(file, `${STORED_MARK}\n{"id":"r-0","ti`);
  const messages: string[] = [];
  const again = new RetainedScores({ dir, maxRows: 100_000, maxDays: 36500, log: (_level, msg) => messages.push(msg) });
  t.equal(again.size, 0, 'no record');
  t.match(messages.join('\n'), /skipped a torn last record/);
  t.notOk(fs.existsSync(file), 'the segment of a mark alone is removed');
  again.append([row(1), row(2)]);
  again.close();
  t.equal(firstLine(path.join(dir, segments(dir)[0])), STORED_MARK, 'the next segment is marked');
  const last = new RetainedScores({ dir, maxRows: 100_000, maxDays: 36500 });
  t.teardown(() => last.close());
  t.equal(last.size, 2);
  t.equal(last.measuredAtLoad, 0);
  t.end();
});

t.test('retained windows are marked too', (t) => {
  const dir = tmp(t);
  const windows: ScoredWindow[] = Array.from({ length: 50 }, (_, i) => ({
    subject: `u${i % 5}`,
    host: 'h',
    start: 1_790_000_000 + i * 600,
    end: 1_790_000_600 + i * 600,
    events: 3,
    score: 0.2,
    verdict: 'bad',
    model: 'mix',
    reasons: `${DEL.repeat(40)} \u202e`,
    top_ids: '[]',
  }));
  const store = new RetainedWindows({ dir, maxRows: 100_000, maxDays: 36500 });
  store.append(windows);
  store.close();
  t.equal(firstLine(path.join(dir, segments(dir)[0])), STORED_MARK);
  const again = new RetainedWindows({ dir, maxRows: 100_000, maxDays: 36500 });
  t.teardown(() => again.close());
  t.equal(again.size, 50);
  t.equal(again.measuredAtLoad, 0);
  t.same(
    again.select({}).sort((a, b) => a.start - b.start),
    windows,
    'read back exact',
  );
  t.end();
});
