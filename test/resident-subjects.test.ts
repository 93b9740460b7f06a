import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { resolveConfig } from '../conf/config';
import { Scorer, subjectFileName } from '../scorer/scorer';
import type { ResultRow, ScoredEvent } from '../scorer/types';
import { usersStream } from './helpers/users';

// memory.resident_subjects (issue 10, memory): the least recently active subjects are saved
// and unloaded, and loaded again when their rows come. Scores must be exactly those of a
// scorer that kept every subject loaded, across retraining and across a restart.

const USERS = 4;
const ROWS_PER_USER = 260;

/** four users; 260 rows each span 6.5 h, so each subject retrains after it starts monitoring */
function stream(): ResultRow[] {
  return usersStream(USERS, ROWS_PER_USER);
}

function config(dir: string, resident: number) {
  return resolveConfig(
    {
      state_dir: dir,
      learning: { min_events: 120, min_days: 0 },
      retrain: { interval_seconds: 3600, window_events: 400 },
      memory: { resident_subjects: resident },
    },
    'test',
    {},
  );
}

const modelOptions = { lstm: { units: 8, epochs: 1 }, ocsvm: { maxTrain: 200 } };

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-resident-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** what a row's score depends on; the id is positional and the same anyway */
const seen = (e: ScoredEvent) => `${e.id} ${e.subject} ${e.score} ${e.verdict} ${e.model} ${e.reasons}`;

/** score the stream in batches of 7 rows (so a batch holds several subjects), restarting the scorer at `restartAt` rows */
async function run(dir: string, resident: number, restartAt = Infinity) {
  const log: string[] = [];
  const open = () => Scorer.open({ config: config(dir, resident), stateDir: dir, modelOptions, log: (l, m) => log.push(`${l} ${m}`) });
  let scorer = await open();
  const rows = stream();
  const out: string[] = [];
  let mostLoaded = 0;
  for (let i = 0; i < rows.length; i += 7) {
    if (i >= restartAt && i - 7 < restartAt) {
      scorer.save();
      scorer = await open();
    }
    for (const e of await scorer.scoreRows(rows.slice(i, i + 7))) out.push(seen(e));
    mostLoaded = Math.max(mostLoaded, scorer.residentCount);
  }
  return { scorer, out, mostLoaded, log };
}

t.test('scores are the same with one subject loaded at a time as with all loaded', { timeout: 600_000 }, async (t) => {
  const before = tf.memory().numTensors;
  const all = await run(tmp(t), 100);
  const tensorsAll = tf.memory().numTensors - before;
  const dir = tmp(t);
  const one = await run(dir, 1);
  // both scorers are alive: what the second added
  const tensorsOne = tf.memory().numTensors - before - tensorsAll;
  t.equal(all.mostLoaded, USERS, 'without a bound every subject stays loaded');
  t.equal(one.mostLoaded, 1, 'with resident_subjects 1, one subject is loaded at a time');
  const monitoring = one.scorer.summaries().filter((s) => s.subject !== '*@h' && s.state === 'monitoring');
  t.equal(new Set(monitoring.map((s) => s.subject)).size, USERS, 'every subject reached monitoring, and anomaly_models still lists the unloaded ones');
  t.equal(new Set(monitoring.map((s) => s.model)).size, 3, 'with all three models');
  t.ok(
    all.out.some((l) => / (good|ugly|bad) (rarity|ocsvm|lstm) /.test(l)),
    'the stream is scored by the subjects’ own models, not only by the baseline',
  );
  t.ok(
    all.scorer.summaries().some((s) => s.subject !== '*@h' && s.lastTrained > 1_790_000_000 + 120 * 90),
    'subjects retrained after they started monitoring',
  );
  t.equal(one.out.length, all.out.length);
  const differ = one.out.findIndex((l, i) => l !== all.out[i]);
  t.equal(differ, -1, differ < 0 ? 'every score and reason is identical' : `row ${differ} differs:\n${all.out[differ]}\n${one.out[differ]}`);
  // the unloaded subjects' tensors were freed, and so were those of models replaced by a retraining
  t.ok(
    tensorsOne > 0 && tensorsOne * USERS === tensorsAll,
    `the bounded run holds one subject's tensors (${tensorsOne}), the unbounded one four (${tensorsAll})`,
  );
  for (let u = 0; u < USERS; u++) t.ok(fs.existsSync(path.join(dir, 'subjects', subjectFileName(`uid:${2000 + u}@h`))), `uid:${2000 + u}@h has its file`);
  t.same(
    one.log.filter((l) => l.startsWith('error')),
    [],
    'nothing went wrong',
  );

  // feedback reaches a subject that was unloaded, and stays with it
  const rows = stream();
  const later = (r: ResultRow, dt: number) => ({ ...r, time: r.time + dt });
  const [scored] = await one.scorer.scoreRows([later(rows[0], 1_000_000)]);
  const [other] = await one.scorer.scoreRows([later(rows[1], 1_000_000)]);
  t.not(other.subject, scored.subject, `${scored.subject} is unloaded now`);
  one.scorer.feedback(scored, { id: scored.id, label: 'anomalous', note: '', time: 0 });
  await one.scorer.scoreRows([later(rows[1], 1_000_050)]);
  const [again] = await one.scorer.scoreRows([later(rows[0], 1_000_100)]);
  t.match(again.reasons, /labelled anomalous by feedback/, 'the label was applied to the reloaded subject, and kept across another unload');
  t.equal(one.scorer.residentCount, 1);
});

t.test('an unload, then a restart, loses nothing', { timeout: 600_000 }, async (t) => {
  // the restart falls after every subject started monitoring and was unloaded at least once;
  // compared with the same restart with every subject loaded (the feature extractor does not
  // resume every process it knew, so a restart is not invisible in itself)
  const all = await run(tmp(t), 100, 4 * 200);
  const restarted = await run(tmp(t), 2, 4 * 200);
  t.match(restarted.log.join('\n'), /resumed 4 subjects \(\d monitoring, 2 loaded\)/, 'the restart loads two, parks the others');
  const differ = restarted.out.findIndex((l, i) => l !== all.out[i]);
  t.equal(differ, -1, differ < 0 ? 'every score after the restart is identical' : `row ${differ} differs:\n${all.out[differ]}\n${restarted.out[differ]}`);
  t.equal(restarted.mostLoaded, 2);
});

t.test('the bound is a whole number of at least one, 50 by default', async (t) => {
  t.equal(resolveConfig({}, 'test', {}).memory.resident_subjects, 50);
  t.throws(() => resolveConfig({ memory: { resident_subjects: 0 } }, 'test', {}), /memory\.resident_subjects: must be >= 1/);
  t.throws(() => resolveConfig({ memory: { resident_subjects: 2.5 } }, 'test', {}), /memory\.resident_subjects: must be integer/);
  t.throws(() => resolveConfig({ memory: { resident_mb: 100 } }, 'test', {}), /memory\.resident_mb: unknown key/);
});
