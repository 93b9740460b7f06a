import * as thrift from 'thrift';
import type * as ExtensionGen from './gen/Extension';
import type * as ManagerGen from './gen/ExtensionManager';
import type * as TypesGen from './gen/osquery_types';
import { SocketTransport } from './transport';

// Typed Thrift clients for osquery's two services, shared by the extension, the CLI and the
// emulator (osquery-go's ExtensionManagerClient). Every call has its own connection, the way
// osqueryd makes calls (protocol doc §2): binary protocol, buffered (unframed) transport.
// A connection that closes or fails ends the call at once, with the errno kept, so callers
// can tell a vanished peer (ENOENT, ECONNREFUSED) from a slow one (timeout).

export const Extension: typeof ExtensionGen = require('./gen/Extension');
export const ExtensionManager: typeof ManagerGen = require('./gen/ExtensionManager');
export const types: typeof TypesGen = require('./gen/osquery_types');

export type ExtensionStatus = TypesGen.ExtensionStatus;
export type ExtensionResponse = TypesGen.ExtensionResponse;
export type InternalExtensionInfo = TypesGen.InternalExtensionInfo;
export type Registry = Record<string, Record<string, Array<Record<string, string>>>>;

// npm thrift has createUDSConnection; @types/thrift predates it
const createUDSConnection = (thrift as unknown as { createUDSConnection(path: string, opts: object): thrift.Connection }).createUDSConnection;

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

type Callback<T> = (err: unknown, res: T) => void;

export class ExtensionClient<C extends ExtensionGen.Client = ExtensionGen.Client> {
  constructor(
    readonly socket: string,
    readonly timeoutMs = 10_000,
    private readonly service: unknown = Extension,
  ) {}

  /** one call on a fresh connection */
  protected invoke<T>(method: string, run: (client: C, cb: Callback<T>) => void, timeoutMs = this.timeoutMs): Promise<T> {
    const socket = this.socket;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const done = (err: RpcError | null, value?: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          conn.end();
        } catch {
          /* already closed */
        }
        if (err) reject(err);
        else resolve(value as T);
      };
      const conn = createUDSConnection(socket, { transport: SocketTransport, protocol: thrift.TBinaryProtocol, max_attempts: 1, connect_timeout: timeoutMs });
      const timer = setTimeout(() => done(new RpcError(socket, method, 'timeout', `no answer within ${timeoutMs} ms`)), timeoutMs);
      conn.on('error', (err: NodeJS.ErrnoException) => done(new RpcError(socket, method, err.code ?? 'error', err.message)));
      conn.on('close', () => done(new RpcError(socket, method, 'closed', 'connection closed before the answer')));
      const client = thrift.createClient(this.service as never, conn) as unknown as C;
      run(client, (err, res) => (err ? done(new RpcError(socket, method, 'failed', (err as Error).message ?? String(err))) : done(null, res)));
    });
  }

  ping(timeoutMs?: number): Promise<ExtensionStatus> {
    return this.invoke('ping', (c, cb) => c.ping(cb), timeoutMs);
  }

  call(registry: string, item: string, request: Record<string, string>, timeoutMs?: number): Promise<ExtensionResponse> {
    return this.invoke('call', (c, cb) => c.call(registry, item, request, cb), timeoutMs);
  }

  shutdown(timeoutMs?: number): Promise<void> {
    return this.invoke('shutdown', (c, cb) => c.shutdown(cb), timeoutMs);
  }
}

export class ManagerClient extends ExtensionClient<ManagerGen.Client> {
  constructor(socket: string, timeoutMs = 10_000) {
    super(socket, timeoutMs, ExtensionManager);
  }

  /** uuid → info of the registered extensions */
  async extensions(timeoutMs?: number): Promise<Map<number, InternalExtensionInfo>> {
    const list = await this.invoke<unknown>('extensions', (c, cb) => c.extensions(cb), timeoutMs);
    const out = new Map<number, InternalExtensionInfo>();
    if (list instanceof Map) for (const [k, v] of list) out.set(toNumber(k), v as InternalExtensionInfo);
    else for (const [k, v] of Object.entries((list as object) ?? {})) out.set(Number(k), v as InternalExtensionInfo);
    return out;
  }

  options(timeoutMs?: number): Promise<Record<string, TypesGen.InternalOptionInfo>> {
    return this.invoke('options', (c, cb) => c.options(cb), timeoutMs);
  }

  registerExtension(info: InternalExtensionInfo, registry: Registry, timeoutMs?: number): Promise<ExtensionStatus> {
    return this.invoke('registerExtension', (c, cb) => c.registerExtension(info, registry, cb), timeoutMs);
  }

  deregisterExtension(uuid: number, timeoutMs?: number): Promise<ExtensionStatus> {
    // thrift's writeI64 takes a number as well as an Int64
    return this.invoke('deregisterExtension', (c, cb) => c.deregisterExtension(uuid as never, cb), timeoutMs);
  }

  query(sql: string, timeoutMs?: number): Promise<ExtensionResponse> {
    return this.invoke('query', (c, cb) => c.query(sql, cb), timeoutMs);
  }

  getQueryColumns(sql: string, timeoutMs?: number): Promise<ExtensionResponse> {
    return this.invoke('getQueryColumns', (c, cb) => c.getQueryColumns(sql, cb), timeoutMs);
  }
}

/** node-int64 (how thrift delivers i64) or number → number; uuids are < 65536 */
export function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof (v as { toNumber?: () => number }).toNumber === 'function') return (v as { toNumber(): number }).toNumber();
  return Number(v);
}
