import * as fs from 'fs';
import * as net from 'net';
import * as thrift from 'thrift';
import { Extension, types } from './rpc';
import { SocketTransport } from './transport';
import type { Plugin, PluginResponse } from './plugin/types';
import type { LogFn } from '../conf/log';

// The extension's own Thrift server on `<manager socket>.<uuid>`: ping, call, shutdown.
// Every request is answered from the event loop without waiting on scoring or training,
// and a failing plugin becomes status code 1 with its message, never a dropped connection.

export interface ServerOptions {
  path: string;
  plugins: readonly Plugin[];
  onShutdown: () => void;
  log: LogFn;
}

export function startServer(opts: ServerOptions): Promise<net.Server> {
  const byRoute = new Map(opts.plugins.map((p) => [`${p.registry}/${p.name}`, p]));
  const reply = (res: PluginResponse) => new types.ExtensionResponse({ status: new types.ExtensionStatus({ code: res.code, message: res.message ?? (res.code === 0 ? 'OK' : 'failed'), uuid: 0 }), response: res.rows ?? [] });
  const handler = {
    ping(result: (err: Error | null, res: unknown) => void) {
      result(null, new types.ExtensionStatus({ code: 0, message: 'pong', uuid: 0 }));
    },
    call(registry: string, item: string, request: Record<string, string>, result: (err: Error | null, res: unknown) => void) {
      const plugin = byRoute.get(`${registry}/${item}`);
      if (!plugin) return result(null, reply({ code: 1, message: `unknown ${registry} plugin ${JSON.stringify(item)}` }));
      let answer: Promise<PluginResponse>;
      try {
        answer = Promise.resolve(plugin.call(request ?? {}));
      } catch (err) {
        answer = Promise.reject(err);
      }
      answer.then(
        (res) => result(null, reply(res)),
        (err: Error) => {
          opts.log('warn', `${registry} ${item} ${request?.action ?? ''}: ${err.message}`);
          result(null, reply({ code: 1, message: err.message }));
        },
      );
    },
    shutdown(result: (err: Error | null) => void) {
      result(null);
      setImmediate(opts.onShutdown);
    },
  };
  // a file left by a crashed instance would make listen() fail with EADDRINUSE
  try {
    fs.unlinkSync(opts.path);
  } catch {
    /* nothing stale */
  }
  const server = thrift.createServer(Extension, handler as never, { transport: SocketTransport, protocol: thrift.TBinaryProtocol }) as unknown as net.Server;
  server.on('error', (err) => opts.log('error', `extension server: ${err.message}`));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.path, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
