import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { bareNode } from './helpers/bare-node';
import { emulated } from './helpers/emulated';
import { DIST, ROOT } from './helpers/paths';

// anomaly.ext run by hand, as a newcomer tries it before osqueryd is set up: each case says
// what is wrong and what to do, in one line, with a sysexits code and no stack trace.

const MAIN = path.join(DIST, 'extension', 'main.js');

function ext(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ANOMALY_') && k !== 'OSQUERY_EXTENSION'));
  // the timeout only ends a hang, so that it is reported instead of stalling the suite (SIGKILL:
  // a blocked event loop never runs the SIGTERM handler)
  const r = spawnSync(...bareNode([MAIN, ...args]), { encoding: 'utf8', env: { ...clean, ...env }, cwd, timeout: 120_000, killSignal: 'SIGKILL' });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

t.test('--help prints the usage, the same as the launcher, wherever it stands', async (t) => {
  const launcher = spawnSync(path.join(ROOT, 'extension', 'anomaly.ext'), ['--help'], { encoding: 'utf8' });
  t.equal(launcher.status, 0);
  for (const args of [['--help'], ['-h'], ['--verbose', '--help'], ['--socket', '/nonexistent', '--help']]) {
    const r = ext(args);
    t.equal(r.code, 0, `${args.join(' ')}: exit 0 (${r.err.trim()})`);
    t.equal(r.out, launcher.stdout, `${args.join(' ')}: the launcher's usage`);
  }
});

t.test('no osqueryd at the socket: EX_UNAVAILABLE, saying how osqueryd starts it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-ext-friction-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'osquery.em');
  const r = ext(['--socket', sock, '--timeout', '1'], { ANOMALY_STATE_DIR: path.join(dir, 'state') });
  t.equal(r.code, 69, r.err);
  t.match(r.err, `osquery extensions socket ${sock} not available after 1 s`);
  t.match(r.err, /start osqueryd first and pass its --extensions_socket as --socket/);
  t.equal(r.err.trim().split('\n').length, 1, 'one line');
  t.notMatch(r.err, /\n\s+at /, 'no stack trace');
});

t.test('a state directory that cannot be created under /proc: EX_CANTCREAT, not a hang', { skip: !fs.existsSync('/proc/self') && 'no /proc' }, async (t) => {
  // Node's recursive mkdir loops for ever on /proc's ENOENT, at full CPU and deaf to SIGTERM
  const r = ext(['--socket', '/nonexistent/osquery.em', '--timeout', '1'], { ANOMALY_STATE_DIR: '/proc/anomaly-test/state' });
  t.equal(r.signal, null, 'it ended by itself');
  t.equal(r.code, 73, r.err);
  t.match(r.err, /state directory \/proc\/anomaly-test\/state cannot be created \(ENOENT/);
  t.equal(r.err.trim().split('\n').length, 1, 'one line');
});

t.test('a relative ANOMALY_STATE_DIR is refused (EX_CONFIG), by anomaly.ext and by the CLI, before anything is created', async (t) => {
  // osqueryd starts its extensions in its own working directory (/ under systemd, wherever
  // osqueryi was typed): a relative ANOMALY_STATE_DIR named a different directory for the
  // extension and for 'anomaly train' run from a shell, and root created it wherever that was
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-ext-relative-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = ext(['--socket', path.join(dir, 'osquery.em'), '--timeout', '1'], { ANOMALY_STATE_DIR: 'anomaly-state' }, dir);
  t.equal(r.code, 78, r.err);
  t.match(r.err, /ANOMALY_STATE_DIR: must be an absolute path, not "anomaly-state"/);
  t.match(r.err, /working directory/, 'says why');
  t.equal(r.err.trim().split('\n').length, 1, 'one line');
  t.same(fs.readdirSync(dir), [], 'nothing created in the working directory');
  const cli = (args: string[], env: NodeJS.ProcessEnv) =>
    spawnSync(...bareNode([path.join(DIST, 'cli', 'main.js'), ...args]), {
      encoding: 'utf8',
      env: { ...process.env, ANOMALY_CONFIG: '', ...env },
      cwd: dir,
    });
  const status = cli(['report', '--out', path.join(dir, 'out')], { ANOMALY_STATE_DIR: 'anomaly-state' });
  t.equal(status.status, 78, status.stderr);
  t.match(status.stderr, /ANOMALY_STATE_DIR: must be an absolute path, not "anomaly-state".*pass --state/);
  t.same(fs.readdirSync(dir), [], 'nothing created by the CLI either');
  // --state is typed in the shell the command runs in: resolved there once, and used so
  const flag = cli(['report', '--out', path.join(dir, 'out'), '--state', 'typed-state'], { ANOMALY_STATE_DIR: 'anomaly-state' });
  t.equal(flag.status, 66, `--state overrides it, resolved in the working directory: ${flag.stderr}`);
  t.match(flag.stderr, `no retained scores in ${path.join(dir, 'typed-state')}`);
});

t.test('once registered, it logs which config took effect and where its state is', async (t) => {
  const e = await emulated();
  t.teardown(() => e.close());
  await e.launch();
  await until(() => /config .*; state directory/.test(e.stderr.join('')));
  t.match(e.stderr.join(''), `config ${e.env.ANOMALY_CONFIG}; state directory ${e.stateDir}`);
  // without ANOMALY_CONFIG in osqueryd's environment, and nothing at the default path
  if (fs.existsSync('/etc/osquery/anomaly.json')) return;
  const bare = await emulated();
  t.teardown(() => bare.close());
  bare.env.ANOMALY_CONFIG = '';
  bare.env.ANOMALY_STATE_DIR = bare.stateDir;
  await bare.launch();
  await until(() => /config .*; state directory/.test(bare.stderr.join('')));
  t.match(bare.stderr.join(''), `config /etc/osquery/anomaly.json (absent: defaults); state directory ${bare.stateDir}`);
});

// The harness's own promise (test/helpers/emulated.ts): the extension under test runs without
// tap's process-info hooks, which record every module it loads and, through signal-exit, undo
// node's ignoring of SIGXFSZ. tap writes its --import into every child's NODE_OPTIONS at
// spawn, an empty value in `env` included; the launching shell's unset is what drops it.
t.test("the extension under test runs without tap's hooks: no NODE_OPTIONS in its environment", async (t) => {
  const e = await emulated();
  t.teardown(() => e.close());
  const child = await e.launch();
  const environ = fs.readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0');
  t.match(
    fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8'),
    /extension\/main\.js/,
    'the pid is node running the extension (the shell and the launcher exec)',
  );
  t.same(
    environ.filter((v) => v.startsWith('NODE_OPTIONS=')),
    [],
    'no NODE_OPTIONS',
  );
});

/** no deadline: tap's own timeout reports a line that never comes */
async function until(ok: () => boolean): Promise<void> {
  while (!ok()) await new Promise((r) => setTimeout(r, 100));
}
