import * as net from 'net';
import type * as ExtensionGen from './gen/Extension';
import type * as ManagerGen from './gen/ExtensionManager';
import type * as TypesGen from './gen/osquery_types';
import { sunPathProblem } from './sun-path';
import { ByteBudget, MessageReader, MessageType, MessageWriter, TType, type Message, type Value } from './wire';

// Typed clients for osquery's two services, shared by the extension, the CLI and the
// emulator (osquery-go's ExtensionManagerClient). Every call has its own connection, the way
// osqueryd makes calls (protocol doc §2): binary protocol, buffered (unframed) transport.
// Requests are written and replies read with the extension server's own wire code: thrift's
// client re-parses a reply from its first byte at every chunk, which made a large table
// answer cost the emulator and the CLI more than the table took to make it.
// A connection that closes or fails ends the call at once, with the errno kept, so callers
// can tell a vanished peer (ENOENT, ECONNREFUSED) from a slow one (timeout).

/** the generated service definitions and types, for the emulator's thrift server */
export const Extension: typeof ExtensionGen = require('./gen/Extension');
export const ExtensionManager: typeof ManagerGen = require('./gen/ExtensionManager');
export const types: typeof TypesGen = require('./gen/osquery_types');

export interface ExtensionStatus {
  code: number;
  message: string;
  uuid: number;
}
export interface ExtensionResponse {
  status: ExtensionStatus;
  response: Array<Record<string, string>>;
}
export interface InternalExtensionInfo {
  name: string;
  version: string;
  sdk_version: string;
  min_sdk_version: string;
}
export interface InternalOptionInfo {
  value: string;
  default_value: string;
  type: string;
}
export type Registry = Record<string, Record<string, Array<Record<string, string>>>>;

/**
 * What one reply may keep. The extension's answers stop at 64 MB of wire bytes; a row's
 * strings cost more in memory than on the wire (ENTRY_OVERHEAD per entry in wire.ts), hence
 * the margin. A reply past this is an error, never silently short.
 */
const REPLY_LIMITS = { maxString: 256 * 2 ** 20, maxMessage: 2 ** 31 };

export class RpcError extends Error {
  /** errno of the connection (ENOENT, ECONNREFUSED …), 'timeout' or 'closed' */
  readonly code: string;
  constructor(
    readonly socket: string,
    readonly method: string,
    code: string,
    detail: string,
  ) {
    super(`${method} on ${socket}: ${detail}`);
    this.name = 'RpcError';
    this.code = code;
  }

  /** nobody is listening there: the peer is gone, as opposed to slow or locally starved */
  get peerGone(): boolean {
    return this.code === 'ENOENT' || this.code === 'ECONNREFUSED';
  }
}

type Fields = Map<number, Value>;

/**
 * osqueryd's --thrift_timeout default, the send and receive timeout of every call it makes
 * (osquery/extensions/impl_thrift.cpp): how long a peer may be silent before it is taken for
 * hung. A loaded host makes answers slow, not wrong; a peer that is gone refuses at once.
 */
export const THRIFT_TIMEOUT_MS = 300_000;

export class ExtensionClient {
  constructor(
    readonly socket: string,
    readonly timeoutMs = THRIFT_TIMEOUT_MS,
  ) {}

  /** one call on a fresh connection: `args` writes the argument fields, `decode` reads the result */
  protected invoke<T>(method: string, args: (w: MessageWriter) => void, decode: (result: Value | undefined) => T, timeoutMs = this.timeoutMs): Promise<T> {
    const path = this.socket;
    // a longer path would be cut by libuv and connect to another socket
    const tooLong = sunPathProblem(path);
    if (tooLong) return Promise.reject(new RpcError(path, method, 'ENAMETOOLONG', tooLong));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const done = (err: RpcError | null, value?: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        conn.destroy();
        if (err) reject(err);
        else resolve(value as T);
      };
      // The timeout is on silence, as a socket receive timeout is (osqueryd's TSocket): an
      // answer still arriving is not late. When the timer fires the verdict waits for the
      // poll phase (setImmediate): in a process that was starved or busy, the timer and the
      // answer become due in the same turn, and timers run first; the answer must win.
      let lastHeard = Date.now();
      const expire = () =>
        setImmediate(() => {
          if (settled) return;
          const quiet = Date.now() - lastHeard;
          if (quiet < timeoutMs) timer = setTimeout(expire, timeoutMs - quiet);
          else done(new RpcError(path, method, 'timeout', `nothing received for ${timeoutMs} ms`));
        });
      let timer = setTimeout(expire, timeoutMs);
      const reader = new MessageReader({ ...REPLY_LIMITS, shared: new ByteBudget(REPLY_LIMITS.maxMessage) }, (m) => {
        try {
          done(null, decode(result(m, method)));
        } catch (err) {
          done(new RpcError(path, method, 'failed', (err as Error).message));
        }
      });
      const conn = net.createConnection(path, () => {
        const w = new MessageWriter().begin(method, MessageType.CALL, 1);
        args(w);
        for (const part of w.stop().finish()) conn.write(part);
      });
      conn.on('data', (chunk: Buffer) => {
        lastHeard = Date.now();
        try {
          reader.push(chunk);
        } catch (err) {
          done(new RpcError(path, method, 'failed', `not a Thrift reply: ${(err as Error).message}`));
        }
      });
      conn.on('error', (err: NodeJS.ErrnoException) => done(new RpcError(path, method, err.code ?? 'error', err.message)));
      conn.on('close', () => done(new RpcError(path, method, 'closed', 'connection closed before the answer')));
    });
  }

  ping(timeoutMs?: number): Promise<ExtensionStatus> {
    return this.invoke('ping', noArgs, status, timeoutMs);
  }

  call(registry: string, item: string, request: Record<string, string>, timeoutMs?: number): Promise<ExtensionResponse> {
    return this.invoke(
      'call',
      (w) => {
        w.field(TType.STRING, 1).string(registry);
        w.field(TType.STRING, 2).string(item);
        stringMap(w.field(TType.MAP, 3), request);
      },
      response,
      timeoutMs,
    );
  }

  shutdown(timeoutMs?: number): Promise<void> {
    return this.invoke('shutdown', noArgs, () => undefined, timeoutMs);
  }
}

export class ManagerClient extends ExtensionClient {
  /** uuid → info of the registered extensions */
  async extensions(timeoutMs?: number): Promise<Map<number, InternalExtensionInfo>> {
    return this.invoke('extensions', noArgs, (v) => new Map(entries(v).map(([k, info]) => [Number(k), extensionInfo(info)])), timeoutMs);
  }

  options(timeoutMs?: number): Promise<Record<string, InternalOptionInfo>> {
    return this.invoke('options', noArgs, (v) => Object.fromEntries(entries(v).map(([k, o]) => [text(k), optionInfo(o)])), timeoutMs);
  }

  registerExtension(info: InternalExtensionInfo, registry: Registry, timeoutMs?: number): Promise<ExtensionStatus> {
    return this.invoke(
      'registerExtension',
      (w) => {
        w.field(TType.STRUCT, 1);
        ['name', 'version', 'sdk_version', 'min_sdk_version'].forEach((k, i) => optionalString(w, i + 1, (info as unknown as Record<string, unknown>)[k]));
        w.stop();
        const routes = Object.entries(registry ?? {});
        w.field(TType.MAP, 2).byte(TType.STRING).byte(TType.MAP).i32(routes.length);
        for (const [name, table] of routes) {
          const items = Object.entries(table ?? {});
          w.string(name).byte(TType.STRING).byte(TType.LIST).i32(items.length);
          for (const [item, list] of items) {
            w.string(item).byte(TType.MAP).i32(list.length);
            for (const row of list) stringMap(w, row);
          }
        }
      },
      status,
      timeoutMs,
    );
  }

  deregisterExtension(uuid: number, timeoutMs?: number): Promise<ExtensionStatus> {
    return this.invoke('deregisterExtension', (w) => w.field(TType.I64, 1).i64(uuid), status, timeoutMs);
  }

  query(sql: string, timeoutMs?: number): Promise<ExtensionResponse> {
    return this.invoke('query', (w) => w.field(TType.STRING, 1).string(sql), response, timeoutMs);
  }

  getQueryColumns(sql: string, timeoutMs?: number): Promise<ExtensionResponse> {
    return this.invoke('getQueryColumns', (w) => w.field(TType.STRING, 1).string(sql), response, timeoutMs);
  }
}

const noArgs = (): void => {};

/** the result field of a reply (0), or the error it carries */
function result(m: Message, method: string): Value | undefined {
  if (m.type === MessageType.EXCEPTION) throw new Error(text(m.args.get(1)) || 'the peer answered with an exception');
  if (m.type !== MessageType.REPLY) throw new Error(`message type ${m.type} is not a reply`);
  if (m.name !== method) throw new Error(`a reply to ${m.name}, not to ${method}`);
  if (m.readPast) throw new Error(`the reply is larger than a client keeps (${m.readPast} strings or entries past the limit)`);
  const ex = m.args.get(1);
  if (ex instanceof Map) throw new Error(`ExtensionException ${ex.get(1)}: ${text(ex.get(2))}`);
  return m.args.get(0);
}

function fields(v: Value | undefined): Fields {
  return v instanceof Map ? v : new Map();
}

function text(v: Value | undefined): string {
  return typeof v === 'string' ? v : '';
}

function entries(v: Value | undefined): Array<[Value, Value]> {
  return Array.isArray(v) ? (v as Array<[Value, Value]>) : [];
}

function status(v: Value | undefined): ExtensionStatus {
  const f = fields(v);
  return { code: Number(f.get(1) ?? 0), message: text(f.get(2)), uuid: Number(f.get(3) ?? 0) };
}

function response(v: Value | undefined): ExtensionResponse {
  const f = fields(v);
  const rows = Array.isArray(f.get(2)) ? (f.get(2) as Value[]) : [];
  const out = new Array<Record<string, string>>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row: Record<string, string> = {};
    for (const [k, v] of entries(rows[i])) row[text(k)] = text(v);
    out[i] = row;
  }
  return { status: status(f.get(1)), response: out };
}

function extensionInfo(v: Value): InternalExtensionInfo {
  const f = fields(v);
  return { name: text(f.get(1)), version: text(f.get(2)), sdk_version: text(f.get(3)), min_sdk_version: text(f.get(4)) };
}

function optionInfo(v: Value): InternalOptionInfo {
  const f = fields(v);
  return { value: text(f.get(1)), default_value: text(f.get(2)), type: text(f.get(3)) };
}

/** a map<string,string>; values that are not strings are left out, as thrift's writer does with unset fields */
function stringMap(w: MessageWriter, map: Record<string, unknown>): void {
  const kept = Object.entries(map ?? {}).filter(([, v]) => typeof v === 'string') as Array<[string, string]>;
  w.byte(TType.STRING).byte(TType.STRING).i32(kept.length);
  for (const [k, v] of kept) w.string(k).string(v);
}

function optionalString(w: MessageWriter, id: number, v: unknown): void {
  if (typeof v === 'string') w.field(TType.STRING, id).string(v);
}

/** node-int64 (how thrift delivers i64) or number → number; uuids are < 65536 */
export function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof (v as { toNumber?: () => number }).toNumber === 'function') return (v as { toNumber(): number }).toNumber();
  return Number(v);
}
