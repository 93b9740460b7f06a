import * as thrift from 'thrift';
import t from 'tap';
import { ByteBudget, MessageReader, MessageType, MessageWriter, Oversize, TType, type Message } from '../extension/wire';
import { SocketTransport } from '../extension/transport';
import { callBytes } from './helpers/raw';

// The server's incremental reader: any cut of the bytes gives the same message, each byte is
// read once however the message is dribbled, strings over the budget are read past (the call
// can still be answered), and bytes that are not a Thrift message are refused.

const limits = (maxString = 1 << 20, maxMessage = 1 << 22) => ({ maxString, maxMessage, shared: new ByteBudget(1 << 30) });

function readAll(chunks: Buffer[], l = limits()): Message[] {
  const got: Message[] = [];
  const r = new MessageReader(l, (m) => got.push(m));
  for (const c of chunks) r.push(c);
  return got;
}

t.test('same message whatever the cut, each byte read once', async (t) => {
  const bytes = callBytes('logger', 'anomaly', { string: 'x'.repeat(50_000), category: 'event' }, 42);
  const whole = readAll([bytes]);
  t.equal(whole.length, 1);
  t.equal(whole[0].name, 'call');
  t.equal(whole[0].seqid, 42);
  t.same(whole[0].args.get(3), [
    ['string', 'x'.repeat(50_000)],
    ['category', 'event'],
  ]);
  const got: Message[] = [];
  const r = new MessageReader(limits(), (m) => got.push(m));
  for (let i = 0; i < bytes.length; i += 7) r.push(bytes.subarray(i, i + 7));
  t.same(got[0].args, whole[0].args, 'seven bytes at a time');
  t.equal(r.bytesRead, bytes.length, 'every byte was read exactly once (no re-parse per chunk)');
  const two = readAll([Buffer.concat([bytes, bytes.subarray(0, 10)]), bytes.subarray(10)]);
  t.equal(two.length, 2, 'two messages back to back, the second split');
});

t.test("thrift's own client bytes are read", async (t) => {
  let out = Buffer.alloc(0);
  const trans = new SocketTransport(undefined, (buf?: Buffer) => {
    if (buf) out = Buffer.concat([out, buf]);
  });
  const client = new (require('../extension/gen/Extension').Client)(trans, thrift.TBinaryProtocol);
  client.call('table', 'anomaly_scores', { action: 'generate', context: '{}' }, () => undefined);
  const [m] = readAll([out]);
  t.equal(m.name, 'call');
  t.same(m.args.get(3), [
    ['action', 'generate'],
    ['context', '{}'],
  ]);
});

t.test('strings over the budget are read past, not kept', async (t) => {
  const bytes = callBytes('logger', 'anomaly', { string: 'y'.repeat(100_000), category: 'event' });
  const [m] = readAll([bytes], limits(10_000));
  const map = m.args.get(3) as Array<[unknown, unknown]>;
  t.type(map[0][1], Oversize);
  t.equal((map[0][1] as Oversize).bytes, 100_000, 'its size is known');
  t.same(map[1], ['category', 'event'], 'the rest of the message is intact');
  const shared = new ByteBudget(5000);
  const [m2] = readAll([bytes], { maxString: 1 << 20, maxMessage: 1 << 20, shared });
  t.type((m2.args.get(3) as Array<[unknown, unknown]>)[0][1], Oversize, 'the shared budget bounds it too');
  t.equal(shared.used, 0, 'and is given back once the message is read');
});

t.test('bytes that are not a message are refused', async (t) => {
  t.throws(() => readAll([Buffer.from('GET / HTTP/1.1\r\n\r\n')]), { name: 'ProtocolError' });
  const bad = callBytes('a', 'b', {});
  bad.writeInt32BE(-5, 4); // a negative name length
  t.throws(() => readAll([bad]), { name: 'ProtocolError', message: /negative string length/ });
});

t.test('a table answer reads the same whatever the cut: values whole in a chunk and values split across chunks', async (t) => {
  const rows = Array.from({ length: 300 }, (_, i) => ({ id: `r-${i}`, note: 'é😀'.repeat(i % 7), n: String(i) }));
  const w = new MessageWriter().begin('call', MessageType.REPLY, 9);
  w.field(TType.STRUCT, 0).field(TType.STRUCT, 1).field(TType.I32, 1).i32(0).field(TType.STRING, 2).string('OK').stop();
  w.field(TType.LIST, 2).byte(TType.MAP).i32(rows.length);
  for (const row of rows) {
    w.byte(TType.STRING).byte(TType.STRING).i32(3);
    for (const [k, v] of Object.entries(row)) w.string(k).string(v);
  }
  const bytes = Buffer.concat(w.stop().stop().finish());
  const [whole] = readAll([bytes]);
  const answer = (whole.args.get(0) as Map<number, unknown>).get(2) as Array<Array<[string, string]>>;
  t.same(
    answer.map((r) => Object.fromEntries(r)),
    rows,
    'every row, every multibyte character',
  );
  for (const step of [1, 5, 333, 4096]) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += step) chunks.push(bytes.subarray(i, i + step));
    t.same(readAll(chunks)[0].args, whole.args, `cut every ${step} bytes`);
  }
});
