import * as fs from 'fs';
import * as path from 'path';
import { ExtensionClient, THRIFT_TIMEOUT_MS, type ExtensionResponse } from '../../extension/client';
import { CliError, EXIT } from '../exit';

// Talking to a running anomaly.ext through its own socket (`<manager socket>.<uuid>`), the
// way osqueryd does, with the extension's own typed client.

export const DEFAULT_MANAGER_SOCKET = '/var/osquery/osquery.em';

export async function callExtension(
  socket: string,
  registry: string,
  item: string,
  request: Record<string, string>,
  // as long as osqueryd waits: a busy extension on a loaded host answers late, a gone one
  // refuses the connection at once
  timeoutMs = THRIFT_TIMEOUT_MS,
): Promise<ExtensionResponse> {
  try {
    return await new ExtensionClient(socket, timeoutMs).call(registry, item, request);
  } catch (err) {
    throw new Error(`${socket}: ${(err as Error).message.replace(/^call on [^:]*: /, '')}`);
  }
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
      // no shorter timeout for the probe: a slow extension is still the one asked for
      const res = await callExtension(c, 'table', 'anomaly_models', { action: 'columns' });
      if (res.status?.code === 0) return c;
      errors.push(`${c}: ${res.status?.message ?? 'refused'}`);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  throw new CliError(
    `no running anomaly extension found next to ${given}` +
      (errors.length ? ` (${errors.join('; ')})` : ' (no extension sockets there)') +
      '; is osqueryd running with the extension loaded? Use --socket to name its extensions socket',
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
