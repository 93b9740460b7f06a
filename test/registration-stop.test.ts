import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import t, { type Test } from 'tap';
import type { Worker } from 'worker_threads';
import { loadConfig, type AnomalyConfig } from '../conf/config';
import { OsquerydEmulator } from '../emulator';
import { ManagerClient, toNumber, types } from '../extension/client';
import { AnomalyExtension, NAME } from '../extension/extension';
import { until } from './helpers/emulated';

// A start refused because a dead predecessor still holds the name waits for osqueryd's health
// check to forget it, trying again every half second. A stop that came meanwhile (systemd
// stopping osqueryd and the extension together) did not end that wait: the stopped extension
// went on asking, and registered as soon as the name was free, after its shutdown had run.

/** an emulated osqueryd in a folder of its own, with no health round during a test (a dead holder stays registered until the test forgets it) */
async function quietEmulator(t: Test): Promise<{ dir: string; emu: OsquerydEmulator }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-regstop-'));
  const emu = new OsquerydEmulator({ dir: path.join(dir, 'osquery'), interval: 3600, timeout: 5 });
  await emu.start();
  t.teardown(async () => {
    await emu.shutdown(5000);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { dir, emu };
}

/** the extension's config, its state in `dir`, without the LSTM */
function configIn(dir: string, more: Record<string, unknown> = {}): AnomalyConfig {
  const configFile = path.join(dir, 'anomaly.json');
  fs.writeFileSync(configFile, JSON.stringify({ state_dir: path.join(dir, 'state'), models: { lstm: false }, ...more }));
  return loadConfig(configFile, {});
}

t.test('a stop while the name is held by a dead extension ends the wait and registers nothing', async (t) => {
  const { dir, emu } = await quietEmulator(t);
  // the dead predecessor: registered, its socket never bound (as after a SIGKILL and osqueryd's cleanup)
  const holder = await new ManagerClient(emu.socket).registerExtension(
    new types.InternalExtensionInfo({ name: NAME, version: '1', sdk_version: '0.0.0', min_sdk_version: '0.0.0' }),
    {},
  );
  t.equal(holder.code, 0, 'the dead predecessor holds the name');

  const config = configIn(dir);
  const lines: string[] = [];
  let waiting!: () => void;
  const refusedOnce = new Promise<void>((resolve) => (waiting = resolve));
  const log = (level: string, message: string) => {
    lines.push(`${level} ${message}`);
    if (/retrying until osqueryd's health check forgets it/.test(message)) waiting();
  };
  const exits: number[] = [];
  const ext = new AnomalyExtension({ socket: emu.socket, timeout: 5, interval: 3600, verbose: false }, config, log, (code) => exits.push(code));
  const started = ext.start().then(
    () => 'returned',
    (err: Error) => `threw ${err.message}`,
  );
  await refusedOnce;

  let stopped = false;
  const afterStop: string[] = [];
  emu.on('register', (_uuid: number, name: string) => stopped && afterStop.push(name));
  emu.on('refused', (why: string) => stopped && afterStop.push(`refused: ${why}`));
  stopped = true;
  await ext.shutdown(0, 'the test stops it');
  // the name is free from here: a wait still going on would now register
  emu.forget(toNumber(holder.uuid));

  const end = await started;
  t.equal(end, 'returned', 'start() ends once the stop is done, without an error of its own');
  t.same(afterStop, [], 'no registration call reached the manager after the stop');
  t.same(emu.registered(), [], 'osqueryd lists no anomaly extension');
  t.same(exits, [0], 'the shutdown ran once, exit 0');
  t.match(lines.join('\n'), /shutting down: the test stops it/);
});

// Two more ways a stop meets a start still asking osqueryd for the name (rev3): a registration
// asked before the stop and answered after it, and a manager that goes away with the stop
// (systemd stopping osqueryd and the extension together) while a call of the start is under way.

t.test('a registration answered after a stop is given back before the extension exits', async (t) => {
  const { dir, emu } = await quietEmulator(t);
  const config = configIn(dir);
  const atExit: Array<{ code: number; registered: string[] }> = [];
  const ext = new AnomalyExtension(
    { socket: emu.socket, timeout: 5, interval: 3600, verbose: false },
    config,
    () => undefined,
    (code) => atExit.push({ code, registered: emu.registered().map((e) => e.name) }),
  );
  // the stop comes while osqueryd grants the name: its answer reaches a stopping extension
  emu.once('register', () => void ext.shutdown(0, 'the test stops it'));
  const end = await ext.start().then(
    () => 'returned',
    (err: Error) => `threw ${err.message}`,
  );
  t.equal(end, 'returned');
  t.same(atExit, [{ code: 0, registered: [] }], 'when the extension exits, osqueryd lists no anomaly extension');
});

t.test('a manager gone with the stop, while the start asks for the name, leaves the shutdown its own exit code', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-regstop-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'osquery.em');
  // a manager that dies as it is asked: the registration's connection is dropped unanswered,
  // right after the stop began (osqueryd stopping with the extension); other calls are dropped too
  const manager = net.createServer((c) =>
    c.on('data', (d: Buffer) => {
      if (d.includes('registerExtension')) void ext.shutdown(0, 'SIGTERM');
      c.destroy();
    }),
  );
  await new Promise<void>((resolve) => manager.listen(socket, resolve));
  t.teardown(() => manager.close());
  const exits: number[] = [];
  const lines: string[] = [];
  const ext = new AnomalyExtension(
    { socket, timeout: 5, interval: 3600, verbose: false },
    configIn(dir, { budget: { cpu_percent: 50 } }),
    (level, message) => lines.push(`${level} ${message}`),
    (code) => exits.push(code),
  );
  const end = await ext.start().then(
    () => 'returned',
    (err: Error) => `threw ${err.message}`,
  );
  t.equal(end, 'returned', 'start() ends with the stop, not with the error of a call the stop cut');
  t.same(exits, [0], 'the shutdown ran to its end, exit 0');
  // the error is not the exit's, but it is said (rev4): one the stop did not cause, a bug, was hidden
  t.match(lines.join('\n'), /registerExtension on .*osquery\.em: connection closed before the answer/, "the cut call's error is logged");
});

// Review rev4: the same stop met by the health check's registration (osqueryd's worker restarted
// and forgot the extension), and by an osqueryd that does not answer a registration at all.

/** an extension of `emu`, in `dir`, health-checking every 0.2 s, whose exits record the code, its lock and what osqueryd lists */
function checkedExtension(emu: OsquerydEmulator, dir: string, interval = 0.2) {
  const lines: string[] = [];
  let ready!: () => void;
  const scorerReady = new Promise<void>((resolve) => (ready = resolve));
  const exits: Array<{ code: number; locked: boolean; registered: string[] }> = [];
  const ext = new AnomalyExtension(
    { socket: emu.socket, timeout: 5, interval, verbose: false },
    configIn(dir),
    (level, message) => {
      lines.push(`${level} ${message}`);
      if (/scorer ready/.test(message)) ready();
    },
    (code) => exits.push({ code, locked: fs.existsSync(path.join(dir, 'state', 'lock')), registered: emu.registered().map((e) => e.name) }),
  );
  return { ext, lines, exits, scorerReady };
}

/** an extension started and ready, its health check running (every 0.2 s), osqueryd's health rounds off */
async function healthChecked(t: Test) {
  const { dir, emu } = await quietEmulator(t);
  const { ext, exits, scorerReady } = checkedExtension(emu, dir);
  await ext.start();
  await scorerReady;
  ext.run();
  return { emu, ext, exits };
}

/** holds osqueryd's answer to the next registration it grants, until `release` */
function holdNextGrant(emu: OsquerydEmulator): { granted: Promise<void>; release: () => void } {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let granted!: () => void;
  const asked = new Promise<void>((resolve) => (granted = resolve));
  emu.beforeRegisterAnswer = () => {
    emu.beforeRegisterAnswer = null;
    granted();
    return held;
  };
  return { granted: asked, release };
}

t.test('a stop while the health check registers again is given back what osqueryd grants', async (t) => {
  const { emu, ext, exits } = await healthChecked(t);
  // the worker restarted: the manager no longer knows the extension, whose health check registers again
  const stopped = new Promise<void>((resolve) => emu.once('register', () => resolve(ext.shutdown(0, 'the test stops it'))));
  emu.forget(emu.registered()[0].uuid);
  await stopped;
  t.same(exits, [{ code: 0, locked: false, registered: [] }], 'exit 0, the lock given back, osqueryd lists no anomaly extension');
});

t.test('a registration osqueryd never answers holds a stop no longer than its wait: exit 0, state closed, the name given back if granted later', async (t) => {
  const { dir, emu } = await quietEmulator(t);
  const { ext, exits } = checkedExtension(emu, dir, 3600);
  const hold = holdNextGrant(emu);
  const started = ext.start().then(
    () => 'returned',
    (err: Error) => `threw ${err.message}`,
  );
  await hold.granted;
  await ext.shutdown(0, 'the test stops it');
  t.same(exits, [{ code: 0, locked: false, registered: ['anomaly'] }], 'exit 0 with the lock given back, the grant still unanswered');
  hold.release();
  t.equal(await started, 'returned');
  await until(
    async () => emu.registered().length,
    (n) => n === 0,
  );
  t.pass('the name granted after the exit is given back by a process still alive');
});

t.test("the health check's registration never answered holds a stop no longer than its wait", async (t) => {
  const { emu, ext, exits } = await healthChecked(t);
  const hold = holdNextGrant(emu);
  emu.forget(emu.registered()[0].uuid);
  await hold.granted;
  await ext.shutdown(0, 'the test stops it');
  t.same(exits, [{ code: 0, locked: false, registered: ['anomaly'] }], 'exit 0 with the lock given back, the grant still unanswered');
  hold.release();
  await until(
    async () => emu.registered().length,
    (n) => n === 0,
  );
  t.pass('the name granted after the exit is given back');
});

// The start's other waits and what it opens (tidy6): a stop ended neither the wait for a
// predecessor's lock nor the wait for osqueryd's socket, and a scorer still starting when the
// stop came was never closed. The process exits anyway; in-process, each outlived the stop.

/** a live process named in the state directory's lock as an anomaly.ext still stopping */
function predecessorHolding(t: Test, stateDir: string): { lock: string; holder: ChildProcess } {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.teardown(() => holder.kill('SIGKILL'));
  const lock = path.join(stateDir, 'lock');
  fs.writeFileSync(lock, JSON.stringify({ pid: holder.pid, start: null, what: 'anomaly.ext' }), { mode: 0o600 });
  return { lock, holder };
}

/** resolves when a logged message matches */
function logged(pattern: RegExp): { log: (level: string, message: string) => void; seen: Promise<void>; lines: string[] } {
  const lines: string[] = [];
  let seen!: () => void;
  const once = new Promise<void>((resolve) => (seen = resolve));
  return {
    lines,
    seen: once,
    log: (level, message) => {
      lines.push(`${level} ${message}`);
      if (pattern.test(message)) seen();
    },
  };
}

t.test("a stop while the start waits for its predecessor's lock ends the wait: the lock, once free, is not taken", async (t) => {
  const { dir, emu } = await quietEmulator(t);
  const config = configIn(dir);
  const { lock, holder } = predecessorHolding(t, config.state_dir);
  const { log, seen } = logged(/waiting for it to stop before starting/);
  const exits: number[] = [];
  const ext = new AnomalyExtension({ socket: emu.socket, timeout: 5, interval: 3600, verbose: false }, config, log, (code) => exits.push(code));
  const started = ext.start().then(
    () => 'returned',
    (err: Error) => `threw ${err.message}`,
  );
  await seen;
  await ext.shutdown(0, 'the test stops it');
  // the predecessor is gone from here: a wait still going on would take the lock
  holder.kill('SIGKILL');
  await new Promise((resolve) => holder.once('exit', resolve));
  t.equal(await started, 'returned');
  t.equal(JSON.parse(fs.readFileSync(lock, 'utf8')).pid, holder.pid, 'the lock still names the predecessor: the stopped extension never took it');
  t.same(emu.registered(), [], 'nothing registered');
  t.same(exits, [0]);
});

t.test("a stop while the start waits for osqueryd's socket ends the wait: a socket that appears later is never called", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-regstop-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'osquery.em');
  const config = configIn(dir);
  const exits: number[] = [];
  const ext = new AnomalyExtension(
    { socket, timeout: 3600, interval: 3600, verbose: false },
    config,
    () => undefined,
    (code) => exits.push(code),
  );
  const started = ext.start().then(
    () => 'returned',
    (err: Error) => `threw ${err.message}`,
  );
  // the lock is taken just before the wait for the socket begins
  await until(
    async () => fs.existsSync(path.join(config.state_dir, 'lock')),
    (locked) => locked,
  );
  await ext.shutdown(0, 'the test stops it');
  let calls = 0;
  const manager = net.createServer((c) => {
    calls++;
    c.destroy();
  });
  await new Promise<void>((resolve) => manager.listen(socket, resolve));
  t.teardown(() => manager.close());
  t.equal(await started, 'returned');
  t.equal(calls, 0, 'no connection reached the socket that appeared after the stop');
  t.notOk(fs.existsSync(path.join(config.state_dir, 'lock')), 'the lock is given back');
  t.same(exits, [0]);
});

t.test("a stop while the scorer starts ends its thread before the extension exits, and the scorer's start with it", async (t) => {
  // the scorer's threads, counted from their construction to their exit
  const threads = require('worker_threads') as typeof import('worker_threads');
  const Real = threads.Worker;
  const running = new Set<Worker>();
  threads.Worker = class extends Real {
    constructor(...args: ConstructorParameters<typeof Real>) {
      super(...args);
      running.add(this);
      this.once('exit', () => running.delete(this));
    }
  };
  t.teardown(async () => {
    threads.Worker = Real;
    for (const w of running) await w.terminate();
  });
  const { dir, emu } = await quietEmulator(t);
  const { log, seen, lines } = logged(/scorer ready/);
  const atExit: number[] = [];
  const ext = new AnomalyExtension({ socket: emu.socket, timeout: 5, interval: 3600, verbose: false }, configIn(dir), log, () => atExit.push(running.size));
  const started = ext.start().then(
    () => 'returned',
    (err: Error) => `threw ${err.message}`,
  );
  // the worker is ready; the scorer's start goes on (its rebuild, the users' lookup) when the stop comes
  await seen;
  t.equal(running.size, 1, 'the scorer thread runs');
  await ext.shutdown(0, 'the test stops it');
  t.equal(await started, 'returned');
  t.same(atExit, [0], 'exit 0 with no scorer thread left running');
  t.notMatch(lines.join('\n'), /could not start|could not read users/, 'the start ended by the stop is not reported as a failure');
});
