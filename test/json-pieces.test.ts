import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { stringifyInPieces } from '../state/json-pieces';
import { readStateFile, writeStateFile } from '../state/atomic';

// A state file is written in pieces (a host baseline's window is megabytes of JSON); the
// text must be JSON.stringify's, so that files read back as before.

const joined = (v: unknown, size?: number) => {
  const pieces: string[] = [];
  const ok = stringifyInPieces(v, (p) => pieces.push(p), size);
  return { text: ok ? pieces.join('') : undefined, pieces };
};

t.test("the pieces join to JSON.stringify's text, whatever the value", async (t) => {
  const window = Array.from({ length: 3000 }, (_, n) => ({
    e: { key: `exec /bin/k${n % 37}`, values: ['a=1', `b=${n}`], pairs: [], text: n % 5 ? 'ls -l' : 'é "quoted"\n', time: 1_790_000_000 + n },
    n,
  }));
  const values: unknown[] = [
    {
      name: 'alice',
      window,
      recent: window.slice(0, 10),
      models: [{ name: 'lstm', weights: [{ shape: [2, 3], data: 'AAAA' }], opts: { units: 32 } }],
      calibration: null,
    },
    { skipped: undefined, fn: () => 1, sym: Symbol('x'), kept: 1, nested: { deeper: [1, undefined, () => 2, Symbol('y'), NaN, Infinity, -0] } },
    [undefined, { toJSON: () => 'custom' }, new Date(0), [window.slice(0, 70)], { list: window.slice(0, 100) }],
    Object.assign(Object.create(null) as object, { a: [1, 2], b: 'x' }),
    // toJSON is given the member's key (its index in an array), as JSON.stringify gives it
    { list: window.slice(0, 100), at: { toJSON: (key: string) => `member ${key}` }, gone: { toJSON: () => undefined } },
    [{ toJSON: (key: string) => ({ index: key }) }, window.slice(0, 70), { toJSON: () => undefined }],
    { empty: {}, none: [], big: 'no bigint: JSON.stringify throws on one' },
    'a string',
    42,
    null,
    [],
    {},
  ];
  for (const v of values) t.equal(joined(v, 64).text, JSON.stringify(v));
  t.equal(joined(undefined).text, undefined, 'nothing for what JSON.stringify gives undefined');
  t.equal(joined(() => 1).text, undefined);
  const { pieces } = joined(values[0], 4096);
  t.ok(pieces.length > 20, `a long window comes in many pieces (${pieces.length})`);
  t.ok(Math.max(...pieces.map((p) => p.length)) < 4096 + 512, 'each about the size asked for');
});

t.test('a state file written in pieces reads back as the payload it was given', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-json-pieces-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const payload = { window: Array.from({ length: 40_000 }, (_, n) => ({ e: { key: `k${n % 11}`, text: 'x'.repeat(n % 50) }, n })), seq: 7 };
  const file = path.join(dir, 's.json');
  writeStateFile(file, 'subject', 1, payload);
  const text = fs.readFileSync(file, 'utf8');
  t.ok(text.endsWith(`"payload":${JSON.stringify(payload)}}\n`), 'the same text as one JSON.stringify');
  t.same(readStateFile(file, 'subject', 1), payload);
});
