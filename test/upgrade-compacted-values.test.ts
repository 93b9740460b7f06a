import t from 'tap';
import { compactValue, currentMarks, DIGEST_MARK, MAX_VALUE_CHARS } from '../scorer/features/compact-value';
import { currentEventKey } from '../scorer/features/kinds';
import { createModel, loadModel, selectBackend } from '../scorer/models';
import { Subject } from '../scorer/subject';
import { developerRoutine, UPGRADE_OPTIONS } from './helpers/upgrade-routine';

// The builds before heapmem spelt a compacted value's mark `…#`, this one `·#`. Rarity's tokens
// and the process table are respelt when a state is read back (heapmem), but a subject's saved
// events, the windows' keys and the LSTM's vocabulary kept the older spelling, and the SVM had
// fitted hashes of it: every routine event with a value over 256 characters (a program's path,
// a parent read back from the process table) was new once after the upgrade (markguard).

/** a program's path over MAX_VALUE_CHARS, as this build compacts it and as the builds before heapmem did */
const LONG = compactValue(`/opt/toolchain/${'release-'.repeat(32)}launcher`);
const OLDER = `${LONG.slice(0, MAX_VALUE_CHARS - 24)}\u2026#${LONG.slice(MAX_VALUE_CHARS - 22)}`;

/** a developer's tools run from a launcher of a long path (its parent read back from the process table, compacted) */
const routine = (launcher: string, seed?: number) => developerRoutine('process_events', launcher, seed);

/** a subject's state with its SVM's routine keys left out, as the builds before routineg saved it */
function withoutRoutineKeys(state: ReturnType<Subject['toState']>): ReturnType<Subject['toState']> {
  return { ...state, models: state.models.map((m) => (m.name === 'ocsvm' ? { ...m, routine: undefined } : m)) };
}

t.test('a key or token saved with the older mark reads back as this build spells it, a raw one as saved (markguard)', async (t) => {
  t.equal(OLDER.length, MAX_VALUE_CHARS);
  t.equal(currentEventKey(`exec /usr/bin/git <- ${OLDER}`), `exec /usr/bin/git <- ${LONG}`, 'a key');
  t.equal(currentEventKey(`connect ${OLDER} -> public:198.51:443`), `connect ${LONG} -> public:198.51:443`, 'in the middle of a key');
  t.equal(currentMarks(`parent=${OLDER}>exe=${OLDER}`), `parent=${LONG}>exe=${LONG}`, 'both values of a pair');
  const cut = `exec /usr/bin/git <- ${OLDER}`.slice(0, 265);
  t.equal(currentEventKey(cut), `exec /usr/bin/git <- ${LONG}`.slice(0, 265), 'a key cut within the digest');
  const raw = `file created /srv/${'g'.repeat(240)}\u2026#notes.txt`;
  t.equal(currentEventKey(raw), raw, 'a raw value with the older mark is left as saved');
  t.ok(LONG.includes(DIGEST_MARK));
});

t.test('a subject whose events and SVM hold values compacted before heapmem scores its routine as before after the upgrade (markguard)', async (t) => {
  const options = UPGRADE_OPTIONS;
  const before = routine(OLDER);
  const s = new Subject('dev@build-01', options);
  for (let d = 0; d < 10; d++) await s.scoreEvents(Array.from({ length: 120 }, (_, i) => before(d, i)));
  t.equal(s.state, 'monitoring');
  // as a build before heapmem saved it: its SVM kept no routine keys (routineg came later)
  const saved = JSON.stringify(withoutRoutineKeys(s.toState()));
  t.ok(saved.includes('\u2026#') && !saved.includes(DIGEST_MARK), 'saved in the older spelling');
  const upgraded = Subject.fromState(JSON.parse(saved), options);
  const respelt = JSON.stringify(upgraded.toState());
  t.notOk(respelt.includes('\u2026#'), 'read back, its events are in this spelling');
  const after = routine(LONG);
  const scored = await upgraded.scoreEvents(Array.from({ length: 60 }, (_, i) => after(10, i)));
  const bad = scored.filter((v) => v.verdict === 'bad');
  t.equal(bad.length, 0, `the routine is not bad after the upgrade (${bad.length} of 60: ${bad[0]?.reasons ?? ''})`);
});

t.test('an LSTM that learnt keys with values compacted before heapmem knows them after the upgrade (markguard)', async (t) => {
  await selectBackend();
  const seqs = (launcher: string) => {
    const next = routine(launcher, 5);
    return Array.from({ length: 120 }, (_, d) => Array.from({ length: 24 }, (_, i) => next(d, i)));
  };
  const old = createModel('lstm', { epochs: 4, units: 16 });
  await old.fit(seqs(OLDER));
  const [before] = await old.score([{ event: seqs(OLDER)[0][9], context: seqs(OLDER)[0].slice(0, 9) }]);
  const upgraded = loadModel(JSON.parse(JSON.stringify(old.toState())));
  const [after] = await upgraded.score([{ event: seqs(LONG)[0][9], context: seqs(LONG)[0].slice(0, 9) }]);
  t.ok(
    Math.abs(after.value - before.value) < 1e-5,
    `the routine step as likely in the new spelling (${after.value.toFixed(3)} nats) as in the old (${before.value.toFixed(3)})`,
  );
  old.dispose?.();
  upgraded.dispose?.();
});

t.test('a subject whose events hold a raw `…#` (no compacted value) is not retrained at every load (markguard)', async (t) => {
  // a file name a user chose, under MAX_VALUE_CHARS, with `…#` past the head: currentMarks
  // leaves it as saved, so there is no older spelling to fit away, and a subject flagged for it
  // retrained at every load and every unpark without ever clearing the flag
  const raw = `/srv/${'g'.repeat(240)}\u2026#notes.txt`;
  const base = developerRoutine('process_events');
  const withRaw = (d: number, i: number) => {
    const e = base(d, i);
    return i === 0 ? { ...e, key: `file created ${raw}`, values: [...e.values, `path=${raw}`] } : e;
  };
  const s = new Subject('dev@build-01', UPGRADE_OPTIONS);
  for (let d = 0; d < 10; d++) await s.scoreEvents(Array.from({ length: 120 }, (_, i) => withRaw(d, i)));
  t.equal(s.state, 'monitoring');
  let state = JSON.parse(JSON.stringify(s.toState()));
  t.ok(JSON.stringify(state).includes(`${raw}`), 'its saved events hold the raw value');
  const trained = state.lastTrained;
  for (let load = 1; load <= 3; load++) {
    const up = Subject.fromState(state, UPGRADE_OPTIONS);
    t.notOk(up.toState().fittedInOlderSpelling, `load ${load}: not flagged as fitted in an older spelling`);
    await up.scoreEvents(Array.from({ length: 5 }, (_, i) => base(10 + load, i + 1)));
    state = JSON.parse(JSON.stringify(up.toState()));
    t.equal(state.lastTrained, trained, `load ${load}: not retrained`);
  }
});

t.test('a subject whose events hold a value compacted before heapmem is flagged once and retrains once (markguard)', async (t) => {
  const before = routine(OLDER);
  const s = new Subject('dev@build-01', UPGRADE_OPTIONS);
  for (let d = 0; d < 10; d++) await s.scoreEvents(Array.from({ length: 120 }, (_, i) => before(d, i)));
  const upgraded = Subject.fromState(JSON.parse(JSON.stringify(s.toState())), UPGRADE_OPTIONS);
  t.equal(upgraded.toState().fittedInOlderSpelling, true, 'flagged at the first load');
  const after = routine(LONG);
  await upgraded.scoreEvents(Array.from({ length: 5 }, (_, i) => after(10, i + 1)));
  const once = JSON.parse(JSON.stringify(upgraded.toState()));
  t.notOk(once.fittedInOlderSpelling, 'the retrain clears it');
  t.notOk(Subject.fromState(once, UPGRADE_OPTIONS).toState().fittedInOlderSpelling, 'not flagged at the next load');
});
