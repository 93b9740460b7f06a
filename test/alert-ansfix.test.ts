import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import type { ScoredEvent } from '../scorer/types';
import type { AnswerShare, HeldBack } from '../state/answer-share';
import { OLDER_EVENTS, OlderRows } from '../state/older-rows';
import { RetainedScores } from '../state/scores';
import { evesRow } from './helpers/alert-answer';

// What the review of branch floodfix found in the alert answer's "answered" marks
// (state/answer-marks.ts, state/older-rows.ts): a mark outliving the row it was made for, and
// older rows chosen among without regard to them.

/** eve's bad row `tag`-i, of a byte length that does not depend on the tag or i */
const eves = (tag: string, i: number, time: number, score = 0.1): ScoredEvent =>
  evesRow(i, {
    id: `${tag}-${String(i).padStart(6, '0')}`,
    time,
    score,
    columns: JSON.stringify({ pid: String(100_000 + i), cmdline: `x --n ${String(i).padStart(6, '0')}` }),
  });

const BAD = { score: [{ op: '<' as const, value: 0.3 }] };

/** whether each event an answer of room for 10 holds back of the `tag` rows was answered before */
function heldAnswered(store: RetainedScores, tag: string): boolean[] {
  const share: AnswerShare = { bytes: 1 << 30, heldBytes: 1_000_000, rows: 10, perSubject: Infinity, rowBytes: () => 100 };
  const held = [...store.answer(BAD, share)].find((r): r is HeldBack<ScoredEvent> => 'held' in r);
  return (held?.told ?? []).filter((e) => e.record.id.startsWith(tag)).map((e) => e.answered);
}

t.test('a mark never lands on a row made after the row it was made for is gone (ansfix)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-ansfix-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const T = 1_800_000_000;
  const sendAll: AnswerShare = { bytes: 1 << 30, heldBytes: 1_000, rows: 1_000_000, perSubject: Infinity, rowBytes: () => 100, marks: (commit) => commit() };
  /**
   * whether the new rows count as answered: 50 rows sent, their segment `damaged`, `made` rows
   * appended by the store reopened, and the store reopened once more
   */
  function newRowsAnswered(sub: string, damage: (segment: string) => void, made: ScoredEvent[]): boolean[] {
    const opts = { dir: path.join(dir, sub), maxRows: 1_000_000, maxDays: 30, log: () => {} };
    let store = new RetainedScores(opts);
    store.append(Array.from({ length: 50 }, (_, i) => eves('old', i, T + i)));
    for (const _ of store.answer(BAD, sendAll));
    store.close();
    damage(path.join(opts.dir, fs.readdirSync(opts.dir).filter((f) => f.endsWith('.jsonl'))[0]));
    store = new RetainedScores(opts);
    store.append(made);
    store.close();
    store = new RetainedScores(opts);
    const answered = heldAnswered(store, 'new');
    store.close();
    return answered;
  }
  const said = (a: boolean[]) => `${a.filter((x) => x).length} of ${a.length} did`;

  // 1. the last segment set aside as unreadable: the next one takes its number
  const aside = newRowsAnswered(
    'aside',
    (seg) => fs.writeFileSync(seg, Buffer.alloc(fs.statSync(seg).size, 'x').fill('\n', 99, 100)),
    Array.from({ length: 50 }, (_, i) => eves('new', i, T + 1_000 + i)),
  );
  t.ok(aside.length > 0 && aside.every((a) => !a), `after a segment set aside, no new row counts as answered (${said(aside)})`);

  // 2. a segment cut at a torn tail (its last rows lost with the disk's cache), then appended to
  // at the same offsets (rows of the same length)
  const torn = newRowsAnswered(
    'torn',
    (seg) => {
      const lines = fs.readFileSync(seg, 'utf8').split('\n');
      // the first 20 rows kept, and half of the 21st
      fs.writeFileSync(seg, lines.slice(0, 20).join('\n') + '\n' + lines[20].slice(0, 40));
    },
    Array.from({ length: 30 }, (_, i) => eves('new', 20 + i, T + 20 + i)),
  );
  t.ok(torn.length > 0 && torn.every((a) => !a), `after a torn tail cut, no new row counts as answered (${said(torn)})`);
});

t.test("a cut subject's older rows are examined never-answered events first, so they drain (ansfix)", async (t) => {
  // OLDER_EVENTS events answered before, each scored below a never-answered one, offered newest first
  const older = new OlderRows();
  const planted = 1_000_000;
  older.offer(planted, 7, 0.15, false);
  for (let e = 0; e < 3 * OLDER_EVENTS; e++) older.offer(e, 100 + e, 0.05 + (e % 5) / 100, true);
  t.ok([...older.sorted()].includes(planted), 'the never-answered row is among those examined');
  // and of an event answered before, the answered row is the one kept, so the answer sees it answered
  const again = new OlderRows();
  again.offer(1, 9, 0.05, false);
  again.offer(2, 9, 0.2, true);
  t.same([...again.sorted()], [2], "an event's answered row stands for it");
});
