import t from 'tap';
import { parseArgs } from '../extension/args';
import { echo, escapeControl, makeLog, Throttled } from '../extension/log';
import { loggerPlugin } from '../extension/plugin/logger';
import { boundsOf, equalsOf, OP, parseContext, scoreFilterOf } from '../extension/plugin/table';

// The small pure parts of the extension: how a logger request is told apart by its keys,
// how a generate context becomes constraints, the argv osqueryd gives, and the log's hygiene.

t.test("logger requests are routed by their keys, in osquery's order", async (t) => {
  const got: string[] = [];
  const plugin = loggerPlugin('anomaly', {
    features: 1,
    result: (line, kind) => got.push(`${kind}:${line}`),
    oversize: (bytes) => got.push(`oversize:${bytes}`),
    init: (name) => got.push(`init:${name}`),
    status: (entries) => got.push(`status:${entries.map((e) => e.m).join('|')}`),
    event: (line) => got.push(`event:${line}`),
  });
  const none = new Map<string, number>();
  const call = (req: Record<string, string>, over = none) => plugin.call(req, over) as { code: number; message?: string };
  t.equal(call({ string: 'a', category: 'event' }).code, 0);
  t.equal(call({ snapshot: 'b' }).code, 0);
  t.equal(call({ init: 'osqueryd' }).code, 0);
  t.equal(call({ action: 'features' }).code, 1, 'features answers the bitmask as the code');
  t.equal(call({ status: 'true', log: JSON.stringify([{ s: 0, f: 'a.cpp', i: 1, m: 'fine' }, { s: 'x' }, 5, null]) }).code, 0);
  t.equal(call({ status: 'true', log: 'not json' }).code, 0, 'a malformed status batch is still answered 0');
  t.equal(call({ event: 'e' }).code, 0);
  t.equal(call({ string_batch: JSON.stringify(['c', { d: 1 }]) }).code, 0);
  t.equal(call({ health: '' }).code, 0);
  t.equal(call({ string: '' }, new Map([['string', 123_456_789]])).code, 0, 'an oversized line is answered 0');
  // 'string' wins over everything else in the same request, as in osquery's router
  call({ string: 's', snapshot: 'x', init: 'y' });
  t.same(
    got,
    ['string:a', 'snapshot:b', 'init:osqueryd', 'status:fine', 'status:', 'event:e', 'string:c', 'string:{"d":1}', 'oversize:123456789', 'string:s'],
    'only well-formed status entries pass',
  );
  // an item nested deeper than JSON.stringify can recurse: still answered 0, passed on as text
  const deep = `[${'['.repeat(200_000)}${']'.repeat(200_000)}]`;
  got.length = 0;
  t.equal(call({ string_batch: deep }).code, 0, 'a batch with a deeply nested item is answered 0');
  t.match(got, [/^string:\(a batch item that cannot be written as JSON/], 'and the item reaches the ingest as text, to be rejected there');
  const unknown = call({ ['k'.repeat(5000)]: 'v' });
  t.equal(unknown.code, 1);
  t.ok((unknown.message ?? '').length < 400, 'an unknown request is echoed cut');
});

t.test('generate contexts are parsed defensively', async (t) => {
  t.same(parseContext(undefined).constraints.size, 0);
  t.same(parseContext('not json').constraints.size, 0);
  t.same(parseContext('[1,2]').constraints.size, 0);
  const ctx = parseContext(
    JSON.stringify({
      constraints: [
        {
          name: 'score',
          list: [
            { op: 16, expr: '0.3' },
            { op: '32', expr: 0.1 },
          ],
          affinity: 'DOUBLE',
        },
        {
          name: 'subject',
          list: [
            { op: 2, expr: 'alice' },
            { op: 2, expr: 'bob' },
          ],
        },
        { name: 'time', list: '' },
        { name: 'host', list: [{ op: 'x', expr: 'h' }, { op: 2 }, null] },
        null,
        { list: [] },
      ],
      colsUsed: ['score', 5, 'subject'],
    }),
  );
  t.same(
    boundsOf(ctx, 'score'),
    [
      { op: '<', value: 0.3 },
      { op: '>=', value: 0.1 },
    ],
    'ops as numbers or strings',
  );
  t.same(equalsOf(ctx, 'subject'), ['alice', 'bob']);
  t.equal(ctx.constraints.get('time'), undefined, 'an empty list (osquery < 3) is no constraint');
  t.equal(ctx.constraints.get('host'), undefined, 'unusable items are skipped');
  t.same([...ctx.colsUsed!], ['score', 'subject']);
  t.same(scoreFilterOf(ctx), {
    score: [
      { op: '<', value: 0.3 },
      { op: '>=', value: 0.1 },
    ],
    subject: ['alice', 'bob'],
  });
});

t.test('an IN list of 200k values becomes one range without a spread', async (t) => {
  const list = Array.from({ length: 200_000 }, (_, i) => ({ op: OP.EQUALS, expr: String(1000 + ((i * 7919) % 200_000)) }));
  const ctx = parseContext(JSON.stringify({ constraints: [{ name: 'time', list }] }));
  t.same(boundsOf(ctx, 'time'), [
    { op: '>=', value: 1000 },
    { op: '<=', value: 200_999 },
  ]);
});

t.test('the argv osqueryd passes, and manual forms', async (t) => {
  t.same(parseArgs(['--socket', '/s', '--timeout', '3', '--interval', '5']), { socket: '/s', timeout: 3, interval: 5, verbose: false });
  t.same(parseArgs(['--verbose', '--extensions_socket=/x', '--extensions_timeout=2', '--extensions_interval=1']), {
    socket: '/x',
    timeout: 2,
    interval: 1,
    verbose: true,
  });
  t.same(parseArgs([]), { socket: '/var/osquery/osquery.em', timeout: 3, interval: 3, verbose: false }, 'osquery defaults');
  t.equal(parseArgs(['--verbose=false']).verbose, false);
  // names every object has are unknown flags, not keys of the result ('--constructor=5' was taken)
  for (const name of ['constructor', 'toString', '__proto__']) t.throws(() => parseArgs([`--${name}=5`]), /unknown flag/, `--${name}`);
  t.throws(() => parseArgs(['--socket']), /needs a value/);
  t.throws(() => parseArgs(['--socket=']), /needs a path/);
  t.throws(() => parseArgs(['--interval', 'soon']), /must be a number of seconds/);
  t.throws(() => parseArgs(['--bogus']), /unknown flag --bogus/);
  t.throws(() => parseArgs(['stray']), /unexpected argument/);
});

t.test('log lines cannot be forged, echoed values are cut, repeats are throttled', async (t) => {
  t.equal(escapeControl('a\nb\r\tc\u0000\u2028'), 'a\\nb\\r\\tc\\u0000\\u2028');
  // characters that draw nothing, one outside the BMP as its two UTF-16 escapes
  t.equal(escapeControl('su\u200bdo\u{e0041}'), 'su\\u200bdo\\udb40\\udc41');
  const e = echo('z'.repeat(1000));
  t.ok(e.length < 300 && e.includes('(1000 chars)'));
  const lines: string[] = [];
  const log = makeLog('info', (l) => lines.push(l));
  log('debug', 'hidden');
  log('warn', 'one\n2026-01-01T00:00:00.000Z anomaly.ext[1] ERROR forged');
  t.equal(lines.length, 1, 'below the level is not written');
  t.equal(lines[0].split('\n').length, 2, 'one line, ending in its newline');
  t.match(lines[0], /WARN one\\n2026/);
  let now = 0;
  const said: string[] = [];
  const th = new Throttled(
    (_l, m) => said.push(m),
    60_000,
    () => now,
  );
  for (let i = 0; i < 100; i++) th.say('k', 'warn', 'disk full');
  th.say('other', 'warn', 'another kind');
  now = 60_000;
  th.say('k', 'warn', 'disk full');
  t.same(said, ['disk full', 'another kind', 'disk full (and 99 more like it since)']);
});
