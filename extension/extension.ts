import * as net from 'net';
import * as path from 'path';
import type { AnomalyConfig } from '../conf/config';
import { Pacer } from '../scorer/pacing';
import { ScoringService } from '../scorer/service';
import { RetainedScores } from '../state/scores';
import { RetainedWindows } from '../state/windows';
import type { ExtensionArgs } from './args';
import { CpuMonitor, readLimits } from './budget';
import {
  ExtensionClient,
  ManagerClient,
  RpcError,
  THRIFT_TIMEOUT_MS,
  toNumber,
  types,
  type ExtensionStatus,
  type InternalExtensionInfo,
  type Registry,
} from './client';
import { HostAccounts } from './host-accounts';
import { Ingest } from './ingest';
import { Throttled, type LogFn } from './log';
import { loggerPlugin } from './plugin/logger';
import type { Plugin } from './plugin/types';
import { DurableQueue } from './queue';
import { startServer, type ExtensionServer, type ServerLimits } from './server';
import { prepareStateDir } from './statedir';
import { feedbackTable } from './tables/feedback';
import { modelsTable } from './tables/models';
import { scoresTable } from './tables/scores';
import { windowsTable } from './tables/windows';
import { ALERT_QUERY, WARM_UP, warmUp } from './warm';
import { clearLeftoverCopies } from '../state/atomic';
import { nextTurn } from '../state/store';
import { lockStateDir, StateInUse } from '../state/lock';

// anomaly.ext's lifecycle, as osquery-go's ExtensionManagerServer has it: start (state,
// queue, plugins, registration, the server), run (the health check of the manager) and
// shutdown (deregister, stop taking calls, keep every acknowledged line, stop the scorer).

export const NAME = 'anomaly';
const VERSION: string = require('../../package.json').version;
/** osquery accepts an SDK version ≥ 1.7.7 or "0.0.0"/empty (protocol doc §3.3) */
const SDK_VERSION = '0.0.0';
/** how the extension names itself in the state directory's lock (state/lock.ts) */
const NAME_IN_LOCK = 'anomaly.ext';
/**
 * how long a shutdown waits for a registration asked before it (its answer, and the name given
 * back): the 1 s a deregistration is given, twice, well within the 15 s systemd allows
 */
const REGISTRATION_WAIT_MS = 2_000;
/** check that the manager still knows our uuid every this many intervals */
const UUID_CHECK_EVERY = 2;
/** how often a lock the full disk refused at start is tried again */
const LOCK_RETRY_MS = 5_000;
/**
 * osqueryd's status lines written to our log per batch, the rest counted: osqueryd flushes a
 * few, but a batch is whatever its sender makes it, and 16 MB holds 559,240 minimal entries,
 * each a line written in one go
 */
const STATUS_LINES_PER_BATCH = 100;

/** osquery's status severity (0 info, 1 warning, 2 error, 3 fatal) as one of three levels, and how each is logged */
const statusLevel = (severity: number): 0 | 1 | 2 => (severity >= 2 ? 2 : severity === 1 ? 1 : 0);
const STATUS_LOG_LEVELS = ['debug', 'warn', 'error'] as const;

export class ExitError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export class AnomalyExtension {
  private readonly manager: ManagerClient;
  private queue!: DurableQueue;
  /** gives the state directory's lock back (state/lock.ts) */
  private releaseState: (() => void) | null = null;
  /** tries again to take the lock a full disk refused at start */
  private lockRetry: NodeJS.Timeout | null = null;
  private scores!: RetainedScores;
  private windows!: RetainedWindows;
  private ingest!: Ingest;
  private feedback!: ReturnType<typeof feedbackTable>;
  private plugins: Plugin[] = [];
  private service: ScoringService | null = null;
  private ready!: Promise<ScoringService>;
  private server: ExtensionServer | null = null;
  private uuid = 0;
  private watchdog: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;
  /** the pauses a shutdown ends (pauseUnlessStopped) */
  private readonly wakeOnStop = new Set<() => void>();
  /** the last registration call (askForName): a shutdown waits for it to settle before it exits */
  private asking: Promise<ExtensionStatus | null> | null = null;
  /** the start under way (starting): a shutdown waits for it as for a registration, then closes what it opened */
  private startRun: Promise<void> | null = null;
  /** the scorer's start, once the stores are read: a shutdown ends it (its signal) and waits for it */
  private scorerStart: Promise<ScoringService> | null = null;
  private readonly say: Throttled;
  private readonly cpu = new CpuMonitor();

  constructor(
    private readonly args: ExtensionArgs,
    private readonly config: AnomalyConfig,
    private readonly log: LogFn,
    /** called once shut down, with the exit code */
    private readonly exit: (code: number) => void = (code) => process.exit(code),
    private readonly limits: Partial<ServerLimits> = {},
  ) {
    // calls whose answer is needed (registration, options, users) wait as osqueryd's own
    // calls do; the health check has its own shorter timeout and takes a late answer for slow
    this.manager = new ManagerClient(args.socket, THRIFT_TIMEOUT_MS);
    this.say = new Throttled(log, 60_000);
  }

  /**
   * state, queue, plugins, registration, server; throws ExitError when it cannot start. Once a
   * shutdown began, a start that fails ends with the shutdown instead: osqueryd stopping with
   * the extension drops the call a start is making, and that error (exit 1 in main.ts) cut the
   * shutdown short, its state unsaved and its exit code lost. The error is still logged: one
   * the stop did not cause (a bug in the start) would otherwise leave no trace
   */
  async start(): Promise<void> {
    try {
      await (this.startRun = this.starting());
    } catch (err) {
      if (!this.stopping) throw err;
      this.log('info', `the start, cut short by the shutdown, ended with: ${(err as Error).message}`);
    }
    return this.stopping ?? undefined;
  }

  /**
   * The start's steps. A shutdown ends each of its waits (pauseUnlessStopped, the paced read,
   * the scorer's start; a call to osqueryd it bounds by REGISTRATION_WAIT_MS), and once it has
   * begun the start opens nothing more: what it opens is kept on this object, which the
   * shutdown closes. Never awaits the shutdown, which waits for it.
   */
  private async starting(): Promise<void> {
    const { config, log } = this;
    try {
      prepareStateDir(config.state_dir);
    } catch (err) {
      throw new ExitError(73, (err as Error).message);
    }
    await this.holdStateDir();
    if (this.stopping) return;
    if (this.releaseState) {
      // (only with the lock: without it, 'anomaly train' may be writing a copy right now)
      clearLeftoverCopies(config.state_dir, log);
    }
    await this.waitForManager();
    if (this.stopping) return;
    this.cpu.start();
    const { budget, memoryWatched } = await readLimits(() => this.manager.options(), config.budget.cpu_percent, log);
    if (this.stopping) return;
    this.queue = new DurableQueue(path.join(config.state_dir, 'queue'), config.queue.max_bytes, log);
    // The retained scores are read after registration (RetainedScores.open): osqueryd gives
    // the logger --extensions_timeout to appear, and a million retained rows take longer than
    // its default 3 s to parse. Until they are read, tables wait for them and accepted lines
    // wait in the queue.
    let storesRead!: (stores: { scores: RetainedScores; windows: RetainedWindows }) => void;
    let storesFailed!: (err: unknown) => void;
    const stores = new Promise<{ scores: RetainedScores; windows: RetainedWindows }>((resolve, reject) => {
      storesRead = resolve;
      storesFailed = reject;
    });
    const scoresRead = stores.then((s) => s.scores);
    const windowsRead = stores.then((s) => s.windows);
    // a store that cannot be read shuts the extension down (below); a table call meanwhile
    // answers the error
    for (const read of [scoresRead, windowsRead]) read.catch(() => undefined);
    // Paced like the scorer's work: osqueryd's watcher checks a restarted extension from its
    // launch (its delay counts from osqueryd's own start), and a million retained rows read
    // flat out took 3.1 and 1.8 s of CPU in the first two 3 s checks (0.6 s allowed on two
    // cores); on a loaded host the same work spread over four checks or more, enough to stop
    // the extension, which would then read them again. Until they are read, tables wait. The
    // open windows' rows retained since their last save are read back the same way.
    const reading = new Pacer();
    reading.configure(budget);
    // a stop unpaces the read and ends the scorer's start
    const scorerStop = new AbortController();
    this.wakeOnStop.add(() => reading.release());
    this.wakeOnStop.add(() => scorerStop.abort(new Error('the extension stopped while its scorer started')));
    const between = async () => {
      await nextTurn();
      await reading.slice();
    };
    // the accounts the users table lists, read with the scorer's uid → name (every
    // usersRefreshSeconds): an answer with no room for every subject ranks them first
    const accounts = new HostAccounts();
    // scoring starts when the scorer is ready; until then accepted lines wait in the queue
    this.ready = stores.then(
      ({ scores, windows }) =>
        (this.scorerStart = ScoringService.start({
          config,
          log,
          scores,
          windows,
          budget,
          memoryWatched,
          between,
          lookupUsers: async () => {
            const res = await this.manager.query('SELECT uid, username FROM users');
            if (res.status.code !== 0) throw new Error(res.status.message);
            const users = res.response.map((r) => ({ uid: r.uid, username: r.username }));
            accounts.update(users);
            return users;
          },
          signal: scorerStop.signal,
        })),
    );
    this.ready.then(
      (s) => (this.service = s),
      (err) => {
        if (scorerStop.signal.aborted) return;
        log('error', `the scorer could not start: ${(err as Error).message}`);
        void this.shutdown(70, 'no scorer');
      },
    );
    this.ingest = new Ingest(this.queue, { score: async (lines, stopping, marks) => (await this.ready).score(lines, stopping, marks) }, config, log);
    this.feedback = feedbackTable({ feedback: async (r) => (await this.ready).feedback(r) }, config.state_dir, log);
    this.plugins = [
      loggerPlugin(NAME, {
        features: 1, // send status logs too, so osqueryd's own warnings reach our log
        result: (line) => this.ingest.accept(line),
        oversize: (bytes) => this.ingest.oversize(bytes),
        init: (name) => log('info', `logger started by ${name.slice(0, 100)}`),
        status: (entries) => {
          // past the bound the most severe are written (errors, then warnings, each in order): an
          // error after a hundred debug lines is what the bound must not hide
          const shown =
            entries.length <= STATUS_LINES_PER_BATCH
              ? entries
              : [2, 1, 0].flatMap((level) => entries.filter((e) => statusLevel(e.s) === level)).slice(0, STATUS_LINES_PER_BATCH);
          for (const e of shown) log(STATUS_LOG_LEVELS[statusLevel(e.s)], `osquery ${e.f}:${e.i} ${e.m}`);
          if (entries.length > STATUS_LINES_PER_BATCH)
            log(
              'warn',
              `osquery: ${entries.length - STATUS_LINES_PER_BATCH} more status lines of one batch not written here (the ${STATUS_LINES_PER_BATCH} most severe are)`,
            );
        },
      }),
      scoresTable(scoresRead, accounts),
      windowsTable(windowsRead, accounts),
      modelsTable({
        models: () => this.service?.models() ?? [],
        backend: () => this.service?.backend ?? '',
        counters: () => this.ingest.counters,
        cpuMsPerMinute: () => this.cpu.cpuMsPerMinute(),
        budgetMsPerMinute: () => this.service?.budgetMsPerMinute ?? null,
      }),
      this.feedback,
    ];
    // a stop that came before the name was ours leaves nothing registered: start() ends with it
    if (!(await this.register())) return;
    this.ingest.start();
    let windows: RetainedWindows | undefined;
    let scores: RetainedScores | undefined;
    try {
      const retention = { maxRows: config.retention.max_rows, maxDays: config.retention.max_days, log };
      const began = performance.now();
      windows = await RetainedWindows.open({ dir: path.join(config.state_dir, 'window-scores'), ...retention }, between);
      scores = await RetainedScores.open({ dir: path.join(config.state_dir, 'scores'), ...retention }, between);
      if (this.stopping) {
        // read after the shutdown began, which may have closed what it had: closed here, the scorer not started
        windows.close();
        scores.close();
        storesFailed(new Error('the extension stopped before the retained scores were read'));
        return;
      }
      // said whenever the read is paced, waited or not: whether it must wait depends on how much
      // CPU the host leaves the process (on a loaded one the read spreads out under the budget)
      if (budget)
        log(
          'info',
          `read the retained scores and windows in ${((performance.now() - began) / 1000).toFixed(1)} s, paced to ${budget.source} (waited ${(reading.waitedMs / 1000).toFixed(1)} s)`,
        );
      // before any line is scored: the cursor never passes rows the disk may not have
      this.queue.syncBeforeCursor([scores, windows]);
      this.windows = windows;
      this.scores = scores;
      storesRead({ scores, windows });
    } catch (err) {
      scores?.close();
      windows?.close();
      const why = `cannot read the retained scores and windows: ${(err as Error).message}`;
      log('error', why);
      void this.shutdown(73, why);
      storesFailed(err);
      return;
    }
    // after the stores are read and not awaited: it must not hold up start-up, and calls
    // that arrive meanwhile interleave with it
    if (this.server) void warmUp(this.server, [ALERT_QUERY], WARM_UP, log);
  }

  /** the manager socket, within --timeout (protocol doc §3.2), or a shutdown */
  private async waitForManager(): Promise<void> {
    const deadline = Date.now() + Math.max(this.args.timeout * 1000, 200);
    let last = '';
    while (Date.now() < deadline) {
      try {
        await new Promise<void>((resolve, reject) => {
          const c = net.createConnection(this.args.socket, () => {
            c.end();
            resolve();
          });
          c.on('error', reject);
        });
        return;
      } catch (err) {
        last = (err as Error).message;
      }
      await this.pauseUnlessStopped(200);
      if (this.stopping) return;
    }
    // EX_UNAVAILABLE, and what to do: run by hand, the usual cause is no osqueryd, or one
    // listening elsewhere (its --extensions_socket) or with extensions disabled
    throw new ExitError(
      69,
      `osquery extensions socket ${this.args.socket} not available after ${this.args.timeout} s (${last}); ` +
        'osqueryd starts anomaly.ext itself (--extensions_autoload or --extension): run by hand, start osqueryd first and pass its --extensions_socket as --socket',
    );
  }

  /**
   * register and serve; false when a shutdown began first. A shutdown ends the wait for a dead
   * holder's name: the stopped extension went on asking, and registered with osqueryd once the
   * name was free, after its shutdown had deregistered nothing
   */
  private async register(): Promise<boolean> {
    const registry: Registry = { table: {}, logger: {} };
    for (const p of this.plugins) registry[p.registry][p.name] = p.routes();
    const info = new types.InternalExtensionInfo({ name: NAME, version: VERSION, sdk_version: SDK_VERSION, min_sdk_version: SDK_VERSION });
    for (let waiting = false; ;) {
      if (this.stopping) return false;
      const status = await this.askForName(info, registry);
      if (!status) return false;
      if (status.code === 0) {
        this.uuid = toNumber(status.uuid);
        break;
      }
      if (!/duplicate/i.test(status.message)) throw new ExitError(1, `osqueryd refused the registration: ${status.message}`);
      const holder = await this.nameHolder();
      if (this.stopping) return false;
      if (!holder.gone) throw new ExitError(1, `osqueryd refused the registration: ${status.message} (${holder.what})`);
      if (!waiting) this.log('info', `registration refused (${status.message}): ${holder.what}; retrying until osqueryd's health check forgets it`);
      waiting = true;
      await this.pauseUnlessStopped(500);
    }
    const old = this.server;
    // No stop can come between the grant and the new server being this.server: startServer binds
    // a unix socket synchronously and resolves from a nextTick, and a stop always starts from an
    // event-loop callback (a signal, osqueryd's shutdown call). Keep it so: a wait added inside
    // startServer would let a stop close the old server and leave the new one listening
    // (branch sockrace's controls, docs/hardening.md).
    this.server = await startServer({
      path: `${this.args.socket}.${this.uuid}`,
      plugins: this.plugins,
      onShutdown: () => void this.shutdown(0, 'osqueryd asked the extension to shut down'),
      log: this.log,
      limits: this.limits,
    });
    if (old) void old.close();
    this.log('info', `registered as ${NAME} (uuid ${this.uuid}), serving ${this.server.path}`);
    return true;
  }

  /**
   * osqueryd's answer to a registration; null when a shutdown began meanwhile, the name given
   * back if it was granted. A shutdown waits for this (REGISTRATION_WAIT_MS): the give-back sent
   * after the answer, with the shutdown's exit already done, never reached osqueryd, which kept
   * the name for an extension that was gone
   */
  private askForName(info: InternalExtensionInfo, registry: Registry): Promise<ExtensionStatus | null> {
    this.asking = (async () => {
      const status = await this.manager.registerExtension(info, registry);
      if (!this.stopping) return status;
      if (status.code === 0) await this.manager.deregisterExtension(toNumber(status.uuid), 1000).catch(() => undefined);
      return null;
    })();
    return this.asking;
  }

  /** `ms`, or less when a shutdown begins */
  private pauseUnlessStopped(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeOnStop.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeOnStop.add(done);
    });
  }

  /**
   * Whether the extension that holds this one's name at the manager is gone. A previous
   * instance that died is forgotten only at the manager's next health check, and that check
   * comes late when a loaded host, or another extension slow to answer its ping, holds up the
   * watcher's round (one thread, one extension after another): a fixed wait (2 × --interval
   * + 1 s) gave up on a manager that was only slow. The refusal is waited out as long as the
   * holder's socket is missing or refuses; a holder that answers, or is only slow to, is alive.
   */
  private async nameHolder(): Promise<{ gone: boolean; what: string }> {
    const listed = await this.manager.extensions();
    const uuid = [...listed].find(([, info]) => info.name === NAME)?.[0];
    if (uuid === undefined) return { gone: true, what: 'no extension of that name is listed any more' };
    try {
      await new ExtensionClient(`${this.args.socket}.${uuid}`).ping(this.pingTimeoutMs());
      return { gone: false, what: `uuid ${uuid}, which holds the name, answers its pings` };
    } catch (err) {
      if (err instanceof RpcError && err.peerGone) return { gone: true, what: `uuid ${uuid}, which holds the name, is gone (${err.code})` };
      return { gone: false, what: `uuid ${uuid}, which holds the name, is not taken for gone: ${(err as Error).message}` };
    }
  }

  /** health-check the manager every --interval until shutdown */
  run(): void {
    if (this.stopping) return;
    let tick = 0;
    let checking = false;
    this.watchdog = setInterval(async () => {
      if (checking || this.stopping) return;
      checking = true;
      try {
        if (!(await this.managerAlive())) return void this.shutdown(0, 'osquery core has gone away');
        if (++tick % UUID_CHECK_EVERY === 0) {
          const ids = await this.manager.extensions(this.pingTimeoutMs());
          // a shutdown that began while the question was out has deregistered on purpose: the
          // answer no longer says anything about a restarted osqueryd
          if (!ids.has(this.uuid) && !this.stopping) {
            // the osqueryd worker was restarted by its watchdog: a new manager that never heard of us
            this.log('warn', `osqueryd no longer lists uuid ${this.uuid}; registering again`);
            await this.register();
          }
        }
      } catch (err) {
        this.say.say('health', 'warn', `health check: ${(err as Error).message}`);
      } finally {
        checking = false;
      }
    }, this.args.interval * 1000);
  }

  private pingTimeoutMs(): number {
    return Math.max(this.args.timeout, this.args.interval, 5) * 1000;
  }

  /**
   * False only when the manager's socket is gone or refuses connections for all of
   * --timeout. A slow answer (a loaded host) or trouble on our side (out of file
   * descriptors) is not a vanished manager: it is logged and checked again next time.
   */
  private async managerAlive(): Promise<boolean> {
    const deadline = Date.now() + this.args.timeout * 1000;
    for (;;) {
      try {
        await this.manager.ping(this.pingTimeoutMs());
        return true;
      } catch (err) {
        if (!(err instanceof RpcError) || !err.peerGone) {
          this.say.say('ping', 'warn', `health check: ${(err as Error).message}; not taken for a vanished osqueryd`);
          return true;
        }
        if (Date.now() >= deadline) {
          this.log('info', `the manager socket is gone: ${err.message}`);
          return false;
        }
      }
      await sleep(200);
    }
  }

  /** the state directory's lock (state/lock.ts), or its retry when the disk is full; none once a shutdown began */
  private async holdStateDir(): Promise<void> {
    // An anomaly.ext that holds the lock is most likely this one's predecessor, still saving
    // its subjects after osqueryd restarted (a stop waits for one scoring batch and a save;
    // osqueryd kills it alarm_timeout − 4 s after asking): this one waits for it to go, as
    // long as it lives. 'anomaly train' or 'score' hold the lock for minutes: osqueryd starts
    // this one again later.
    for (let said = false; !this.releaseState;) {
      try {
        this.releaseState = lockStateDir(this.config.state_dir, NAME_IN_LOCK);
      } catch (err) {
        if (noSpace(err)) {
          // A full disk refuses even the lock's few bytes. Exiting 73 for it made a restart on
          // a full disk fail (osqueryd with --extensions_require fails its own start), where
          // the extension answers lines and counts them dropped until space comes back: it
          // starts without the lock and takes it as soon as the disk lets it
          this.log(
            'error',
            `state directory ${this.config.state_dir}: cannot write its lock (${(err as Error).message}); started without it, taken once the disk has room ('anomaly train' or 'score' are not kept out meanwhile)`,
          );
          this.lockLater(this.config.state_dir);
          return;
        }
        if (!(err instanceof StateInUse)) throw new ExitError(73, `state directory ${this.config.state_dir}: cannot take its lock (${(err as Error).message})`);
        if (err.holder !== NAME_IN_LOCK) throw new ExitError(75, `${err.message}; not started, so that neither saves over the other's files`);
        if (!said) this.log('warn', `${err.message}; waiting for it to stop before starting`);
        said = true;
        await this.pauseUnlessStopped(200);
        if (this.stopping) return;
      }
    }
  }

  /** take the state directory's lock once the disk has room for it (start(), full disk) */
  private lockLater(dir: string): void {
    let said = false;
    this.lockRetry = setInterval(() => {
      if (this.stopping) return;
      try {
        this.releaseState = lockStateDir(dir, NAME_IN_LOCK);
        if (this.lockRetry) clearInterval(this.lockRetry);
        this.lockRetry = null;
        this.log('info', `state directory ${dir}: its lock is taken now`);
      } catch (err) {
        // another took it meanwhile (train into the directory of this running extension): said
        // once; it is taken when that one is done
        if (err instanceof StateInUse && !said) this.log('error', `${err.message}, while this extension runs without the lock: its files may be saved over`);
        said ||= err instanceof StateInUse;
      }
    }, LOCK_RETRY_MS);
    this.lockRetry.unref();
  }

  /** deregister, stop taking calls, keep what was acknowledged, stop the scorer, exit */
  shutdown(code: number, why: string): Promise<void> {
    this.stopping ??= (async () => {
      // The shutdown holds the event loop until it exits: the waits it ends on its way (the
      // ingest's gathering pause, paced reads) are unref'd so that none keeps a process alive on
      // its own, and with the scorer abandoned during its start no worker holds the loop either.
      // Node then ended the process in the ingest's stop, exit 0, the scorer unsaved and the
      // state directory's lock left behind (test/state-lock, the full-disk restart).
      const hold = setInterval(() => undefined, 60_000);
      // A step that fails is logged and the shutdown goes on: thrown, it rejected this promise,
      // which a signal's handler does not await (Node's unhandled rejection, exit 1) and start()
      // returns (main.ts's exit 1), the scorer unsaved and the state directory's lock left behind
      const step = async (what: string, run: () => unknown): Promise<void> => {
        try {
          await run();
        } catch (err) {
          this.log('error', `shutting down, ${what}: ${(err as Error).message}`);
        }
      };
      try {
        this.log('info', `shutting down: ${why}`);
        await step('waking the start', () => {
          for (const wake of [...this.wakeOnStop]) wake();
          if (this.watchdog) clearInterval(this.watchdog);
          if (this.lockRetry) clearInterval(this.lockRetry);
          this.cpu.stop();
          // the batch under way ends before the ingest stops and the state is saved: unpaced from
          // here, or a paced one outlasts the 15 s systemd gives osqueryd's unit after SIGTERM
          this.service?.hurry();
        });
        // the start ends with the stop but for a call to osqueryd, as a registration asked
        await settledWithin(Promise.allSettled([this.asking, this.startRun]), REGISTRATION_WAIT_MS);
        await this.scorerStart?.catch(() => undefined);
        if (this.uuid) await this.manager.deregisterExtension(this.uuid, 1000).catch(() => undefined);
        // the queue stays open until no call can arrive any more: a line answered 0 is a line kept
        await step('closing the server', () => this.server?.close());
        await step('stopping the ingest', () => this.ingest?.stop());
        await step('closing the queue', () => this.queue?.close());
        await step('closing the feedback', () => this.feedback?.close());
        await step('closing the scorer', () => this.service?.close());
        await step('closing the retained scores', () => this.scores?.close());
        await step('closing the retained windows', () => this.windows?.close());
        await step('giving back the state directory', () => this.releaseState?.());
        this.exit(code);
      } finally {
        clearInterval(hold);
      }
    })();
    return this.stopping;
  }
}

/** the disk (or the quota) has no room */
function noSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** `p` settled, or `ms` passed */
function settledWithin(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    p.then(done, done);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
