import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { ConfigError, readConfigJson } from '../conf/config';

// A config that is not JSON is refused at start (exit 78) with osqueryd down until it is
// fixed: the message must say where in the file, as an editor counts, not a character offset.

t.test('a config that is not JSON names the line and column of the fault (newuser)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-config-json-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const refusal = (name: string, text: string): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    try {
      readConfigJson(file);
    } catch (err) {
      t.type(err, ConfigError, `${name}: a config error (exit 78)`);
      return (err as Error).message;
    }
    return 'accepted';
  };
  // a trailing comma on line 3, as a hand edit leaves it
  t.match(
    refusal('comma.json', '{\n  "learning": { "min_events": 300 },\n  "models": { "lstm": false },\n}\n'),
    /comma\.json: not valid JSON at line 4, column 1: /,
  );
  t.match(refusal('late.json', '{\n  "log_level": "info"\n  "state_dir": "/var/osquery/anomaly"\n}\n'), /late\.json: not valid JSON at line 3, column 3: /);
  t.match(refusal('cut.json', '{\n  "models": {'), /cut\.json: not valid JSON: the file ends inside a value/);
  t.match(refusal('empty.json', ''), /empty\.json: not valid JSON: the file ends inside a value \(it is empty\)/);
});

// A config or fleet prior is root's file, but its path is what the command line or
// ANOMALY_CONFIG names: a FIFO there blocked `open` for good (a start that never ends, and no
// message), and a device was read whole. Only a regular file is a config (review, fourteenth
// session).
t.test('a config that is a FIFO or a device is refused at once, not waited on or read whole', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-config-fifo-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fifo = path.join(dir, 'config.json');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  // in a child, so that a blocking open fails this test instead of hanging the file
  const run = (file: string) =>
    spawnSync(
      process.execPath,
      [
        '-e',
        `try { require(${JSON.stringify(require.resolve('../conf/config'))}).readConfigJson(${JSON.stringify(file)}); console.log('read') } catch (e) { console.log(e.message) }`,
      ],
      {
        encoding: 'utf8',
        timeout: 60_000,
        killSignal: 'SIGKILL',
      },
    );
  const r = run(fifo);
  t.equal(r.signal, null, 'the FIFO did not block the read (no writer ever opens it)');
  t.match(r.stdout, /config\.json: .*not a regular file/, 'it is refused, naming why');
  const dev = run('/dev/zero');
  t.match(dev.stdout, /\/dev\/zero: .*not a regular file/, 'a device is refused, not read');
});
