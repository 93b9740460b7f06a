import t from 'tap';
import { ExtensionClient } from '../extension/client';
import { emulated, lsLine, until } from './helpers/emulated';

const good = (i: number) => lsLine(i);

t.test('bad input is answered 0, counted rejected, and the extension stays up', async (t) => {
  const e = await emulated();
  t.teardown(() => e.close());
  await e.launch();
  const bad = [
    'this is not json',
    good(1).slice(0, 60),
    // over queue.max_line_bytes whatever its values are cut to (rev10): 200,000 columns
    JSON.stringify({
      name: 'q',
      hostIdentifier: 'h',
      unixTime: 1,
      columns: Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`c${i}`, 'x'])),
      action: 'added',
    }),
    JSON.stringify({ name: 'q', hostIdentifier: 'h', unixTime: 1, columns: 'not an object', action: 'added' }),
    JSON.stringify({ name: 42, hostIdentifier: 'h', unixTime: 1, columns: {}, action: 'added' }),
    JSON.stringify({ name: '', hostIdentifier: 'h', unixTime: 1, columns: { a: 'b' }, action: 'added' }),
    JSON.stringify({ name: 'q', hostIdentifier: 'h', unixTime: 'yesterday', columns: { a: 'b' }, action: 'added' }),
    JSON.stringify({ name: 'q', hostIdentifier: 'h', unixTime: 1, columns: { a: { nested: true } }, action: 'added' }),
    JSON.stringify([1, 2, 3]),
  ];
  for (const line of bad) await e.emu.logResult('anomaly', line); // throws if not answered 0
  // an empty row and an unknown query name are valid osquery output: accepted
  await e.emu.logResult('anomaly', JSON.stringify({ name: 'pack_unknown_whatever', hostIdentifier: 'h', unixTime: 1, columns: {}, action: 'added' }));
  await e.emu.logResult('anomaly', good(2));
  // a line over queue.max_line_bytes for its values is scored with them cut (rev10)
  await e.emu.logResult(
    'anomaly',
    JSON.stringify({ name: 'q', hostIdentifier: 'h', unixTime: 1, columns: { x: 'y' }, filler: 'x'.repeat(10 * 1024 * 1024), action: 'added' }),
  );
  t.equal(e.emu.catastrophic, null, 'no answer would have stopped osqueryd');
  const [c] = await until(
    () => e.emu.query("SELECT accepted, rejected FROM anomaly_models WHERE subject = '*'"),
    (r) => r.length === 1,
  );
  t.equal(c.rejected, String(bad.length), 'each bad line counted rejected');
  t.equal(c.accepted, '3', 'the valid lines accepted');
  const [ext] = e.emu.registered();
  const pong = await new ExtensionClient(ext.socket).ping();
  t.equal(pong.code, 0, 'still answering pings');
  t.ok(e.stderr.join('').includes('rejected a result line'), 'rejections are logged with the reason');
});

t.test('16 concurrent connections × 250 lines: every line accounted for', async (t) => {
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  await e.launch();
  const perConnection = 250;
  let failures = 0;
  await Promise.all(
    Array.from({ length: 16 }, async (_, c) => {
      for (let i = 0; i < perConnection; i++) {
        // every tenth line is malformed, so both counters are exercised under load
        const line = i % 10 === 9 ? `{"name":"broken ${c}-${i}"` : good(c * perConnection + i);
        await e.emu.logResult('anomaly', line).catch(() => failures++);
      }
    }),
  );
  t.equal(failures, 0, 'every call answered 0');
  if (failures) console.error(e.stderr.join(''));
  const [c] = await until(
    () => e.emu.query("SELECT accepted, rejected, queued FROM anomaly_models WHERE subject = '*'"),
    (r) => r[0]?.queued === '0',
  );
  t.equal(Number(c.accepted) + Number(c.rejected), 16 * perConnection, 'accepted + rejected = lines sent');
  t.equal(Number(c.rejected), 16 * (perConnection / 10), 'exactly the malformed ones rejected');
  const [n] = await e.emu.query('SELECT count(*) AS n FROM anomaly_scores');
  t.equal(Number(n.n), 16 * ((perConnection * 9) / 10), 'every accepted row scored and retained');
});
