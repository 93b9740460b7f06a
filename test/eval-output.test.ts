import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import * as zlib from 'zlib';
import { anomaly } from './helpers/cli';

// 'anomaly eval' prints what its test file names (a labelled row's query, a trace's attack
// type) on the terminal: a file made to do so must not drive it.

const line = (i: number, name: string, label?: string) =>
  JSON.stringify({
    name,
    hostIdentifier: 'h',
    unixTime: 1_790_000_000 + i * 60,
    action: 'added',
    columns: { pid: String(i), path: `/usr/bin/tool${i % 5}`, cmdline: `tool${i % 5} -n`, auid: '1000', parent: '1' },
    ...(label ? { label } : {}),
  });

t.test('eval: control characters of the test file reach the terminal as visible escapes', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-eval-output-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const train = path.join(dir, 'train.log');
  const test = path.join(dir, 'test.log');
  fs.writeFileSync(train, Array.from({ length: 400 }, (_, i) => line(i, 'pack_x_process_events')).join('\n') + '\n');
  // a query name that clears the screen and sets the terminal's title
  const hostile = 'evil\u001b[2J\u001b]0;owned\u0007\nat score < 0.3: precision 1';
  fs.writeFileSync(
    test,
    [...Array.from({ length: 50 }, (_, i) => line(400 + i, 'pack_x_process_events', 'normal')), line(460, hostile, 'anomalous')].join('\n') + '\n',
  );
  const r = anomaly(['eval', '--train', train, '--test', test, '--models', 'rarity', '--quiet']);
  t.equal(r.code, 0, r.err);
  // eslint-disable-next-line no-control-regex
  t.notMatch(r.out, /[\x00-\x08\x0b-\x1f\x7f]/, 'no control character on stdout');
  t.equal(r.out.split('\n').filter((l) => l.startsWith('at score')).length, 1, 'no line forged by a newline in the name');
  t.match(r.out, /recall per type: evil.*owned.*precision 1 /, 'the name is shown, on its line');
});

t.test('eval: a .gz test file that inflates to one huge line is refused with its line and size, not read whole', async (t) => {
  // the dataset readers took lines with readline, which keeps a line whole however long: a
  // 535 kB .gz of a CSV header and one 550 MB line took eval to 1.2 GB resident and ended in
  // "RangeError: Invalid string length", exit 1 with a stack trace
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-eval-bomb-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const train = path.join(dir, 'train.txt');
  fs.writeFileSync(train, Array.from({ length: 120 }, (_, i) => (i % 2 ? 'E5 E22 E5' : 'E5 E5 E22')).join('\n') + '\n');
  const test = path.join(dir, 'test.csv.gz');
  fs.writeFileSync(
    test,
    zlib.gzipSync(Buffer.concat([Buffer.from('Sequence,label\n'), Buffer.alloc(32 * 1024 * 1024, 'E5 '), Buffer.from(',0\n')]), { level: 9 }),
  );
  const r = anomaly(['eval', '--train', train, '--test', test, '--models', 'rarity', '--quiet']);
  t.equal(r.code, 65, `refused as bad input data (${r.err.trim().slice(0, 300)})`);
  t.match(r.err, /test\.csv\.gz:2: a line of 33554434 bytes is over the \d+ a dataset line may have/, 'names the line and its size');
});

t.test('eval: too few training sessions to calibrate on is bad input (65), said in one line, not an internal error', async (t) => {
  // it ended in "anomaly: internal error: Error: 2 training sessions leave 2 to calibrate on;
  // at least 50 are needed" and the stack trace, exit 70 (a bug of ours), for a file too short
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-eval-few-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const train = path.join(dir, 'train.txt');
  fs.writeFileSync(train, 'E5 E22 E5\nE5 E5 E22\n');
  const test = path.join(dir, 'test.csv');
  fs.writeFileSync(test, 'Sequence,label\nE5 E22 E5,0\nE5 E9 E9,1\n');
  const r = anomaly(['eval', '--train', train, '--test', test, '--models', 'rarity', '--quiet']);
  t.equal(r.code, 65, `bad input data (${r.err.trim().slice(0, 200)})`);
  t.match(r.err, /train\.txt: 2 training sessions leave 2 to calibrate on; at least 50 are needed/, 'says what is missing');
  t.notMatch(r.err, /internal error|\n\s+at /, 'no stack trace');
});

t.test("eval --out: the window listing's JSON lines carry a user's C1 controls and bidi overrides as \\u escapes (rev10)", async (t) => {
  // the listing is NDJSON whose reasons quote the rows' programs; JSON.stringify escapes C0
  // only, so `cat w.jsonl` ran a CSI (U+009B) or reordered text (U+202E), as score's JSON lines did
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-eval-listing-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const train = path.join(dir, 'train.log');
  const test = path.join(dir, 'test.log');
  const out = path.join(dir, 'w.jsonl');
  fs.writeFileSync(train, Array.from({ length: 600 }, (_, i) => line(i, 'pack_x_process_events')).join('\n') + '\n');
  const hostile = (i: number) =>
    JSON.stringify({
      name: 'pack_x_process_events',
      hostIdentifier: 'h',
      unixTime: 1_790_000_000 + i * 60,
      action: 'added',
      columns: { pid: String(i), path: `/home/eve/csi\u009b2J\u202etxt.exe${i}`, cmdline: 'x', auid: '1000', parent: '1' },
      label: 'anomalous',
    });
  fs.writeFileSync(
    test,
    [
      ...Array.from({ length: 300 }, (_, i) => line(600 + i, 'pack_x_process_events', 'normal')),
      ...Array.from({ length: 30 }, (_, i) => hostile(900 + i)),
    ].join('\n') + '\n',
  );
  const r = anomaly(['eval', '--train', train, '--test', test, '--models', 'rarity', '--unit', 'window', '--quiet', '--out', out]);
  t.equal(r.code, 0, r.err);
  const text = fs.readFileSync(out, 'utf8');
  t.ok(text.length > 0, 'windows listed');
  t.ok(text.includes('\\u009b'), 'a window quotes the program, escaped');
  t.notMatch(text, /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/, 'no C1 control or bidi override in the file');
  for (const l of text.trimEnd().split('\n')) JSON.parse(l);
});
