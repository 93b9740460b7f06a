import * as fs from 'fs';
import t from 'tap';
import { resolveConfig } from '../conf/config';
import { demoEvents } from '../bench/demo-events';
import { fitInHelper, fitsElsewhere, stopFitHelper } from '../scorer/fit-helper';
import { createModel, selectBackend } from '../scorer/models';
import { LstmModel } from '../scorer/models/lstm';
import { pacer } from '../scorer/pacing';
import { Scorer } from '../scorer/scorer';
import type { Model, ResultRow, ScoredEvent } from '../scorer/types';
import { usersStream } from './helpers/users';

// Unpaced, a subject's LSTM is fitted in a helper thread while the scorer thread fits the
// other models (scorer/fit-helper.ts). The helper must return the model this thread would
// have fitted, and the scores must not depend on where the fit ran.

t.teardown(() => stopFitHelper());

const never = async (): Promise<Model> => {
  throw new Error('fitted in this thread');
};

t.test('the helper fits the LSTM this thread fits: cold, and warm-started from the model it replaces', async (t) => {
  await selectBackend();
  const events = demoEvents();
  const first = events.slice(0, 700);
  const here = createModel('lstm', { units: 16 });
  await here.fit([first]);
  const there = await fitInHelper('lstm', { units: 16 }, [first], undefined, never);
  t.equal(JSON.stringify(there.toState()), JSON.stringify(here.toState()), 'a first fit: the same weights and vocabulary');
  const next = events.slice(300, 1100);
  const here2 = createModel('lstm', { units: 16 });
  await here2.fit([next], here);
  const there2 = await fitInHelper('lstm', { units: 16 }, [next], there, never);
  t.equal(JSON.stringify(there2.toState()), JSON.stringify(here2.toState()), 'a retraining from the previous model: the same weights');
  for (const m of [here, there, here2, there2]) m.dispose?.();
});

t.test('the helper thread runs at nice 10, below the thread that answers osqueryd', { skip: process.platform !== 'linux' }, async (t) => {
  const nices = () =>
    fs.readdirSync('/proc/self/task').map((tid) => {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
      // fields after the command's closing parenthesis: state is the 3rd field, nice the 19th
      return { tid, nice: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) };
    });
  const main = nices().find((x) => x.tid === String(process.pid))!.nice;
  // the helper thread exists since the first test's fits
  const others = nices().filter((x) => x.tid !== String(process.pid));
  t.ok(
    others.some((x) => x.nice >= Math.max(10, main)),
    `a thread at nice 10 or more (the main thread at ${main}; others: ${others.map((x) => x.nice).join(' ')})`,
  );
});

t.test('a fit that fails in the helper fails as it would here', async (t) => {
  let local = false;
  await t.rejects(
    fitInHelper('lstm', {}, [[]], undefined, async () => {
      local = true;
      return createModel('lstm');
    }),
    { message: 'lstm: nothing to train on' },
  );
  t.notOk(local, 'not retried in this thread');
  t.ok(fitsElsewhere('lstm'), 'and the helper is still used');
});

t.test('only the LSTM, and only unpaced', async (t) => {
  t.ok(fitsElsewhere('lstm'));
  t.notOk(fitsElsewhere('ocsvm'));
  t.notOk(fitsElsewhere('rarity'));
  pacer.configure({ limitPercent: 10, cores: 2, intervalMs: 3000, source: 'test' });
  t.notOk(fitsElsewhere('lstm'), 'paced: the pacer slices the LSTM in the scorer thread');
  pacer.configure(null);
  t.ok(fitsElsewhere('lstm'));
});

/** three users with routines of their own and an odd command now and then, interleaved */
function stream(): ResultRow[] {
  return usersStream(3, 300);
}

async function scoreStream(threads: number): Promise<string[]> {
  const config = resolveConfig(
    { learning: { min_events: 120, min_days: 0 }, retrain: { interval_seconds: 3600, window_events: 400 }, budget: { training_threads: threads } },
    'test',
    {},
  );
  const scorer = await Scorer.open({ config, stateDir: null, modelOptions: { lstm: { units: 8, epochs: 2 }, ocsvm: { maxTrain: 200 } } });
  const rows = stream();
  const out: string[] = [];
  const seen = (e: ScoredEvent) => `${e.id} ${e.subject} ${e.score} ${e.verdict} ${e.model} ${e.reasons}`;
  for (let i = 0; i < rows.length; i += 7) for (const e of await scorer.scoreRows(rows.slice(i, i + 7))) out.push(seen(e));
  return out;
}

/** counts the fits the helper thread returns, by watching the states restored from it */
function meterHelper(): { count: number } {
  const m = { count: 0 };
  const load = LstmModel.fromState;
  LstmModel.fromState = (s) => {
    if (new Error().stack?.includes('fitInHelper')) m.count++;
    return load(s);
  };
  return m;
}

t.test('a stream scores the same with the LSTM fitted in the helper as in the scorer thread', { timeout: 600_000 }, async (t) => {
  const fits = meterHelper();
  const alone = await scoreStream(1);
  t.equal(fits.count, 0, 'budget.training_threads 1 (the default): no fit in the helper');
  const helped = await scoreStream(2);
  t.ok(fits.count > 3, `budget.training_threads 2: the LSTM's fits went to the helper (${fits.count})`);
  t.ok(helped.filter((l) => / lstm /.test(l)).length > 0, `some rows decided by the LSTM (${helped.filter((l) => / lstm /.test(l)).length})`);
  t.equal(helped.length, alone.length);
  const differ = helped.findIndex((l, i) => l !== alone[i]);
  t.equal(differ, -1, differ < 0 ? 'every score and reason is identical' : `row ${differ} differs:\n${alone[differ]}\n${helped[differ]}`);
});
