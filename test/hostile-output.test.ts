import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import t, { type Test } from 'tap';
import * as zlib from 'zlib';
import { readResultLogs } from '../scorer/parse/results';
import { RetainedScores } from '../state/scores';
import { table } from '../cli/commands/shared';
import { bareNode } from './helpers/bare-node';
import { anomaly } from './helpers/cli';
import { DIST } from './helpers/paths';

// What the command line prints of text that came from the watched hosts. A local user names
// their own programs: a file name may hold an escape sequence, a newline, a bidi override.
// Printed raw in a table, it drives the reviewer's terminal (clears it, recolours it) or
// forges rows that look like the extension's own.

const line = (i: number, exe: string) =>
  JSON.stringify({
    name: 'pack_user-behavior_process_events',
    hostIdentifier: 'h',
    unixTime: 1_790_000_000 + i * 600,
    action: 'added',
    columns: { pid: String(i), path: exe, cmdline: 'tool -n', auid: '1000', parent: '1' },
  });

/** a directory of the test's own (removed after it) and a config: rarity alone, monitoring from 100 events */
function workDir(t: Test, prefix: string): { dir: string; cfg: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cfg = path.join(dir, 'anomaly.json');
  fs.writeFileSync(cfg, JSON.stringify({ learning: { min_events: 100, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false } }));
  return { dir, cfg };
}

/**
 * `anomaly train` on 600 routine rows, run once for the file (four tests scored on the same
 * training, each into a state of its own): the state it left, and whether it exited 0
 */
let routine: { state: string; code: number | null } | undefined;
function trainedOnRoutine(): { state: string; code: number | null } {
  if (!routine) {
    const { dir, cfg } = workDir(t, 'anomaly-hostile-routine-');
    const train = path.join(dir, 'train.log');
    fs.writeFileSync(train, Array.from({ length: 600 }, (_, i) => line(i, `/usr/bin/tool${i % 4}`)).join('\n') + '\n');
    const state = path.join(dir, 'state');
    routine = { state, code: anomaly(['train', '--log', train, '--state', state, '--config', cfg, '--quiet']).code };
  }
  return routine;
}

/** a copy of the state trained on 600 routine rows, and a log of one row per executable in `names` */
function trainedAndHostile(t: Test, prefix: string, names: readonly string[]): { cfg: string; state: string; hostile: string } {
  const { dir, cfg } = workDir(t, prefix);
  const hostile = path.join(dir, 'hostile.log');
  fs.writeFileSync(hostile, names.map((n, i) => line(700 + i, n)).join('\n') + '\n');
  const trained = trainedOnRoutine();
  t.equal(trained.code, 0, 'trained');
  const state = path.join(dir, 'state');
  fs.cpSync(trained.state, state, { recursive: true });
  return { cfg, state, hostile };
}

/** the `path` column of each JSON line `score` printed */
function jsonPaths(out: string): string[] {
  return out
    .trimEnd()
    .split('\n')
    .map((l) => (JSON.parse((JSON.parse(l) as { columns: string }).columns) as { path: string }).path);
}

t.test('score --format table: control characters in events and reasons are shown, not obeyed', async (t) => {
  const names = [
    '/home/eve/\x1b[2J\x1b[31mred',
    '/home/eve/two\nlines | FAKE | row',
    '/home/eve/cr\rover',
    '/home/eve/csi\u009b31m',
    '/home/eve/bidi\u202etxt.exe',
    '/home/eve/bell\x07tab\t',
  ];
  const { cfg, state, hostile } = trainedAndHostile(t, 'anomaly-hostile-output-', names);
  const r = anomaly(['score', '--log', hostile, '--state', state, '--config', cfg, '--format', 'table', '--quiet']);
  t.equal(r.code, 0, `scored (${r.err})`);
  const lines = r.out.trimEnd().split('\n');
  // a rule, the header, a rule, one line per row, a rule: a newline in a value adds none
  t.equal(lines.length, 4 + names.length, 'one table line per scored row');
  for (const l of lines) t.match(l, /^[+|]/, `every line is the table's: ${JSON.stringify(l.slice(0, 60))}`);
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  t.notOk(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(r.out.replace(/\n/g, '')), 'no control character reaches the terminal');
  t.match(r.out, /\\x1b\[<n>J\\x1b\[<n>mred/, 'the escape sequence is shown as text');
  t.match(r.out, /two\\nlines/, 'the newline is shown as \\n');
});

t.test('score --format json (the default): C1 controls and bidi overrides are escaped, the JSON means the same', async (t) => {
  // JSON.stringify escapes only U+0000–U+001F: U+009B (CSI, which xterm obeys as ESC [),
  // U+0085 (NEL, a new line to some terminals), DEL and the bidi overrides that make
  // "evil\u202Etxt.exe" read as "eviexe.txt" went out raw, though the table escapes them
  const names = [
    '/home/eve/csi\u009b2J\u009b31mred',
    '/home/eve/nel\u0085FAKE',
    '/home/eve/del\u007f',
    '/home/eve/bidi\u202etxt.exe',
    '/home/eve/iso\u2066x\u2069',
    '/home/eve/ls\u2028ps\u2029',
  ];
  const { cfg, state, hostile } = trainedAndHostile(t, 'anomaly-hostile-json-', names);
  const r = anomaly(['score', '--log', hostile, '--state', state, '--config', cfg, '--quiet']);
  t.equal(r.code, 0, `scored (${r.err})`);
  t.notOk(/[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/.test(r.out), 'no C1 control, DEL or bidi control reaches the terminal');
  t.same(jsonPaths(r.out), names, 'one JSON line per row, each still holding the exact text');
});

t.test('score, table and JSON: characters that draw nothing are escaped, so su<ZWSP>do does not read as sudo', async (t) => {
  // zero-width space, direction marks, word joiner, byte order mark, soft hyphen, a tag
  // character (outside the BMP: JSON needs its two UTF-16 escapes) and a Hangul filler
  const names = [
    '/usr/bin/su\u200bdo',
    '/usr/bin/ss\u200e\u200fh',
    '/usr/bin/i\u061cd\u2060',
    '/usr/bin/\ufeffls\u00ad',
    '/usr/bin/cu\u{e0072}l',
    '/usr/bin/w\u3164get',
  ];
  const hidden = /[\u00ad\u061c\u200b-\u200f\u2060\u3164\ufeff]|\u{e0072}/u;
  const { cfg, state, hostile } = trainedAndHostile(t, 'anomaly-hostile-invisible-', names);
  const table = anomaly(['score', '--log', hostile, '--state', state, '--config', cfg, '--format', 'table', '--quiet']);
  t.equal(table.code, 0, `scored (${table.err})`);
  t.notOk(hidden.test(table.out), 'no invisible character in the table');
  t.match(table.out, /su\\u200bdo/, 'shown as an escape, in place');
  // a state of its own: a second reading of the same log in one state shows what it retained
  const again = trainedAndHostile(t, 'anomaly-hostile-invisible-json-', names);
  const json = anomaly(['score', '--log', again.hostile, '--state', again.state, '--config', again.cfg, '--quiet']);
  t.equal(json.code, 0, `scored (${json.err})`);
  t.notOk(hidden.test(json.out), 'no invisible character in the JSON lines');
  t.same(jsonPaths(json.out), names, 'each JSON line still holds the exact text, the tag character too');
});

t.test('train: subject names from the rows are shown, not obeyed, in what it prints', async (t) => {
  // a subject is named by a row's user or username column (logged_in_users, last, …): train
  // listed the subjects learning and monitoring as they were
  const { dir, cfg } = workDir(t, 'anomaly-hostile-train-');
  const log = path.join(dir, 'train.log');
  const login = (i: number, user: string) =>
    JSON.stringify({
      name: 'logged_in_users',
      hostIdentifier: 'h',
      unixTime: 1_790_000_000 + i * 600,
      action: 'added',
      columns: { type: 'user', user, tty: 'pts/0', host: '10.0.0.1', time: String(1_790_000_000 + i * 600), pid: String(100 + i) },
    });
  fs.writeFileSync(log, [login(0, 'eve\x1b[2J\x1b]0;owned\x07'), login(1, 'mallory\u009b31m\u202e')].join('\n') + '\n');
  const r = anomaly(['train', '--log', log, '--state', path.join(dir, 'state'), '--config', cfg, '--quiet']);
  t.equal(r.code, 0, `trained (${r.err})`);
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  t.notOk(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(r.out), 'no control character reaches the terminal');
  t.match(r.out, /eve\\x1b\[2J/, 'the name is shown with its escape as text');
});

t.test("train: what it says on stderr about a log's bad lines shows their controls, never obeys them", async (t) => {
  // the warnings quote a bad line's values (JSON.stringify: C0 escaped, C1 and bidi not) and
  // JSON.parse's own snippet of it (raw); stderr escaped C0 and DEL only
  const { dir, cfg } = workDir(t, 'anomaly-hostile-stderr-');
  const log = path.join(dir, 'train.log');
  const good = Array.from({ length: 50 }, (_, i) => line(i, `/usr/bin/tool${i % 4}`));
  const bad = [
    JSON.stringify({ name: 'q', hostIdentifier: 'h', unixTime: 1_790_000_000, action: 'csi\u009b2J\u202eevil', columns: { a: '1' } }),
    '{"name":"q","columns":{"a":"\u0085nel\u009b31m\u202e"} not json',
  ];
  fs.writeFileSync(log, [...good, ...bad].join('\n') + '\n');
  const r = anomaly(['train', '--log', log, '--state', path.join(dir, 'state'), '--config', cfg]);
  t.equal(r.code, 0, `trained (${r.err.slice(-300)})`);
  t.match(r.err, /skipped/, 'the bad lines are reported');
  t.notOk(/[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(r.err), 'no C1 control, DEL or bidi control reaches stderr');
});

t.test('report --out: a link planted where index.html goes is replaced, never written through', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-hostile-report-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const state = path.join(dir, 'state');
  const store = new RetainedScores({ dir: path.join(state, 'scores'), maxRows: 1000, maxDays: 3650 });
  store.append([
    {
      id: 'r-1',
      time: 1_790_000_000,
      host: 'h',
      subject: 'alice',
      query: 'q',
      action: 'added',
      event: 'exec /bin/x <- /bin/sh',
      score: 0.1,
      verdict: 'bad',
      model: 'rarity',
      reasons: 'new tool',
      columns: '{}',
    },
  ]);
  store.close();
  // a shared directory (a report left in /tmp, a cwd others can write): its owner plants a
  // link to a file of root's before root writes the report there
  const out = path.join(dir, 'shared');
  fs.mkdirSync(out, { mode: 0o777 });
  fs.chmodSync(out, 0o777);
  const victim = path.join(dir, 'victim');
  fs.writeFileSync(victim, 'root-owned contents\n', { mode: 0o600 });
  fs.symlinkSync(victim, path.join(out, 'index.html'));
  const cfg = path.join(dir, 'anomaly.json');
  fs.writeFileSync(cfg, JSON.stringify({ models: { rarity: true, ocsvm: false, lstm: false } }));
  const r = anomaly(['report', '--out', out, '--state', state, '--config', cfg, '--quiet']);
  t.equal(r.code, 0, `report written (${r.err})`);
  t.equal(fs.readFileSync(victim, 'utf8'), 'root-owned contents\n', 'the linked file is untouched');
  const st = fs.lstatSync(path.join(out, 'index.html'));
  t.ok(st.isFile(), 'index.html is a file of its own now');
  t.equal(st.mode & 0o777, 0o600, "readable by its owner only: it holds every user's command lines");
  t.match(fs.readFileSync(path.join(out, 'index.html'), 'utf8'), /new tool/, 'and it is the report');
  t.same(
    fs.readdirSync(out).filter((f) => f !== 'index.html'),
    [],
    'no temporary file left',
  );
});

t.test('train: a line longer than the extension takes is learnt cut as the extension takes it, or skipped with its size, not held whole', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-long-line-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cfg = path.join(dir, 'anomaly.json');
  fs.writeFileSync(cfg, JSON.stringify({ learning: { min_events: 100, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false } }));
  const long = line(5, `/usr/bin/${'x'.repeat(3 * 1024 * 1024)}`);
  const lines = Array.from({ length: 200 }, (_, i) => line(i, `/usr/bin/tool${i % 4}`));
  lines[5] = long;
  // over the limit even with its values cut (rev10: the extension queues a line cut as anomaly_scores keeps it, ingest.ts)
  const wide = JSON.stringify({
    name: 'pack_user-behavior_process_events',
    hostIdentifier: 'h',
    unixTime: 1_790_000_000 + 7 * 600,
    action: 'added',
    columns: Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`c${i}`, 'x'])),
  });
  lines[7] = wide;
  // CRLF line ends, one of them across the 64 kB chunks the file is read in
  const text = lines.join('\r\n') + '\r\n';
  const log = path.join(dir, 'results.log');
  fs.writeFileSync(log, text);
  const r = anomaly(['train', '--log', log, '--state', path.join(dir, 'state'), '--config', cfg]);
  t.equal(r.code, 0, `trained (${r.err.slice(0, 300)})`);
  t.notMatch(r.err, /results\.log:6:/, 'the line of a 3 MB path is taken, cut, as the extension takes it');
  t.match(
    r.err,
    new RegExp(`results\\.log:8: a line of ${Buffer.byteLength(wide)} bytes is over the 1048576 a result line may have`),
    'the line too long even cut is named, with its size',
  );
  t.match(r.out, /learned 199 rows from 200 lines/, 'every other line is learned');
});

t.test('train and score take the line limit the config gives the extension (queue.max_line_bytes), raised or lowered', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-long-line-cfg-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cfg = path.join(dir, 'anomaly.json');
  // a site whose logs hold long lines raised the extension's limit: the CLI must learn what the extension would
  fs.writeFileSync(
    cfg,
    JSON.stringify({
      learning: { min_events: 100, min_days: 0 },
      models: { rarity: true, ocsvm: false, lstm: false },
      queue: { max_line_bytes: 4 * 1024 * 1024 },
    }),
  );
  const lines = Array.from({ length: 200 }, (_, i) => line(i, `/usr/bin/tool${i % 4}`));
  lines[5] = line(5, `/usr/bin/${'x'.repeat(2 * 1024 * 1024)}`);
  const log = path.join(dir, 'results.log');
  fs.writeFileSync(log, lines.join('\n') + '\n');
  const r = anomaly(['train', '--log', log, '--state', path.join(dir, 'state'), '--config', cfg]);
  t.equal(r.code, 0, `trained (${r.err.slice(0, 300)})`);
  t.match(r.out, /learned 200 rows from 200 lines/, 'the 2 MB line is learned, as the extension would take it');
  // and lowered: what the extension would reject is not learned either
  fs.writeFileSync(
    cfg,
    JSON.stringify({ learning: { min_events: 100, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false }, queue: { max_line_bytes: 1024 } }),
  );
  lines[5] = line(5, `/usr/bin/${'y'.repeat(2000)}`);
  fs.writeFileSync(log, lines.join('\n') + '\n');
  const low = anomaly(['train', '--log', log, '--state', path.join(dir, 'state2'), '--config', cfg]);
  t.match(low.err, /results\.log:6: a line of \d+ bytes is over the 1024 a result line may have/, 'a line over a lowered limit is skipped and named');
  t.match(low.out, /learned 199 rows from 200 lines/);
});

t.test('result logs are split the same whatever the chunks: \\n, \\r\\n and \\r across a read boundary', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-line-ends-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'results.log');
  const a = line(1, '/usr/bin/a');
  // the first record, its \n and the second fill the first 64 kB read but for one byte: the
  // \r after the second is the chunk's last byte, its \n the next chunk's first
  const pad = line(2, `/usr/bin/${'p'.repeat(65535 - (a.length + 1) - line(2, '/usr/bin/').length)}`);
  t.equal(a.length + 1 + pad.length, 65535, 'the CRLF straddles the read boundary');
  fs.writeFileSync(file, `${a}\n${pad}\r\n${line(3, '/usr/bin/c')}\r${line(4, '/usr/bin/d')}\r\n\r\n${line(5, '/usr/bin/e')}`);
  const seen: number[] = [];
  const errors: string[] = [];
  for await (const item of readResultLogs([file])) {
    if (item.rows) seen.push(item.line);
    else errors.push(item.error!.message);
  }
  t.same(errors, [], 'no line torn');
  t.same(seen, [1, 2, 3, 4, 6], 'each record whole, an empty line counted and skipped');
});

t.test('train: a JSON array on one line holds each record to the line limit, as the lines of a log are', async (t) => {
  // An export whose records are not one per line (all on one line, or pretty-printed) was
  // read whole, whatever queue.max_line_bytes says: a record the extension would reject as
  // a line was learned
  const { dir } = workDir(t, 'anomaly-array-limit-');
  const cfg = path.join(dir, 'low.json');
  fs.writeFileSync(
    cfg,
    JSON.stringify({ learning: { min_events: 100, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false }, queue: { max_line_bytes: 1024 } }),
  );
  const records = Array.from({ length: 200 }, (_, i) => line(i, `/usr/bin/tool${i % 4}`));
  records[5] = line(5, `/usr/bin/${'y'.repeat(2000)}`);
  const log = path.join(dir, 'export.json');
  fs.writeFileSync(log, `[${records.join(',')}]\n`);
  const r = anomaly(['train', '--log', log, '--state', path.join(dir, 'state'), '--config', cfg]);
  t.equal(r.code, 0, `trained (${r.err.slice(0, 300)})`);
  t.match(r.err, /export\.json: record 6: a record of \d+ bytes is over the 1024 a result line may have/, 'the long record is named');
  t.match(r.out, /learned 199 rows from 200 lines/, 'every other record is learned');
  // pretty-printed, one member per line: the same records
  fs.writeFileSync(
    log,
    JSON.stringify(
      records.map((l) => JSON.parse(l)),
      null,
      2,
    ),
  );
  const pretty = anomaly(['train', '--log', log, '--state', path.join(dir, 'state2'), '--config', cfg]);
  t.match(pretty.err, /export\.json: record 6: a record of \d+ bytes is over the 1024/, 'pretty-printed too');
  t.match(pretty.out, /learned 199 rows from 200 lines/);
});

t.test('a .gz that inflates to a huge JSON array (a gzip bomb) is read a record at a time, not inflated whole', async (t) => {
  // 128 MB of blanks inside one array compress to 125 kB. The array on one line is over
  // any line limit, so it was inflated whole (zlib.gunzipSync), made one string and parsed:
  // peak resident memory grew by over twice the inflated size (1.2 GB of it took 2.5 GB and
  // then failed: "Cannot create a string longer than 0x1fffffe8 characters")
  const { dir } = workDir(t, 'anomaly-gzip-bomb-');
  const file = path.join(dir, 'bomb.json.gz');
  const gz = zlib.createGzip({ level: 9 });
  const out = fs.createWriteStream(file);
  gz.pipe(out);
  const blanks = Buffer.alloc(1 << 20, 0x20);
  gz.write(`[${line(1, '/usr/bin/first')},`);
  for (let i = 0; i < 128; i++) gz.write(blanks);
  gz.end(`${line(2, '/usr/bin/last')}]\n`);
  await new Promise<void>((resolve) => out.on('close', () => resolve()));
  t.ok(fs.statSync(file).size < 1 << 20, `the bomb is ${Math.round(fs.statSync(file).size / 1024)} kB`);
  const script = `
    const fs = require('fs');
    const { readResultLogs } = require(${JSON.stringify(path.join(DIST, 'scorer', 'parse', 'results.js'))});
    const kb = (k) => Number(fs.readFileSync('/proc/self/status', 'utf8').split('\\n').find((l) => l.startsWith(k + ':')).split(/ +/)[1]);
    const before = kb('VmRSS');
    (async () => {
      const paths = [], errors = [];
      for await (const item of readResultLogs([${JSON.stringify(file)}])) {
        if (item.rows) for (const r of item.rows) paths.push(r.columns.path);
        else errors.push(item.error.message);
      }
      process.stdout.write(JSON.stringify({ paths, errors, grownKb: kb('VmHWM') - before }));
    })();`;
  const res = spawnSync(...bareNode(['-e', script]), { encoding: 'utf8' });
  t.equal(res.status, 0, `the child read the file (${res.stderr.slice(-500)})`);
  const got = JSON.parse(res.stdout) as { paths: string[]; errors: string[]; grownKb: number };
  t.same(got.errors, [], 'no error');
  t.same(got.paths, ['/usr/bin/first', '/usr/bin/last'], 'both records, in order');
  t.ok(got.grownKb < 64 * 1024, `peak resident memory grew ${Math.round(got.grownKb / 1024)} MB for 128 MB inflated (bound 64 MB)`);
});

t.test('demo --out: a directory others can write to is refused, so nothing is written through a link planted there', async (t) => {
  // root's `anomaly demo --out /tmp/shared`: the demo wrote its logs and config with plain
  // writes into the directory (following a link planted there to any file), and installed the
  // launcher it then runs in `extensions/` there, a directory anyone could have made first
  const { dir } = workDir(t, 'anomaly-demo-out-');
  const shared = path.join(dir, 'shared');
  fs.mkdirSync(shared);
  fs.chmodSync(shared, 0o777);
  const victim = path.join(dir, 'victim');
  fs.writeFileSync(victim, 'precious\n');
  fs.symlinkSync(victim, path.join(shared, 'train.log'));
  const r = anomaly(['demo', '--out', shared, '--eval-split', '--quiet']);
  t.equal(r.code, 73, `refused with EX_CANTCREAT (${r.err.trim()})`);
  t.match(r.err, /shared is writable by everyone \(mode 777\)/, 'says why');
  t.equal(fs.readFileSync(victim, 'utf8'), 'precious\n', 'the file the link names is untouched');
  // a directory of its own is used, as before
  const own = path.join(dir, 'own');
  const ok = anomaly(['demo', '--out', own, '--eval-split', '--quiet']);
  t.equal(ok.code, 0, `a new directory is used (${ok.err.trim()})`);
  t.ok(fs.statSync(path.join(own, 'train.log')).size > 0, 'and written');
});

t.test('score --format table prints a table of more rows than V8 takes arguments (review5)', async (t) => {
  // each column's width was Math.max over every row spread as arguments, refused past about
  // 125,000: `anomaly score --format table` over a day of a busy host's log ended in an internal error
  const rows = Array.from({ length: 150_000 }, (_, i) => ({ id: `r${i}`, verdict: i === 7 ? 'learning' : 'bad' }));
  const text = table(rows, ['id', 'verdict']);
  const lines = text.split('\n');
  t.equal(lines.length, 150_000 + 5, 'every row, between the rules and the header');
  t.equal(lines[3], '| r0      | bad      |', 'each column as wide as its widest cell');
});
