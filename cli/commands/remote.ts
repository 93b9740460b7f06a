import * as fs from 'fs';
import * as path from 'path';
import * as thrift from 'thrift';
import { CliError, EXIT } from '../exit';

// Talking to a running anomaly.ext through its own socket (`<manager socket>.<uuid>`), the
// way osqueryd does: one connection per call, binary protocol, buffered transport.

// eslint-disable-next-line @typescript-eslint/no-var-requires
const Extension = require('../../extension/gen/Extension');
// npm thrift has createUDSConnection; @types/thrift predates it
const createUDSConnection = (thrift as unknown as { createUDSConnection(path: string, opts: object): thrift.Connection }).createUDSConnection;

interface ExtensionClient {
  call(registry: string, item: string, request: Record<string, string>, cb: (err: Error | null, res: ExtensionResponse) => void): void;
}

export const DEFAULT_MANAGER_SOCKET = '/var/osquery/osquery.em';

interface ExtensionResponse {
  status?: { code?: number; message?: string };
  response?: Array<Record<string, string>>;
}

export function callExtension(socket: string, registry: string, item: string, request: Record<string, string>, timeoutMs = 10_000): Promise<ExtensionResponse> {
  return new Promise((resolve, reject) => {
    const conn = createUDSConnection(socket, { transport: thrift.TBufferedTransport, protocol: thrift.TBinaryProtocol });
    const timer = setTimeout(() => {
      conn.end();
      reject(new Error(`${socket}: no answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    conn.on('error', (err: Error) => {
      clearTimeout(timer);
      reject(new Error(`${socket}: ${err.message}`));
    });
    const client = thrift.createClient(Extension, conn) as unknown as ExtensionClient;
    client.call(registry, item, request, (err: Error | null, res: ExtensionResponse) => {
      clearTimeout(timer);
      conn.end();
      if (err) reject(new Error(`${socket}: ${err.message}`));
      else resolve(res);
    });
  });
}

/**
 * The socket of the running anomaly extension: `--socket` may name the extension's socket
 * itself or the manager socket, whose `.<uuid>` siblings are probed for our tables.
 */
export async function findExtensionSocket(socket: string | undefined): Promise<string> {
  const given = socket ?? process.env.ANOMALY_SOCKET ?? DEFAULT_MANAGER_SOCKET;
  const candidates = /\.\d+$/.test(given) ? [given] : siblings(given);
  const errors: string[] = [];
  for (const c of candidates) {
    try {
      const res = await callExtension(c, 'table', 'anomaly_models', { action: 'columns' }, 3000);
      if (res.status?.code === 0) return c;
      errors.push(`${c}: ${res.status?.message ?? 'refused'}`);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  throw new CliError(
    `no running anomaly extension found next to ${given}` + (errors.length ? ` (${errors.join('; ')})` : ' (no extension sockets there)') + '; is osqueryd running with the extension loaded? Use --socket to name its extensions socket',
    EXIT.unavailable,
  );
}

function siblings(manager: string): string[] {
  const dir = path.dirname(manager);
  const base = path.basename(manager);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(`${base}.`) && /^\d+$/.test(n.slice(base.length + 1))).map((n) => path.join(dir, n));
}
