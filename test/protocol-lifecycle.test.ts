import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import t from 'tap';
import { OsquerydEmulator } from '../emulator';
import { ManagerClient, types } from '../extension/client';
import { MessageReader, MessageType, MessageWriter, TType, ByteBudget } from '../extension/wire';
import { emulated, exited, until } from './helpers/emulated';

const info = (name: string, sdk = '0.0.0') => new types.InternalExtensionInfo({ name, version: '1', sdk_version: sdk, min_sdk_version: sdk });
const table = { anomaly_x: [{ id: 'column', name: 'a', type: 'TEXT', op: '0' }] };

t.test('the emulator refuses what osqueryd refuses', async (t) => {
  const e = await emulated();
  t.teardown(() => e.close());
  const register = (i: unknown, registry: unknown) => new ManagerClient(e.emu.socket).registerExtension(i as never, registry as never);
  t.match(await register(info('a', '1.0.0'), { table }), { code: 1, message: 'Incompatible extension SDK version' });
  t.match(await register(info('a', '5.12.1'), { table }), { code: 0 }, 'a newer SDK version is fine');
  t.match(await register(info('a'), { table: { anomaly_y: table.anomaly_x } }), { code: 1, message: 'Duplicate extension registered' });
  t.match(await register(info('b'), { bogus: {} }), { code: 1, message: 'Unknown registry: bogus' });
  t.match(await register(info('b'), { table: { empty_table: [] } }), { code: 1, message: 'Invalid route info' });
  t.match(await register(info('b'), { table: { no_id: [{ name: 'a', type: 'TEXT' }] } }), { code: 1, message: 'Invalid route info' });
  t.match(await register(info('b'), { logger: { filesystem: [] } }), { code: 1, message: /Duplicate registry item/ });
  t.match(await register(info('b'), { table }), { code: 1, message: /Duplicate registry item/ }, "another extension's table name");
  t.equal(e.emu.registered().length, 1, 'refusals leave nothing registered');
});

t.test('registration, stale sockets, and the manager vanishing', async (t) => {
  const e = await emulated();
  t.teardown(() => e.close());
  // a stale extension socket left by a crash is removed when osqueryd starts
  fs.writeFileSync(`${e.emu.socket}.4242`, '');
  await e.emu.stop({ notifyExtensions: false });
  await e.emu.start();
  t.notOk(fs.existsSync(`${e.emu.socket}.4242`), 'stale <socket>.<uuid> files are gone');

  const child = await e.launch();
  const [ext] = e.emu.registered();
  t.equal(ext.name, 'anomaly');
  t.ok(fs.existsSync(ext.socket), 'the extension serves <socket>.<uuid>');
  // osqueryd disappears without a word: no shutdown() call
  await e.emu.stop({ notifyExtensions: false });
  // a refused or missing socket is retried within --timeout before the extension concludes
  // the core is gone; how long that takes on a loaded host is not what is checked
  const exit = await exited(child);
  t.ok(exit, 'the extension exits once the manager has vanished for longer than --timeout');
  t.equal(exit?.code, 0, 'and exits 0, as osquery extensions do when the core goes away');
  t.notOk(fs.existsSync(ext.socket), 'its socket is removed');
});

t.test('a restarted manager that forgot the extension gets it back', async (t) => {
  const e = await emulated();
  t.teardown(() => e.close());
  const child = await e.launch();
  const before = e.emu.registered()[0].uuid;
  // the osqueryd worker is respawned: same socket path, no memory of extensions
  await e.emu.stop({ notifyExtensions: false });
  const fresh = new OsquerydEmulator({ dir: path.dirname(e.emu.socket), interval: 1, timeout: 5 });
  await fresh.start();
  t.teardown(() => fresh.stop());
  const again = await fresh.waitFor('anomaly', Infinity, () => (child.exitCode !== null ? `it exited (${child.exitCode})` : null));
  t.ok(again.uuid > 0, `re-registered (uuid ${before} → ${again.uuid})`);
  t.equal(child.exitCode, null, 'without exiting');
  await fresh.startLogger('anomaly');
  const rows = await fresh.query("SELECT subject FROM anomaly_models WHERE subject = '*'");
  t.equal(rows.length, 1, 'its tables answer through the new manager');
  await fresh.stop();
  await exited(child);
});

// The health check asks osqueryd every other interval which extensions it lists, and
// registers again when it is not among them (a respawned worker forgot it). A SIGTERM that
// came while that question was out (systemd stops osqueryd and the extension together) was
// not looked at again: the stopping extension registered anew with a manager on its way out,
// and a relaunch waiting for `anomaly` to register took the dying registration for its own.
t.test('an extension shutting down does not register again, whatever its health check finds', async (t) => {
  const e = await emulated();
  t.teardown(() => e.close());
  const child = await e.launch();
  const uuid = e.emu.registered()[0].uuid;
  // the health check's question is held, and osqueryd forgets the extension meanwhile
  let answer!: () => void;
  const held = new Promise<void>((resolve) => (answer = resolve));
  const asked = new Promise<void>((resolve) => {
    e.emu.beforeExtensionsAnswer = async () => {
      e.emu.beforeExtensionsAnswer = null;
      e.emu.forget(uuid);
      resolve();
      await held;
    };
  });
  await asked;
  // the answer comes once the shutdown is under way: its first step is to deregister
  e.emu.onDeregister = () => answer();
  let registeredAgain = 0;
  e.emu.on('register', () => registeredAgain++);
  child.kill('SIGTERM');
  const end = await exited(child);
  t.equal(end.code, 0, 'it exits cleanly');
  t.equal(registeredAgain, 0, 'without registering again');
  t.notMatch(e.stderr.join(''), /registering again/);
  t.same(e.emu.registered(), [], 'osqueryd lists no anomaly extension');
});

/**
 * another extension registered with the emulator, answering its pings itself: while `hold` is
 * set it keeps the next ping unanswered, which holds osqueryd's health round there (its
 * watcher pings one extension after another, each for up to --thrift_timeout)
 */
async function fakeExtension(socket: string, name: string) {
  const status = await new ManagerClient(socket).registerExtension(info(name), {});
  const held: Array<() => void> = [];
  let onHeld: (() => void) | null = null;
  const fake = {
    hold: false,
    held: new Promise<void>((resolve) => (onHeld = resolve)),
    release: () => held.splice(0).forEach((answer) => answer()),
    close: () => server.close(),
  };
  const server = net.createServer((c) => {
    c.on('error', () => undefined);
    const reader = new MessageReader({ maxString: 1 << 20, maxMessage: 1 << 20, shared: new ByteBudget(1 << 20) }, (m) => {
      const w = new MessageWriter().begin(m.name, MessageType.REPLY, m.seqid).field(TType.STRUCT, 0).field(TType.I32, 1).i32(0).stop().stop();
      const answer = () => c.end(Buffer.concat(w.finish()));
      if (!fake.hold) return answer();
      held.push(answer);
      onHeld?.();
    });
    c.on('data', (d: Buffer) => reader.push(d));
  });
  await new Promise<void>((resolve) => server.listen(`${socket}.${status.uuid}`, resolve));
  return fake;
}

t.test("a restart refused while a dead predecessor still holds the name waits for osqueryd's late health check (flaky)", async (t) => {
  // osqueryd's health round is held at another extension that is slow to answer its ping, so
  // the killed predecessor stays registered: the new start must wait, however long, and not
  // give up after a fixed 2 × --interval + 1 s (which it did: exit 1, "Duplicate extension
  // registered", after 6 refusals)
  const e = await emulated();
  t.teardown(() => e.close());
  const slow = await fakeExtension(e.emu.socket, 'slow');
  t.teardown(() => slow.close());
  const first = await e.launch();
  const dead = e.emu.registered().find((x) => x.name === 'anomaly')!.uuid;
  slow.hold = true;
  await slow.held;
  first.kill('SIGKILL');
  await exited(first);
  let refusals = 0;
  e.emu.on('refused', (why: string) => (refusals += why === 'Duplicate extension registered' ? 1 : 0));
  const second = await e.launch({ wait: false });
  // each refusal is followed by half a second's pause: 10 of them outlast the fixed wait
  await until(
    async () => refusals >= 10 || second.exitCode !== null,
    (v) => v,
  );
  t.equal(second.exitCode, null, `still waiting after ${refusals} refusals`);
  slow.release();
  // (the dead one's socket file is still there: a SIGKILL leaves it)
  const again = await until(
    async () => e.emu.registered().find((x) => x.name === 'anomaly' && x.uuid !== dead && fs.existsSync(x.socket)),
    (x) => x !== undefined || second.exitCode !== null,
  );
  t.ok(again, `registered once osqueryd forgot the dead one (exit ${second.exitCode})`);
  t.match(e.stderr.join(''), /is gone \(ECONNREFUSED\); retrying until osqueryd's health check forgets it/, 'it said why it waits');
});

t.test('a name held by an extension that answers its pings is a refusal at once', async (t) => {
  const e = await emulated();
  t.teardown(() => e.close());
  const other = await fakeExtension(e.emu.socket, 'anomaly');
  t.teardown(() => other.close());
  const child = await e.launch({ wait: false });
  const end = await exited(child);
  t.equal(end.code, 1, 'exit 1');
  t.match(e.stderr.join(''), /Duplicate extension registered \(uuid \d+, which holds the name, answers its pings\)/);
});

t.test('SIGTERM mid-stream loses no accepted row', async (t) => {
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  const child = await e.launch();
  const lines: string[] = [];
  for (let i = 0; i < 3000; i++) {
    lines.push(
      JSON.stringify({
        name: 'pack_user-behavior_process_events',
        hostIdentifier: 'h',
        calendarTime: 'x',
        unixTime: 1_790_000_000 + i,
        epoch: 0,
        counter: i,
        numerics: false,
        columns: { pid: String(i), path: `/usr/bin/tool${i % 7}`, cmdline: `tool${i % 7} --n ${i}`, auid: '1000', parent: '1' },
        action: 'added',
      }),
    );
  }
  let answered = 0;
  const sending = (async () => {
    for (const l of lines) {
      try {
        await e.emu.logResult('anomaly', l);
        answered++;
      } catch {
        break;
      }
    }
  })();
  await until(
    async () => answered,
    (n) => n >= 1000,
  );
  child.kill('SIGTERM');
  const exit = await exited(child);
  await sending;
  t.equal(exit?.code, 0, 'SIGTERM is a clean exit');
  t.ok(answered >= 1000 && answered < lines.length, `stopped mid-stream after ${answered} acknowledged lines`);
  e.emu.catastrophic = null; // the daemon would restart the extension; the next start is what matters

  await e.launch();
  const counted = await until(
    () => e.emu.query('SELECT count(*) AS n FROM anomaly_scores'),
    (r) => Number(r[0].n) >= answered,
  );
  t.ok(Number(counted[0].n) >= answered, `every acknowledged line is scored after the restart (${counted[0].n} of ${answered})`);
});
