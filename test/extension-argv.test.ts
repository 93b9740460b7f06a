import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { MAX_MANAGER_SOCKET, parseArgs } from '../extension/args';
import { ExtensionClient, RpcError } from '../extension/client';
import { emulated, exited, type Emulated } from './helpers/emulated';

// The argv osqueryd builds from its own flags (protocol doc §3.2), with values osqueryd
// accepts: the extension must run with whatever osqueryd runs with, or say why it cannot.

t.test('--timeout and --interval as osqueryd reads them: 0 is 200 ms, a long one stays a timer', async (t) => {
  // osqueryd: atoi(FLAGS_extensions_interval) * 1000, at least 200 ms (ExtensionWatcher)
  t.equal(parseArgs(['--interval', '0']).interval, 0.2, '--interval 0 is osqueryd’s 200 ms');
  t.equal(parseArgs(['--timeout', '0']).timeout, 0.2, '--timeout 0 too');
  // setInterval runs a delay past 2^31 - 1 ms after 1 ms: a month's interval pinged 1,000 times a second
  t.equal(parseArgs(['--interval', '3000000']).interval, 2_147_483, 'a month is held to the longest timer Node keeps');
  t.throws(() => parseArgs(['--interval', '-1']), /0 or more/);
  t.throws(() => parseArgs(['--timeout=']), /0 or more/);
});

t.test('a socket path with no room for the extension’s own socket is refused, naming the limit', async (t) => {
  const fits = '/' + 'a'.repeat(MAX_MANAGER_SOCKET - 1);
  t.equal(parseArgs(['--socket', fits]).socket, fits, `${MAX_MANAGER_SOCKET} bytes are taken`);
  t.throws(() => parseArgs(['--socket', `${fits}b`]), new RegExp(`is ${MAX_MANAGER_SOCKET + 1} bytes: a unix socket path holds at most 107`));
  // bytes, not characters: sun_path holds bytes
  t.throws(() => parseArgs(['--socket', '/' + 'é'.repeat(50)]), /is 101 bytes/);
});

t.test('osqueryd run with --extensions_interval=0 starts the extension, which stays registered', async (t) => {
  const e = await emulated({ interval: 0 });
  t.teardown(() => e.close());
  await e.launch();
  // its own health check pings osqueryd every 200 ms, as osqueryd's watcher pings it
  const before = e.emu.registered();
  await new Promise<void>((resolve) => {
    let pings = 0;
    const count = () => {
      if (++pings < 10) return;
      e.emu.off('ping', count);
      resolve();
    };
    e.emu.on('ping', count);
  });
  t.same(e.emu.registered(), before, 'still registered after ten pings of its own');
  t.equal(e.child!.exitCode, null, 'running');
});

t.test('a manager socket path too long for the extension’s own socket: exit 64 saying so, nothing bound elsewhere', async (t) => {
  // the emulator's socket is <tmp>/anomaly-emu-XXXXXX/osquery/osquery.em; grown to 100 bytes,
  // osqueryd serves it, the extension's <path>.<uuid> (up to 106) fits sun_path and its
  // staging <path>.<uuid>.d/s does not: libuv cut it and the bind failed, EADDRINUSE, exit 1
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-argv-'));
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  const fixed = path.join(base, 'anomaly-emu-XXXXXX', 'osquery', 'osquery.em').length - base.length;
  const pad = path.join(base, 'p'.repeat(100 - base.length - fixed - 1));
  fs.mkdirSync(pad);
  // os.tmpdir() reads TMPDIR on each call
  const tmpdir = process.env.TMPDIR;
  process.env.TMPDIR = pad;
  let e: Emulated;
  try {
    e = await emulated();
  } finally {
    if (tmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpdir;
  }
  t.teardown(() => e.close());
  t.equal(Buffer.byteLength(e.emu.socket), 100, 'a 100-byte manager socket');
  const child = await e.launch({ wait: false });
  const { code } = await exited(child);
  t.equal(code, 64, 'EX_USAGE');
  t.match(e.stderr.join(''), /is 100 bytes: a unix socket path holds at most 107.*at most 97 bytes/);
  t.same(
    fs.readdirSync(path.dirname(e.emu.socket)).filter((f) => f !== 'osquery.em'),
    [],
    'no socket or staging directory left beside the manager’s',
  );
});

t.test('a client never connects to a cut path: a socket path past sun_path is an error of its own', async (t) => {
  // `anomaly status --socket` names one: libuv cut it at 107 bytes and connected there
  const long = path.join(os.tmpdir(), 'x'.repeat(120));
  const err = await new ExtensionClient(long).ping().catch((e: RpcError) => e);
  t.equal((err as RpcError).code, 'ENAMETOOLONG');
  t.match((err as RpcError).message, /longer than a unix socket address holds \(107\)/);
});
