import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { seededRandom as rng } from '../demo/generate';
import { Subject, type SubjectOptions } from '../scorer/subject';
import { WindowScorer } from '../scorer/windows';
import type { BehaviourEvent, ScoredEvent, ScoredWindow } from '../scorer/types';

// Row times come from the host's clock. A clock gone wrong (an RTC-less board that boots in
// 1970 until NTP answers, a clock set years ahead, a hand-made log given to 'anomaly score')
// must not make a subject's history, its retraining or its windows.

const DAY = 86400;
const START = 1_790_000_000 - (1_790_000_000 % DAY);
const YEAR_9999 = 253_402_300_799;

const OPTIONS: SubjectOptions = {
  models: ['rarity', 'ocsvm'],
  minEvents: 200,
  minSeconds: 3 * DAY,
  windowEvents: 400,
  retrainSeconds: DAY,
  contextLength: 4,
  heldOutFraction: 0.3,
  backend: 'none',
};

/** `n` events of a routine, `perDay` a day from day `fromDay` */
function stream(seed: number, fromDay: number, n: number, perDay = 60): BehaviourEvent[] {
  const r = rng(seed);
  const tools = ['git', 'vim', 'make', 'ls', 'curl'];
  return Array.from({ length: n }, (_, i) => {
    const tool = tools[Math.floor(r() * tools.length)];
    const time = START + (fromDay + Math.floor(i / perDay)) * DAY + 9 * 3600 + (i % perDay) * Math.floor((8 * 3600) / perDay);
    return { key: `exec /usr/bin/${tool} <- /bin/bash`, values: ['kind=process', `exe=/usr/bin/${tool}`], pairs: [], text: `${tool} -v`, time };
  });
}

const at = (e: BehaviourEvent, time: number): BehaviourEvent => ({ ...e, time });

t.test('one row dated in year 9999 or in 1970 does not make a learning subject monitor before min_days', async (t) => {
  for (const [what, time] of [
    ['9999', YEAR_9999],
    ['1970', 3600],
  ] as const) {
    const s = new Subject('dev@app-01', OPTIONS);
    // 300 events in one day: enough events, not enough days
    const events = stream(1, 0, 300, 300);
    events.splice(150, 0, at(events[150], time));
    const verdicts = await s.scoreEvents(events);
    t.equal(s.state, 'learning', `a row dated ${what}: still learning`);
    t.match(verdicts[verdicts.length - 1].reasons, /0\.\d of 3\.0 days/, `a row dated ${what}: the days learnt are the real ones`);
  }
});

t.test('one row dated in year 9999 does not stop retraining', async (t) => {
  const s = new Subject('dev@app-01', OPTIONS);
  await s.scoreEvents(stream(1, 0, 600));
  t.equal(s.state, 'monitoring', 'trained on 10 days');
  const first = s.lastTrained;
  await s.scoreEvents([at(stream(2, 10, 1)[0], YEAR_9999)]);
  // ten more days of the routine: retraining is due once a day
  await s.scoreEvents(stream(3, 10, 600));
  t.ok(s.lastTrained > first, `retrained after the row (${first} -> ${s.lastTrained})`);
  t.ok(s.lastTrained >= START + 18 * DAY && s.lastTrained <= START + 20 * DAY, `last trained in the last days of the routine, not in 9999 (${s.lastTrained})`);
});

t.test('a clock set months ahead and then put right does not stop retraining until the rows catch up', async (t) => {
  // rows dated by a host clock set 200 days ahead were plausible while that clock was read (no
  // later than a day after it); once NTP put it right they no longer were, but the subject kept
  // the newest of them as its last time and last training: retraining waited 200 days of rows
  // (a restart would have dropped them: the load path checks the times it reads)
  const realNow = Date.now;
  const ahead = 200 * DAY;
  t.teardown(() => {
    Date.now = realNow;
  });
  const s = new Subject('dev@app-01', OPTIONS);
  Date.now = () => realNow() + ahead * 1000;
  await s.scoreEvents(stream(1, 0, 600).map((e) => at(e, e.time + ahead)));
  t.equal(s.state, 'monitoring', 'trained on 10 days dated by the clock set ahead');
  const first = s.lastTrained;
  t.ok(first > realNow() / 1000 + DAY, `last trained ${Math.round((first - realNow() / 1000) / DAY)} days ahead of the real clock`);
  Date.now = realNow;
  // the clock put right: ten more days of the routine, dated as they happen
  await s.scoreEvents(stream(3, 10, 600));
  t.ok(s.lastTrained >= START + 18 * DAY && s.lastTrained <= START + 20 * DAY, `retrained in the last days of the routine (${first} -> ${s.lastTrained})`);
});

let nextId = 0;
function row(time: number): ScoredEvent {
  return {
    id: `id${nextId++}`,
    time,
    host: 'h1',
    subject: 'alice',
    query: 'pack_x_process_events',
    action: 'added',
    event: 'exec /usr/bin/git <- /bin/bash',
    score: 0.9,
    verdict: 'good',
    model: 'rarity',
    reasons: '',
    columns: '{}',
  };
}

t.test('one row dated in year 9999 does not close every window early', async (t) => {
  const opts = { seconds: 60, graceSeconds: 10, minEvents: 300, minSeconds: 0, historyRows: 20_000, retrainSeconds: 3600, stateDir: null };
  const run = (withFuture: boolean) => {
    const w = new WindowScorer(opts);
    const closed = [];
    // one row a second for 10 minutes, sent in batches of 5 s as osqueryd would
    for (let s = 0; s < 600; s += 5) {
      const batch = Array.from({ length: 5 }, (_, i) => row(START + s + i));
      if (withFuture && s === 100) batch.push(row(YEAR_9999));
      closed.push(...w.add(batch));
    }
    return { windows: closed.map((x) => `${x.start}:${x.events}`), late: w.late };
  };
  const plain = run(false);
  const hit = run(true);
  t.equal(plain.windows.length, 9, 'without it: 9 windows of 60 rows closed');
  t.same(hit.windows, plain.windows, 'with it: the same windows, with the same rows');
  t.equal(hit.late, plain.late + 1, 'only the row dated 9999 is left out (counted with the late rows)');
});

t.test('a clock set months ahead and then put right does not leave every window late until the rows catch up', async (t) => {
  // the host's watermark and each subject's closedThrough stayed where the clock set ahead had
  // left them: every row after the correction was late, no window for 200 days
  const realNow = Date.now;
  t.teardown(() => {
    Date.now = realNow;
  });
  const opts = { seconds: 60, graceSeconds: 10, minEvents: 300, minSeconds: 0, historyRows: 20_000, retrainSeconds: 3600, stateDir: null };
  const w = new WindowScorer(opts);
  const ahead = 200 * DAY;
  Date.now = () => realNow() + ahead * 1000;
  let closed = 0;
  for (let s = 0; s < 600; s += 5) closed += w.add(Array.from({ length: 5 }, (_, i) => row(START + ahead + s + i))).length;
  t.equal(closed, 9, '9 windows closed while the clock was ahead');
  Date.now = realNow;
  const after: ScoredWindow[] = [];
  for (let s = 0; s < 600; s += 5) after.push(...w.add(Array.from({ length: 5 }, (_, i) => row(START + DAY + s + i))));
  t.same(
    after.map((x) => `${x.start - START - DAY}:${x.events}`),
    ['0:60', '60:60', '120:60', '180:60', '240:60', '300:60', '360:60', '420:60', '480:60'],
    'after the correction: the same 9 windows of 60 rows',
  );
});

t.test('a windows state saved with a watermark in year 9999 (before this check) does not close every window early', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-watermark-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const opts = { seconds: 60, graceSeconds: 10, minEvents: 300, minSeconds: 0, historyRows: 20_000, retrainSeconds: 3600, stateDir: dir };
  const batches = Array.from({ length: 120 }, (_, b) => Array.from({ length: 5 }, (_, i) => row(START + b * 5 + i)));
  const plain = new WindowScorer({ ...opts, stateDir: null });
  const expected = batches.flatMap((b) => plain.add(b)).map((x) => `${x.start}:${x.events}`);
  const first = new WindowScorer(opts);
  const closed = batches.slice(0, 20).flatMap((b) => first.add(b));
  first.save();
  // as an earlier build saved it after one row dated 9999
  const file = path.join(dir, 'open.json');
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  // (one watermark for all hosts; this build saves one per host beside it)
  doc.payload.watermark = YEAR_9999;
  const perHost = doc.payload.watermarks;
  delete doc.payload.watermarks;
  fs.writeFileSync(file, JSON.stringify(doc));
  const second = new WindowScorer(opts);
  closed.push(...batches.slice(20).flatMap((b) => second.add(b)));
  t.same(
    closed.map((x) => `${x.start}:${x.events}`),
    expected,
    'the same windows, with the same rows, as without the saved watermark',
  );
  // and this build's own file, with a host's watermark in 9999
  const dir2 = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-watermark-'));
  t.teardown(() => fs.rmSync(dir2, { recursive: true, force: true }));
  const opts2 = { ...opts, stateDir: dir2 };
  const file2 = path.join(dir2, 'open.json');
  const third = new WindowScorer(opts2);
  const again = batches.slice(0, 20).flatMap((b) => third.add(b));
  third.save();
  const mine = JSON.parse(fs.readFileSync(file2, 'utf8'));
  t.same(Object.keys(mine.payload.watermarks), Object.keys(perHost), 'a watermark per host is saved');
  for (const host of Object.keys(mine.payload.watermarks)) mine.payload.watermarks[host] = YEAR_9999;
  fs.writeFileSync(file2, JSON.stringify(mine));
  const fourth = new WindowScorer(opts2);
  again.push(...batches.slice(20).flatMap((b) => fourth.add(b)));
  t.same(
    again.map((x) => `${x.start}:${x.events}`),
    expected,
    'the same windows with a per-host watermark in 9999',
  );
});

t.test('a subject saved with times in year 9999 (before this check) retrains again', async (t) => {
  const kept = new Subject('dev@app-01', OPTIONS);
  await kept.scoreEvents(stream(1, 0, 600));
  t.equal(kept.state, 'monitoring', 'trained on 10 days');
  // as an earlier build saved it after one row dated 9999, which it retrained at
  const state = JSON.parse(JSON.stringify(kept.toState()));
  state.lastTime = YEAR_9999;
  state.lastTrained = YEAR_9999;
  const s = Subject.fromState(state, OPTIONS);
  await s.scoreEvents(stream(3, 10, 600));
  t.ok(s.lastTrained >= START + 18 * DAY && s.lastTrained <= START + 20 * DAY, `last trained in the last days of the routine, not in 9999 (${s.lastTrained})`);
});

t.test('rows dated 1970 (a board booted without a clock) do not make a subject’s windows history', async (t) => {
  // an RTC-less board logs in 1970 until NTP answers: those are the new subject's first rows.
  // Their window closed at once (the next rows move the watermark to now) and became the
  // start of the subject's window history: a span of 56 years, so min_days was met at once
  const opts = { seconds: 60, graceSeconds: 10, minEvents: 300, minSeconds: 3 * DAY, historyRows: 20_000, retrainSeconds: 3600, stateDir: null };
  const run = (boot: boolean) => {
    const w = new WindowScorer(opts);
    const closed = [];
    if (boot) closed.push(...w.add(Array.from({ length: 5 }, (_, i) => row(60 + i))));
    // two hours of one row a second, in batches of 5 s
    for (let s = 0; s < 7200; s += 5) closed.push(...w.add(Array.from({ length: 5 }, (_, i) => row(START + s + i))));
    return { w, closed };
  };
  const plain = run(false);
  const hit = run(true);
  t.same(plain.w.monitoring(), [], 'without them: two hours are not 3 days, alice still learning');
  t.same(hit.w.monitoring(), [], 'with them: still learning');
  t.same(
    hit.closed.map((x) => `${x.start}:${x.events}`),
    plain.closed.map((x) => `${x.start}:${x.events}`),
    'the same windows, none dated 1970',
  );
  t.equal(hit.w.late, plain.w.late + 5, 'the five rows dated 1970 are left out (counted with the late rows)');
});
