import t from 'tap';
import { FeatureExtractor } from '../scorer/features/extract';
import { UidMap } from '../scorer/features/subject';
import { checkExtractor } from '../state/schema';
import type { ResultRow } from '../scorer/types';

// Template poisoning (docs/scoring.md, "What an attacker can do about it"): command lines are
// mined into templates online, and the miner was one for every subject of every host. A local
// user who ran 60 `curl -s https://mirror…/pkg…` generalised another user's literal daily
// `curl -s https://api.corp.example/health` to `curl -s <*>`, a command that user had never
// run: their routine was bad every day from then on (10 of 10 days in a replay of a developer's
// stream, 2 of 10 without the flood). Templates are now mined per subject and host.

const T0 = 1_790_000_000;

function proc(time: number, auid: string, cmdline: string, host = 'app-01'): ResultRow {
  return {
    query: 'pack_user-behavior_process_events',
    host,
    time,
    action: 'added',
    columns: { pid: String(1000 + (time % 30000)), path: '/usr/bin/curl', cmdline, auid, uid: auid, euid: auid, parent_path: '/bin/bash' },
    decorations: {},
  };
}

const cmdOf = (x: FeatureExtractor, row: ResultRow) => x.extract(row).event.values.find((v) => v.startsWith('cmd='));

t.test("one user's lines do not generalise another user's command template", async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const routine = 'curl -s https://api.corp.example/health';
  t.equal(cmdOf(x, proc(T0, '1000', routine)), `cmd=${routine}`, 'the routine is its own template');
  for (let i = 0; i < 60; i++) x.extract(proc(T0 + 60 + i, '1001', `curl -s https://mirror${String.fromCharCode(97 + (i % 26))}.example/pkg`));
  t.equal(cmdOf(x, proc(T0 + 3600, '1000', routine)), `cmd=${routine}`, "another user's flood leaves it as it was");
  t.equal(cmdOf(x, proc(T0 + 3601, '1000', routine, 'db-01')), `cmd=${routine}`, 'and the same user on another host has templates of its own');
  t.equal(cmdOf(x, proc(T0 + 3602, '1001', 'curl -s https://mirrorz.example/pkg')), 'cmd=curl -s <*>', "the flooder's own lines still generalise");
  // the user's own varied lines generalise their template, as before
  t.equal(cmdOf(x, proc(T0 + 3700, '1000', 'curl -s https://203.0.113.9/x.sh')), 'cmd=curl -s <*>', "the user's own new line joins their template");
  // feedback matches in the row's scope, learning nothing
  t.equal(
    x.match(proc(T0 + 3800, '1002', routine)).values.find((v) => v.startsWith('cmd=')),
    `cmd=${routine}`,
    'a user with no template of it matches none',
  );
  // a restart keeps the scoped templates
  const saved = JSON.parse(JSON.stringify(x.toState()));
  t.equal(checkExtractor(saved), null, 'the saved state is valid');
  const y = FeatureExtractor.fromState(saved, { users: new UidMap(), overrides: {} });
  t.equal(cmdOf(y, proc(T0 + 7200, '1000', routine)), 'cmd=curl -s <*>', 'read back, the template is the one the user made');
  // a state of an older build mined across users: its templates start again
  const old = { ...saved, miner: { ...saved.miner, options: { ...saved.miner.options, scoped: undefined } } };
  const z = FeatureExtractor.fromState(old, { users: new UidMap(), overrides: {} });
  t.equal(cmdOf(z, proc(T0 + 7200, '1000', routine)), `cmd=${routine}`, "an older build's templates, which name no user, are not used");
});

t.test('the scope token is no shared word: lines of one subject join a template as unscoped lines did', async (t) => {
  // The scope is the first token of every scoped line, so it counted as one more position
  // the line and any template of its scope share: `python3` and `base64` (digits: one leaf of
  // the tree) were 1 of 2 alike, at the 0.5 needed, and every one-word command with a digit
  // became `<*>`; five-word lines with two words alike joined at 3 of 6.
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const cmd = (i: number, line: string) => cmdOf(x, proc(T0 + i, '1000', line));
  t.equal(cmd(0, 'python3'), 'cmd=python3');
  t.equal(cmd(1, 'base64'), 'cmd=base64', 'another one-word command with a digit is its own template');
  t.equal(cmd(2, 'tar czf a b c'), 'cmd=tar czf a b c');
  t.equal(cmd(3, 'tar czf x y z'), 'cmd=tar czf x y z', 'two words of five alike are not a template (0.4 < 0.5)');
  t.equal(cmd(4, 'tar czf x y q'), 'cmd=tar czf x y <*>', 'four of five are');
});
