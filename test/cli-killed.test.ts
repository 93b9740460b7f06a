import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t, { type Test } from 'tap';
import { anomaly } from './helpers/cli';
import { bareNode } from './helpers/bare-node';
import { eventsLearnt, idsOf as ids, killedRunFixture, retainedIds } from './helpers/cli-state';
import { WORKSTATION_EXPORT } from './helpers/paths';

// crashlearn: `anomaly score` killed without warning (SIGKILL, the OOM killer, a power cut)
// had retained the rows of its batches so far, and saved neither its ledger nor, perhaps, the
// subjects that learnt them (or some of them: a subject unloaded on the way is saved then).
// The next score took the retained rows for scored by the extension, and never learnt them;
// rows a saved subject had learnt, scored again, were learnt twice. Killed at each point
// (test/helpers/cli-killed.ts), then run again, it must leave what one whole run leaves: every
// row learnt once, retained once, in its ledger, and shown once.

/** the file's folder, with the config and the log of test/helpers/cli-state.ts, made once */
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-cli-killed-'));
t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
const fixture = killedRunFixture(base);
const { cfg, log } = fixture;

/** a folder for the test, the file's config and log */
function setUp(t: Test): { dir: string; cfg: string; log: string; rows: number } {
  const dir = fs.mkdtempSync(path.join(base, 'test-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { dir, ...fixture };
}

/** the `anomaly` command with `args`, SIGKILLed at `at` (test/helpers/cli-killed.ts) */
function killedAt(at: string, args: string[]) {
  return spawnSync(...bareNode([path.join(__dirname, 'helpers', 'cli-killed.js'), ...args, '--quiet']), {
    encoding: 'utf8',
    // (what it printed is not kept: spawnSync ends a child that prints more than maxBuffer)
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ANOMALY_CONFIG: '', CLI_KILL_AT: at },
  });
}

// Several tests start from the same state: the workstation's export trained, or the file's
// log scored or trained and killed at the same point. Each is made once (a CLI run of 2–6 s
// of CPU) and copied into the test that starts from it, with the run that made it, which
// that test checks as it did when it made its own.
const made = new Map<string, { state: string; run: { status: number | null; signal: NodeJS.Signals | null; stderr: string } }>();
function shared(name: string, make: (state: string) => { status: number | null; signal: NodeJS.Signals | null; stderr: string }) {
  let m = made.get(name);
  if (!m) {
    const state = path.join(base, 'made', name);
    m = { state, run: make(state) };
    made.set(name, m);
  }
  return m;
}

/** `name`'s state copied to `to`, and the run that made it */
function copyOf(m: ReturnType<typeof shared>, to: string) {
  fs.cpSync(m.state, to, { recursive: true });
  return m.run;
}

/** a state that trained the workstation's export (another host: every jumpvm subject is new to it) */
const trainedWorkstation = () =>
  shared('trained', (state) => {
    const r = anomaly(['train', '--log', WORKSTATION_EXPORT, '--state', state, '--config', cfg, '--quiet']);
    return { status: r.code, signal: null, stderr: r.err };
  });

/** the state `command` of the file's log left, killed at `at`: score from a trained state, train from none */
const killedRun = (command: 'score' | 'train', at: string, to: string) =>
  copyOf(
    shared(`${command}-${at.replace(':', '-')}`, (state) => {
      if (command === 'score') copyOf(trainedWorkstation(), state);
      return killedAt(at, [command, '--log', log, '--state', state, '--config', cfg]);
    }),
    to,
  );

t.test('score killed at any point, then run again, learns every row once and retains it once', async (t) => {
  const { dir, cfg, log, rows } = setUp(t);
  const train = trainedWorkstation();
  t.equal(train.run.status, 0, train.run.stderr);
  const trained = train.state;
  const score = (state: string) => anomaly(['score', '--log', log, '--state', state, '--config', cfg]);
  const copy = (name: string) => {
    const state = path.join(dir, name);
    fs.cpSync(trained, state, { recursive: true });
    return state;
  };

  const whole = copy('whole');
  const once = score(whole);
  t.equal(once.code, 0, once.err);
  const learnt = eventsLearnt(whole);
  t.ok(learnt > eventsLearnt(trained), 'a whole run learns');

  for (const [at, what] of [
    ['retained:1', 'the first batch retained, nothing saved'],
    ['subject:2', 'a subject that learnt part of the first batch saved as another is loaded'],
    ['subject:5', 'some subjects saved at the end, not all'],
    ['ledger:1', 'everything saved but the end of the run'],
  ]) {
    const state = path.join(dir, at.replace(':', '-'));
    const killed = killedRun('score', at, state);
    t.equal(killed.signal, 'SIGKILL', `killed at ${at}: ${what} (${killed.stderr.trim().split('\n').pop()})`);
    const again = score(state);
    t.equal(again.code, 0, again.err);
    t.notMatch(again.err, /not in these logs|in another order/, `${at}: resumed on its own logs in its order, nothing to say of them`);
    t.equal(eventsLearnt(state), learnt, `${at}: the subjects learnt every row once, as one whole run`);
    t.same(ids(again.out), ids(once.out), `${at}: every row shown once, in the order of the log`);
    t.equal(fs.readFileSync(path.join(state, 'scored-runs'), 'utf8').trim().split('\n').length, rows, `${at}: every row in the ledger`);
    const kept = retainedIds(state);
    t.equal(kept.length, rows, `${at}: every row retained once`);
    t.equal(new Set(kept).size, rows);
    t.notOk(fs.existsSync(path.join(state, 'scoring-run')), `${at}: the run is over`);
  }
});

t.test('train killed as it saves a subject, then run again, learns every row once', async (t) => {
  const { dir, cfg, log, rows } = setUp(t);
  const train = (state: string) => anomaly(['train', '--log', log, '--state', state, '--config', cfg, '--quiet']);
  const whole = path.join(dir, 'whole');
  t.equal(train(whole).code, 0);
  for (const at of ['subject:2', 'subject:5']) {
    const state = path.join(dir, at.replace(':', '-'));
    const killed = killedRun('train', at, state);
    t.equal(killed.signal, 'SIGKILL', `killed at ${at} (${killed.stderr.trim().split('\n').pop()})`);
    t.ok(eventsLearnt(state) > 0, 'a subject that learnt part of the log was saved');
    const again = train(state);
    t.equal(again.code, 0, again.err);
    t.notMatch(again.err, /not in these logs|in another order/, `${at}: resumed on its own logs in its order, nothing to say of them`);
    t.equal(eventsLearnt(state), eventsLearnt(whole), `${at}: every row learnt once, as by one whole run`);
    t.equal(fs.readFileSync(path.join(state, 'trained-runs'), 'utf8').trim().split('\n').length, rows, 'every row in the ledger');
  }
});

t.test('a killed run resumed on other logs says that the rows it had begun are left alone', async (t) => {
  // revcrash: the next run on other logs cleared the killed run's journal without a word, and
  // the rows it had begun were then never learnt (score) or learnt twice (train) by a run on its logs
  const { dir, cfg, log } = setUp(t);
  // (the same days a year on: no row of the killed run's)
  const other = path.join(dir, 'other.log');
  const year = 365 * 86_400;
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
  fs.writeFileSync(other, `${lines.map((l) => JSON.stringify({ ...JSON.parse(l), unixTime: JSON.parse(l).unixTime + year })).join('\n')}\n`);
  for (const [command, at] of [
    ['score', 'retained:1'],
    ['train', 'subject:2'],
  ] as const) {
    const state = path.join(dir, command);
    if (command === 'score') t.equal(trainedWorkstation().run.status, 0);
    const killed = killedRun(command, at, state);
    t.equal(killed.signal, 'SIGKILL', `${command} killed at ${at} (${killed.stderr.trim().split('\n').pop()})`);
    const rerun = () => anomaly([command, '--log', other, '--state', state, '--config', cfg, '--quiet']);
    const first = rerun();
    t.equal(first.code, 0, first.err);
    t.match(
      first.err,
      new RegExp(`warn: [\\d,]+ rows a ${command} that ended before it finished \\(killed, or stopped by an error\\) had begun are not in these logs`),
      `${command}: the rerun on other logs names the rows it leaves`,
    );
    t.notOk(fs.existsSync(path.join(state, command === 'score' ? 'scoring-run' : 'training-run')), `${command}: the run is over`);
    t.notMatch(rerun().err, /not in these logs/, `${command}: said once`);
  }
  // killed once its ledger was saved, before the journal was removed: its rows, read again, are
  // all known, which is no log other than its own
  for (const command of ['score', 'train'] as const) {
    const state = path.join(dir, `${command}-saved`);
    if (command === 'score') t.equal(trainedWorkstation().run.status, 0);
    const killed = killedRun(command, 'ledger:1', state);
    t.equal(killed.signal, 'SIGKILL', `${command} killed at ledger:1`);
    t.ok(fs.existsSync(path.join(state, command === 'score' ? 'scoring-run' : 'training-run')), `${command}: its journal left`);
    const again = anomaly([command, '--log', log, '--state', state, '--config', cfg, '--quiet']);
    // (train of rows all learnt already says so, exit 65)
    t.equal(again.code, command === 'score' ? 0 : 65, again.err);
    t.notMatch(again.err, /not in these logs/, `${command} of the same logs, its rows all known: nothing said of other logs`);
    t.notOk(fs.existsSync(path.join(state, command === 'score' ? 'scoring-run' : 'training-run')), `${command}: the run is over`);
    const next = anomaly([command, '--log', other, '--state', state, '--config', cfg, '--quiet']);
    t.equal(next.code, 0, next.err);
    t.notMatch(next.err, /not in these logs/, `${command} of other logs after: nothing said of the run that was over`);
  }
});

t.test('a killed run resumed with its logs in another order says that rows may be learnt twice or not at all', async (t) => {
  // revcrash: a subject's mark is the last place of the run it learnt; its rows met in another
  // order were learnt twice or taken for learnt, without a word
  const { dir, cfg, log } = setUp(t);
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
  const half = Math.floor(lines.length / 2);
  const [a, b] = [path.join(dir, 'a.log'), path.join(dir, 'b.log')];
  fs.writeFileSync(a, `${lines.slice(0, half).join('\n')}\n`);
  fs.writeFileSync(b, `${lines.slice(half).join('\n')}\n`);
  const state = path.join(dir, 'state');
  const killed = killedAt('subject:5', ['train', '--log', a, '--log', b, '--state', state, '--config', cfg]);
  t.equal(killed.signal, 'SIGKILL', `killed (${killed.stderr.trim().split('\n').pop()})`);
  const again = anomaly(['train', '--log', b, '--log', a, '--state', state, '--config', cfg, '--quiet']);
  t.equal(again.code, 0, again.err);
  t.match(
    again.err,
    /warn: [\d,]+ rows a train that ended before it finished \(killed, or stopped by an error\) had begun were read in another order than it read them/,
  );
});

t.test('score whose batch the disk refused, its subjects and ledger saved, learns that batch once when run again (chaos3)', async (t) => {
  // chaos3: a batch scored (and learnt) whose rows the retained store refused (a full disk
  // refuses the 2,000 rows' write and takes the subjects' and ledger's smaller files) threw out
  // of the loop; the `finally` saved the subjects that learnt it and the ledger without it, and
  // removed the journal that named its rows. The next run found the rows neither retained, in
  // the ledger nor in a journal, and learnt them a second time.
  const { dir, cfg, log, rows } = setUp(t);
  const trained = path.join(dir, 'trained');
  fs.mkdirSync(trained);
  t.equal(anomaly(['train', '--log', WORKSTATION_EXPORT, '--state', trained, '--config', cfg, '--quiet']).code, 0);
  const score = (state: string) => anomaly(['score', '--log', log, '--state', state, '--config', cfg]);
  const whole = path.join(dir, 'whole');
  fs.cpSync(trained, whole, { recursive: true });
  const once = score(whole);
  t.equal(once.code, 0, once.err);
  for (const at of ['retained:1', 'retained:2']) {
    const state = path.join(dir, at.replace(':', '-'));
    fs.cpSync(trained, state, { recursive: true });
    const refused = spawnSync(
      ...bareNode([path.join(__dirname, 'helpers', 'cli-killed.js'), 'score', '--log', log, '--state', state, '--config', cfg, '--quiet']),
      { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ANOMALY_CONFIG: '', CLI_FAIL_AT: at } },
    );
    t.not(refused.status, 0, `${at}: the refused write ends the run with an error`);
    t.match(refused.stderr, /ENOSPC/, `${at}: and says why`);
    t.ok(fs.existsSync(path.join(state, 'scoring-run')), `${at}: the journal of the rows the run had begun is kept`);
    const again = score(state);
    t.equal(again.code, 0, again.err);
    t.equal(eventsLearnt(state), eventsLearnt(whole), `${at}: the subjects learnt every row once, as one whole run`);
    t.same(ids(again.out), ids(once.out), `${at}: every row shown once, in the order of the log`);
    const kept = retainedIds(state);
    t.equal(kept.length, rows, `${at}: every row retained once`);
    t.equal(new Set(kept).size, rows);
    t.notOk(fs.existsSync(path.join(state, 'scoring-run')), `${at}: the run is over`);
  }
});

t.test('score stopped between batches by a log that is no results output clears its journal: nothing of it is left to resume (chaos3)', async (t) => {
  // the refinement of the test above: only a batch begun and not kept leaves the journal; a
  // throw between batches leaves every row scored in the ledger, and a journal kept then made
  // the next run on other logs warn of rows "not in these logs" that were all kept
  const { dir, cfg, log } = setUp(t);
  const state = path.join(dir, 'state');
  t.equal(anomaly(['train', '--log', WORKSTATION_EXPORT, '--state', state, '--config', cfg, '--quiet']).code, 0);
  const junk = path.join(dir, 'junk.log');
  fs.writeFileSync(junk, '{"a":1}\n'.repeat(200));
  const stopped = anomaly(['score', '--log', log, '--log', junk, '--state', state, '--config', cfg, '--quiet']);
  t.equal(stopped.code, 65, `the second log ends the run (${stopped.err.trim().split('\n').pop()})`);
  t.notOk(fs.existsSync(path.join(state, 'scoring-run')), 'the run is over: its rows are in its ledger');
  const other = path.join(dir, 'other.log');
  const year = 365 * 86_400;
  fs.writeFileSync(other, `${JSON.stringify({ ...JSON.parse(fs.readFileSync(log, 'utf8').split('\n')[0]), unixTime: 1_900_000_000 + year })}\n`);
  const next = anomaly(['score', '--log', other, '--state', state, '--config', cfg, '--quiet']);
  t.equal(next.code, 0, next.err);
  t.notMatch(next.err, /not in these logs/, 'nothing said of rows left by a run');
});

t.test('score whose closed windows the disk refused, its rows retained, takes no row into a window twice when run again (revchaos)', async (t) => {
  // chaos3 left it reasoned, not run: the batch's rows were taken into the windows (saved by
  // the `finally`) and its journal kept, so the next run gave them to the windows again: a row
  // of a window still open was counted twice, one of a window closed counted late
  const { dir, cfg, log } = setUp(t);
  const train = trainedWorkstation();
  t.equal(train.run.status, 0, train.run.stderr);
  const score = (state: string) => anomaly(['score', '--log', log, '--state', state, '--config', cfg, '--quiet']);
  const whole = path.join(dir, 'whole');
  fs.cpSync(train.state, whole, { recursive: true });
  t.equal(score(whole).code, 0);
  const state = path.join(dir, 'refused');
  fs.cpSync(train.state, state, { recursive: true });
  const refused = spawnSync(
    ...bareNode([path.join(__dirname, 'helpers', 'cli-killed.js'), 'score', '--log', log, '--state', state, '--config', cfg, '--quiet']),
    { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ANOMALY_CONFIG: '', CLI_FAIL_AT: 'windows:1' } },
  );
  t.match(refused.stderr, /ENOSPC/, 'the refused write ends the run and says why');
  t.match(refused.stderr, /error: \d+ closed windows not retained in anomaly_windows, and lost: ENOSPC/, 'and names the windows it lost');
  const again = anomaly(['score', '--log', log, '--state', state, '--config', cfg]);
  t.equal(again.code, 0, again.err);
  t.match(
    again.err,
    /of them were begun by a run that ended before it finished \(killed, or stopped by an error such as a full disk\)/,
    'the resume does not say the run was killed',
  );
  t.equal(eventsLearnt(state), eventsLearnt(whole), 'the subjects learnt every row once');
  const open = (s: string) => {
    const saved = JSON.parse(fs.readFileSync(path.join(s, 'windows', 'open.json'), 'utf8')).payload as {
      late: number;
      open: { subject: string; start: number; events: number }[];
    };
    return { late: saved.late, open: saved.open.map((w) => `${w.subject} ${w.start} ${w.events}`).sort() };
  };
  t.same(open(state), open(whole), 'the open windows hold each row once, none taken for late');
  t.notOk(fs.existsSync(path.join(state, 'scoring-run')), 'the run is over');
});

t.test('train killed once its ledger was saved leaves the windows it learnt saved (revchaos)', async (t) => {
  // train saved its windows after its ledger and journal: killed between, the next train of
  // the same logs found every row learnt (exit 65) and the windows of the whole run were never
  // saved, never trained, without a word
  const { dir, cfg, log } = setUp(t);
  const whole = path.join(dir, 'whole');
  t.equal(anomaly(['train', '--log', log, '--state', whole, '--config', cfg, '--quiet']).code, 0);
  const windowFiles = (s: string) =>
    ['subjects', 'pools'].flatMap((sub) => {
      const d = path.join(s, 'windows', sub);
      return fs.existsSync(d) ? fs.readdirSync(d).map((f) => `${sub}/${f}`) : [];
    });
  const late = (s: string) => JSON.parse(fs.readFileSync(path.join(s, 'windows', 'open.json'), 'utf8')).payload.late as number;
  t.ok(windowFiles(whole).length > 0, 'a whole train saves its windows');
  // (killed at subject:13, the final save's first subject: the windows are saved and that
  // subject not, so the rows are resumed and given to the windows again, which must not take
  // them twice nor count them late)
  for (const at of ['ledger:1', 'subject:13']) {
    const state = path.join(dir, at.replace(':', '-'));
    const killed = killedRun('train', at, state);
    t.equal(killed.signal, 'SIGKILL', `killed at ${at} (${killed.stderr.trim().split('\n').pop()})`);
    t.ok(fs.existsSync(path.join(state, 'windows', 'open.json')), `${at}: killed after the windows were saved`);
    anomaly(['train', '--log', log, '--state', state, '--config', cfg, '--quiet']);
    t.same(windowFiles(state).sort(), windowFiles(whole).sort(), `${at}: the killed train and its rerun saved the same windows`);
    t.equal(late(state), late(whole), `${at}: no row taken for late`);
  }
});
