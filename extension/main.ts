import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { ConfigError, loadConfig, type AnomalyConfig } from '../conf/config';
import { createScoringService } from '../scorer/service';
import type { ScoringService } from '../scorer/types';
import { parseArgs, type ExtensionArgs } from './args';
import { CpuMonitor, readBudget } from './budget';
import { Ingest } from './ingest';
import { loggerPlugin } from './plugin/logger';
import type { Plugin } from './plugin/types';
import { DurableQueue } from './queue';
import { ExtensionManager, rpc, toNumber, types } from './rpc';
import { startServer } from './server';
import { feedbackTable } from './tables/feedback';
import { modelsTable } from './tables/models';
import { scoresTable } from './tables/scores';
import { windowsTable } from './tables/windows';

// anomaly.ext: what osqueryd launches. Registers the `anomaly` logger and the tables,
// serves them on <socket>.<uuid>, watches the manager, and shuts down cleanly.

const NAME = 'anomaly';
const VERSION: string = require('../../package.json').version;
/** osquery accepts an SDK version ≥ 1.7.7 or "0.0.0"/empty (protocol doc §3.3) */
const SDK_VERSION = '0.0.0';
/** check that the manager still knows our uuid every this many intervals */
const UUID_CHECK_EVERY = 2;

type Level = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

function makeLog(min: Level): (level: Level, msg: string) => void {
  return (level, msg) => {
    if (LEVELS[level] < LEVELS[min]) return;
    process.stderr.write(`${new Date().toISOString()} anomaly.ext[${process.pid}] ${level.toUpperCase()} ${msg}\n`);
  };
}

async function waitForSocket(socket: string, timeoutS: number): Promise<void> {
  const deadline = Date.now() + Math.max(timeoutS * 1000, 200);
  let last = '';
  while (Date.now() < deadline) {
    try {
      await new Promise<void>((resolve, reject) => {
        const c = net.createConnection(socket, () => {
          c.end();
          resolve();
        });
        c.on('error', reject);
      });
      return;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`osquery extensions socket ${socket} not available after ${timeoutS} s (${last})`);
}

async function main(): Promise<void> {
  let args: ExtensionArgs;
  let config: AnomalyConfig;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`anomaly.ext: ${(err as Error).message}\n`);
    process.exit(64);
  }
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`anomaly.ext: config error: ${(err as Error).message}\n`);
    process.exit(err instanceof ConfigError ? 78 : 1);
  }
  const log = makeLog(args.verbose ? 'debug' : config.log_level);
  try {
    fs.mkdirSync(config.state_dir, { recursive: true, mode: 0o700 });
    fs.accessSync(config.state_dir, fs.constants.W_OK);
  } catch (err) {
    log('error', `state directory ${config.state_dir} is not writable (${(err as Error).message}); set state_dir in the config or ANOMALY_STATE_DIR`);
    process.exit(73);
  }

  await waitForSocket(args.socket, args.timeout);

  const cpu = new CpuMonitor().start();
  const budget = await readBudget(() => rpc(args.socket, ExtensionManager, 'options', [], 10_000), config.budget.cpu_percent, log);
  const queue = new DurableQueue(path.join(config.state_dir, 'queue'), config.queue.max_bytes, log);
  const ready: Promise<ScoringService & { backend: string; budgetMsPerMinute: number | null }> = createScoringService({
    config,
    log,
    budget,
    lookupUsers: async () => {
      const res = await rpc<{ status: { code: number; message: string }; response: Array<{ uid: string; username: string }> }>(args.socket, ExtensionManager, 'query', ['SELECT uid, username FROM users'], 10_000);
      if (res.status.code !== 0) throw new Error(res.status.message);
      return res.response;
    },
  });
  // scoring starts when the scorer is ready; until then accepted lines wait in the queue
  const lazy: ScoringService = {
    score: async (lines) => (await ready).score(lines),
    models: () => [],
    get scores(): never {
      throw new Error('scores before the scorer is ready');
    },
    get windows(): never {
      throw new Error('windows before the scorer is ready');
    },
    feedback: async (r) => (await ready).feedback(r),
    close: async () => (await ready).close(),
  };
  const ingest = new Ingest(queue, lazy, config, log);
  const feedback = feedbackTable(ready, config.state_dir, log);
  const plugins: Plugin[] = [
    loggerPlugin(NAME, {
      features: 1, // send status logs too, so osqueryd's own warnings reach our log
      result: (line) => ingest.accept(line),
      init: (name) => log('info', `logger started by ${name}`),
      status: (entries) => {
        for (const e of entries) log(e.s >= 2 ? 'error' : e.s === 1 ? 'warn' : 'debug', `osquery ${e.f}:${e.i} ${e.m}`);
      },
    }),
    scoresTable(ready),
    windowsTable(ready),
    modelsTable(ready, () => ingest.counters, () => cpu.cpuMsPerMinute()),
    feedback,
  ];
  const registry: Record<string, Record<string, Array<Record<string, string>>>> = { table: {}, logger: {} };
  for (const p of plugins) registry[p.registry][p.name] = p.routes();

  let uuid = 0;
  let server: net.Server | null = null;
  let socketPath = '';
  let stopping = false;

  const register = async (): Promise<void> => {
    const info = new types.InternalExtensionInfo({ name: NAME, version: VERSION, sdk_version: SDK_VERSION, min_sdk_version: SDK_VERSION });
    // a previous instance that died is forgotten only at the manager's next health check
    const deadline = Date.now() + 2 * args.interval * 1000 + 1000;
    for (;;) {
      const status = await rpc<{ code: number; message: string; uuid: unknown }>(args.socket, ExtensionManager, 'registerExtension', [info, registry], 10_000);
      if (status.code === 0) {
        uuid = toNumber(status.uuid);
        break;
      }
      if (/duplicate/i.test(status.message) && Date.now() < deadline) {
        log('info', `registration refused (${status.message}); retrying`);
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      throw new Error(`osqueryd refused the registration: ${status.message}`);
    }
    const oldServer = server;
    const oldPath = socketPath;
    socketPath = `${args.socket}.${uuid}`;
    server = await startServer({ path: socketPath, plugins, onShutdown: () => void shutdown(0, 'osqueryd asked the extension to shut down'), log });
    if (oldServer) void closeServer(oldServer, oldPath);
    log('info', `registered as ${NAME} (uuid ${uuid}), serving ${socketPath}`);
  };

  /** stop taking connections, let calls already on a connection finish, remove the socket */
  const closeServer = (s: net.Server, p: string): Promise<void> => {
    try {
      fs.unlinkSync(p);
    } catch {
      /* the manager may have removed it */
    }
    return new Promise((resolve) => {
      const t = setTimeout(resolve, 2000);
      s.close(() => {
        clearTimeout(t);
        resolve();
      });
    });
  };

  const shutdown = async (code: number, why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log('info', `shutting down: ${why}`);
    clearInterval(watchdog);
    if (uuid) await rpc(args.socket, ExtensionManager, 'deregisterExtension', [uuid], 1000).catch(() => undefined);
    // the queue stays open until no call can arrive any more: a line answered 0 is a line kept
    if (server) await closeServer(server, socketPath);
    await ingest.stop();
    queue.close();
    feedback.close();
    await lazy.close().catch((err) => log('error', `closing the scorer: ${(err as Error).message}`));
    process.exit(code);
  };

  await register();
  ingest.start();
  ready.catch((err) => {
    log('error', `the scorer could not start: ${(err as Error).message}`);
    void shutdown(70, 'no scorer');
  });

  let tick = 0;
  let checking = false;
  const watchdog = setInterval(async () => {
    if (checking || stopping) return;
    checking = true;
    try {
      await rpc(args.socket, ExtensionManager, 'ping', [], Math.max(1000, args.interval * 1000));
    } catch (err) {
      checking = false;
      return void shutdown(0, `osquery core has gone away (${(err as Error).message})`);
    }
    try {
      if (++tick % UUID_CHECK_EVERY === 0) {
        const list = await rpc<Map<unknown, unknown> | Record<string, unknown>>(args.socket, ExtensionManager, 'extensions', [], Math.max(1000, args.interval * 1000));
        const ids = list instanceof Map ? [...list.keys()].map(toNumber) : Object.keys(list).map(Number);
        if (!ids.includes(uuid)) {
          // the osqueryd worker was restarted by its watchdog: a new manager that never heard of us
          log('warn', `osqueryd no longer lists uuid ${uuid}; registering again`);
          await register();
        }
      }
    } catch (err) {
      log('warn', `health check: ${(err as Error).message}`);
    } finally {
      checking = false;
    }
  }, args.interval * 1000);

  process.on('SIGTERM', () => void shutdown(0, 'SIGTERM'));
  process.on('SIGINT', () => void shutdown(0, 'SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`anomaly.ext: ${(err as Error).message}\n`);
  process.exit(1);
});
