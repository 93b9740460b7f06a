import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { loadConfig } from '../conf/config';
import { OsquerydEmulator } from '../emulator';
import { DurableQueue } from '../extension/queue';
import { AnomalyExtension } from '../extension/extension';
import { emulated, exited, processLine, until, type Emulated } from './helpers/emulated';

// A SIGTERM at any moment of the extension's life ends with the shutdown done: its exit code,
// the state directory's lock given back, the lines the queue acknowledged kept for the next
// start. A SIGTERM while the scorer started made Node exit 0 half-way through the shutdown
// (48c6199): nothing held the event loop any more. Each phase is reached by what the extension
// says or by holding one of the emulator's answers, never by a wait.

/** a gate the emulator awaits before an answer: `reached` once it is, open() lets it answer */
function gate(): { wait: () => Promise<void>; reached: Promise<void>; open: () => void } {
  let reach!: () => void;
  let open!: () => void;
  const reached = new Promise<void>((r) => (reach = r));
  const opened = new Promise<void>((r) => (open = r));
  return {
    wait: () => {
      reach();
      return opened;
    },
    reached,
    open,
  };
}

const lockOf = (e: Emulated) => path.join(e.stateDir, 'lock');

t.test('a SIGTERM at each phase of the start and of the life: the shutdown completes', async (t) => {
  // a --timeout no loaded host outlasts: the phase 'waiting for osqueryd' must not end by it
  const e = await emulated({ timeout: 60, config: { learning: { min_events: 50, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false } } });
  t.teardown(() => e.close());
  /** result lines osqueryd was answered 0 for, over every run */
  let acknowledged = 0;
  const log = async (n: number) => {
    for (let i = 0; i < n; i++) await e.emu.logResult('anomaly', processLine(acknowledged + i + 1));
    acknowledged += n;
  };
  const says = (child: ReturnType<typeof spawn>, what: RegExp) =>
    until(
      async () => e.stderr.join(''),
      (s) => what.test(s) || child.exitCode !== null,
    );
  /** SIGTERM; `held`, an answer the emulator holds, is given once the shutdown began */
  const stop = async (phase: string, child: ReturnType<typeof spawn>, held?: () => void) => {
    child.kill('SIGTERM');
    if (held) {
      await says(child, /shutting down: SIGTERM/);
      held();
    }
    const { code, signal } = await exited(child);
    t.same({ code, signal }, { code: 0, signal: null }, `${phase}: exits with the shutdown's code`);
    t.notOk(fs.existsSync(lockOf(e)), `${phase}: the lock is given back`);
    t.match(e.stderr.join(''), /shutting down: SIGTERM/, `${phase}: the shutdown ran`);
    e.stderr.length = 0;
  };

  // while scoring (first, so that the phases after it have retained scores to read back)
  let child = await e.launch();
  await log(120);
  await until(
    () => e.emu.query("SELECT scored FROM anomaly_models WHERE subject = '*'"),
    (r) => Number(r[0]?.scored) > 0,
  );
  await log(30);
  await stop('while scoring', child);

  // before the lock: a predecessor still holds it
  fs.mkdirSync(e.stateDir, { recursive: true, mode: 0o700 });
  const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  fs.writeFileSync(lockOf(e), JSON.stringify({ pid: holder.pid, start: null, what: 'anomaly.ext' }), { mode: 0o600 });
  child = await e.launch({ wait: false });
  await says(child, /waiting for it to stop before starting/);
  child.kill('SIGTERM');
  t.equal((await exited(child)).code, 0, "before the lock: exits with the shutdown's code");
  t.match(JSON.parse(fs.readFileSync(lockOf(e), 'utf8')), { pid: holder.pid }, "before the lock: the predecessor's lock is left to it");
  holder.kill('SIGKILL');
  await exited(holder);
  fs.rmSync(lockOf(e));
  e.stderr.length = 0;

  // waiting for osqueryd: its socket is not there yet; the lock, taken before, says where the start is
  await e.emu.stop();
  child = await e.launch({ wait: false });
  await until(
    async () => fs.existsSync(lockOf(e)) || child.exitCode !== null,
    (held) => held,
  );
  await stop('waiting for osqueryd', child);
  await e.emu.start();

  // during the registration: osqueryd has given the name and not answered yet
  const registering = gate();
  e.emu.beforeRegisterAnswer = () => registering.wait();
  child = await e.launch({ wait: false });
  await registering.reached;
  // answered once the shutdown began: the name granted to a stopping extension is given back
  await stop('during the registration', child, registering.open);
  e.emu.beforeRegisterAnswer = null;
  t.same(e.emu.registered(), [], 'during the registration: the name given back');

  // the scorer's lookup of the users held: stopped as soon as it registered (the retained scores
  // read back then, or the scorer's worker starting: nothing the extension says tells these
  // apart), stopped once the lookup is asked, and so with lines queued that wait for the scorer
  for (const phase of ['reading the retained scores', "during the scorer's start", 'with lines queued'] as const) {
    const users = gate();
    e.emu.beforeQueryAnswer = async (sql) => {
      if (/FROM users/i.test(sql)) await users.wait();
    };
    child = await e.launch();
    if (phase !== 'reading the retained scores') await users.reached;
    if (phase === 'with lines queued') await log(40);
    // answered once the shutdown began: what held the event loop until then is gone
    await stop(phase, child, users.open);
    e.emu.beforeQueryAnswer = null;
  }

  // the next start scores what every run acknowledged and did not score
  child = await e.launch();
  const rows = await until(
    () => e.emu.query('SELECT count(*) AS n FROM anomaly_scores'),
    (r) => Number(r[0]?.n) >= acknowledged,
  );
  t.equal(Number(rows[0].n), acknowledged, 'every acknowledged line scored once, over the runs');
  await stop('after the last start', child);
});

t.test('a shutdown step that fails is logged; the lock is given back and the exit comes with its code', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-stopstep-'));
  const emu = new OsquerydEmulator({ dir: path.join(dir, 'osquery'), interval: 3600, timeout: 5 });
  await emu.start();
  t.teardown(async () => {
    await emu.shutdown(5000);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const configFile = path.join(dir, 'anomaly.json');
  fs.writeFileSync(configFile, JSON.stringify({ state_dir: path.join(dir, 'state'), models: { lstm: false } }));
  const lines: string[] = [];
  const exits: Array<{ code: number; locked: boolean }> = [];
  const ext = new AnomalyExtension(
    { socket: emu.socket, timeout: 5, interval: 3600, verbose: false },
    loadConfig(configFile, {}),
    (level, message) => lines.push(`${level} ${message}`),
    (code) => exits.push({ code, locked: fs.existsSync(path.join(dir, 'state', 'lock')) }),
  );
  await ext.start();
  // the queue's descriptor cannot be closed (EIO on a failing disk)
  const close = DurableQueue.prototype.close;
  DurableQueue.prototype.close = function () {
    close.call(this);
    throw Object.assign(new Error('EIO: i/o error, close'), { code: 'EIO' });
  };
  t.teardown(() => (DurableQueue.prototype.close = close));
  const end = await ext.shutdown(3, 'the test stops it').then(
    () => 'resolved',
    (err: Error) => `rejected: ${err.message}`,
  );
  t.equal(end, 'resolved', 'the shutdown does not end in a rejection (an unhandled one under a signal, exit 1)');
  t.same(exits, [{ code: 3, locked: false }], "the exit, with the shutdown's code, the lock given back");
  t.match(lines.join('\n'), /error shutting down, closing the queue: EIO/, 'the failure logged');
});
