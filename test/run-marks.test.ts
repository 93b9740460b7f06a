import t from 'tap';
import { Subject } from '../scorer/subject';
import { RUN_EPOCH } from '../scorer/types';
import { SMALL_SUBJECT } from './helpers/subject-options';

// A subject saves the last row it learnt of the extension's queue (replayed after a crash, up
// to there, without learning) and, since crashlearn, of the command line's run (a run of
// `anomaly score` killed without warning, resumed: cli/run-journal.ts). One mark for both let
// `anomaly score`, run between an extension's crash and its restart, erase the queue's mark:
// the queue's replay was learnt a second time.

t.test("a command line run's mark leaves the queue's as it was, and both are saved", async (t) => {
  const s = new Subject('dev@app-01', SMALL_SUBJECT);
  s.markLearned('q1', [3, 4096, 0]);
  s.markLearned(`${RUN_EPOCH}0123456789abcdef`, [0, 1999, 0]);
  t.ok(s.hasLearned('q1', [3, 4000, 2]), "the queue's replay is still known after a run of the command line");
  t.ok(s.hasLearned(`${RUN_EPOCH}0123456789abcdef`, [0, 1500, 0]), "and the run's rows");
  t.notOk(s.hasLearned(`${RUN_EPOCH}0123456789abcdef`, [0, 2000, 0]), 'not its rows after the mark');
  const again = Subject.fromState(JSON.parse(JSON.stringify(s.toState())), SMALL_SUBJECT);
  t.ok(again.hasLearned('q1', [3, 4096, 0]), 'saved and read back: the queue mark');
  t.ok(again.hasLearned(`${RUN_EPOCH}0123456789abcdef`, [0, 1999, 0]), "and the run's");
  t.notOk(again.hasLearned(`${RUN_EPOCH}fedcba9876543210`, [0, 0, 0]), "another run's rows are new");
});
