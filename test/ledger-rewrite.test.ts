import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { SCORED_RUNS, TrainLedger } from '../cli/train-ledger';
import type { ResultRow } from '../scorer/types';
import { bareNode } from './helpers/bare-node';
import { DIST } from './helpers/paths';

// A ledger past its bound (4M rows) is written anew with its newest half. It was built as one
// string per entry, then joined and copied into Buffers: `anomaly score` whose ledger passed
// the bound peaked at 613–691 MB resident, against 270 MB just under it. Now it is built as
// bytes, and the file it writes is the one it wrote before.

const row = (i: number): ResultRow => ({ query: 'process_events', host: 'h1', time: 1_790_000_000 + i, action: 'added', columns: {}, decorations: {} });

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-rewrite-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a ledger written anew keeps its newest entries in order, old run entries among them, damaged lines left out', (t) => {
  const hex = (i: number) => i.toString(16).padStart(13, '0');
  const run = `${'b'.repeat(16)} 3 1790000000`; // an older ledger's run, its first 3 rows
  const lines = [
    hex(1),
    'a'.repeat(16), // an older ledger's run, whole
    'garbage',
    hex(2),
    hex(3),
    hex(4),
    hex(5),
    'ABCDEF0123456', // not lowercase: no entry
    run,
    '',
    hex(6),
  ];
  const write = (bound: number, fresh: number) => {
    const dir = tmp(t);
    const file = path.join(dir, SCORED_RUNS);
    fs.writeFileSync(file, `${lines.join('\n')}\n${hex(7).slice(0, 5)}`, { mode: 0o600 });
    const ledger = new TrainLedger(dir, SCORED_RUNS, bound);
    for (let i = 0; i < fresh; i++) t.ok(ledger.isNew(row(i)));
    ledger.save();
    const kept = fs.readFileSync(file, 'latin1').split('\n');
    t.equal(kept.pop(), '', 'whole lines only');
    return { kept, again: new TrainLedger(dir, SCORED_RUNS, bound) };
  };
  // 8 entries and 2 new rows pass a bound of 9: 5 are kept, the file's newest 3 and the 2
  const some = write(9, 2);
  t.same(some.kept.slice(0, 3), [hex(5), run, hex(6)], "the file's newest entries, in order, the damaged ones left out");
  t.equal(some.kept.length, 5, 'then the new rows');
  t.same([some.again.knows(row(0)), some.again.knows(row(1))], [true, true], 'which are known');
  // more new rows than the half kept: the newest of them only
  const none = write(5, 4);
  t.equal(none.kept.length, 3, 'a bound of 5 keeps 3');
  t.same(
    [0, 1, 2, 3].map((i) => none.again.knows(row(i))),
    [false, true, true, true],
    'the newest new rows, none of the file',
  );
  t.end();
});

t.test('a ledger of 2M rows is written anew within a 48 MB heap', (t) => {
  // (the file's entries were once each a string in the heap: some 80 MB for 2M of them)
  const dir = tmp(t);
  const n = 2_000_000;
  const text = Buffer.allocUnsafe(n * 14);
  for (let i = 0; i < n; i++) text.write(`${(i * 7919 + 1).toString(16).padStart(13, '0')}\n`, i * 14, 'latin1');
  fs.writeFileSync(path.join(dir, SCORED_RUNS), text, { mode: 0o600 });
  const script = `
    const { TrainLedger, SCORED_RUNS } = require(${JSON.stringify(path.join(DIST, 'cli', 'train-ledger.js'))});
    const ledger = new TrainLedger(${JSON.stringify(dir)}, SCORED_RUNS, ${n});
    for (let i = 0; i < 10; i++) ledger.isNew({ query: 'q', host: 'h', time: 1790000000 + i, action: 'added', columns: {}, decorations: {} });
    ledger.save();
  `;
  const r = spawnSync(...bareNode(['--max-old-space-size=48', '-e', script]), { encoding: 'utf8', timeout: 600_000 });
  t.equal(r.status, 0, `the rewrite ends well (${r.stderr.slice(-300)})`);
  const size = fs.statSync(path.join(dir, SCORED_RUNS)).size;
  t.equal(size, (n / 2) * 14, 'the newest half kept');
  t.end();
});

t.test('a ledger read a chunk at a time: lines across chunks, a damaged line longer than a chunk, a torn last line', (t) => {
  const dir = tmp(t);
  const file = path.join(dir, SCORED_RUNS);
  const first = new TrainLedger(dir, SCORED_RUNS);
  for (let i = 0; i < 200_000; i++) first.isNew(row(i));
  first.save();
  const whole = fs.readFileSync(file, 'latin1');
  // 2.8 MB of entries, with a damaged line of 3 MB (no newline in it) after the first 100,000
  const cut = 100_000 * 14;
  fs.writeFileSync(file, `${whole.slice(0, cut)}${'x'.repeat(3 << 20)}\n${whole.slice(cut)}${whole.slice(0, 6)}`, 'latin1');
  const said: string[] = [];
  const ledger = new TrainLedger(dir, SCORED_RUNS, undefined, (m) => said.push(m));
  t.same(
    [0, 99_999, 100_000, 150_001, 199_999].map((i) => ledger.knows(row(i))),
    [true, true, true, true, true],
    'every entry is read',
  );
  t.notOk(ledger.knows(row(200_000)), 'and no other');
  t.equal(said.length, 1);
  t.match(said[0], /2 lines not an entry \(the first: line 100001\)/, 'the long line and the torn one are named');
  t.end();
});
