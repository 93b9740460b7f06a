import t from 'tap';
import { shrinkLine } from '../extension/shrink-line';

const MAX = 1024 * 1024;

t.test('a line whose kept values cannot fit is refused before it is parsed', (t) => {
  // many short rows: nothing to cut, so parsing it on the protocol thread (16 MB of rows made
  // into objects: 130-490 MB of heap) could only end in a refusal
  const rows = Array.from({ length: 40_000 }, (_, i) => ({ pid: String(i), path: `/usr/bin/p${i}`, uid: '0' }));
  const many = JSON.stringify({ name: 'q', hostIdentifier: 'h', unixTime: 1, snapshot: rows });
  const nested = '['.repeat(MAX) + ']'.repeat(MAX);
  let parses = 0;
  const parse = JSON.parse;
  JSON.parse = ((s: string, r?: (this: unknown, k: string, v: unknown) => unknown) => {
    parses++;
    return parse(s, r);
  }) as typeof JSON.parse;
  try {
    t.equal(shrinkLine(many, MAX), null, 'many short rows: refused');
    t.equal(shrinkLine(nested, MAX), null, 'deep nesting: refused');
  } finally {
    JSON.parse = parse;
  }
  t.equal(parses, 0, 'neither was parsed');
  t.end();
});

t.test('a line nested too deep to write again is refused, never thrown', (t) => {
  const deep = '['.repeat(200_000) + JSON.stringify({ cmdline: 'x'.repeat(2 * MAX) }) + ']'.repeat(200_000);
  t.equal(shrinkLine(deep, MAX), null);
  t.end();
});

t.test('a long value is still cut to fit; escapes and short values count as they are written', (t) => {
  const line = JSON.stringify({
    name: 'q',
    hostIdentifier: 'h',
    unixTime: 1,
    columns: { cmdline: `a\u0001${'x'.repeat(8 * MAX)}`, path: '/bin/é' },
    action: 'added',
  });
  const cut = shrinkLine(line, MAX);
  t.ok(cut !== null && Buffer.byteLength(cut) <= MAX);
  const doc = JSON.parse(cut!) as { columns: Record<string, string> };
  t.equal(doc.columns.path, '/bin/é');
  t.equal(doc.columns.cmdline.slice(0, 4096), `a\u0001${'x'.repeat(4094)}`);
  t.match(doc.columns.cmdline, /… \(8388610 chars\)$/);
  t.end();
});
