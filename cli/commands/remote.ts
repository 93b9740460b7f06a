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
 * `command` names the command in the hint for a user the kernel keeps out.
 */
export async function findExtensionSocket(socket: string | undefined, command: string): Promise<string> {
  const given = socket ?? process.env.ANOMALY_SOCKET ?? DEFAULT_MANAGER_SOCKET;
  // `--socket /var/osquery`: the socket meant is in the folder, not beside it
  const inFolder = socketsIn(given);
  if (inFolder)
    throw new CliError(
      `${given} is a folder, not osqueryd's extensions socket${inFolder.length ? `: pass --socket ${inFolder.join(' or --socket ')}` : ' (no socket in it)'}`,
      EXIT.unavailable,
    );
  const listed = /\.\d+$/.test(given) ? { names: [given] } : siblings(given);
  const errors: string[] = [];
  let denied = false;
  for (const c of listed.names) {
    try {
      // no shorter timeout for the probe: a slow extension is still the one asked for
      const res = await callExtension(c, 'table', 'anomaly_models', { action: 'columns' });
      if (res.status?.code === 0) return c;
      errors.push(`${c}: ${res.status?.message ?? 'refused'}`);
    } catch (err) {
      const message = (err as Error).message;
      if (/\b(EACCES|EPERM)\b/.test(message)) {
        denied = true;
        errors.push(`permission denied on ${c}`);
      } else errors.push(message);
    }
  }
  // the extension creates its socket 0600 and osqueryd runs it as root: a user without sudo
  // may not connect to a running extension, nor list a socket folder closed to others; neither
  // is a sign of osqueryd being down
  const asRoot = `the extension's socket is open to osqueryd's user only (it is root's, mode 0600): run it as root (sudo anomaly ${command})`;
  if (listed.denied)
    throw new CliError(`cannot list ${path.dirname(given)} (EACCES) to find the extension's socket beside ${given}; ${asRoot}`, EXIT.unavailable);
  if (denied) throw new CliError(`${errors.join('; ')}: ${asRoot}`, EXIT.unavailable);
  throw new CliError(
    `no running anomaly extension found next to ${given}` +
      (errors.length ? ` (${errors.join('; ')})` : fs.existsSync(given) ? ' (no extension sockets there)' : ` (${given} does not exist)`) +
      '; is osqueryd running with the extension loaded? Use --socket to name its extensions socket (the --extensions_socket of `ps -o args= -C osqueryd`; a fleet agent may set one of its own)',
    EXIT.unavailable,
  );
}

/** the `.<uuid>` siblings of the manager socket; `denied` when its folder may not be listed */
function siblings(manager: string): { names: string[]; denied?: boolean } {
  const dir = path.dirname(manager);
  const base = path.basename(manager);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { names: [], denied: code === 'EACCES' || code === 'EPERM' };
  }
  return { names: names.filter((n) => n.startsWith(`${base}.`) && /^\d+$/.test(n.slice(base.length + 1))).map((n) => path.join(dir, n)) };
}

/** the sockets in `dir` but extensions' own (`.<uuid>`), or undefined when it is no folder */
function socketsIn(dir: string): string[] | undefined {
  try {
    if (!fs.statSync(dir).isDirectory()) return undefined;
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isSocket() && !/\.\d+$/.test(e.name))
      .map((e) => path.join(dir, e.name));
  } catch {
    // gone, or a folder this user may not list: what the probe below reports
    return undefined;
  }
}
