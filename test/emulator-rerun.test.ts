import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import t, { type Test } from 'tap';
import { OsquerydEmulator } from '../emulator';
import { listenAt } from '../emulator/manager-socket';
import { ManagerClient } from '../extension/client';

// A demo run again into the --out of one that was killed. What a killed run leaves is a
// socket file no one listens on: removed, as osqueryd removes it. What a run that is still
// alive holds (its npm parent killed, the demo itself logging on) must not be taken over:
// taking it over unlinked the live manager's socket, and the older run's stop then unlinked
// the newer one's, whose extension saw no manager socket for all of its --timeout.

function dir(t: Test): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-emu-rerun-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

const pong = async (socket: string) => (await new ManagerClient(socket, 5000).ping(5000)).code;

t.test('a socket file left by a killed osqueryd is replaced', async (t) => {
  const d = dir(t);
  const socket = path.join(d, 'osquery.em');
  // the exact debris: a manager socket and an extension socket whose listeners were SIGKILLed
  for (const file of [socket, `${socket}.4242`]) {
    const r = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(file)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    t.equal(r.signal, 'SIGKILL');
    t.ok(fs.lstatSync(file).isSocket(), `${path.basename(file)} left behind`);
  }
  const emu = new OsquerydEmulator({ dir: d });
  await emu.start();
  t.teardown(() => emu.stop());
  t.equal(await pong(socket), 0, 'the new manager answers on the path');
  t.notOk(fs.existsSync(`${socket}.4242`), 'the stale extension socket is gone');
});

t.test('a live manager on the path is refused, not taken over', async (t) => {
  const d = dir(t);
  const first = new OsquerydEmulator({ dir: d });
  await first.start();
  t.teardown(() => first.stop());
  const second = new OsquerydEmulator({ dir: d });
  t.teardown(() => second.stop());
  await t.rejects(second.start(), /already running/);
  t.equal(await pong(first.socket), 0, 'the running manager still answers');
});

t.test("a manager's stop leaves alone a socket that replaced its own", async (t) => {
  const d = dir(t);
  const first = new OsquerydEmulator({ dir: d });
  await first.start();
  // its file removed under it (what a start on a live socket did), a second one bound there
  fs.unlinkSync(first.socket);
  const second = new OsquerydEmulator({ dir: d });
  await second.start();
  t.teardown(() => second.stop());
  await first.stop();
  t.equal(await pong(second.socket), 0, 'the second manager still answers after the first stopped');
});

t.test('a manager socket as long as the extension takes (97 bytes) is served, and nothing is bound at a cut name (rev2)', async (t) => {
  const d = dir(t);
  // a short name in a deep directory: the longest path extension/args.ts accepts
  const deep = path.join(d, 'd'.repeat(Math.max(1, 97 - d.length - 4)));
  fs.mkdirSync(deep);
  const file = path.join(deep, 'em');
  t.equal(Buffer.byteLength(file), 97);
  const server = net.createServer();
  t.teardown(() => server.close());
  await listenAt(server, file);
  t.ok(fs.lstatSync(file).isSocket(), 'the socket is at its path');
  t.same(fs.readdirSync(deep), ['em'], 'no socket left at a name libuv cut');
});

t.test('a socket path too long for a unix address is refused before anything is bound (rev2)', async (t) => {
  const d = dir(t);
  const file = path.join(d, 'm'.repeat(120 - d.length));
  const server = net.createServer();
  t.teardown(() => server.close());
  await t.rejects(listenAt(server, file), /longer than a unix socket address holds/);
  t.same(fs.readdirSync(d), [], 'nothing is left in the directory');
});

t.test('a socket that cannot be put in place leaves no server listening (the process can end)', async (t) => {
  // the manager's path is a directory with something in it, so the rename fails: the server
  // bound at the staging name was left listening, which held the test's process open until
  // tap's hour-long timeout (the CI run of 5e8c886, whose bind was cut before rev2)
  const d = dir(t);
  const file = path.join(d, 'em');
  fs.mkdirSync(file);
  fs.writeFileSync(path.join(file, 'x'), '');
  const server = net.createServer();
  t.teardown(() => server.close());
  await t.rejects(listenAt(server, file));
  t.equal(server.listening, false, 'the server is closed');
  t.same(fs.readdirSync(d).sort(), ['em'], 'and no staging directory is left');
});
