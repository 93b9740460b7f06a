import t from 'tap';
import { seededRandom as rng } from '../demo/generate';
import { Subject, type SubjectOptions } from '../scorer/subject';
import type { BehaviourEvent } from '../scorer/types';
import { DAY, execEvent, SMALL_SUBJECT, START } from './helpers/subject-options';

// `anomaly score` after `anomaly train` of the same rows (relearn): a row train learnt is
// judged again, not learnt again (Subject.rejudge). Its models read each row in the context of
// the rows before it (rarity's n-grams of keys, the SVM's hashed last five events, the LSTM),
// as train did when it learnt them: a stretch of such rows must be judged each in its own
// context, and the rows after the stretch must see it before them.

const OPTIONS: SubjectOptions = { ...SMALL_SUBJECT, retrainSeconds: 30 * DAY };

/** a routine whose order matters: each tool is followed by the next in a cycle, now and then a skip */
function stream(seed: number, from: number, n: number): BehaviourEvent[] {
  const r = rng(seed);
  const tools = ['git', 'vim', 'make', 'ls', 'curl'];
  let at = 0;
  return Array.from({ length: n }, (_, i) => {
    at = (at + (r() < 0.9 ? 1 : 2)) % tools.length;
    const tool = tools[at];
    const time = START + Math.floor((from + i) / 60) * DAY + 9 * 3600 + ((from + i) % 60) * 480;
    return execEvent(tool, time);
  });
}

const json = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

t.test('a stretch of rows learnt before is judged row by row in its own context, and the rows after see it', async (t) => {
  const s = new Subject('dev@app-01', OPTIONS);
  await s.scoreEvents(stream(1, 0, 900));
  t.equal(s.state, 'monitoring', 'the subject trained');
  const saved = json(s.toState());
  const learnt = stream(2, 900, 10);
  const next = stream(3, 910, 10);
  /** the subject as saved, with `before` as the last rows it saw */
  const after = (before: BehaviourEvent[]) => {
    const st = json(saved);
    st.context = [...st.context, ...before].slice(-OPTIONS.contextLength);
    return Subject.fromState(st, OPTIONS);
  };

  const replayed = Subject.fromState(json(saved), OPTIONS);
  // (as learnOnce gives a stretch train learnt: it moves the context)
  const together = await replayed.rejudge(learnt, true);
  for (let j = 0; j < learnt.length; j++) {
    const [alone] = await after(learnt.slice(0, j)).rejudge([learnt[j]]);
    t.same(together[j], alone, `row ${j} is judged after the rows before it`);
  }
  t.same(await replayed.scoreEvents(next), await after(learnt).scoreEvents(next), 'the new rows after the stretch are judged and learnt after it');
  // a crash's replay: the context was saved after the same rows, and stays so
  const crashed = Subject.fromState(json(saved), OPTIONS);
  await crashed.rejudge(learnt);
  t.same(json(crashed.toState()).context, saved.context, "a crash's replay moves no context");
});
