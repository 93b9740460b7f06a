import type { ChildProcess } from 'child_process';
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import * as thrift from 'thrift';
import { ExtensionClient, ExtensionManager, THRIFT_TIMEOUT_MS, toNumber, types } from '../extension/client';
import { launchExtension, type LaunchOptions } from './launcher';
import { answers, listenAt, stillOurs, type BoundSocket } from './manager-socket';
import { SocketTransport } from '../extension/transport';
import { constraintSets, contextJson, evaluator, OSQUERYD, type CallOptions } from './calls';
import { joinDriver, outerValues, type JoinDriver } from './join';
import { orScans, rowidOf } from './multi-or';
import { scanOf, sourceOf } from './where';
import { loadTable, queryColumnNames, referencedTables, runQuery, sqlite, type ColumnRoute } from './sql';

// An osqueryd double for tests and the demo: the ExtensionManager side of the protocol,
// as strict as osqueryd itself (protocol doc §1–§6). It registers extensions by osquery's
// rules, health-checks them with a fresh connection per ping and drops them on the first
// failure, drives a logger the way the daemon does (init, features, buffered status, result
// lines), reports the catastrophic shutdown osqueryd would make when a result line is not
// answered with 0, and runs SQL over extension tables in real SQLite.

export interface EmulatorOptions {
  /** directory for the manager socket (osquery.em) */
  dir: string;
  interval?: number;
  timeout?: number;
  hostIdentifier?: string;
  /** rows of the built-in users table */
  users?: Array<{ uid: string; username: string }>;
  /** status lines buffered since "start", flushed after features */
  statusLog?: Array<{ s: number; f: string; i: number; m: string }>;
  /** osqueryd flags set on its command line, e.g. { enable_extensions_watchdog: 'true' } */
  flags?: Record<string, string>;
  /**
   * how osqueryd calls a table (emulator/calls.ts): by default as osquery ≥ 5.14 with
   * --extensions_default_index; `optimizedIn: false` is osquery 5.0-5.13, which calls once per
   * value of every IN list, OPTIMIZED or not
   */
  calls?: Partial<CallOptions>;
}

/**
 * The gflags options() reports besides the extension ones: osqueryd reports every flag as
 * {value, default_value, type} (osquery/extensions/interface.cpp); these are the watchdog's
 * (osquery/core/watcher.cpp) with osquery's defaults and types.
 */
const WATCHDOG_FLAGS: Record<string, { default_value: string; type: string }> = {
  watchdog_level: { default_value: '0', type: 'int32' },
  watchdog_memory_limit: { default_value: '0', type: 'uint64' },
  watchdog_utilization_limit: { default_value: '0', type: 'uint64' },
  watchdog_latency_limit: { default_value: '0', type: 'uint64' },
  watchdog_delay: { default_value: '60', type: 'uint64' },
  watchdog_forced_shutdown_delay: { default_value: '4', type: 'uint64' },
  enable_extensions_watchdog: { default_value: 'false', type: 'bool' },
  disable_watchdog: { default_value: 'false', type: 'bool' },
  enable_watchdog_debug: { default_value: 'false', type: 'bool' },
};

interface Registered {
  uuid: number;
  info: { name: string; version: string; sdk_version: string; min_sdk_version: string };
  registry: Record<string, Record<string, Array<Record<string, string>>>>;
  socket: string;
  checked: boolean;
}

/** registries osquery knows (Registry::registries in osquery 5) */
const KNOWN_REGISTRIES = new Set([
  'table',
  'logger',
  'config',
  'distributed',
  'killswitch',
  'numeric_monitoring',
  'enroll',
  'database',
  'event_publisher',
  'event_subscriber',
  'sql',
]);
/** a few of osqueryd's own plugin names: an extension may not reuse them */
const BUILTIN: Record<string, string[]> = {
  table: [
    'processes',
    'users',
    'process_events',
    'socket_events',
    'file_events',
    'listening_ports',
    'logged_in_users',
    'last',
    'shell_history',
    'osquery_info',
    'osquery_extensions',
    'osquery_registry',
  ],
  logger: ['filesystem', 'tls', 'syslog', 'stdout', 'kinesis', 'firehose', 'kafka_producer', 'aws_kinesis', 'aws_firehose'],
  config: ['filesystem', 'tls', 'update'],
  distributed: ['tls'],
};

export interface ReplayResult {
  lines: number;
  failed: number;
}

export class OsquerydEmulator extends EventEmitter {
  readonly socket: string;
  readonly interval: number;
  readonly timeout: number;
  private readonly extensions = new Map<number, Registered>();
  private server: net.Server | null = null;
  /** the socket file this emulator bound, while it runs */
  private bound: BoundSocket | null = null;
  /** the watcher's next round, while it waits between rounds */
  private health: NodeJS.Timeout | null = null;
  /** bumped at each start and stop: a round still running from before a restart schedules nothing */
  private watcherRun = 0;
  private children = new Set<ChildProcess>();
  /** set when osqueryd would have requested a catastrophic shutdown */
  catastrophic: string | null = null;
  /** answer the extensions' pings this much later: a manager on a loaded host */
  pingDelayMs = 0;
  /**
   * awaited before `extensions()` is answered: a test holds an extension's health check there
   * (osqueryd answers when it answers) while something else happens to the extension
   */
  beforeExtensionsAnswer: (() => Promise<void>) | null = null;
  /**
   * awaited before a granted registration is answered (the name already given): a test holds the
   * answer there, as a slow or hung osqueryd would, while something else happens to the extension
   */
  beforeRegisterAnswer: ((uuid: number) => Promise<void>) | null = null;
  /**
   * awaited before an extension's query is answered: a test holds the extension where it waits
   * for osqueryd's answer (the users its scorer's start looks up) while something else happens
   */
  beforeQueryAnswer: ((sql: string) => Promise<void>) | null = null;
  /** called when an extension asks to be deregistered, before it is (a test's view of a shutdown under way) */
  onDeregister: (() => void) | null = null;
  readonly users: Array<{ uid: string; username: string }>;
  /** how this osqueryd calls an extension's table */
  readonly calls: CallOptions;

  constructor(private readonly opts: EmulatorOptions) {
    super();
    this.calls = { ...OSQUERYD, ...opts.calls };
    this.socket = path.join(opts.dir, 'osquery.em');
    this.interval = opts.interval ?? 3;
    this.timeout = opts.timeout ?? 3;
    this.users = opts.users ?? [{ uid: '0', username: 'root' }];
    // osqueryd refuses to start with a flag it does not know
    for (const name of Object.keys(opts.flags ?? {})) if (!(name in WATCHDOG_FLAGS)) throw new Error(`ERROR: unknown command line flag '${name}'`);
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.opts.dir, { recursive: true });
    // a socket left by a killed osqueryd is removed; one that answers is another osqueryd's,
    // refused as osqueryd's pidfile refuses a second instance
    if (await answers(this.socket)) throw new Error(`osqueryd is already running: ${this.socket} accepts connections`);
    this.removeStaleSockets();
    const handler = this.handler();
    this.server = thrift.createServer(ExtensionManager, handler as never, {
      transport: SocketTransport,
      protocol: thrift.TBinaryProtocol,
    }) as unknown as net.Server;
    this.bound = await listenAt(this.server, this.socket);
    // thrift re-emits a client connection's errors on the server: a client that hangs up
    // before its answer is written (EPIPE, ECONNRESET) is its own business, as in osqueryd
    this.server.on('error', () => undefined);
    this.scheduleHealth(++this.watcherRun);
  }

  /** osqueryd deletes `<socket>.*` when it starts and stops */
  private removeStaleSockets(): void {
    const base = path.basename(this.socket);
    for (const f of fs.readdirSync(this.opts.dir)) {
      if (f === base || f.startsWith(`${base}.`)) fs.rmSync(path.join(this.opts.dir, f), { force: true });
    }
  }

  private handler() {
    const status = (code: number, message: string, uuid = 0) => new types.ExtensionStatus({ code, message, uuid: uuid as never });
    return {
      ping: (cb: (e: null, r: unknown) => void) => {
        this.emit('ping');
        if (this.pingDelayMs > 0) setTimeout(() => cb(null, status(0, 'pong')), this.pingDelayMs);
        else cb(null, status(0, 'pong'));
      },
      call: (registry: string, item: string, _req: unknown, cb: (e: null, r: unknown) => void) =>
        cb(null, new types.ExtensionResponse({ status: status(1, `Unknown registry plugin: ${registry}/${item}`), response: [] })),
      shutdown: (cb: (e: null) => void) => cb(null),
      extensions: (cb: (e: null, r: unknown) => void) => {
        const answer = () => {
          // the generated writer iterates an object and hands each key to writeI64, and
          // node-int64 reads a string key as hex: so the keys are the uuids in hex
          const out: Record<string, unknown> = {};
          for (const e of this.extensions.values()) out[e.uuid.toString(16)] = new types.InternalExtensionInfo(e.info);
          cb(null, out);
        };
        if (this.beforeExtensionsAnswer) void this.beforeExtensionsAnswer().then(answer);
        else answer();
      },
      options: (cb: (e: null, r: unknown) => void) => {
        const opt = (value: string, type = 'string') => new types.InternalOptionInfo({ value, default_value: value, type });
        const set = this.opts.flags ?? {};
        const watchdog: Record<string, unknown> = {};
        for (const [name, f] of Object.entries(WATCHDOG_FLAGS))
          watchdog[name] = new types.InternalOptionInfo({ value: set[name] ?? f.default_value, default_value: f.default_value, type: f.type });
        cb(null, {
          ...watchdog,
          logger_plugin: opt('filesystem,anomaly'),
          config_plugin: opt('filesystem'),
          extensions_interval: opt(String(this.interval)),
          extensions_timeout: opt(String(this.timeout)),
          extensions_socket: opt(this.socket),
          host_identifier: opt('hostname'),
          disable_extensions: opt('false', 'bool'),
        });
      },
      registerExtension: (info: Registered['info'], registry: Registered['registry'], cb: (e: null, r: unknown) => void) => {
        const problem = this.refuse(info, registry);
        if (problem) {
          this.emit('refused', problem);
          return cb(null, status(1, problem));
        }
        let uuid = 0;
        do uuid = 1 + Math.floor(Math.random() * 65535);
        while (this.extensions.has(uuid));
        this.extensions.set(uuid, { uuid, info: { ...info }, registry, socket: `${this.socket}.${uuid}`, checked: false });
        this.emit('register', uuid, info.name);
        if (this.beforeRegisterAnswer) void this.beforeRegisterAnswer(uuid).then(() => cb(null, status(0, 'OK', uuid)));
        else cb(null, status(0, 'OK', uuid));
      },
      deregisterExtension: (uuid: unknown, cb: (e: null, r: unknown) => void) => {
        this.onDeregister?.();
        const id = toNumber(uuid);
        if (!this.extensions.delete(id)) return cb(null, status(1, 'No extension UUID found'));
        this.emit('deregister', id, 'deregistered');
        cb(null, status(0, 'OK'));
      },
      query: (sql: string, cb: (e: null, r: unknown) => void) => {
        (this.beforeQueryAnswer?.(sql) ?? Promise.resolve())
          .then(() => this.query(sql))
          .then(
            (rows) => cb(null, new types.ExtensionResponse({ status: status(0, 'OK'), response: rows })),
            (err: Error) => cb(null, new types.ExtensionResponse({ status: status(1, err.message), response: [] })),
          );
      },
      getQueryColumns: (sql: string, cb: (e: null, r: unknown) => void) => {
        this.columnsOf(sql).then(
          (cols) => cb(null, new types.ExtensionResponse({ status: status(0, 'OK'), response: cols.map((c) => ({ [c]: 'TEXT' })) })),
          (err: Error) => cb(null, new types.ExtensionResponse({ status: status(1, err.message), response: [] })),
        );
      },
    };
  }

  /** osquery's registration rules (protocol doc §3.3); null when the registration is fine */
  private refuse(info: Registered['info'], registry: Registered['registry']): string | null {
    if (!info || typeof info.name !== 'string' || !info.name) return 'Extension name is required';
    const sdk = info.sdk_version ?? '';
    if (sdk !== '' && sdk !== '0.0.0' && compareVersions(sdk, '1.7.7') < 0) return 'Incompatible extension SDK version';
    for (const e of this.extensions.values()) if (e.info.name === info.name) return 'Duplicate extension registered';
    const entries = registry instanceof Map ? [...registry.entries()] : Object.entries(registry ?? {});
    for (const [reg, routes] of entries as Array<[string, Record<string, Array<Record<string, string>>>]>) {
      if (!KNOWN_REGISTRIES.has(reg)) return `Unknown registry: ${reg}`;
      const plugins = routes instanceof Map ? [...(routes as Map<string, Array<Record<string, string>>>).entries()] : Object.entries(routes ?? {});
      for (const [name, route] of plugins) {
        if (BUILTIN[reg]?.includes(name)) return `Duplicate registry item exists: ${name}`;
        for (const e of this.extensions.values()) if (e.registry[reg]?.[name]) return `Duplicate registry item exists: ${name}`;
        if (reg === 'table') {
          if (!Array.isArray(route) || route.length === 0) return 'Invalid route info';
          if (route.some((r) => !r || typeof r.id !== 'string')) return 'Invalid route info';
        }
      }
    }
    return null;
  }

  /**
   * osqueryd's watcher is one thread: a round, then a pause of --extensions_interval, then
   * the next round. A slow round delays the next instead of overlapping it (an interval timer
   * would stack pings on an extension that is only slow)
   */
  private scheduleHealth(run: number): void {
    if (run !== this.watcherRun) return;
    this.health = setTimeout(
      () => {
        this.health = null;
        void this.checkHealth().finally(() => this.scheduleHealth(run));
      },
      Math.max(200, this.interval * 1000),
    );
  }

  /** the watcher thread: first wait for a new socket, then ping on a new connection; one failure removes it */
  private async checkHealth(): Promise<void> {
    for (const e of [...this.extensions.values()]) {
      let reason: string | null = null;
      if (!e.checked) {
        const deadline = Date.now() + this.timeout * 1000;
        while (!fs.existsSync(e.socket) && Date.now() < deadline) await sleep(20);
        e.checked = true;
      }
      if (!fs.existsSync(e.socket)) reason = 'socket path missing';
      else {
        try {
          // osqueryd's client waits --thrift_timeout (300 s) for the answer: a slow extension
          // is not a dead one (ExtensionClient in osquery/extensions/impl_thrift.cpp)
          const s = await new ExtensionClient(e.socket).ping(THRIFT_TIMEOUT_MS);
          if (s.code === 1) reason = 'ping answered code 1';
        } catch (err) {
          reason = (err as Error).message;
        }
      }
      if (reason && this.extensions.get(e.uuid) === e) {
        this.extensions.delete(e.uuid);
        this.emit('deregister', e.uuid, `Extension UUID ${e.uuid} has gone away (${reason})`);
      }
    }
  }

  /** drop a registration without a word, as a respawned osqueryd worker has none of the old ones */
  forget(uuid: number): void {
    this.extensions.delete(uuid);
  }

  registered(): Array<{ uuid: number; name: string; socket: string }> {
    return [...this.extensions.values()].map((e) => ({ uuid: e.uuid, name: e.info.name, socket: e.socket }));
  }

  /**
   * wait until an extension of that name is registered and its socket is up. `until` ends
   * the wait early (e.g. the launched process exited: it will never register); a start
   * slowed by a loaded host is waited for, so `timeoutMs` may be Infinity
   */
  async waitFor(name: string, timeoutMs = 20_000, until?: () => string | null): Promise<{ uuid: number; socket: string }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = [...this.extensions.values()].find((x) => x.info.name === name);
      if (e && fs.existsSync(e.socket)) return { uuid: e.uuid, socket: e.socket };
      const stop = until?.();
      if (stop) throw new Error(`extension ${name} did not register: ${stop}`);
      if (Date.now() >= deadline) throw new Error(`extension ${name} did not register within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  private plugin(registry: string, name: string): Registered | undefined {
    for (const e of this.extensions.values()) if (e.registry[registry]?.[name]) return e;
    return undefined;
  }

  /** call a plugin of a registered extension on a new connection, as osqueryd does */
  async callPlugin(
    registry: string,
    name: string,
    request: Record<string, string>,
    timeoutMs = THRIFT_TIMEOUT_MS,
  ): Promise<{ code: number; message: string; rows: Array<Record<string, string>> }> {
    const e = this.plugin(registry, name);
    if (!e) throw new Error(`Unknown registry plugin: ${registry}/${name}`);
    const res = await new ExtensionClient(e.socket).call(registry, name, request, timeoutMs);
    return { code: res.status?.code ?? 1, message: res.status?.message ?? '', rows: res.response ?? [] };
  }

  /** logger start-up as the daemon does it: init, features, then the buffered status lines */
  async startLogger(name: string): Promise<number> {
    await this.callPlugin('logger', name, { init: 'osqueryd' });
    const features = (await this.callPlugin('logger', name, { action: 'features' })).code;
    if (features & 1) {
      const log = (this.opts.statusLog ?? [{ s: 0, f: 'init.cpp', i: 1, m: 'osqueryd started (emulated)' }]).map((l) => ({
        ...l,
        h: this.opts.hostIdentifier ?? 'emulated',
        c: new Date().toUTCString(),
        u: Math.floor(Date.now() / 1000),
      }));
      await this.callPlugin('logger', name, { status: 'true', log: JSON.stringify(log) });
    }
    return features;
  }

  /**
   * Send one result line. A non-zero answer or a failed call is what makes osqueryd log
   * "Error logging the results of query" and request a catastrophic shutdown.
   */
  async logResult(name: string, line: string): Promise<void> {
    const snapshot = /"action"\s*:\s*"snapshot"/.test(line) && /"snapshot"\s*:\s*\[/.test(line);
    try {
      const res = await this.callPlugin('logger', name, snapshot ? { snapshot: line } : { string: line, category: 'event' });
      if (res.code !== 0) throw new Error(`code ${res.code}: ${res.message}`);
    } catch (err) {
      this.catastrophic ??= `Error logging the results of query: ${(err as Error).message}`;
      this.emit('catastrophic', this.catastrophic);
      throw err;
    }
  }

  /** replay a results log: JSON lines or a JSON-array export, each record as osqueryd logs it */
  async replay(name: string, file: string): Promise<ReplayResult> {
    const lines = readLogRecords(file);
    let failed = 0;
    for (const line of lines) {
      try {
        await this.logResult(name, line);
      } catch {
        failed++;
        break; // osqueryd stops here: the daemon is shutting down
      }
    }
    return { lines: lines.length, failed };
  }

  /**
   * run SQL as osqueryd's `query` does: extension tables are generated with a constraint
   * context, and an INSERT, UPDATE or DELETE on one is sent to the extension as osqueryd's
   * virtual table sends it (`insert` with json_value_array, `update`, `delete`), its refusal an
   * SQL error. (The rows are a copy in this database: a write that only changed the copy
   * answered OK and reached nobody.)
   */
  async query(sql: string): Promise<Array<Record<string, string>>> {
    const SQL = await sqlite();
    const db = new SQL.Database();
    try {
      const attached = await this.attach(db, sql);
      captureWrites(db, attached);
      const rows = runQuery(db, sql);
      for (const w of takeWrites(db)) await this.write(w, attached.get(w.table) ?? []);
      return rows;
    } finally {
      db.close();
    }
  }

  /** one row written to an extension table, as osquery/sql/virtual_table.cpp xUpdate sends it */
  private async write(w: CapturedWrite, columns: readonly ColumnRoute[]): Promise<void> {
    const unset = w.action === 'delete' ? undefined : nullInIndexColumn(w.values, columns);
    if (unset) throw new Error(`datatype mismatch (${w.table}: NULL for ${unset}, an index column)`);
    const request: Record<string, string> =
      w.action === 'insert'
        ? { action: 'insert', auto_rowid: 'true', json_value_array: w.values }
        : w.action === 'update'
          ? { action: 'update', id: String(w.rowid), json_value_array: w.values }
          : { action: 'delete', id: String(w.rowid) };
    const res = await this.callPlugin('table', w.table, request);
    if (res.code !== 0) throw new Error(`Error writing table ${w.table}: ${res.message}`);
    // what osqueryd's xUpdate makes of the answer: only a `failure` shows the extension's message
    const status = res.rows[0]?.status;
    const message = res.rows[0]?.message;
    if (status === 'success') return;
    if (status === 'readonly') throw new Error(`attempt to write a readonly database: table ${w.table} may not be modified`);
    if (status === 'constraint') throw new Error(`constraint failed (${w.table})`);
    if (status === 'failure' && message !== undefined) throw new Error(message);
    throw new Error(`SQL logic error (${w.table}: ${status ?? 'no status'})`);
  }

  private async columnsOf(sql: string): Promise<string[]> {
    const SQL = await sqlite();
    const db = new SQL.Database();
    try {
      await this.attach(db, sql, true);
      return queryColumnNames(db, sql);
    } finally {
      db.close();
    }
  }

  /** load the tables `sql` names; returns the extension tables loaded, with their columns */
  private async attach(db: import('sql.js').Database, sql: string, schemaOnly = false): Promise<Map<string, ColumnRoute[]>> {
    const attached = new Map<string, ColumnRoute[]>();
    const tables = new Map<string, ColumnRoute[]>();
    for (const e of this.extensions.values()) {
      for (const [name, routes] of Object.entries(e.registry.table ?? {})) {
        tables.set(
          name,
          routes.filter((r) => r.id === 'column').map((r) => ({ name: r.name, type: r.type, op: r.op })),
        );
      }
    }
    // built-ins the extension and the packs use
    const builtins: Record<string, { columns: ColumnRoute[]; rows: () => Array<Record<string, string>> }> = {
      users: { columns: [col('uid', 'BIGINT'), col('username', 'TEXT')], rows: () => this.users },
      osquery_registry: {
        columns: [col('registry', 'TEXT'), col('name', 'TEXT'), col('owner_uuid', 'INTEGER'), col('internal', 'INTEGER'), col('active', 'INTEGER')],
        rows: () =>
          [...this.extensions.values()].flatMap((e) =>
            Object.entries(e.registry).flatMap(([reg, plugins]) =>
              Object.keys(plugins).map((n) => ({ registry: reg, name: n, owner_uuid: String(e.uuid), internal: '0', active: '1' })),
            ),
          ),
      },
      osquery_extensions: {
        columns: [col('uuid', 'BIGINT'), col('name', 'TEXT'), col('version', 'TEXT'), col('sdk_version', 'TEXT'), col('path', 'TEXT'), col('type', 'TEXT')],
        rows: () => [
          { uuid: '0', name: 'core', version: '5.12.1', sdk_version: '0.0.0', path: this.socket, type: 'core' },
          ...[...this.extensions.values()].map((e) => ({
            uuid: String(e.uuid),
            name: e.info.name,
            version: e.info.version,
            sdk_version: e.info.sdk_version,
            path: e.socket,
            type: 'extension',
          })),
        ],
      },
    };
    // built-ins first: a join may take an extension table's values from one of their rows
    for (const name of referencedTables(sql, Object.keys(builtins))) {
      if (tables.has(name)) continue;
      loadTable(db, name, builtins[name].columns, builtins[name].rows());
    }
    const scans = referencedTables(sql, [...tables.keys()]);
    const drivers = new Map(
      scans.map((name) => [name, joinDriver(sql, name, tables, new Map(Object.entries(builtins).map(([n, b]) => [n, b.columns])), this.calls, evaluator(db))]),
    );
    // a table whose terms read a subquery of another is generated once that one is loaded
    const reads = new Map(scans.map((name) => [name, subqueryTables(sql, name, scans)]));
    for (const pending = [...scans]; pending.length;) {
      // a table the outer loop of a join drives is generated once the outer one is loaded
      const at = pending.findIndex((n) => !pending.includes(drivers.get(n)?.outer ?? '') && !reads.get(n)!.some((o) => pending.includes(o)));
      const [name] = pending.splice(at < 0 ? 0 : at, 1);
      const columns = tables.get(name)!;
      // a NATURAL join reads the columns its tables share (SQLite's colUsed has them)
      const shared = /\bNATURAL\b/i.test(sql)
        ? columns
            .filter((c) =>
              [...scans, ...Object.keys(builtins)].some(
                (o) =>
                  o !== name &&
                  referencedTables(sql, [o]).length &&
                  (tables.get(o) ?? builtins[o]?.columns ?? []).some((x) => x.name.toUpperCase() === c.name.toUpperCase()),
              ),
            )
            .map((c) => c.name)
        : [];
      const rows = schemaOnly ? [] : await this.scan(db, sql, name, columns, drivers.get(name) ?? null, shared);
      loadTable(db, name, columns, rows);
      attached.set(name, columns);
    }
    return attached;
  }

  /**
   * The rows SQLite sees from one scan of an extension table, generated as osqueryd calls it
   * (emulator/calls.ts): once per constraint set, their rows one after the other; under a
   * join, those calls again for each row of the outer table, with its value. (The rows of the
   * outer rows' calls are merged: a row as many times as the most any one outer row got it, as
   * a table answers the same for the same value.)
   */
  private async scan(
    db: import('sql.js').Database,
    sql: string,
    name: string,
    columns: readonly ColumnRoute[],
    join: JoinDriver | null,
    shared: readonly string[],
  ) {
    const evaluate = evaluator(db);
    /** the rows of the calls of one scan, each with its index in its call's answer */
    const calls = async (scanSql: string, extra: Parameters<typeof constraintSets>[4]) => {
      const out: Array<{ row: Record<string, string>; index: number }> = [];
      for (const set of constraintSets(scanSql, columns, name, this.calls, extra, evaluate)) {
        const context = contextJson(set, columns, sql, shared);
        this.emit('generate', name, context);
        const res = await this.callPlugin('table', name, { action: 'generate', context });
        if (res.code !== 0) throw new Error(`Error generating table ${name}: ${res.message}`);
        res.rows.forEach((row, index) => out.push({ row, index }));
      }
      return out;
    };
    const generate = async (extra: Parameters<typeof constraintSets>[4]) => (await calls(sql, extra)).map((r) => r.row);
    const ors = join ? null : orScans(sql, columns, name, this.calls, evaluate);
    if (ors) {
      // a scan per disjunct; a row whose rowid an earlier scan kept is skipped (OP_RowSetTest)
      const kept: Array<Record<string, string>> = [];
      const seen = new Set<string>();
      for (const sub of ors) {
        const rows = await calls(sub.sql, []);
        loadTable(
          db,
          name,
          columns,
          rows.map((r) => r.row),
        );
        const passing = new Set((db.exec(sub.passing)[0]?.values ?? []).map(([v]) => Number(v) - 1));
        const mine = new Set<string>();
        rows.forEach((r, i) => {
          if (!passing.has(i)) return;
          const rowid = rowidOf(r.row, r.index);
          if (seen.has(rowid)) return;
          kept.push(r.row);
          mine.add(rowid);
        });
        for (const id of mine) seen.add(id);
      }
      return kept;
    }
    if (!join) return generate([]);
    const merged = new Map<string, { row: Record<string, string>; most: number }>();
    const key = (row: Record<string, string>) => JSON.stringify(columns.map((c) => row[c.name] ?? null));
    for (const values of outerValues(db, join)) {
      const count = new Map<string, number>();
      for (const row of await generate(join.pairs.map((p, i) => ({ column: p.column, op: p.op, expr: values[i] })))) {
        const k = key(row);
        const n = (count.get(k) ?? 0) + 1;
        count.set(k, n);
        const m = merged.get(k);
        if (!m) merged.set(k, { row, most: 1 });
        else if (n > m.most) m.most = n;
      }
    }
    return [...merged.values()].flatMap((m) => Array<Record<string, string>>(m.most).fill(m.row));
  }

  /** start an extension as osqueryd does, with its argv; emits 'exit' when it ends */
  launch(file: string, opts: Partial<LaunchOptions> = {}): ChildProcess {
    const child = launchExtension(file, { socket: this.socket, timeout: this.timeout, interval: this.interval, ...opts });
    this.children.add(child);
    child.on('exit', (code, signal) => {
      this.children.delete(child);
      this.emit('exit', code, signal);
    });
    return child;
  }

  /** osqueryd's shutdown: shutdown() to every extension, then its own socket and the stale ones go */
  async stop(opts: { notifyExtensions?: boolean } = {}): Promise<void> {
    this.watcherRun++;
    if (this.health) clearTimeout(this.health);
    this.health = null;
    if (opts.notifyExtensions !== false) {
      await Promise.all([...this.extensions.values()].map((e) => new ExtensionClient(e.socket).shutdown(2000).catch(() => undefined)));
    }
    this.extensions.clear();
    // a socket that is no longer ours (another start replaced it) and its extensions' are left alone
    const ours = stillOurs(this.socket, this.bound);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = null;
    this.bound = null;
    if (ours) this.removeStaleSockets();
  }

  /** stop the manager and wait for launched extensions to exit (or kill them after a grace period) */
  async shutdown(graceMs = 11_000): Promise<void> {
    await this.stop();
    await Promise.all(
      [...this.children].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
  }
}

function col(name: string, type: string): ColumnRoute {
  return { name, type, op: '0' };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** "5.12.1" vs "1.7.7"; non-numeric parts count as 0 */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => parseInt(x, 10) || 0);
  const pb = b.split(/[.-]/).map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

/** the records of a results log as the single lines osqueryd would send */
export function readLogRecords(file: string): string[] {
  const buf = fs.readFileSync(file);
  const text = (file.endsWith('.gz') ? require('zlib').gunzipSync(buf) : buf).toString('utf8');
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) return (JSON.parse(trimmed) as unknown[]).map((r) => JSON.stringify(r));
  return text.split('\n').filter((l: string) => l.trim());
}

/**
 * osqueryd's serializeUpdateParameters refuses an INSERT or UPDATE (SQLITE_MISMATCH, before the
 * extension hears of it) that gives NULL to a column whose options are exactly INDEX or
 * REQUIRED, and with --extensions_default_index (default true) a column an extension declares
 * with op 0 is INDEX: the first such column given NULL, if any
 */
function nullInIndexColumn(values: string, columns: readonly ColumnRoute[]): string | undefined {
  const row = JSON.parse(values) as unknown[];
  return columns.find((c, i) => {
    const op = Number(c.op) || INDEX;
    return (op === INDEX || op === REQUIRED) && row[i] === null;
  })?.name;
}
const INDEX = 1;
const REQUIRED = 2;

interface CapturedWrite {
  table: string;
  action: 'insert' | 'update' | 'delete';
  rowid: number;
  /** the new row's values in column order, as a JSON array */
  values: string;
}

const WRITES = '__osquery_writes';

/** triggers that record every write to the loaded extension tables, in order */
function captureWrites(db: import('sql.js').Database, tables: ReadonlyMap<string, ColumnRoute[]>): void {
  if (!tables.size) return;
  db.run(`CREATE TEMP TABLE ${WRITES} (seq INTEGER PRIMARY KEY, tbl TEXT, action TEXT, row INTEGER, vals TEXT)`);
  for (const [name, columns] of tables) {
    const values = (row: string) => `json_array(${columns.map((c) => `${row}."${c.name}"`).join(', ')})`;
    const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
    db.run(
      `CREATE TEMP TRIGGER "${name}__ins" AFTER INSERT ON "${name}" BEGIN INSERT INTO ${WRITES} (tbl, action, row, vals) VALUES (${q(name)}, 'insert', NEW.rowid, ${values('NEW')}); END`,
    );
    db.run(
      `CREATE TEMP TRIGGER "${name}__upd" AFTER UPDATE ON "${name}" BEGIN INSERT INTO ${WRITES} (tbl, action, row, vals) VALUES (${q(name)}, 'update', OLD.rowid, ${values('NEW')}); END`,
    );
    db.run(
      `CREATE TEMP TRIGGER "${name}__del" AFTER DELETE ON "${name}" BEGIN INSERT INTO ${WRITES} (tbl, action, row, vals) VALUES (${q(name)}, 'delete', OLD.rowid, NULL); END`,
    );
  }
}

function takeWrites(db: import('sql.js').Database): CapturedWrite[] {
  const exists = db.exec(`SELECT 1 FROM sqlite_temp_master WHERE name = '${WRITES}'`);
  if (!exists.length) return [];
  const res = db.exec(`SELECT tbl, action, row, vals FROM ${WRITES} ORDER BY seq`);
  return (res[0]?.values ?? []).map(([table, action, rowid, values]) => ({
    table: String(table),
    action: action as CapturedWrite['action'],
    rowid: Number(rowid),
    values: values === null ? '' : String(values),
  }));
}

/** the tables of `among` a subquery in `table`'s WHERE reads (`id IN (SELECT id FROM …)`) */
function subqueryTables(sql: string, table: string, among: readonly string[]): string[] {
  const scan = scanOf(sql, table);
  if (!scan) return [];
  const inner = scan.conjuncts.flatMap((c) => {
    const deeper = c.filter((t) => t.depth > scan.depth);
    return deeper.some((t) => t.kind === 'word' && t.text === 'SELECT') ? [sourceOf(deeper, sql)] : [];
  });
  return referencedTables(inner.join(' '), among).filter((o) => o !== table);
}
