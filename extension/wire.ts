// Thrift's binary protocol, read incrementally: the extension server reads calls with it, and
// the clients (extension/client.ts) read replies. thrift's own
// server re-parses a message from its first byte every time a chunk arrives, so a client that
// dribbles a large map in small chunks costs quadratic time on the event loop, and a message
// over its frame cap closes the connection unanswered (osqueryd takes that as a failed
// logger). This reader consumes every byte once, keeps at most a budget of string bytes per
// message, and reads past (discards) any string over the budget so the call still gets an
// answer.

export enum TType {
  STOP = 0,
  BOOL = 2,
  BYTE = 3,
  DOUBLE = 4,
  I16 = 6,
  I32 = 8,
  I64 = 10,
  STRING = 11,
  STRUCT = 12,
  MAP = 13,
  SET = 14,
  LIST = 15,
}

export enum MessageType {
  CALL = 1,
  REPLY = 2,
  EXCEPTION = 3,
  ONEWAY = 4,
}

const VERSION_1 = 0x80010000 | 0;
const VERSION_MASK = 0xffff0000 | 0;
const MAX_DEPTH = 16;
/**
 * bytes of a method name: the services' longest is 19 (deregisterExtension). A name is
 * waited for whole before it is read, so a longer one held its bytes outside the budgets
 */
const MAX_NAME = 256;

/** a string that was read past instead of kept: its size is all that is known */
export class Oversize {
  constructor(readonly bytes: number) {}
}

export type Value = number | boolean | string | Oversize | Value[] | Array<[Value, Value]> | Map<number, Value> | null;

export interface Message {
  name: string;
  type: number;
  seqid: number;
  /** argument struct: field id → value */
  args: Map<number, Value>;
  /** bytes on the wire */
  bytes: number;
  /** strings and container entries read past to stay within the limits (0: the message is whole) */
  readPast: number;
  /**
   * what reading it charged to the shared budget, given back as it is handed over: a server
   * that keeps the message waiting takes it again (extension/server.ts)
   */
  charged: number;
}

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** bytes a message may keep, shared by the connections of one server */
export class ByteBudget {
  used = 0;
  /**
   * Asked to free at least `need` bytes held by readers other than `reader` when a take does
   * not fit (extension/server.ts closes the connections whose unfinished requests hold the
   * budget, least recently active first). A length is charged when it is read, before its
   * bytes come: without this, a few connections that declared large strings and sent no more
   * held the whole budget, and every other request, osqueryd's pings and result lines among
   * them, was read past or dropped.
   */
  reclaim: ((need: number, reader: MessageReader) => void) | null = null;
  constructor(readonly max: number) {}
  take(n: number, reader?: MessageReader): boolean {
    if (this.used + n > this.max) {
      if (!this.reclaim || !reader || n > this.max) return false;
      this.reclaim(this.used + n - this.max, reader);
      if (this.used + n > this.max) return false;
    }
    this.used += n;
    return true;
  }
  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}

export interface ReaderLimits {
  /** a single string longer than this is read past */
  maxString: number;
  /** string bytes one message may keep; later strings are read past */
  maxMessage: number;
  /** shared by all connections */
  shared: ByteBudget;
}

/** what a container entry costs in memory beyond its string bytes */
const ENTRY_OVERHEAD = 32;
/** column names and values kept to compare with the next row's: this many, of at most this many bytes */
const KEYS_KEPT = 64;
/** quickMessage's place in its chunk, and the bytes it would charge to the budget */
interface Scan {
  c: Buffer;
  p: number;
  cost: number;
}

/** what MessageReader.quick returns when the value must be read the general way */
const NOT_HERE = Symbol('not here');
const EMPTY: Buffer = Buffer.alloc(0);

/**
 * Feed it chunks as they arrive; it calls `onMessage` for each complete message and throws
 * ProtocolError on bytes that are not a Thrift binary message (the caller drops the
 * connection: no answer is possible without a sequence id).
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private offset = 0;
  private available = 0;
  private parser: Generator<void, Message, void> | null = null;
  /** string bytes kept by the message being read */
  private kept = 0;
  private consumed = 0;
  private readPast = 0;
  /**
   * the short keys and values of the maps read at once, by position: a table answer repeats
   * its column names every row, and often a column's value
   */
  private readonly keys: string[] = [];
  private readonly values: string[] = [];
  /** bytes taken from the stream over the reader's life: each byte is read once */
  bytesRead = 0;

  /**
   * the limits, copied into an object of one shape: callers build them differently (a literal,
   * a spread), and the row reader's optimised code was thrown away at each new shape
   */
  private readonly limits: ReaderLimits;

  constructor(
    limits: ReaderLimits,
    private readonly onMessage: (m: Message) => void,
  ) {
    this.limits = { maxString: limits.maxString, maxMessage: limits.maxMessage, shared: limits.shared };
  }

  /** bytes received and not yet part of a complete message */
  get buffered(): number {
    return this.available;
  }

  /** whether a message has started and not finished */
  get partial(): boolean {
    return this.parser !== null;
  }

  /** bytes of the shared budget the unfinished message holds */
  get held(): number {
    return this.kept;
  }

  push(chunk: Buffer): void {
    if (!chunk.length) return;
    this.chunks.push(chunk);
    this.available += chunk.length;
    while (this.available > 0) {
      if (!this.parser) {
        const whole = this.quickMessage();
        if (whole !== NOT_HERE) {
          this.onMessage(whole);
          continue;
        }
        this.consumed = 0;
        this.readPast = 0;
        this.parser = this.message();
      }
      const step = this.parser.next();
      if (!step.done) return; // waiting for more bytes
      this.parser = null;
      const m = step.value;
      this.release();
      this.onMessage(m);
    }
  }

  /** give back what the unfinished message kept (connection closed) */
  release(): void {
    this.limits.shared.give(this.kept);
    this.kept = 0;
  }

  private *need(n: number): Generator<void, void, void> {
    while (this.available < n) yield;
  }

  private take(n: number): Buffer {
    // an empty string at the very end of a chunk: nothing to take, and maybe no chunk left
    if (n === 0) return EMPTY;
    this.available -= n;
    this.consumed += n;
    this.bytesRead += n;
    const first = this.chunks[0];
    if (first.length - this.offset >= n) {
      const out = first.subarray(this.offset, this.offset + n);
      this.offset += n;
      if (this.offset === first.length) {
        this.chunks.shift();
        this.offset = 0;
      }
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0];
      const k = Math.min(n - filled, c.length - this.offset);
      c.copy(out, filled, this.offset, this.offset + k);
      filled += k;
      this.offset += k;
      if (this.offset === c.length) {
        this.chunks.shift();
        this.offset = 0;
      }
    }
    return out;
  }

  private *skip(n: number): Generator<void, void, void> {
    while (n > 0) {
      yield* this.need(1);
      const c = this.chunks[0];
      const k = Math.min(n, c.length - this.offset);
      this.take(k);
      n -= k;
    }
  }

  private *i32(): Generator<void, number, void> {
    yield* this.need(4);
    return this.take(4).readInt32BE(0);
  }

  private *byte(): Generator<void, number, void> {
    yield* this.need(1);
    return this.take(1).readInt8(0);
  }

  private *string(): Generator<void, string | Oversize, void> {
    const len = yield* this.i32();
    if (len < 0) throw new ProtocolError(`negative string length ${len}`);
    const cost = len + ENTRY_OVERHEAD;
    if (len > this.limits.maxString || this.kept + cost > this.limits.maxMessage || !this.limits.shared.take(cost, this)) {
      yield* this.skip(len);
      this.readPast++;
      return new Oversize(len);
    }
    this.kept += cost;
    yield* this.need(len);
    return this.take(len).toString('utf8');
  }

  private *message(): Generator<void, Message, void> {
    const first = yield* this.i32();
    let name: string;
    let type: number;
    if (first < 0) {
      if ((first & VERSION_MASK) !== VERSION_1) throw new ProtocolError(`bad protocol version 0x${(first >>> 0).toString(16)}`);
      type = first & 0xff;
      name = yield* this.methodName(yield* this.i32());
    } else {
      // the old non-strict form: the name's length comes first
      name = yield* this.methodName(first);
      type = yield* this.byte();
    }
    const seqid = yield* this.i32();
    const args = yield* this.struct(0);
    return { name, type, seqid, args, bytes: this.consumed, readPast: this.readPast, charged: this.kept };
  }

  /** a method name of `len` bytes: short, so never charged nor read past */
  private *methodName(len: number): Generator<void, string, void> {
    // 16 MB names, sent but for their last byte by 48 connections, held 720 MB of chunks
    if (len < 0) throw new ProtocolError(`negative string length ${len}`);
    if (len > MAX_NAME) throw new ProtocolError(`method name of ${len} bytes`);
    yield* this.need(len);
    return this.take(len).toString('utf8');
  }

  private *struct(depth: number): Generator<void, Map<number, Value>, void> {
    if (depth > MAX_DEPTH) throw new ProtocolError('nested too deeply');
    const fields = new Map<number, Value>();
    for (;;) {
      const type = yield* this.byte();
      if (type === TType.STOP) return fields;
      yield* this.need(2);
      const id = this.take(2).readInt16BE(0);
      fields.set(id, yield* this.value(type, depth + 1));
    }
  }

  private *value(type: number, depth: number): Generator<void, Value, void> {
    switch (type) {
      case TType.BOOL:
        return (yield* this.byte()) !== 0;
      case TType.BYTE:
        return yield* this.byte();
      case TType.I16:
        yield* this.need(2);
        return this.take(2).readInt16BE(0);
      case TType.I32:
        return yield* this.i32();
      case TType.I64: {
        yield* this.need(8);
        const b = this.take(8);
        return b.readInt32BE(0) * 0x100000000 + b.readUInt32BE(4);
      }
      case TType.DOUBLE:
        yield* this.need(8);
        return this.take(8).readDoubleBE(0);
      case TType.STRING:
        return yield* this.string();
      case TType.STRUCT:
        return yield* this.struct(depth);
      case TType.MAP: {
        if (depth > MAX_DEPTH) throw new ProtocolError('nested too deeply');
        const whole = this.quickMap();
        if (whole !== NOT_HERE) return whole;
        const kt = yield* this.byte();
        const vt = yield* this.byte();
        const n = yield* this.i32();
        if (n < 0) throw new ProtocolError(`negative map size ${n}`);
        const out: Array<[Value, Value]> = [];
        for (let i = 0; i < n; i++) {
          let k = this.quick(kt);
          if (k === NOT_HERE) k = yield* this.value(kt, depth + 1);
          let v = this.quick(vt);
          if (v === NOT_HERE) v = yield* this.value(vt, depth + 1);
          if (this.keep()) out.push([k, v]);
        }
        return out;
      }
      case TType.SET:
      case TType.LIST: {
        if (depth > MAX_DEPTH) throw new ProtocolError('nested too deeply');
        const et = yield* this.byte();
        const n = yield* this.i32();
        if (n < 0) throw new ProtocolError(`negative list size ${n}`);
        const out: Value[] = [];
        for (let i = 0; i < n; i++) {
          // a table answer's rows: each map read at once when it lies whole in the chunk
          let v = et === TType.MAP && depth + 1 <= MAX_DEPTH ? this.quickMap() : this.quick(et);
          if (v === NOT_HERE) v = yield* this.value(et, depth + 1);
          if (this.keep()) out.push(v);
        }
        return out;
      }
      default:
        throw new ProtocolError(`unknown field type ${type}`);
    }
  }

  /**
   * A string or i32 that lies whole in the first chunk, read without a generator: the common
   * case, and a generator per value made a large answer cost microseconds per field. Anything
   * else (other types, a value split across chunks, a string over a limit) is NOT_HERE and
   * goes the general way, which reads the same bytes the same way.
   */
  private quick(type: number): Value | typeof NOT_HERE {
    const c = this.chunks[0];
    if (!c) return NOT_HERE;
    const at = this.offset;
    if (type === TType.I32) {
      if (at + 4 > c.length) return NOT_HERE;
      const v = c.readInt32BE(at);
      this.advance(c, 4);
      return v;
    }
    if (type !== TType.STRING || at + 4 > c.length) return NOT_HERE;
    const len = c.readInt32BE(at);
    const cost = len + ENTRY_OVERHEAD;
    if (len < 0 || at + 4 + len > c.length || len > this.limits.maxString || this.kept + cost > this.limits.maxMessage || !this.limits.shared.take(cost, this))
      return NOT_HERE;
    this.kept += cost;
    const v = utf8(c, at + 4, at + 4 + len);
    this.advance(c, 4 + len);
    return v;
  }

  /**
   * A map<string,string> (a table row, a call's request) that lies whole in the first chunk
   * and within the limits, read without a generator: the general way reads a map with
   * several generators per entry. It checks first, then takes: the map's strings and entries
   * are charged at once, the same total the general way charges one by one, so when the
   * total fits, each of them would have. Anything else is NOT_HERE and nothing is consumed.
   */
  private quickMap(): Value | typeof NOT_HERE {
    const c = this.chunks[0];
    if (!c) return NOT_HERE;
    const at = this.offset;
    if (at + 6 > c.length || c[at] !== TType.STRING || c[at + 1] !== TType.STRING) return NOT_HERE;
    const n = int32(c, at + 2);
    if (n < 0) return NOT_HERE;
    const { maxString, maxMessage } = this.limits;
    let p = at + 6;
    let cost = n * ENTRY_OVERHEAD;
    for (let i = 0; i < 2 * n; i++) {
      if (p + 4 > c.length) return NOT_HERE;
      const len = int32(c, p);
      if (len < 0 || len > maxString) return NOT_HERE;
      cost += len + ENTRY_OVERHEAD;
      p += 4 + len;
      if (p > c.length) return NOT_HERE;
    }
    if (this.kept + cost > maxMessage || !this.limits.shared.take(cost, this)) return NOT_HERE;
    this.kept += cost;
    const out: Array<[Value, Value]> = new Array(n);
    const keys = this.keys;
    const values = this.values;
    p = at + 6;
    for (let i = 0; i < n; i++) {
      const kl = int32(c, p);
      let k = i < KEYS_KEPT ? sameKey(keys[i], c, p + 4, kl) : undefined;
      if (k === undefined) {
        k = utf8(c, p + 4, p + 4 + kl);
        if (i < KEYS_KEPT && kl <= KEYS_KEPT) keys[i] = k;
      }
      p += 4 + kl;
      const vl = int32(c, p);
      // values repeat down a column too (a host, a verdict, a model)
      let v = i < KEYS_KEPT ? sameKey(values[i], c, p + 4, vl) : undefined;
      if (v === undefined) {
        v = utf8(c, p + 4, p + 4 + vl);
        if (i < KEYS_KEPT && vl <= KEYS_KEPT) values[i] = v;
      }
      out[i] = [k, v];
      p += 4 + vl;
    }
    this.advance(c, p - at);
    return out;
  }

  /**
   * A message that lies whole in the first chunk and within the limits, read without a
   * generator: osqueryd writes a call at once, and the general way made a generator per
   * field (6 kB of garbage a logger call). The same values, the same budget: the strings and
   * entries are charged in one sum, which fits only if each charge the general way makes
   * would have, and given back at once as the general way does when a message ends.
   * Anything else (a message not all there yet, a string over a limit, bytes the general way
   * refuses) is NOT_HERE, nothing is consumed, and the general way reads it from its start.
   */
  private quickMessage(): Message | typeof NOT_HERE {
    const c = this.chunks[0];
    if (!c) return NOT_HERE;
    const q = this.scan;
    q.c = c;
    q.p = this.offset;
    q.cost = 0;
    const m = this.quickMessageIn(q);
    q.c = EMPTY; // not kept past the call
    return m;
  }

  private quickMessageIn(q: Scan): Message | typeof NOT_HERE {
    const c = q.c;
    if (q.p + 4 > c.length) return NOT_HERE;
    const first = int32(c, q.p);
    // the old non-strict form and a bad version: the general way reads or refuses them
    if (first >= 0 || (first & VERSION_MASK) !== VERSION_1) return NOT_HERE;
    q.p += 4;
    // (a name the general way refuses is refused there)
    if (q.p + 4 <= c.length && int32(c, q.p) > MAX_NAME) return NOT_HERE;
    const name = this.quickString(q);
    if (name === NOT_HERE || q.p + 4 > c.length) return NOT_HERE;
    q.cost = 0; // a name is not charged (methodName)
    const seqid = int32(c, q.p);
    q.p += 4;
    const args = this.quickStruct(q, 0);
    if (args === NOT_HERE) return NOT_HERE;
    const { maxMessage, shared } = this.limits;
    if (this.kept + q.cost > maxMessage || !shared.take(q.cost, this)) return NOT_HERE;
    shared.give(q.cost);
    const bytes = q.p - this.offset;
    this.advance(c, bytes);
    return { name, type: first & 0xff, seqid, args, bytes, readPast: 0, charged: q.cost };
  }

  /** where quickMessage is in its chunk, and what it would charge: one object, reused */
  private readonly scan: Scan = { c: EMPTY, p: 0, cost: 0 };

  private quickString(q: Scan): string | typeof NOT_HERE {
    const c = q.c;
    if (q.p + 4 > c.length) return NOT_HERE;
    const len = int32(c, q.p);
    if (len < 0 || len > this.limits.maxString || q.p + 4 + len > c.length) return NOT_HERE;
    q.cost += len + ENTRY_OVERHEAD;
    const v = utf8(c, q.p + 4, q.p + 4 + len);
    q.p += 4 + len;
    return v;
  }

  private quickStruct(q: Scan, depth: number): Map<number, Value> | typeof NOT_HERE {
    if (depth > MAX_DEPTH) return NOT_HERE;
    const c = q.c;
    const fields = new Map<number, Value>();
    for (;;) {
      if (q.p + 1 > c.length) return NOT_HERE;
      const type = c[q.p];
      if (type === TType.STOP) {
        q.p += 1;
        return fields;
      }
      if (q.p + 3 > c.length) return NOT_HERE;
      const id = (((c[q.p + 1] << 8) | c[q.p + 2]) << 16) >> 16;
      q.p += 3;
      const v = this.quickValue(q, type, depth + 1);
      if (v === NOT_HERE) return NOT_HERE;
      fields.set(id, v);
    }
  }

  private quickValue(q: Scan, type: number, depth: number): Value | typeof NOT_HERE {
    const c = q.c;
    const at = q.p;
    switch (type) {
      case TType.STRING:
        return this.quickString(q);
      case TType.I32:
        if (at + 4 > c.length) return NOT_HERE;
        q.p += 4;
        return int32(c, at);
      case TType.BOOL:
      case TType.BYTE:
        if (at + 1 > c.length) return NOT_HERE;
        q.p += 1;
        return type === TType.BOOL ? c[at] !== 0 : (c[at] << 24) >> 24;
      case TType.I16:
        if (at + 2 > c.length) return NOT_HERE;
        q.p += 2;
        return (((c[at] << 8) | c[at + 1]) << 16) >> 16;
      case TType.I64:
        if (at + 8 > c.length) return NOT_HERE;
        q.p += 8;
        return int32(c, at) * 0x100000000 + (int32(c, at + 4) >>> 0);
      case TType.DOUBLE:
        if (at + 8 > c.length) return NOT_HERE;
        q.p += 8;
        return c.readDoubleBE(at);
      case TType.STRUCT:
        return this.quickStruct(q, depth);
      case TType.MAP: {
        if (depth > MAX_DEPTH || at + 6 > c.length) return NOT_HERE;
        const kt = c[at];
        const vt = c[at + 1];
        const n = int32(c, at + 2);
        // a count the bytes left cannot hold is refused or waited for the general way
        if (n < 0 || n > c.length - at) return NOT_HERE;
        q.p += 6;
        const out: Array<[Value, Value]> = new Array(n);
        const strings = kt === TType.STRING && vt === TType.STRING;
        for (let i = 0; i < n; i++) {
          const k = strings ? this.quickCached(q, this.keys, i) : this.quickValue(q, kt, depth + 1);
          if (k === NOT_HERE) return NOT_HERE;
          const v = strings ? this.quickCached(q, this.values, i) : this.quickValue(q, vt, depth + 1);
          if (v === NOT_HERE) return NOT_HERE;
          q.cost += ENTRY_OVERHEAD;
          out[i] = [k, v];
        }
        return out;
      }
      case TType.SET:
      case TType.LIST: {
        if (depth > MAX_DEPTH || at + 5 > c.length) return NOT_HERE;
        const et = c[at];
        const n = int32(c, at + 1);
        if (n < 0 || n > c.length - at) return NOT_HERE;
        q.p += 5;
        const out: Value[] = new Array(n);
        for (let i = 0; i < n; i++) {
          const v = this.quickValue(q, et, depth + 1);
          if (v === NOT_HERE) return NOT_HERE;
          q.cost += ENTRY_OVERHEAD;
          out[i] = v;
        }
        return out;
      }
      default:
        return NOT_HERE;
    }
  }

  /** a map's string at position `i`, taken from `cache` when its bytes are the cached one's (quickMap) */
  private quickCached(q: Scan, cache: string[], i: number): string | typeof NOT_HERE {
    if (i >= KEYS_KEPT) return this.quickString(q);
    const c = q.c;
    if (q.p + 4 > c.length) return NOT_HERE;
    const len = int32(c, q.p);
    if (len < 0 || len > this.limits.maxString || q.p + 4 + len > c.length) return NOT_HERE;
    let v = sameKey(cache[i], c, q.p + 4, len);
    if (v === undefined) {
      v = utf8(c, q.p + 4, q.p + 4 + len);
      if (len <= KEYS_KEPT) cache[i] = v;
    }
    q.cost += len + ENTRY_OVERHEAD;
    q.p += 4 + len;
    return v;
  }

  /** consume `n` bytes known to lie in the first chunk `c` */
  private advance(c: Buffer, n: number): void {
    this.available -= n;
    this.consumed += n;
    this.bytesRead += n;
    this.offset += n;
    if (this.offset === c.length) {
      this.chunks.shift();
      this.offset = 0;
    }
  }

  /** charge a container entry; past the budget entries are read and dropped */
  private keep(): boolean {
    if (this.kept + ENTRY_OVERHEAD > this.limits.maxMessage || !this.limits.shared.take(ENTRY_OVERHEAD, this)) {
      this.readPast++;
      return false;
    }
    this.kept += ENTRY_OVERHEAD;
    return true;
  }
}

/**
 * `key` when the `len` bytes at `at` are its UTF-8 (an ASCII name, compared byte by byte,
 * which costs less than decoding it again); else undefined
 */
function sameKey(key: string | undefined, c: Buffer, at: number, len: number): string | undefined {
  if (key === undefined || key.length !== len) return undefined;
  for (let i = 0; i < len; i++) {
    const ch = key.charCodeAt(i);
    if (ch >= 0x80 || ch !== c[at + i]) return undefined;
  }
  return key;
}

/** a big-endian i32 known to lie in `c`, without readInt32BE's checks */
function int32(c: Buffer, at: number): number {
  return (c[at] << 24) | (c[at + 1] << 16) | (c[at + 2] << 8) | c[at + 3];
}

/** Buffer's own UTF-8 reader without `toString`'s argument handling (undocumented, in every Node release) */
interface Utf8Reader {
  utf8Slice(start: number, end: number): string;
}
const utf8: (b: Buffer, start: number, end: number) => string =
  typeof (Buffer.prototype as unknown as Partial<Utf8Reader>).utf8Slice === 'function'
    ? (b, start, end) => (b as unknown as Utf8Reader).utf8Slice(start, end)
    : (b, start, end) => b.toString('utf8', start, end);

/** Buffer's own UTF-8 writer without `Buffer.write`'s argument checks (in every Node release, undocumented) */
interface Utf8Writer {
  utf8Write(s: string, offset: number): number;
}
const writeUtf8: (b: Buffer, s: string, at: number) => number =
  typeof (Buffer.prototype as unknown as Partial<Utf8Writer>).utf8Write === 'function'
    ? (b, s, at) => (b as unknown as Utf8Writer).utf8Write(s, at)
    : (b, s, at) => b.write(s, at, 'utf8');

/** strings up to this many UTF-16 units are tried as ASCII first */
const SHORT_ASCII = 64;

/** `s` as ASCII bytes at `at`, and its length; -1 (with some bytes written) if it is not ASCII */
function writeAscii(b: Buffer, s: string, at: number): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return -1;
    b[at + i] = c;
  }
  return n;
}

/**
 * `s` as UTF-8 at `at` in `b`, which has room for 3 bytes per UTF-16 unit; the bytes written.
 * A short ASCII string is copied in JavaScript: most of a table's values and all its column
 * names are, and a call into Buffer's C++ costs more than copying them.
 */
export function encodeInto(b: Buffer, s: string, at: number): number {
  const len = s.length <= SHORT_ASCII ? writeAscii(b, s, at) : -1;
  return len < 0 ? writeUtf8(b, s, at) : len;
}

/** the first part of a writer, unless told otherwise: a ping's or a logger's whole reply */
const FIRST_PART = 1024;
/** a string this long at most (3 bytes a unit) gets a new part rather than be measured first */
const SHORT = 4096;
/** parts grow by doubling up to this, so a large answer is a few buffers, not many */
const MAX_PART = 1024 * 1024;

/**
 * A message, written into a list of buffers so a large answer is never one huge string or
 * one huge buffer. The bytes are exactly those of thrift's TBinaryProtocol (strict, version
 * 1), written straight into parts allocated ahead rather than a Buffer per field
 * (`test/wire.test.ts` compares them with thrift's own encoder).
 */
export class MessageWriter {
  private readonly parts: Buffer[] = [];
  private cur: Buffer;
  private pos = 0;
  private next: number;
  /** where `count()` left room for an i32 that `setCount()` fills */
  private markBuf: Buffer | null = null;
  private markAt = 0;
  size = 0;

  /** `first`: bytes of the first part (more are added as needed) */
  constructor(first = FIRST_PART) {
    this.cur = Buffer.allocUnsafe(first);
    this.next = Math.min(MAX_PART, first * 2);
  }

  private room(n: number): void {
    if (this.pos + n <= this.cur.length) return;
    this.flushPart();
    this.cur = Buffer.allocUnsafe(Math.max(this.next, n));
    this.next = Math.min(MAX_PART, this.next * 2);
  }

  private flushPart(): void {
    if (!this.pos) return;
    this.parts.push(this.cur.subarray(0, this.pos));
    this.cur = this.cur.subarray(this.pos);
    this.pos = 0;
  }

  begin(name: string, type: MessageType, seqid: number): this {
    this.i32(VERSION_1 | type);
    this.string(name);
    return this.i32(seqid);
  }

  byte(v: number): this {
    this.room(1);
    this.cur[this.pos++] = v & 0xff;
    this.size += 1;
    return this;
  }

  i32(v: number): this {
    this.room(4);
    put32(this.cur, this.pos, v);
    this.pos += 4;
    this.size += 4;
    return this;
  }

  i64(v: number): this {
    this.room(8);
    put32(this.cur, this.pos, Math.floor(v / 0x100000000));
    put32(this.cur, this.pos + 4, v >>> 0);
    this.pos += 8;
    this.size += 8;
    return this;
  }

  field(type: TType, id: number): this {
    this.room(3);
    const b = this.cur;
    const at = this.pos;
    b[at] = type;
    b[at + 1] = (id >> 8) & 0xff;
    b[at + 2] = id & 0xff;
    this.pos += 3;
    this.size += 3;
    return this;
  }

  stop(): this {
    return this.byte(TType.STOP);
  }

  string(s: string): this {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: when that much fits the part at hand, the
    // string is written at once and its length put before it, instead of measured first
    const most = 4 + 3 * s.length;
    if (most <= SHORT && this.pos + most > this.cur.length) this.room(most);
    if (this.pos + most <= this.cur.length) {
      const len = encodeInto(this.cur, s, this.pos + 4);
      put32(this.cur, this.pos, len);
      this.pos += 4 + len;
      this.size += 4 + len;
      return this;
    }
    const len = Buffer.byteLength(s);
    this.i32(len);
    this.room(len);
    this.cur.write(s, this.pos, 'utf8');
    this.pos += len;
    this.size += len;
    return this;
  }

  /** leave room for an i32 count not known yet (a map's entries); `setCount` fills it */
  count(): this {
    if (this.markBuf) throw new Error('MessageWriter: a count is already open');
    this.room(4);
    this.markBuf = this.cur;
    this.markAt = this.pos;
    this.pos += 4;
    this.size += 4;
    return this;
  }

  setCount(n: number): this {
    if (!this.markBuf) throw new Error('MessageWriter: no count open');
    // the part may have been cut off since: the subarray in `parts` shares these bytes
    put32(this.markBuf, this.markAt, n);
    this.markBuf = null;
    return this;
  }

  /** splice a writer's bytes in (a list's elements written before its count was known) */
  append(other: MessageWriter): this {
    this.flushPart();
    for (const p of other.finish()) this.parts.push(p);
    this.size += other.size;
    return this;
  }

  finish(): Buffer[] {
    this.flushPart();
    return this.parts;
  }
}

/** a big-endian i32 (two's complement, as writeInt32BE) without Buffer's range checks */
function put32(b: Buffer, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}
