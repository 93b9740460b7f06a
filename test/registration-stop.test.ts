import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { loadConfig } from '../conf/config';
import { OsquerydEmulator } from '../emulator';
import { ManagerClient, toNumber, types } from '../extension/client';
import { AnomalyExtension, NAME } from '../extension/extension';

// A start refused because a dead predecessor still holds the name waits for osqueryd's health
// check to forget it, trying again every half second. A stop that came meanwhile (systemd
// stopping osqueryd and the extension together) did not end that wait: the stopped extension
// went on asking, and registered as soon as the name was free, after its shutdown had run.

t.test('a stop while the name is held by a dead extension ends the wait and registers nothing', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-regstop-'));
  // no health round during the test: the dead holder stays registered until the test forgets it
  const emu = new OsquerydEmulator({ dir: path.join(dir, 'osquery'), interval: 3600, timeout: 5 });
  await emu.start();
  t.teardown(async () => {
    await emu.shutdown(5000);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  // the dead predecessor: registered, its socket never bound (as after a SIGKILL and osqueryd's cleanup)
  const holder = await new ManagerClient(emu.socket).registerExtension(
    new types.InternalExtensionInfo({ name: NAME, version: '1', sdk_version: '0.0.0', min_sdk_version: '0.0.0' }),
    {},
  );
  t.equal(holder.code, 0, 'the dead predecessor holds the name');

  const configFile = path.join(dir, 'anomaly.json');
  fs.writeFileSync(configFile, JSON.stringify({ state_dir: path.join(dir, 'state'), models: { lstm: false } }));
  const config = loadConfig(configFile, {});
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
