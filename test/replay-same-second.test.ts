import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { RowIds } from '../scorer/row-id';
import type { ResultRow, ScoredEvent } from '../scorer/types';
import { RetainedScores } from '../state/scores';
import { plainRow } from './helpers/scored';

// The scorer thread's count of identical rows of one second (scorer/row-id.ts) starts empty at
// each start: the second of two identical rows of one second, when a restart falls between them,
// gets the id the first one was retained by. Rows the queue marks past the last one retained
// were never retained: the ids of the rows loaded (kept for rows without such a mark) must not
// drop them as a replay. On 211e71a this row was dropped, and the log said "already retained".

t.test('a row past the retained mark, of an id and time retained before a restart, is kept', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-replay-second-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const result: ResultRow = { host: 'h', query: 'q', action: 'added', time: 1_790_000_000, columns: { port: '22' }, decorations: {} };
  const before = new RowIds();
  const first = before.next(result);
  const after = new RowIds();
  t.equal(after.next(result), first, 'the count starts again at a start: the second identical row takes the first id');
  const row = (position: number) => ({ ...plainRow(0), id: first, time: result.time, queued: ['e1', 1, position, 0] }) as ScoredEvent;
  let store = new RetainedScores({ dir, maxRows: 1_000, maxDays: 36500 });
  store.append([row(100)]);
  store.close();
  store = new RetainedScores({ dir, maxRows: 1_000, maxDays: 36500 });
  t.teardown(() => store.close());
  // the replay of the retained line, then the line after it
  store.append([row(100), row(200)]);
  t.equal(store.size, 2, 'the replayed row kept once, the row after it kept');
  store.append([row(300)]);
  t.equal(store.size, 3, 'and the next one');
  t.end();
});

t.test('rows of another epoch are still recognised by their ids', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-replay-second-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const row = (i: number, epoch: string) => ({ ...plainRow(i), queued: [epoch, 1, 100 * (i + 1), 0] }) as ScoredEvent;
  let store = new RetainedScores({ dir, maxRows: 1_000, maxDays: 36500 });
  store.append([row(0, 'e1'), row(1, 'e1')]);
  store.close();
  store = new RetainedScores({ dir, maxRows: 1_000, maxDays: 36500 });
  t.teardown(() => store.close());
  store.append([row(0, 'e2'), row(1, 'e2'), row(2, 'e2')]);
  t.equal(store.size, 3, 'a queue made anew replays its rows: those retained are kept once');
  t.end();
});
