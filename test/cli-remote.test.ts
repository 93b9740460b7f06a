import { spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { bareNode } from './helpers/bare-node';
import { emulated, scoredPrograms, until } from './helpers/emulated';
import { asOtherUser, otherUserCannotRun } from './helpers/cli';
import { DIST } from './helpers/paths';
import { MODEL_COLUMNS } from '../extension/tables/models';

// `anomaly status` and `anomaly feedback` talk to a running extension through its socket.

function anomaly(args: string[], as: { uid?: number; gid?: number } = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child =
      as.uid === undefined
        ? spawn(...bareNode([path.join(DIST, 'cli', 'main.js'), ...args]), { env: { ...process.env, ANOMALY_CONFIG: '' } })
        : spawn(...asOtherUser(args), as);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

t.test('status and feedback against a running extension', async (t) => {
  const e = await emulated({ config: { learning: { min_events: 60, min_days: 0 } }, users: [{ uid: '1000', username: 'alice' }] });
  t.teardown(() => e.close());
  await e.launch();
  for (let i = 0; i < 120; i++) {
    const tool = `/usr/bin/tool${i % 4}`;
    await e.emu.logResult(
      'anomaly',
      JSON.stringify({
        name: 'pack_user-behavior_process_events',
        hostIdentifier: 'h',
        unixTime: 1_790_000_000 + i * 60,
        columns: { pid: String(i), path: tool, cmdline: `${tool} -v`, auid: '1000', parent: '1' },
        action: 'added',
      }),
    );
  }
  await e.emu.logResult(
    'anomaly',
    JSON.stringify({
      name: 'pack_user-behavior_process_events',
      hostIdentifier: 'h',
      unixTime: 1_790_010_000,
      columns: { pid: '999', path: '/usr/bin/nc', cmdline: 'nc -lvp 4444', auid: '1000', parent: '1' },
      action: 'added',
    }),
  );
  const [odd] = await until(
    () => e.emu.query("SELECT id, score, verdict FROM anomaly_scores WHERE event LIKE '%/usr/bin/nc%'"),
    (r) => r.length === 1 && r[0].score !== '',
  );

  const status = await anomaly(['status', '--socket', e.emu.socket]);
  t.equal(status.code, 0, status.err);
  t.match(status.out, /\| alice@h +\| rarity +\| monitoring/, 'alice is listed with her models');
  t.match(status.out, /\| \* +\| ingest/, 'and the ingest counters');
  // issue 10's visibility: the CPU the process used and the budget it paces to (the * row's
  // cpu_ms_per_min and budget_ms_per_min), which the table left out
  t.match(
    status.out,
    /\nCPU: [\d,]+ ms in the last minute \(the process, every thread\); not paced: osqueryd does not watch this extension, its cgroup has no CPU quota, and the config sets no budget\.cpu_percent\n$/,
  );

  // --json: a line per anomaly_models row, its columns and no other key (each row the table
  // answers also carries the rowid osqueryd reads: extension/plugin/rowid.ts)
  const json = await anomaly(['status', '--json', '--socket', e.emu.socket]);
  t.equal(json.code, 0, json.err);
  const lines = json.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, string>);
  t.ok(lines.some((r) => r.subject === 'alice@h') && lines.some((r) => r.subject === '*'), 'alice and the ingest row, as JSON lines');
  const named = new Set(MODEL_COLUMNS.map((c) => c.name));
  t.same(
    lines.flatMap((r) => Object.keys(r).filter((k) => !named.has(k))),
    [],
    "no key that is not one of anomaly_models' columns",
  );

  const fb = await anomaly(['feedback', odd.id, 'normal', '--note', 'port check by the admin', '--socket', e.emu.socket]);
  t.equal(fb.code, 0, fb.err);
  t.match(fb.out, new RegExp(`labelled ${odd.id} normal`));
  // what the label does and does not do, said where it is given (newuser): the row already
  // scored keeps its score, which looked like a label that did nothing
  t.match(fb.out, /later rows of the same event for this subject score at least 0\.7 .*rows already scored keep their scores/);
  const stored = await e.emu.query('SELECT id, label, note FROM anomaly_feedback');
  t.same(stored, [{ id: odd.id, label: 'normal', note: 'port check by the admin' }], 'the label is kept and listed');

  const unknown = await anomaly(['feedback', 'no-such-id', 'anomalous', '--socket', e.emu.socket]);
  t.equal(unknown.code, 65, 'an unknown id is refused');
  t.match(unknown.err, /no retained anomaly_scores row has id "no-such-id"/);
  const nobody = await anomaly(['status', '--socket', path.join(e.dir, 'nothing-here.em')]);
  t.equal(nobody.code, 69, 'no extension there: EX_UNAVAILABLE');
});

t.test("SQL writes at the emulator's osquery> prompt reach the extension, as osqueryd's do", async (t) => {
  // the README's INSERT INTO anomaly_feedback, typed at `npm run demo -- --serve`'s prompt:
  // the emulator copied the extension's rows into a table of its own and ran the INSERT on the
  // copy, so it answered OK and nothing was labelled (an invalid label was "OK" too)
  const {
    e,
    ids: [id],
  } = await scoredPrograms(['/usr/bin/nc']);
  t.teardown(() => e.close());
  t.same(await e.emu.query(`INSERT INTO anomaly_feedback (id, label, note) VALUES ('${id}', 'normal', 'backup job')`), []);
  t.match(await e.emu.query('SELECT id, label, note FROM anomaly_feedback'), [{ id, label: 'normal', note: 'backup job' }], 'the label is kept');
  await t.rejects(
    e.emu.query(`INSERT INTO anomaly_feedback (id, label) VALUES ('${id}', 'weird')`),
    /label must be 'normal' or 'anomalous'/,
    'a label the extension refuses is an error',
  );
  await t.rejects(
    e.emu.query(`INSERT INTO anomaly_scores VALUES ('x', 1, 'h', 's', 'q', 'added', 'e', 0.5, 'good', 'm', 'r', '{}')`),
    /readonly/,
    'anomaly_scores is read-only',
  );
  // (osqueryd refuses NULL only for a column whose options are exactly INDEX or REQUIRED; the
  // tables' columns are INDEX|OPTIMIZED, so a row with NULLs reaches the extension, which refuses it)
  await t.rejects(e.emu.query(`INSERT INTO anomaly_scores (id) VALUES ('x')`), /readonly/, 'a row with NULLs is refused too');
  await t.rejects(e.emu.query(`DELETE FROM anomaly_feedback`), /readonly/, 'labels cannot be deleted');
  t.equal((await e.emu.query('SELECT id FROM anomaly_feedback')).length, 1, 'one label, as before');
});

// The extension's socket is 0600 and osqueryd's, so an engineer who runs `anomaly status`
// without sudo is refused by the kernel: the message said "is osqueryd running with the
// extension loaded?" of an extension that was running, and a folder it could not list was
// "no extension sockets there".
// as root the command runs as nobody, which needs a checkout that user may read
t.test('status as a user who may not reach the socket says to run it as root', { skip: process.getuid?.() === 0 && otherUserCannotRun() }, async (t) => {
  const root = process.getuid?.() === 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-remote-perm-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'osquery.em.4242');
  const server = net.createServer((c) => c.destroy());
  await new Promise<void>((res) => server.listen(sock, res));
  t.teardown(() => server.close());
  fs.chmodSync(sock, 0o600);
  // as root the kernel lets everything through: the CLI runs as nobody; else the folder and
  // socket are taken from the user who runs the test
  const as = root ? { uid: 65534, gid: 65534 } : {};
  if (!root) fs.chmodSync(sock, 0o000);
  fs.chmodSync(dir, 0o755);
  const socketRefused = await anomaly(['status', '--socket', path.join(dir, 'osquery.em')], as);
  t.equal(socketRefused.code, 69);
  t.match(socketRefused.err, /permission denied on .*osquery\.em\.4242.*run it as root \(sudo anomaly status\)/);
  t.notMatch(socketRefused.err, /is osqueryd running/);
  fs.chmodSync(dir, 0o711);
  if (!root) fs.chmodSync(dir, 0o311);
  const listRefused = await anomaly(['status', '--socket', path.join(dir, 'osquery.em')], as);
  t.equal(listRefused.code, 69);
  t.match(listRefused.err, /cannot list .*anomaly-remote-perm-\w+ \(EACCES\).*run it as root \(sudo anomaly status\)/);
  const fbRefused = await anomaly(['feedback', '12', 'normal', '--socket', sock], as);
  t.equal(fbRefused.code, 69);
  t.match(fbRefused.err, /permission denied on .*run it as root \(sudo anomaly feedback\)/);
  fs.chmodSync(dir, 0o700);
});

// The most common miss: osqueryd is not running, or runs with another --extensions_socket
// (a fleet agent's), so the socket the command looked beside does not exist. The message said
// "no extension sockets there" of a path that is not there at all (newcomer6).
t.test('status at a socket that does not exist says so', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-remote-none-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const missing = path.join(dir, 'osquery.em');
  const r = await anomaly(['status', '--socket', missing]);
  t.equal(r.code, 69);
  t.match(r.err, `${missing} does not exist`, 'names the missing socket');
  t.match(r.err, /--extensions_socket of `ps -o args= -C osqueryd`/, 'and where to find the right one');
  const gone = await anomaly(['status', '--socket', path.join(dir, 'no-such-dir', 'osquery.em')]);
  t.match(gone.err, 'no-such-dir/osquery.em does not exist');
});

// `--socket /var/osquery`: osqueryd's folder, not its socket, was "no extension sockets there"
// (it looked beside the folder); the socket in it is the one meant.
t.test('status at a folder names the sockets in it to pass instead', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-remote-folder-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'osquery.em');
  const server = net.createServer((c) => c.destroy());
  await new Promise<void>((res) => server.listen(sock, res));
  t.teardown(() => server.close());
  const r = await anomaly(['status', '--socket', dir]);
  t.equal(r.code, 69);
  t.match(r.err, `${dir} is a folder, not osqueryd's extensions socket: pass --socket ${sock}`);
  const empty = path.join(dir, 'empty');
  fs.mkdirSync(empty);
  t.match((await anomaly(['status', '--socket', empty])).err, `${empty} is a folder, not osqueryd's extensions socket (no socket in it)`);
});
