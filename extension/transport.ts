import * as thrift from 'thrift';

// osqueryd's wire format is Thrift's buffered (unframed) transport, and thrift's own
// TBufferedTransport speaks it. This subclass only removes two costs that osqueryd's habit of
// a new connection per call turns into the main cost of a logger call:
// - after each message the reader is asked for the next one and signals "no more bytes yet"
//   by throwing a new Error, which captures a stack trace every time;
// - each committed message allocates a fresh zeroed input buffer even when nothing is left.
// Same bytes on the wire, same interface; thrift's server and connection code drive it.

/** thrown (one shared instance) when a message is not complete yet; thrift checks instanceof */
const { InputBufferUnderrunError } = thrift as unknown as { InputBufferUnderrunError: new (message?: string) => Error };
const WAIT_FOR_MORE = new InputBufferUnderrunError('waiting for the rest of the message');
const FIRST_READ_BUFFER = 1024;

/** the fields of thrift's TBufferedTransport this subclass touches (not in @types/thrift) */
interface BufferedState {
  inBuf: Buffer;
  readCursor: number;
  writeCursor: number;
}

export class SocketTransport extends thrift.TBufferedTransport {
  static override receiver(callback: (trans: SocketTransport, seqid: number) => void, seqid: number, maxLength?: number): (data: Buffer) => void {
    const reader = new SocketTransport();
    const state = reader as unknown as BufferedState;
    return (data: Buffer) => {
      const required = state.writeCursor + data.length;
      if (maxLength && required > maxLength) throw new Error(`Received message larger than the maximum allowed ${maxLength} bytes`);
      if (required > state.inBuf.length) {
        let size = Math.max(state.inBuf.length, FIRST_READ_BUFFER);
        while (size < required) size *= 2;
        if (maxLength && size > maxLength) size = maxLength;
        const grown = Buffer.allocUnsafe(size);
        state.inBuf.copy(grown, 0, 0, state.writeCursor);
        state.inBuf = grown;
      }
      data.copy(state.inBuf, state.writeCursor, 0);
      state.writeCursor += data.length;
      callback(reader, seqid);
    };
  }

  override ensureAvailable(len: number): void {
    const state = this as unknown as BufferedState;
    if (state.readCursor + len > state.writeCursor) throw WAIT_FOR_MORE;
  }

  override commitPosition(): void {
    const state = this as unknown as BufferedState;
    if (state.readCursor === state.writeCursor) {
      // the usual case: the message was all there was; keep the buffer
      state.readCursor = 0;
      state.writeCursor = 0;
      return;
    }
    super.commitPosition();
  }
}
