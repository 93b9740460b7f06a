import t from 'tap';
import { FeatureExtractor } from '../scorer/features/extract';
import { UidMap } from '../scorer/features/subject';
import { createModel, loadModel } from '../scorer/models';
import type { BehaviourEvent, Evidence, Model } from '../scorer/types';

// A new working directory in a known place (branch fprate): a person's first day in a new
// project directory made every command typed there a bad row, its one new value the directory
// (the fifth held-out set's new student, `~/projects/thesis` beside the group's projects). The
// developer's process rows below go through the product's extractor; the model is the rarity
// model a subject is scored by.

const DAY = 86400;
const START = 1_790_000_000 - (1_790_000_000 % DAY);

let pid = 4000;
function processRow(path: string, cmdline: string, cwd: string, time: number) {
  pid++;
  return {
    query: 'pack_hids_process_events',
    host: 'dev-1',
    time,
    action: 'added' as const,
    columns: { pid: String(pid), parent: '1200', path, cmdline, cwd, uid: '1000', euid: '1000', auid: '1000', time: String(time) },
    decorations: {},
  };
}

/** a developer who builds two projects under ~/src and reads mail in ~, fourteen days */
async function fittedDeveloper(): Promise<{ model: Model; event: (cwd: string) => BehaviourEvent; before: BehaviourEvent }> {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const train: BehaviourEvent[] = [];
  for (let d = 0; d < 14; d++) {
    const at = START + d * DAY + 9 * 3600;
    train.push(x.extract(processRow('/usr/bin/git', 'git status', '/home/dana/src/runner', at)).event);
    train.push(x.extract(processRow('/usr/bin/make', 'make test', '/home/dana/src/runner', at + 600)).event);
    train.push(x.extract(processRow('/usr/bin/git', 'git status', '/home/dana/src/site', at + 3600)).event);
    train.push(x.extract(processRow('/usr/bin/ls', 'ls', '/home/dana', at + 7200)).event);
    if (d % 3 === 0) train.push(x.extract(processRow('/usr/bin/ls', 'ls', '/srv', at + 7300)).event);
    if (d % 3 === 1) train.push(x.extract(processRow('/usr/bin/ls', 'ls', `/tmp/tmp.Q${d}x9aZ`, at + 7400)).event);
  }
  const model = createModel('rarity');
  await model.fit([train]);
  const at = START + 14 * DAY + 9 * 3600;
  // scored after the day's `make test`, which the developer's `git status` follows daily
  const before = x.match(processRow('/usr/bin/make', 'make test', '/home/dana/src/runner', at));
  return { model, event: (cwd) => x.match(processRow('/usr/bin/git', 'git status', cwd, at + 3600)), before };
}

async function scoreOf(model: Model, e: BehaviourEvent, before: BehaviourEvent): Promise<Evidence> {
  return (await model.score([{ event: e, context: [before] }]))[0];
}

t.test('rarity: a new working directory beside known ones counts half; a staging, hidden or unknown place in full', async (t) => {
  const { model, event, before } = await fittedDeveloper();
  const beside = await scoreOf(model, event('/home/dana/src/ingest'), before);
  const underHome = await scoreOf(model, event('/home/dana/notes'), before);
  const unknown = await scoreOf(model, event('/opt/build/ingest'), before);
  const staging = await scoreOf(model, event('/tmp/.X11-unix/.p'), before);
  const hidden = await scoreOf(model, event('/home/dana/src/.x'), before);
  const underRoot = await scoreOf(model, event('/data'), before);
  t.match(beside.detail, /^new working directory in a known place \(`~\/src`\)/, beside.detail);
  t.match(underHome.detail, /^new working directory in a known place \(`~`\)/, underHome.detail);
  for (const [name, s] of [
    ['unknown', unknown],
    ['staging', staging],
    ['hidden', hidden],
    ['under the root', underRoot],
    // (rev3) a staging place by another spelling: a directory removed while a process runs in
    // it (the kernel's ` (deleted)`: exeLocation's class `deleted` hid the temporary and the
    // hidden ones), and names that start with two dots (`...`, `..x`: a hidden name that
    // exeLocation's pattern, one dot then another character, did not see; one rule since, tidy6)
    ['deleted, in a temporary place', await scoreOf(model, event('/tmp/tmp.Q1x9aZ/b (deleted)'), before)],
    ['deleted, hidden', await scoreOf(model, event('/home/dana/src/.x (deleted)'), before)],
    ['three dots', await scoreOf(model, event('/home/dana/src/...'), before)],
    ['two dots and a name', await scoreOf(model, event('/home/dana/src/..x'), before)],
  ] as const) {
    t.notMatch(s.detail, /known place/, `${name}: ${s.detail}`);
    t.ok(beside.value < s.value - 1, `${name} in full: ${s.value.toFixed(2)} against ${beside.value.toFixed(2)}`);
  }
  // the same directory's evidence from a saved state: the places are built from the counts
  const loaded = loadModel(JSON.parse(JSON.stringify(model.toState())));
  const again = await scoreOf(loaded, event('/home/dana/src/ingest'), before);
  t.equal(again.value, beside.value);
  t.equal(again.detail, beside.detail);
});
