import t from 'tap';
import { seededRandom as rng } from '../demo/generate';
import { resolveConfig } from '../conf/config';
import { Scorer } from '../scorer/scorer';
import type { Subject } from '../scorer/subject';
import type { ResultRow, RowMark } from '../scorer/types';

// Rows replayed after a crash (the queue's lines after its last saved cursor) that a subject
// learnt before it was saved are judged again, not learnt (Scorer.scoreRows, learnOnce): the
// subject was saved with its context after those rows, so judging them must not move it,
// while rows `anomaly train` learnt (Subject.rejudge with advance) must. Subject-level
// tests (rejudge-context) cover rejudge; this covers the choice learnOnce makes.

const START = 1_790_000_000;
const HOST = 'db-02';
const HABITS: Array<[string, string]> = [
  ['/usr/bin/git', 'git status'],
  ['/usr/bin/vim', 'vim notes.md'],
  ['/usr/bin/make', 'make test'],
  ['/usr/bin/ls', 'ls -la'],
];

function rows(n: number): ResultRow[] {
  const r = rng(21);
  return Array.from({ length: n }, (_, i) => {
    const [exe, cmdline] = HABITS[Math.floor(r() * HABITS.length)];
    const time = START + Math.floor(i / 250) * 86_400 + 9 * 3600 + (i % 250) * 100;
    const columns = { pid: String(1000 + i), path: exe, cmdline, auid: '1000', uid: '1000', euid: '1000', parent_path: '/bin/bash' };
    return { query: 'pack_user-behavior_process_events', host: HOST, time, action: 'added', columns, decorations: {} };
  });
}

const contextOf = (scorer: Scorer, name: string) =>
  JSON.stringify((scorer as unknown as { subjects: Map<string, Subject> }).subjects.get(name)?.toState().context);

t.test("a crash's replay of rows learnt before moves no context; rows train learnt move it", async (t) => {
  const config = resolveConfig({ learning: { min_events: 400, min_days: 1 }, models: { rarity: true, ocsvm: true, lstm: false } }, 'test', {});
  const scorer = await Scorer.open({ config, stateDir: null });
  scorer.setUsers([{ uid: '1000', username: 'bob' }]);
  const all = rows(760);
  const marks: RowMark[] = all.map((_, i) => [1, 100 * (i + 1), 0]);
  await scorer.scoreRows(all.slice(0, 750), { epoch: 'e1', marks: marks.slice(0, 750) });
  const name = `bob@${HOST}`;
  const saved = contextOf(scorer, name);
  t.ok(saved && saved !== '[]', 'the subject has a context');
  t.equal(scorer.summaries().find((s) => s.subject === name)?.state, 'monitoring', 'and is monitoring');

  await scorer.scoreRows(all.slice(745, 750), { epoch: 'e1', marks: marks.slice(745, 750) });
  t.equal(contextOf(scorer, name), saved, 'five rows replayed after a crash leave the context as it was saved after them');

  // the same rows once more, as `anomaly score` is given rows `anomaly train` learnt: they move it
  await scorer.scoreRows(all.slice(745, 750), undefined, undefined, [true, true, true, true, true]);
  t.not(contextOf(scorer, name), saved, 'rows another command learnt move it');
});

// crashlearn: a resumed `anomaly score` (cli/run-journal.ts) gives rows both a replay mark and
// train's flag. The rows train learnt right after the replay were judged in one stretch with
// it, and moved the context for none of them: the rows after saw a context without them.
t.test('rows train learnt right after a replay move the context, as they would alone', async (t) => {
  const config = resolveConfig({ learning: { min_events: 400, min_days: 1 }, models: { rarity: true, ocsvm: true, lstm: false } }, 'test', {});
  const all = rows(760);
  const marks: RowMark[] = all.map((_, i) => [1, 100 * (i + 1), 0]);
  const name = `bob@${HOST}`;
  const monitoring = async () => {
    const scorer = await Scorer.open({ config, stateDir: null });
    scorer.setUsers([{ uid: '1000', username: 'bob' }]);
    await scorer.scoreRows(all.slice(0, 750), { epoch: 'e1', marks: marks.slice(0, 750) });
    return scorer;
  };
  const resumed = await monitoring();
  const saved = contextOf(resumed, name);
  const learnt = [false, false, false, false, false, true, true, true, true, true];
  await resumed.scoreRows(all.slice(745, 755), { epoch: 'e1', marks: marks.slice(745, 755) }, undefined, learnt);
  const alone = await monitoring();
  await alone.scoreRows(all.slice(750, 755), undefined, undefined, learnt.slice(5));
  t.not(contextOf(resumed, name), saved, 'the rows train learnt moved it');
  t.equal(contextOf(resumed, name), contextOf(alone, name), 'as far as they move it given without the replay');
});

// crashlearn: a subject still learning judged the rows train learnt (Subject.rejudge) without
// taking them into its context: the first rows it judged once trained saw the rows before them
t.test('rows train learnt move the context of a subject still learning, as rows it learns do', async (t) => {
  const config = resolveConfig({ learning: { min_events: 400, min_days: 1 }, models: { rarity: true, ocsvm: true, lstm: false } }, 'test', {});
  const all = rows(120);
  const name = `bob@${HOST}`;
  const open = async () => {
    const scorer = await Scorer.open({ config, stateDir: null });
    scorer.setUsers([{ uid: '1000', username: 'bob' }]);
    await scorer.scoreRows(all.slice(0, 100));
    return scorer;
  };
  const given = await open();
  t.equal(given.summaries().find((s) => s.subject === name)?.state, 'learning', 'the subject is learning');
  await given.scoreRows(all.slice(100, 110), undefined, undefined, new Array<boolean>(10).fill(true));
  const learning = await open();
  await learning.scoreRows(all.slice(100, 110));
  t.equal(contextOf(given, name), contextOf(learning, name), 'the context after the rows train learnt is the one after learning them');
});
