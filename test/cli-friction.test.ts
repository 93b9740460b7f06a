import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { announceBackend } from '../scorer/models/backend';
import { EXIT } from '../cli/exit';
import { anomaly, asOtherUser, otherUserCannotRun } from './helpers/cli';
import { JUMPVM_LOG } from './helpers/paths';

// The command line's rough edges, each as a user meets it: one clear line on stderr, the
// sysexits code a script can act on, and nothing that drives the terminal.

t.test('every friction point is one clear line with its sysexits code', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-cli-friction-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const state = path.join(dir, 'state');
  const cfg = path.join(dir, 'anomaly.json');
  fs.writeFileSync(cfg, JSON.stringify({ learning: { min_events: 150, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false } }));
  const oneLine = (r: { err: string }, what: string) => t.equal(r.err.trim().split('\n').length, 1, `${what}: one line (${r.err.trim()})`);
  const cases: Array<[string, string[], number, RegExp]> = [
    ['score before train', ['score', '--log', JUMPVM_LOG], 66, /no trained model in .*; train first with: anomaly train --log FILE/],
    [
      '--only with a made-up verdict',
      ['score', '--log', JUMPVM_LOG, '--only', 'terrible'],
      64,
      /--only: unknown verdict "terrible" \(bad, ugly, good, learning\)/,
    ],
    ['a directory', ['train', '--log', dir], 66, /is a directory; name the results logs in it/],
    ['a binary file', ['train', '--log', path.join(dir, 'binary.log')], 65, /binary data, not osquery results output/],
    ['a fake .gz', ['train', '--log', path.join(dir, 'fake.log.gz')], 65, /named \.gz but not gzip data/],
    ['a missing --config', ['train', '--log', JUMPVM_LOG, '--config', path.join(dir, 'none.json')], 66, /none\.json: no such config file/],
    [
      'an invalid enum',
      ['train', '--log', JUMPVM_LOG, '--config', path.join(dir, 'enum.json')],
      78,
      /log_level: must be one of "debug", "info", "warn", "error"/,
    ],
    [
      'eval --config with bad JSON',
      ['eval', '--train', JUMPVM_LOG, '--test', JUMPVM_LOG, '--config', path.join(dir, 'bad.json')],
      78,
      /bad\.json: not valid JSON/,
    ],
    ['report --out onto a file', ['report', '--out', cfg], 73, /cannot write the report into .*anomaly\.json: .* is not a directory/],
    [
      'train --fleet --out under a file',
      ['train', '--fleet', JUMPVM_LOG, '--out', path.join(cfg, 'fleet.json')],
      73,
      /cannot write the fleet prior to .*anomaly\.json\/fleet\.json: .*anomaly\.json is not a directory; pass --out FILE/,
    ],
    [
      'train --fleet --out under /proc',
      ['train', '--fleet', JUMPVM_LOG, '--out', '/proc/fleet.json'],
      73,
      /cannot write the fleet prior to \/proc\/fleet\.json: not writable/,
    ],
    ['demo --out onto a file', ['demo', '--eval-split', '--out', cfg], 73, /cannot write the demo into .*anomaly\.json: .* is not a directory; pass --out DIR/],
    [
      'demo --out under /proc',
      ['demo', '--eval-split', '--out', '/proc/anomaly-demo-test/x'],
      73,
      /cannot write the demo into \/proc\/anomaly-demo-test\/x: cannot create/,
    ],
    [
      'report --out under /proc',
      ['report', '--out', '/proc/anomaly-report-test'],
      73,
      /cannot write the report into \/proc\/anomaly-report-test: cannot create/,
    ],
  ];
  fs.writeFileSync(path.join(dir, 'binary.log'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0x1b, 0x5b, 0x32, 0x4a]));
  fs.writeFileSync(path.join(dir, 'fake.log.gz'), '{"name":"q"}\n');
  fs.writeFileSync(path.join(dir, 'enum.json'), JSON.stringify({ log_level: 'loud' }));
  fs.writeFileSync(path.join(dir, 'bad.json'), '{"models": {');
  for (const [what, args, code, message] of cases) {
    // eval and demo have no state; the others get this test's state, and its config unless the case names one
    const r = anomaly(args[0] === 'eval' || args[0] === 'demo' ? args : [...args, '--state', state, ...(args.includes('--config') ? [] : ['--config', cfg])]);
    t.equal(r.code, code, `${what}: exit ${code}`);
    t.match(r.err, message, what);
    oneLine(r, what);
    // eslint-disable-next-line no-control-regex
    t.notMatch(r.err, /[\x00-\x08\x0b-\x1f]/, `${what}: no control bytes reach the terminal`);
  }

  const first = anomaly(['train', '--log', JUMPVM_LOG, '--state', state, '--config', cfg]);
  t.equal(first.code, 0, first.err);
  t.match(first.err, /training models: 1 of 1/, 'train progress reaches 1 of 1');
  // as the README says of every file in the state directory (tfjs-backend, with the LSTM on, too)
  announceBackend('wasm', state, () => undefined);
  for (const f of fs.readdirSync(state, { withFileTypes: true }).filter((e) => e.isFile()))
    t.equal(fs.statSync(path.join(state, f.name)).mode & 0o777, 0o600, `${f.name}: 0600`);
  const again = anomaly(['train', '--log', JUMPVM_LOG, '--state', state, '--config', cfg, '--quiet']);
  t.equal(again.code, 65, 'the same log again: nothing new, EX_DATAERR');
  t.match(again.err, /all 266 rows were already learned \(the same rows, host, query, time and columns/);
  oneLine(again, 'the same log again');

  // a log that is not osquery's: score says so as train does, instead of exit 0 and no rows
  const syslog = path.join(dir, 'auth.log');
  fs.writeFileSync(syslog, 'Dec  6 10:00:01 web-01 sshd[812]: Accepted publickey for bob\nDec  6 10:00:02 web-01 sshd[812]: session opened\n');
  const notOsquery = anomaly(['score', '--log', syslog, '--state', state, '--config', cfg, '--quiet']);
  t.equal(notOsquery.code, 65, `score on a syslog file: EX_DATAERR (${notOsquery.err.trim()})`);
  t.match(notOsquery.err, /auth\.log: no result rows found \(2 lines skipped\)/);
  t.equal(notOsquery.out, '', 'no rows printed');
});

t.test('score or report with a --state that does not exist creates nothing, wherever it points, and says so', async (t) => {
  // score made the directory, its parents (0755, as root) and subjects/ and tfjs-backend in it
  // before it found no trained model there: a typo left a tree wherever it pointed
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-cli-typo-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cfg = path.join(dir, 'anomaly.json');
  fs.writeFileSync(cfg, JSON.stringify({ models: { rarity: true, ocsvm: false, lstm: false } }), { mode: 0o600 });
  const typo = path.join(dir, 'var', 'osqery', 'anomaly');
  const r = anomaly(['score', '--log', JUMPVM_LOG, '--state', typo, '--config', cfg, '--quiet']);
  t.equal(r.code, 66, `EX_NOINPUT (${r.err.trim()})`);
  t.match(r.err, /no trained model in .*anomaly \(no such directory\): .*train first with: anomaly train --log FILE/);
  t.notOk(fs.existsSync(path.join(dir, 'var')), 'nothing created');
  // report, which only reads, said "no retained scores in …" as of an empty state: the typo was not named
  const report = anomaly(['report', '--state', typo, '--config', cfg, '--out', path.join(dir, 'report')]);
  t.equal(report.code, 66, `report: EX_NOINPUT (${report.err.trim()})`);
  t.match(report.err, /no retained scores in .*osqery\/anomaly \(no such directory\); pass --state DIR/);
  t.notOk(fs.existsSync(path.join(dir, 'var')), 'nothing created by report either');
});

t.test('a --state that is a file or a link says what is there and where the link leads, not mkdir EEXIST', async (t) => {
  // a new user's state_dir naming a file said "cannot be created (EEXIST: file already exists,
  // mkdir …)", and one naming a link (/var/osquery/anomaly -> /data/anomaly) did not say which
  // directory to name instead
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-cli-statedir-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cfg = path.join(dir, 'anomaly.json');
  fs.writeFileSync(cfg, JSON.stringify({ models: { rarity: true, ocsvm: false, lstm: false } }), { mode: 0o600 });
  const real = path.join(dir, 'real');
  fs.mkdirSync(real, { mode: 0o700 });
  fs.symlinkSync(real, path.join(dir, 'link'));
  fs.symlinkSync(path.join(dir, 'nowhere'), path.join(dir, 'dangling'));
  const cases: Array<[string, RegExp]> = [
    ['anomaly.json', /state directory .*anomaly\.json is not a directory; or pass --state DIR/],
    ['link', new RegExp(`state directory .*link is a symbolic link to ${real}; name the real directory in state_dir`)],
    ['dangling', /state directory .*dangling is a symbolic link to .*nowhere, which does not exist; name the real directory/],
  ];
  for (const [name, message] of cases) {
    const r = anomaly(['train', '--log', JUMPVM_LOG, '--state', path.join(dir, name), '--config', cfg, '--quiet']);
    t.equal(r.code, EXIT.cantcreat, `${name}: EX_CANTCREAT (${r.err.trim()})`);
    t.match(r.err, message, name);
    t.notMatch(r.err, /EEXIST/, `${name}: not mkdir's error`);
  }
  t.notOk(fs.existsSync(path.join(dir, 'nowhere')), 'nothing created through the dangling link');
  t.same(fs.readdirSync(real), [], 'nor through the link');
});

t.test('a usage error points at the help of the command that was run', async (t) => {
  const typo = anomaly(['train', '--lgo', JUMPVM_LOG]);
  t.equal(typo.code, 64);
  t.equal(typo.err, "anomaly: unknown flag --lgo; did you mean --log?\nRun 'anomaly train --help' for its options.\n");
  // osquery's spelling of the flag: the command's own name for it is offered
  const osquerySpelt = anomaly(['status', '--extensions_socket', '/var/osquery/osquery.em']);
  t.equal(osquerySpelt.code, 64);
  t.equal(osquerySpelt.err, "anomaly: unknown flag --extensions_socket; did you mean --socket?\nRun 'anomaly status --help' for its options.\n");
  // every code a command can end with is in the top-level help
  const help = anomaly(['--help']);
  for (const [name, code] of Object.entries(EXIT)) t.match(help.out, new RegExp(`\\b${code} `), `anomaly --help names exit ${code} (${name})`);
  // eval took --verbose, undocumented, and did nothing with it
  const verbose = anomaly(['eval', '--verbose', '--train', JUMPVM_LOG, '--test', JUMPVM_LOG]);
  t.equal(verbose.code, 64, 'eval has no --verbose');
  t.equal(verbose.err, "anomaly: unknown flag --verbose\nRun 'anomaly eval --help' for its options.\n");
  // train's --out is where --fleet writes its prior: with --log it was taken and ignored, and
  // nothing was written where the user asked (newcomer6)
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-train-out-'));
  t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }));
  const stray = anomaly(['train', '--log', JUMPVM_LOG, '--out', path.join(scratch, 'prior.json'), '--state', path.join(scratch, 'state'), '--quiet']);
  t.equal(stray.code, 64, `train --log --out: a usage error (${stray.err.trim()})`);
  t.match(stray.err, /--out is where --fleet writes its prior/);
  t.notOk(fs.existsSync(path.join(scratch, 'state')), 'and nothing was learnt');
  const unknown = anomaly(['trian']);
  t.equal(unknown.code, 64);
  t.equal(unknown.err, 'anomaly: unknown command "trian"; did you mean train?\nRun \'anomaly --help\' for usage.\n');
  // `anomaly help trian` printed the general usage and exit 0, as if the command were known
  const helpUnknown = anomaly(['help', 'trian']);
  t.equal(helpUnknown.code, 64, 'help of a command that does not exist: EX_USAGE');
  t.equal(helpUnknown.err, 'anomaly: unknown command "trian"; did you mean train?\nRun \'anomaly --help\' for usage.\n');
  t.equal(anomaly(['stats']).err.split('\n')[0], 'anomaly: unknown command "stats"; did you mean status?');
  t.equal(anomaly(['scan']).err.split('\n')[0], 'anomaly: unknown command "scan"', 'nothing one typo away: no guess');
  t.equal(anomaly(['help', 'train']).out, anomaly(['train', '--help']).out, 'help COMMAND is COMMAND --help');
  // names every object has are no commands: `anomaly constructor` was an internal error (exit 70)
  for (const args of [['constructor'], ['help', 'toString'], ['__proto__']]) {
    const r = anomaly(args);
    t.equal(r.code, 64, `anomaly ${args.join(' ')}: EX_USAGE (${r.err.split('\n')[0]})`);
    t.match(r.err, /^anomaly: unknown command /);
  }
});

/** each command's `anomaly COMMAND --help`, run once for the two tests below that read it */
const helps = new Map<string, ReturnType<typeof anomaly>>();
function helpOf(command: string): ReturnType<typeof anomaly> {
  if (!helps.has(command)) helps.set(command, anomaly([command, '--help']));
  return helps.get(command)!;
}

t.test("each command's --help starts every option's text at one column", async (t) => {
  for (const command of ['demo', 'train', 'score', 'eval', 'report', 'status', 'feedback']) {
    const help = helpOf(command);
    t.equal(help.code, 0);
    const columns = new Set(help.out.split('\n').flatMap((line) => /^ {2}--\S+(?: \S+)?\s{2,}/.exec(line)?.[0].length ?? []));
    t.equal(columns.size, 1, `anomaly ${command} --help: option text at column ${[...columns].join(', ')}`);
  }
});

// The usage line is the synopsis a user copies from: where it lists options one by one
// instead of ending in [options], an option of the Options section left out of it reads as
// one the command does not take (eval's --models, the one its own docs use most).
t.test("each command's usage line names every option its help lists, or says [options]", async (t) => {
  for (const command of ['demo', 'train', 'score', 'eval', 'report', 'status', 'feedback']) {
    const help = helpOf(command).out;
    const usage = help.slice(0, help.indexOf('\n\n'));
    if (/\[options\]/.test(usage)) continue;
    const options = help.slice(help.indexOf('\nOptions:')).match(/^ {2}--[\w-]+/gm) ?? [];
    t.ok(options.length > 0, `anomaly ${command} --help has options`);
    for (const option of options) t.ok(usage.includes(option.trim()), `anomaly ${command}: the usage line names ${option.trim()}`);
  }
});

t.test('demo --end pins the stream to a day, whatever day it runs', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-demo-end-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const a = anomaly(['demo', '--eval-split', '--days', '4', '--end', '2026-11-20', '--out', path.join(dir, 'a')]);
  t.equal(a.code, 0, a.err);
  const test = fs
    .readFileSync(path.join(dir, 'a', 'test.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.ok(
    test.every((l) => l.unixTime >= Date.UTC(2026, 10, 20) / 1000 && l.unixTime < Date.UTC(2026, 10, 21) / 1000),
    'the last day is the one named',
  );
  const b = anomaly(['demo', '--eval-split', '--days', '4', '--end', '2026-11-20', '--out', path.join(dir, 'b')]);
  t.equal(b.code, 0, b.err);
  for (const f of ['train.log', 'test.log'])
    t.equal(fs.readFileSync(path.join(dir, 'a', f), 'utf8'), fs.readFileSync(path.join(dir, 'b', f), 'utf8'), `${f}: the same bytes`);
  const bad = anomaly(['demo', '--end', '2026-02-30']);
  t.equal(bad.code, 64, 'a date that does not exist: EX_USAGE');
  t.match(bad.err, /--end must be a date as YYYY-MM-DD, not "2026-02-30"/);
  // rows dated ahead of the clock are scored, but make no history and close no window
  // (scorer/clock.ts): a stream ending next year would show nothing
  const year = new Date().getUTCFullYear() + 1;
  const future = anomaly(['demo', '--eval-split', '--days', '4', '--end', `${year}-01-01`, '--out', path.join(dir, 'c')]);
  t.equal(future.code, 64, `a day after today: EX_USAGE (${future.err.slice(0, 200)})`);
  t.match(future.err, /--end .* is after today/);
  t.notOk(fs.existsSync(path.join(dir, 'c')), 'nothing written');
});

// The extension's state is root's (osqueryd runs it as root). An engineer who runs `anomaly
// report` on it without sudo was told to "chown it": done, the extension refuses the
// directory at its next start (not its user's, exit 73), and with --logger_plugin naming it
// osqueryd shuts down on that host.
t.test("a command run without sudo on root's state says to run it as root, not to chown it", { skip: otherUserCannotRun() }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-cli-rootstate-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);
  const state = path.join(dir, 'state');
  fs.mkdirSync(state, { mode: 0o700 });
  for (const args of [
    ['report', '--out', path.join(os.tmpdir(), 'never-written')],
    ['train', '--log', JUMPVM_LOG],
  ]) {
    const r = spawnSync(...asOtherUser([...args, '--state', state]), { encoding: 'utf8', uid: 65534, gid: 65534 });
    t.equal(r.status, 73, `${args[0]}: EX_CANTCREAT as before`);
    t.match(r.stderr, /state directory .*state is root's .*run it as root \(sudo\)/, `${args[0]}: ${r.stderr.trim()}`);
    t.notMatch(r.stderr, /chown it or choose/, 'not the advice that locks the extension out');
  }
  t.equal(fs.statSync(state).uid, 0);
});

t.test('a config the user may not read says so and to run as its owner, in one line', { skip: otherUserCannotRun() }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-cli-rootconfig-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);
  const cfg = path.join(dir, 'anomaly.json');
  fs.writeFileSync(cfg, '{}', { mode: 0o600 });
  const r = spawnSync(...asOtherUser(['report', '--config', cfg, '--state', path.join(dir, 'state'), '--out', path.join(dir, 'report')]), {
    encoding: 'utf8',
    uid: 65534,
    gid: 65534,
  });
  t.equal(r.status, 78, 'EX_CONFIG as before');
  // it was "cannot read config: EACCES: permission denied, open '<the path again>'"
  t.equal(r.stderr, `anomaly: config error: ${cfg}: cannot read it (permission denied): run as root (sudo), or name another with --config\n`);
});
