import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { anomaly } from './helpers/cli';
import { emulated, exited, processLine, until } from './helpers/emulated';
import { emulatedOnSmallDisk, fill } from './helpers/disk';
import { JUMPVM_LOG } from './helpers/paths';
import { lockStateDir } from '../state/lock';

// One state directory, one writer. The extension keeps its subjects in memory and saves them
// over their files; 'anomaly train' or 'score' run into the directory of a running extension
// (the default /var/osquery/anomaly is both's) wrote files the extension then overwrote.

/** the saved state of subject `name` in a state directory, or undefined */
function savedState(stateDir: string, name: string): string | undefined {
  const dir = path.join(stateDir, 'subjects');
  // an extension stopped while its scorer started saves no subject: on a loaded host the
  // SIGTERM below can come first
  if (!fs.existsSync(dir)) return undefined;
  for (const f of fs.readdirSync(dir)) {
    const doc = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    if (doc.payload?.name === name) return doc.payload.state;
  }
  return undefined;
}

t.test('train into the state directory of a running extension is refused, and works once it stops', async (t) => {
  const e = await emulated({ config: { learning: { min_events: 150, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false } } });
  t.teardown(() => e.close());
  const config = path.join(e.dir, 'anomaly.json');
  let child = await e.launch();
  const first = fs.readFileSync(JUMPVM_LOG, 'utf8').split('\n')[0];
  const during = anomaly(['train', '--log', JUMPVM_LOG, '--config', config, '--quiet']);
  // the extension then learns a row of the same host, and saves its own host@jumpvm at exit
  await e.emu.logResult('anomaly', first);
  child.kill('SIGTERM');
  await exited(child);
  t.equal(during.code, 75, `refused while the extension runs (EX_TEMPFAIL): ${during.err.trim()}`);
  t.match(during.err, /state directory .* is in use by anomaly\.ext \(pid \d+\)/, 'says who holds it');
  t.equal(savedState(e.stateDir, 'host@jumpvm'), undefined, 'nothing of the training written');

  const after = anomaly(['train', '--log', JUMPVM_LOG, '--config', config, '--quiet']);
  t.equal(after.code, 0, `with the extension stopped, train works: ${after.err}`);
  t.equal(savedState(e.stateDir, 'host@jumpvm'), 'monitoring', 'host@jumpvm trained');
  t.equal(savedState(e.stateDir, '*@jumpvm'), 'monitoring', 'and the host baseline');
  // and the extension, started again, resumes what train saved and keeps it
  child = await e.launch();
  await e.emu.logResult('anomaly', first);
  child.kill('SIGTERM');
  await exited(child);
  // before the lock, the extension running during train saved its own host baseline (one
  // row, learning) over the one train had trained: the training was lost without a word
  t.equal(savedState(e.stateDir, '*@jumpvm'), 'monitoring', 'the baseline train saved is still monitoring after the extension saved it');
  t.equal(savedState(e.stateDir, 'host@jumpvm'), 'monitoring');
});

t.test('a lock left by a process that died is taken over; one of a live process is not', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-lock-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'lock');
  // a live process: this one's parent (the test runner) under another name
  fs.writeFileSync(file, JSON.stringify({ pid: process.ppid, start: null, what: 'anomaly score' }), { mode: 0o600 });
  t.throws(() => lockStateDir(dir, 'anomaly train'), /in use by anomaly score \(pid \d+\)/);
  // the same pid, but another process since (its start time differs): the holder is gone
  fs.writeFileSync(file, JSON.stringify({ pid: process.ppid, start: '1', what: 'anomaly.ext' }), { mode: 0o600 });
  let release = lockStateDir(dir, 'anomaly train');
  t.match(JSON.parse(fs.readFileSync(file, 'utf8')), { pid: process.pid, what: 'anomaly train' }, 'taken over');
  t.throws(() => lockStateDir(dir, 'anomaly.ext'), /in use by anomaly train/, 'held');
  release();
  t.notOk(fs.existsSync(file), 'given back');
  // a process that exited (SIGKILL) and a file left half written by a crash
  const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
  for (const left of [JSON.stringify({ pid: dead, start: null, what: 'anomaly.ext' }), '{"pid":']) {
    fs.writeFileSync(file, left, { mode: 0o600 });
    release = lockStateDir(dir, 'anomaly train');
    release();
  }
  t.same(fs.readdirSync(dir), [], 'no lock and no copy left');
});

t.test("anomaly.ext waits for a predecessor that still holds the lock, not for 'anomaly train'", async (t) => {
  const e = await emulated();
  t.teardown(() => e.close());
  fs.mkdirSync(e.stateDir, { mode: 0o700 });
  // a live process in the lock's place: first as 'anomaly train', then as an anomaly.ext
  // still stopping after osqueryd restarted
  const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.teardown(() => holder.kill('SIGKILL'));
  const lock = path.join(e.stateDir, 'lock');
  fs.writeFileSync(lock, JSON.stringify({ pid: holder.pid, start: null, what: 'anomaly train' }), { mode: 0o600 });
  const refused = await e.launch({ wait: false });
  t.equal((await exited(refused)).code, 75, "refused at once while 'anomaly train' holds it (EX_TEMPFAIL)");
  t.match(e.stderr.join(''), /in use by anomaly train/);

  fs.writeFileSync(lock, JSON.stringify({ pid: holder.pid, start: null, what: 'anomaly.ext' }), { mode: 0o600 });
  const child = await e.launch({ wait: false });
  await until(
    async () => e.stderr.join(''),
    (s) => /in use by anomaly\.ext .*waiting for it to stop before starting/.test(s) || child.exitCode !== null,
  );
  t.equal(child.exitCode, null, 'waits for its predecessor');
  t.equal(e.emu.registered().length, 0, 'and has not registered');
  holder.kill('SIGKILL');
  await exited(holder);
  await e.emu.waitFor('anomaly', Infinity, () => (child.exitCode !== null ? `it exited (${child.exitCode})` : null));
  t.match(JSON.parse(fs.readFileSync(lock, 'utf8')), { pid: child.pid, what: 'anomaly.ext' }, 'took the lock once its predecessor was gone, and registered');
});

t.test('a lock that is a FIFO, or a huge file, is not a holder and holds up nobody', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-lock-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'lock');
  const lockModule = path.join(__dirname, '..', 'state', 'lock.js');
  const take = `const r = require(${JSON.stringify(lockModule)}).lockStateDir(${JSON.stringify(dir)}, 'anomaly train'); console.log(require('fs').readFileSync(${JSON.stringify(file)}, 'utf8')); r();`;
  for (const [what, plant] of [
    // open(2) of a FIFO for reading waits for a writer, which never comes: the start hung
    ['a FIFO', () => spawnSync('mkfifo', [file])],
    // 64 MB of garbage: read whole into memory before
    ['a huge file', () => fs.writeFileSync(file, Buffer.alloc(64 << 20, 'x'), { mode: 0o600 })],
  ] as const) {
    plant();
    // in a child: a hang would hold up this test runner; tap's timeout reports it
    const child = spawn(process.execPath, ['-e', take], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const { code } = await exited(child);
    t.equal(code, 0, `${what} in the lock's place: taken over`);
    t.match(out, /"what":"anomaly train"/, `${what}: the lock is this process's`);
    t.notOk(fs.existsSync(file), `${what}: given back`);
  }
});

t.test('two processes taking over the same dead holder: one holds the lock, not both', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-lock-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'lock');
  const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
  fs.writeFileSync(file, JSON.stringify({ pid: dead, start: null, what: 'anomaly.ext' }), { mode: 0o600 });
  // B has read the dead holder's lock and is about to remove it when A, which read it too,
  // removes it and takes the lock: the two interleaved here through fs.rmSync
  const rmSync = fs.rmSync;
  let releaseA: (() => void) | null = null;
  const fsMutable = require('fs') as { rmSync: typeof fs.rmSync };
  fsMutable.rmSync = ((p: fs.PathLike, o?: fs.RmOptions) => {
    if (p === file && !releaseA) {
      fsMutable.rmSync = rmSync;
      releaseA = lockStateDir(dir, 'anomaly.ext');
    }
    return rmSync(p, o);
  }) as typeof fs.rmSync;
  // the same if the take-over moves the lock aside instead of removing it
  const renameSync = fs.renameSync;
  (require('fs') as { renameSync: typeof fs.renameSync }).renameSync = ((a: fs.PathLike, b: fs.PathLike) => {
    if (a === file && !releaseA) {
      (require('fs') as { renameSync: typeof fs.renameSync }).renameSync = renameSync;
      releaseA = lockStateDir(dir, 'anomaly.ext');
    }
    return renameSync(a, b);
  }) as typeof fs.renameSync;
  let heldByB = false;
  try {
    lockStateDir(dir, 'anomaly train');
    heldByB = true;
  } catch (err) {
    t.match((err as Error).message, /in use by anomaly\.ext/, 'B is told A holds it');
  } finally {
    fsMutable.rmSync = rmSync;
    (require('fs') as { renameSync: typeof fs.renameSync }).renameSync = renameSync;
  }
  t.ok(releaseA, 'A took the lock');
  t.notOk(heldByB, 'B does not hold it too');
  t.match(JSON.parse(fs.readFileSync(file, 'utf8')), { pid: process.pid, what: 'anomaly.ext' }, "the lock is A's");
});

t.test('anomaly.ext restarted on a full disk still starts: the lock it cannot write does not stop it', async (t) => {
  const e = await emulatedOnSmallDisk(t);
  if (!e) {
    t.comment('this machine does not allow mounting a tmpfs: no full disk to try');
    return;
  }
  let child = await e.launch();
  for (let i = 0; i < 5; i++) await e.emu.logResult('anomaly', processLine(i));
  child.kill('SIGTERM');
  await exited(child);
  fill(e.stateDir);
  // before the state lock, a start on a full disk registered and answered every line 0
  // (counted dropped) until space came back; osqueryd with --extensions_require=anomaly
  // fails its own start without the logger
  child = await e.launch({ wait: false });
  const outcome = await Promise.race([
    exited(child).then((x) => `exited ${x.code ?? x.signal}`),
    e.emu
      .waitFor('anomaly', Infinity, () => (child.exitCode !== null || child.signalCode !== null ? 'exited' : null))
      .then(() => 'registered')
      .catch(() => 'exited'),
  ]);
  t.equal(outcome, 'registered', `started on a full disk (${e.stderr.join('').slice(-400).trim()})`);
  if (outcome === 'registered') {
    await e.emu.startLogger('anomaly');
    await e.emu.logResult('anomaly', processLine(5));
    t.equal(e.emu.catastrophic, null, 'a line answered 0');
    t.match(e.stderr.join(''), /cannot write its lock \(ENOSPC/, 'the lock it could not take is said');
    t.same(
      fs.readdirSync(e.stateDir).filter((f) => f.startsWith('.lock')),
      [],
      'no empty copy of the lock left',
    );
    // space back: the lock is taken, and 'anomaly train' is kept out again
    fs.rmSync(path.join(e.stateDir, 'filler'));
    const lock = await until(
      async () => (fs.existsSync(path.join(e.stateDir, 'lock')) ? JSON.parse(fs.readFileSync(path.join(e.stateDir, 'lock'), 'utf8')) : null),
      (l) => l !== null,
    );
    t.match(lock, { pid: child.pid, what: 'anomaly.ext' }, 'the lock taken once the disk has room');
  }
});

t.test('a lock from before a reboot whose pid and start tick recur is not taken for a live holder', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-lock-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'lock');
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const myStart = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  // left by a power loss: after the reboot (a deterministic boot order) this very process has
  // the holder's pid and start tick. Before, it was taken for a live anomaly.ext, and the
  // extension waited for itself for ever
  fs.writeFileSync(file, JSON.stringify({ pid: process.pid, start: myStart, boot: '00000000-0000-0000-0000-000000000000', what: 'anomaly.ext' }), {
    mode: 0o600,
  });
  let release = lockStateDir(dir, 'anomaly.ext');
  t.match(JSON.parse(fs.readFileSync(file, 'utf8')), { pid: process.pid, what: 'anomaly.ext' }, 'taken over');
  const boot = JSON.parse(fs.readFileSync(file, 'utf8')).boot;
  t.match(boot, /^[0-9a-f-]{36}$/, 'the lock names the boot');
  release();
  // another process with the pid and start tick of a holder of another boot
  fs.writeFileSync(file, JSON.stringify({ pid: process.ppid, start: null, boot: '00000000-0000-0000-0000-000000000000', what: 'anomaly.ext' }), {
    mode: 0o600,
  });
  release = lockStateDir(dir, 'anomaly train');
  t.match(JSON.parse(fs.readFileSync(file, 'utf8')), { pid: process.pid, what: 'anomaly train' }, 'a holder of another boot is gone');
  release();
  // of this boot, alive: still held
  fs.writeFileSync(file, JSON.stringify({ pid: process.ppid, start: null, boot, what: 'anomaly score' }), { mode: 0o600 });
  t.throws(() => lockStateDir(dir, 'anomaly train'), /in use by anomaly score/);
});

/** `node -e script` in a PID namespace of its own (with its own /proc, as in a container), or null where unshare is refused */
function inPidNamespace(script: string) {
  const probe = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']);
  if (probe.status !== 0) return null;
  return spawn('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
}

const LOCK_JS = JSON.stringify(path.join(__dirname, '..', 'state', 'lock.js'));

/** the first line a child writes to stdout */
function firstLine(child: ReturnType<typeof spawn>): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    child.on('exit', () => resolve(out));
  });
}

t.test(
  'a holder in a PID namespace of its own (a container) is live while it runs, and gone once it is',
  { skip: process.getuid?.() !== 0 && 'unshare --pid needs root' },
  async (t) => {
    // The lock named its holder by pid: seen from the host, a container's pid 1 is the host's
    // init (alive, another start time: taken for a dead holder), and any pid of its may be
    // another process here, or none
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-lock-ns-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const child = inPidNamespace(
      `const { lockStateDir } = require(${LOCK_JS}); lockStateDir(${JSON.stringify(dir)}, 'anomaly.ext'); console.log('held by pid ' + process.pid); process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`,
    );
    if (!child) {
      t.comment('unshare --pid is refused here');
      return;
    }
    const said = await firstLine(child);
    t.equal(said, 'held by pid 1', 'the holder is pid 1 of its namespace');
    t.throws(() => lockStateDir(dir, 'anomaly train'), /in use by anomaly\.ext/, 'live: not taken over');
    // it exits without giving the lock back (as a SIGKILL leaves it)
    const gone = new Promise((r) => child.on('exit', r));
    child.stdin!.end();
    await gone;
    t.ok(fs.existsSync(path.join(dir, 'lock')), 'its lock is left behind');
    const release = lockStateDir(dir, 'anomaly train');
    t.match(JSON.parse(fs.readFileSync(path.join(dir, 'lock'), 'utf8')), { pid: process.pid, what: 'anomaly train' }, 'gone: taken over');
    release();
  },
);

t.test(
  'a holder in a PID namespace that cannot be seen from here is taken for live',
  { skip: process.getuid?.() !== 0 && 'unshare --pid needs root' },
  async (t) => {
    // from inside a container, the host's holder has a pid that is no process there, or another
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-lock-ns-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const release = lockStateDir(dir, 'anomaly.ext');
    t.teardown(release);
    const child = inPidNamespace(
      `const { lockStateDir } = require(${LOCK_JS}); try { lockStateDir(${JSON.stringify(dir)}, 'anomaly train'); console.log('taken'); } catch (err) { console.log('refused: ' + err.message); }`,
    );
    if (!child) {
      t.comment('unshare --pid is refused here');
      return;
    }
    const said = await firstLine(child);
    t.match(said, /^refused: state directory .* is in use by anomaly\.ext \(pid \d+ in another PID namespace/, said);
    t.match(JSON.parse(fs.readFileSync(path.join(dir, 'lock'), 'utf8')), { pid: process.pid, what: 'anomaly.ext' }, 'still this holder');
  },
);

t.test('a pid of another PID namespace that is a live process here is not taken for the holder', async (t) => {
  // seen from the host, every process of every namespace is visible: a lock of a namespace
  // none of them is in has no holder left, whatever process has its pid here
  if (fs.readlinkSync('/proc/self/ns/pid') !== 'pid:[4026531836]' || fs.readlinkSync('/proc/self') !== String(process.pid)) {
    t.comment('not in the host PID namespace with its own /proc');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-lock-ns-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const stat = fs.readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  // the test runner's pid and start time, as if a process of a namespace now gone had had them
  fs.writeFileSync(path.join(dir, 'lock'), JSON.stringify({ pid: process.ppid, start, boot, ns: 'pid:[4026530000]', what: 'anomaly.ext' }), { mode: 0o600 });
  const release = lockStateDir(dir, 'anomaly train');
  t.match(JSON.parse(fs.readFileSync(path.join(dir, 'lock'), 'utf8')), { pid: process.pid, what: 'anomaly train' }, 'taken over');
  release();
});
