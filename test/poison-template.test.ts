import t from 'tap';
import { FeatureExtractor } from '../scorer/features/extract';
import { TemplateMiner } from '../scorer/features/miner';
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
  // (a state of the build before, mined across users: the next test)
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

t.test("an older build's templates carry on for the subjects that learnt them", async (t) => {
  // The build before branch `poison` mined every subject's lines in one miner and saved it
  // unscoped. Its templates were dropped on upgrade ("they cannot be told apart"), but each
  // subject's models had learnt their text: the first `git commit -m …` after the upgrade
  // was a literal line again, a command value the subject never had. A subject monitoring
  // on 14 days of routine scored its usual `git commit -m <msg>`, `ssh <host>.corp` and
  // `vim <file>.md` 0.204 (bad) after the upgrade, 0.89-1.0 (good) without it.
  const previous = new TemplateMiner({ masks: [], similarity: 0.5, depth: 5, maxTemplates: 20_000 });
  for (const line of ['git commit -m fix', 'git commit -m typo', 'ssh -q db.corp', 'ssh -q web.corp']) previous.add(line);
  const miner = previous.toState();
  delete (miner.options as { scoped?: boolean }).scoped;
  const old = { miner, users: [] as Array<[string, string]> };
  t.equal(checkExtractor(old), null, "the previous build's shape is a valid state");
  const x = FeatureExtractor.fromState(JSON.parse(JSON.stringify(old)), { users: new UidMap(), overrides: {} });
  t.equal(cmdOf(x, proc(T0, '1000', 'git commit -m docs')), 'cmd=git commit -m <*>', 'a line of an old template is that template');
  t.equal(cmdOf(x, proc(T0 + 1, '1000', 'ssh -q app.corp')), 'cmd=ssh -q <*>');
  t.equal(cmdOf(x, proc(T0 + 2, '1000', 'curl -s https://x.example/a')), 'cmd=curl -s https://x.example/a', 'a line of none is its own, as before');
  t.equal(
    x.match(proc(T0 + 3, '1001', 'ssh -q ci.corp')).values.find((v) => v.startsWith('cmd=')),
    'cmd=ssh -q <*>',
    'matching (feedback) finds it too',
  );
  // the subject's template is its own from then on: another user's lines do not widen it
  for (let i = 0; i < 20; i++) x.extract(proc(T0 + 10 + i, '1002', `git commit -m ${String.fromCharCode(97 + i)} --amend`));
  t.equal(cmdOf(x, proc(T0 + 40, '1000', 'git commit -m more')), 'cmd=git commit -m <*>');
  // and the old templates outlive a restart: subjects not seen since the upgrade still find them
  const saved = JSON.parse(JSON.stringify(x.toState()));
  t.equal(checkExtractor(saved), null, 'the state with the old templates is valid');
  const y = FeatureExtractor.fromState(saved, { users: new UidMap(), overrides: {} });
  t.equal(cmdOf(y, proc(T0 + 50, '1003', 'ssh -q build.corp')), 'cmd=ssh -q <*>', 'read back, a subject new since finds the old template');
});

t.test("one user's flood of new command shapes does not make the host forget another user's templates (rootsafe)", async (t) => {
  // the miner is one for the host (every subject's templates in one tree, 20,000 at most), and
  // when full it forgot the least used half of all of them, the oldest first among equals: a
  // local user who ran some 20,000 commands of shapes never seen, each three times, made every
  // template of every other account used no more than that forgotten. The next usual line of
  // each was a literal template again, a value its models never learnt (`git commit -m qwert`
  // scored 0.204, bad, where the template scored 1.000: the upgrade case above), one false
  // alarm per account and template, aimed at anyone
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const git = (i: number, message: string) =>
    cmdOf(x, {
      ...proc(T0 + i, '1000', `git commit -m ${message}`),
      columns: { ...proc(T0 + i, '1000', '').columns, path: '/usr/bin/git', cmdline: `git commit -m ${message}` },
    });
  t.equal(git(0, 'fix'), 'cmd=git commit -m fix');
  t.equal(git(1, 'typo'), 'cmd=git commit -m <*>', "the user's template");
  // eve's commands: words of letters only, so that each shape is a leaf of its own (digits
  // would be masked, and lines with them share a leaf)
  const word = (n: number) => {
    let s = '';
    for (let k = 0; k < 3; k++, n = Math.floor(n / 20)) s += 'ghijklmnopqrstuvwxyz'[n % 20];
    return s;
  };
  // each shape run three times: more used than the user's template, which forgetting the
  // least used half of all templates then took when the 20,001st came
  const shapes = 20_500;
  for (let i = 0; i < shapes; i++) {
    // 1 to 6 words after the program and its first argument: a shape is its length and its first words
    const words = Array.from({ length: 1 + (i % 6) }, (_, k) => word(i * 7 + k * 131));
    for (let again = 0; again < 3; again++) x.extract(proc(T0 + 10 + 3 * i + again, '1001', `${word(i)} ${word(Math.floor(i / 97))} ${words.join(' ')}`));
  }
  t.ok(x.toState().miner.clusters.length >= 10_000, `${x.toState().miner.clusters.length} templates kept`);
  t.equal(git(100_000, 'again'), 'cmd=git commit -m <*>', "after the flood, the user's usual line is their template still");
});

t.test("one user's command lines of new long words are templates of bounded size, and leave another user's as they were (rootsafe)", async (t) => {
  // 20,000 templates of a user's own lines of 4,096 characters (what the extractor keeps of a
  // command line) held some 70 MB in the miner, which is bounded by its count of templates
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const git = (i: number, message: string) =>
    cmdOf(x, { ...proc(T0 + i, '1000', ''), columns: { ...proc(T0 + i, '1000', '').columns, path: '/usr/bin/git', cmdline: `git commit -m ${message}` } });
  git(0, 'fix');
  t.equal(git(1, 'typo'), 'cmd=git commit -m <*>', "the user's template");
  let seed = 3;
  const letters = (n: number) => {
    let s = '';
    for (let k = 0; k < n; k++) s += 'ghijklmnopqrstuvwxyz'[(seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 20];
    return s;
  };
  for (let i = 0; i < 3_000; i++) x.extract(proc(T0 + 10 + i, '1001', `${letters(8)} ${letters(1000)} ${letters(1000)} ${letters(1000)} ${letters(1000)}`));
  const held = x.toState().miner.clusters.reduce((c, [, tokens]) => c + tokens.reduce((a, w) => a + w.length + 1, 0), 0);
  t.ok(held <= 8_000_000 + 5_000, `the templates hold ${held} characters`);
  t.equal(git(10_000, 'again'), 'cmd=git commit -m <*>', "the user's template is kept");
});
