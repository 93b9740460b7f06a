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

/** a reply carrying a table answer of these rows, as the server writes it */
function answerBytes(rows: Array<Array<[string, string]>>): Buffer {
  const w = new MessageWriter().begin('call', MessageType.REPLY, 9);
  w.field(TType.STRUCT, 0).field(TType.STRUCT, 1).field(TType.I32, 1).i32(0).field(TType.STRING, 2).string('OK').stop();
  w.field(TType.LIST, 2).byte(TType.MAP).i32(rows.length);
  for (const row of rows) {
    w.byte(TType.STRING).byte(TType.STRING).i32(row.length);
    for (const [k, v] of row) w.string(k).string(v);
  }
  return Buffer.concat(w.stop().stop().finish());
}

t.test('a row read at once keeps and reads past exactly what the general way does, whatever the budget', async (t) => {
  const rows = Array.from({ length: 200 }, (_, i): Array<[string, string]> => [
    ['id', `r-${i}`],
    ['note', 'é😀'.repeat(i % 9)],
    ['pad', 'p'.repeat((i * 53) % 400)],
  ]);
  const bytes = answerBytes(rows);
  const oneByOne = (l: ReturnType<typeof limits>) => {
    const got: Message[] = [];
    const r = new MessageReader(l, (m) => got.push(m));
    // a byte at a time no map is ever whole in a chunk: every value is read the general way
    for (let i = 0; i < bytes.length; i++) r.push(bytes.subarray(i, i + 1));
    return got[0];
  };
  for (const maxMessage of [1 << 22, 30_000, 12_345, 500]) {
    for (const maxString of [1 << 20, 300]) {
      const [whole] = readAll([bytes], limits(maxString, maxMessage));
      const general = oneByOne(limits(maxString, maxMessage));
      t.same(whole.args, general.args, `max message ${maxMessage}, max string ${maxString}: the same values`);
      t.equal(whole.readPast, general.readPast, `and the same ${general.readPast} read past`);
    }
  }
  const shared = new ByteBudget(40_000);
  const [a] = readAll([bytes], { maxString: 1 << 20, maxMessage: 1 << 22, shared });
  const b = oneByOne({ maxString: 1 << 20, maxMessage: 1 << 22, shared: new ByteBudget(40_000) });
  t.same(a.args, b.args, 'a shared budget too small for the answer: the same values kept');
  t.equal(a.readPast, b.readPast);
  t.ok(a.readPast > 0, `${a.readPast} read past`);
  t.equal(shared.used, 0, 'the shared budget is given back');
});

t.test("a column name is taken from the previous row only when its bytes are that name's", async (t) => {
  const rows: Array<Array<[string, string]>> = [
    [
      ['é', '1'],
      ['ab', '2'],
    ],
    [
      ['Q', '3'], // becomes the single byte 0xE9 below: not UTF-8, and not 'é' (U+00E9)
      ['ab', '4'],
    ],
    [
      ['ac', '5'],
      ['ab', '6'],
    ],
  ];
  const bytes = answerBytes(rows);
  const at = bytes.indexOf(Buffer.from([0, 0, 0, 1, 0x51, 0, 0, 0, 1, 0x33]));
  t.ok(at > 0);
  bytes[at + 4] = 0xe9;
  const [m] = readAll([bytes]);
  const answer = (m.args.get(0) as Map<number, unknown>).get(2) as Array<Array<[string, string]>>;
  t.same(answer, [
    [
      ['é', '1'],
      ['ab', '2'],
    ],
    [
      ['\ufffd', '3'],
      ['ab', '4'],
    ],
    [
      ['ac', '5'],
      ['ab', '6'],
    ],
  ]);
});

t.test("the writer's bytes are thrift's TBinaryProtocol's, part boundaries and all", async (t) => {
  const values = [
    '',
    'a',
    'é',
    '😀',
    '\u0000',
    'ascii, then é',
    'x'.repeat(63) + '\u0080',
    'x'.repeat(64) + 'é',
    '\ud800 lone',
    'x'.repeat(1020),
    '€'.repeat(1365),
    '€'.repeat(1366),
    'ü'.repeat(40_000),
    '😀'.repeat(300_000),
  ];
  const ints = [0, 1, -1, 0x7fffffff, -0x80000000];
  const longs = [0, 1, -1, 2 ** 32, -(2 ** 32) - 5, 2 ** 53 - 1, -(2 ** 53) + 1];
  const ours = new MessageWriter().begin('call', MessageType.REPLY, 77);
  let theirs = Buffer.alloc(0);
  const trans = new SocketTransport(undefined, (buf?: Buffer) => {
    if (buf) theirs = Buffer.concat([theirs, buf]);
  });
  const p = new thrift.TBinaryProtocol(trans);
  p.writeMessageBegin('call', thrift.Thrift.MessageType.REPLY, 77);
  for (let round = 0; round < 3; round++) {
    for (const [i, v] of values.entries()) {
      ours.field(TType.STRING, i + 1).string(v);
      p.writeFieldBegin('', thrift.Thrift.Type.STRING, i + 1);
      p.writeString(v);
    }
    for (const v of ints) {
      ours.field(TType.I32, 300).i32(v);
      p.writeFieldBegin('', thrift.Thrift.Type.I32, 300);
      p.writeI32(v);
    }
    for (const v of longs) {
      ours.field(TType.I64, -2).i64(v);
      p.writeFieldBegin('', thrift.Thrift.Type.I64, -2);
      p.writeI64(v);
    }
    ours.byte(TType.MAP).byte(-1);
    p.writeByte(TType.MAP);
    p.writeByte(-1);
  }
  ours.stop();
  p.writeFieldStop();
  p.writeMessageEnd();
  p.flush();
  const mine = Buffer.concat(ours.finish());
  t.equal(mine.length, theirs.length);
  t.ok(mine.equals(theirs), 'the same bytes');
});

t.test('a message whole in one chunk is read at once into the same message the general way reads', async (t) => {
  // every field type, nested, with maps and lists of several kinds; hand-built bytes
  const parts: Buffer[] = [];
  const u8 = (...b: number[]) => parts.push(Buffer.from(b));
  const i16 = (v: number) => {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    parts.push(b);
  };
  const i32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    parts.push(b);
  };
  const str = (s: string) => {
    i32(Buffer.byteLength(s));
    parts.push(Buffer.from(s));
  };
  const field = (type: number, id: number) => {
    u8(type);
    i16(id);
  };
  i32(0x80010000 | MessageType.CALL);
  str('call');
  i32(77);
  field(TType.BOOL, 1);
  u8(1);
  field(TType.BYTE, 2);
  u8(0xfe);
  field(TType.I16, -3);
  i16(-1234);
  field(TType.I32, 4);
  i32(-7);
  field(TType.I64, 5);
  parts.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]));
  field(TType.DOUBLE, 6);
  const d = Buffer.alloc(8);
  d.writeDoubleBE(-2.5);
  parts.push(d);
  field(TType.STRUCT, 7);
  field(TType.STRING, 1);
  str('é😀 nested');
  field(TType.MAP, 2);
  u8(TType.I32, TType.STRING);
  i32(2);
  i32(10);
  str('ten');
  i32(20);
  str('');
  u8(TType.STOP);
  field(TType.LIST, 8);
  u8(TType.MAP);
  i32(2);
  for (const v of ['a', 'b']) {
    u8(TType.STRING, TType.STRING);
    i32(2);
    str('k');
    str(v);
    str('same');
    str('same');
  }
  field(TType.SET, 9);
  u8(TType.I32);
  i32(3);
  i32(1);
  i32(2);
  i32(3);
  u8(TType.STOP);
  const bytes = Buffer.concat(parts);
  const general = (l: ReturnType<typeof limits>) => {
    const got: Message[] = [];
    const r = new MessageReader(l, (m) => got.push(m));
    for (let i = 0; i < bytes.length; i++) r.push(bytes.subarray(i, i + 1));
    return got[0];
  };
  const shared = new ByteBudget(1 << 20);
  const got: Message[] = [];
  const whole = new MessageReader({ maxString: 1 << 20, maxMessage: 1 << 22, shared }, (m) => got.push(m));
  whole.push(Buffer.concat([bytes, bytes]));
  t.equal(got.length, 2, 'two messages in one chunk');
  const slow = general(limits());
  t.same(got[0], slow, 'the same name, type, seqid, values, bytes and nothing read past');
  t.same(got[1], slow);
  t.equal(got[0].args.get(5), -2, 'an i64 with its sign');
  t.equal(got[0].args.get(-3), -1234, 'a negative field id and an i16');
  t.equal(whole.bytesRead, 2 * bytes.length, 'each byte read once');
  t.equal(shared.used, 0, 'the budget is given back');
  // budgets that make the general way read past: the whole-chunk read gives way to it
  for (const [maxString, maxMessage] of [
    [5, 1 << 22],
    [1 << 20, 200],
  ]) {
    const out: Message[] = [];
    new MessageReader(limits(maxString, maxMessage), (m) => out.push(m)).push(bytes);
    const ref = general(limits(maxString, maxMessage));
    t.same(out[0], ref, `max string ${maxString}, max message ${maxMessage}: the same message`);
    t.ok(ref.readPast > 0, `${ref.readPast} read past`);
  }
  // a map count larger than the bytes that follow is not trusted: the general way waits
  const cut = bytes.subarray(0, bytes.length - 1);
  const none: Message[] = [];
  const waiting = new MessageReader(limits(), (m) => none.push(m));
  waiting.push(cut);
  t.equal(none.length, 0, 'a message one byte short is not read');
  t.ok(waiting.partial, 'it waits for the rest');
  waiting.push(bytes.subarray(bytes.length - 1));
  t.same(none[0], slow, 'and reads it once the last byte comes');
});
