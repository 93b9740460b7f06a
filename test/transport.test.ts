import * as thrift from 'thrift';
import t from 'tap';
import { SocketTransport } from '../extension/transport';

// The transport's reader must see a message whole however the socket cuts it, and tell
// thrift to wait (not fail) while it is incomplete.

function encode(name: string, seqid: number, text: string): Buffer {
  let out = Buffer.alloc(0);
  const proto = new thrift.TBinaryProtocol(
    new SocketTransport(undefined, (buf?: Buffer) => {
      if (buf) out = Buffer.concat([out, buf]);
    }),
  );
  proto.writeMessageBegin(name, thrift.Thrift.MessageType.CALL, seqid);
  proto.writeStructBegin('args');
  proto.writeFieldBegin('text', thrift.Thrift.Type.STRING, 1);
  proto.writeString(text);
  proto.writeFieldEnd();
  proto.writeFieldStop();
  proto.writeStructEnd();
  proto.writeMessageEnd();
  proto.flush();
  return out;
}

/** what thrift's server does with each chunk: read messages until the data runs out */
function reader(maxLength?: number) {
  const got: Array<{ name: string; seqid: number; text: string }> = [];
  let waits = 0;
  const onData = SocketTransport.receiver(
    (trans) => {
      const proto = new thrift.TBinaryProtocol(trans);
      for (;;) {
        try {
          const head = proto.readMessageBegin();
          proto.readStructBegin();
          proto.readFieldBegin();
          const text = proto.readString();
          proto.readFieldEnd();
          proto.readFieldBegin();
          proto.readStructEnd();
          proto.readMessageEnd();
          trans.commitPosition();
          got.push({ name: head.fname, seqid: head.rseqid, text });
        } catch (err) {
          if (!(err instanceof (thrift as unknown as { InputBufferUnderrunError: new () => Error }).InputBufferUnderrunError)) throw err;
          trans.rollbackPosition();
          waits++;
          return;
        }
      }
    },
    0,
    maxLength,
  );
  return { onData, got, waits: () => waits };
}

t.test('a message cut into single bytes arrives whole', async (t) => {
  const text = 'x'.repeat(5000) + ' ünïcode';
  const msg = encode('call', 7, text);
  const r = reader();
  for (let i = 0; i < msg.length; i++) r.onData(msg.subarray(i, i + 1));
  t.same(r.got, [{ name: 'call', seqid: 7, text }]);
  t.ok(r.waits() >= msg.length - 1, 'every incomplete prefix was a wait, not an error');
});

t.test('two messages in one chunk, then a third split across the next two', async (t) => {
  const a = encode('ping', 1, 'a');
  const b = encode('call', 2, 'b'.repeat(3000));
  const c = encode('call', 3, 'c');
  const r = reader();
  r.onData(Buffer.concat([a, b, c.subarray(0, 5)]));
  r.onData(c.subarray(5));
  t.same(
    r.got.map((m) => m.seqid),
    [1, 2, 3],
  );
  t.equal(r.got[1].text.length, 3000);
});

t.test('a message over the limit is refused', async (t) => {
  const r = reader(1000);
  t.throws(() => r.onData(encode('call', 1, 'y'.repeat(2000))), /larger than the maximum allowed 1000 bytes/);
});
