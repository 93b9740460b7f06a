import * as thrift from 'thrift';
import { SocketTransport } from './transport';

// One Thrift call over a unix socket on its own connection, the way osqueryd makes every
// call (protocol doc §2): binary protocol, buffered (unframed) transport, strict write.

// npm thrift has createUDSConnection; @types/thrift predates it
const createUDSConnection = (thrift as unknown as { createUDSConnection(path: string, opts: object): thrift.Connection }).createUDSConnection;

export const Extension = require('./gen/Extension');
export const ExtensionManager = require('./gen/ExtensionManager');
export const types = require('./gen/osquery_types');

export class RpcError extends Error {
  constructor(readonly socket: string, readonly method: string, detail: string) {
    super(`${method} on ${socket}: ${detail}`);
    this.name = 'RpcError';
  }
}

/** call `method(...args)` of `service` at `socket` on a fresh connection */
export function rpc<T>(socket: string, service: unknown, method: string, args: unknown[], timeoutMs = 10_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const done = (err: Error | null, value?: T) => {
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
    const timer = setTimeout(() => done(new RpcError(socket, method, `no answer within ${timeoutMs} ms`)), timeoutMs);
    conn.on('error', (err: Error) => done(new RpcError(socket, method, err.message)));
    conn.on('close', () => done(new RpcError(socket, method, 'connection closed before the answer')));
    const client = thrift.createClient(service as never, conn) as unknown as Record<string, (...a: unknown[]) => void>;
    client[method](...args, (err: Error | null, res: T) => (err ? done(new RpcError(socket, method, err.message ?? String(err))) : done(null, res)));
  });
}

/** node-int64 (how thrift delivers i64) or number → number; uuids are < 65536 */
export function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof (v as { toNumber?: () => number }).toNumber === 'function') return (v as { toNumber(): number }).toNumber();
  return Number(v);
}
