import type { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { installExtension, OsquerydEmulator, type EmulatorOptions } from '../../emulator';
import { DIST } from './paths';

// An emulated osqueryd with anomaly.ext installed the way osqueryd wants it: a copy of the
// launcher in a non-sticky directory, owned by us, mode 755, with its own state and config.

export interface Emulated {
  dir: string;
  stateDir: string;
  ext: string;
  emu: OsquerydEmulator;
  env: NodeJS.ProcessEnv;
  child: ChildProcess | null;
  stderr: string[];
  /** start the extension; unless `wait` is false, until it registered and its logger started */
  launch(opts?: { umask?: number; fileSizeBlocks?: number; wait?: boolean }): Promise<ChildProcess>;
  close(): Promise<void>;
}

export async function emulated(
  opts: {
    config?: Record<string, unknown>;
    interval?: number;
    /** osqueryd's --extensions_timeout, which the extension is launched with (its wait for the socket) */
    timeout?: number;
    users?: Array<{ uid: string; username: string }>;
    flags?: Record<string, string>;
    /** how the emulated osqueryd calls a table (emulator/calls.ts; its default is osquery ≥ 5.14's) */
    calls?: EmulatorOptions['calls'];
  } = {},
): Promise<Emulated> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-emu-'));
  const stateDir = path.join(dir, 'state');
  const ext = installExtension(dir);
  const configFile = path.join(dir, 'anomaly.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({ state_dir: stateDir, learning: { min_events: 200, min_days: 0 }, models: { rarity: true, ocsvm: true, lstm: false }, ...opts.config }),
  );
  const emu = new OsquerydEmulator({
    dir: path.join(dir, 'osquery'),
    interval: opts.interval ?? 1,
    timeout: opts.timeout ?? 5,
    users: opts.users,
    flags: opts.flags,
    calls: opts.calls,
  });
  await emu.start();
  // ANOMALY_CGROUP_ROOT: an empty folder, so that a CPU quota of the host running the tests (a
  // CI container's) does not pace the extension under test
  const cgroupRoot = path.join(dir, 'cgroup');
  fs.mkdirSync(cgroupRoot);
  const env: NodeJS.ProcessEnv = { ANOMALY_DIST: DIST, ANOMALY_CONFIG: configFile, ANOMALY_STATE_DIR: '', ANOMALY_CGROUP_ROOT: cgroupRoot };
  const stderr: string[] = [];
  const e: Emulated = {
    dir,
    stateDir,
    ext,
    emu,
    env,
    child: null,
    stderr,
    async launch(opts = {}) {
      // unset NODE_OPTIONS: tap's process-info hooks are for the test process, not for the
      // extension under test. tap writes them into every child's NODE_OPTIONS at spawn, whatever
      // `env` says (an empty value there did nothing), so the launching shell unsets it, as
      // bareNode's `env -u` does for a node child (the child here is the shell, which execs the
      // launcher, which execs node). With them the extension ran tap's signal-exit, which takes
      // back node's own ignoring of SIGXFSZ, and a file-size limit killed it (faults, RLIMIT_FSIZE case)
      const child = emu.launch(ext, { env, stderr: 'pipe', umask: opts.umask, fileSizeBlocks: opts.fileSizeBlocks, unsetEnv: ['NODE_OPTIONS'] });
      child.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
      e.child = child;
      if (opts.wait === false) return child;
      try {
        // no deadline: on a loaded host a start may take any time; one that cannot succeed
        // ends in an exit, which ends the wait
        await emu.waitFor('anomaly', Infinity, () =>
          child.exitCode !== null || child.signalCode !== null ? `it exited (${child.exitCode ?? child.signalCode})` : null,
        );
        await emu.startLogger('anomaly');
      } catch (err) {
        // say what the extension said: a failed start is otherwise a bare connection error
        throw new Error(
          `${(err as Error).message} (extension exit ${child.exitCode ?? 'none'} ${child.signalCode ?? ''}; registered ${JSON.stringify(emu.registered())}; its log:\n${stderr.join('').slice(-4000)})`,
        );
      }
      return child;
    },
    async close() {
      await emu.shutdown(5000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return e;
}

/**
 * the exit of a child process. No deadline: how long a stop takes depends on the host's
 * load, so a deadline would be a timing margin; a child that never exits is a failure
 * tap's per-test timeout reports
 */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/**
 * poll `fn` until `ok` holds. No deadline, for the same reason: a condition that never
 * comes is reported by tap's per-test timeout; an error from `fn` (a gone extension fails
 * its queries) ends the wait at once
 */
export async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await fn();
  while (!ok(v)) {
    await new Promise((r) => setTimeout(r, 200));
    v = await fn();
  }
  return v;
}

/** user 1000 running /usr/bin/ls as `cmdline`, in osqueryd's event format with every field it logs */
export const lsLine = (i: number, cmdline = 'ls -la') =>
  JSON.stringify({
    name: 'pack_user-behavior_process_events',
    hostIdentifier: 'h',
    calendarTime: 'Sat Nov 21 09:15:02 2026 UTC',
    unixTime: 1_790_000_000 + i,
    epoch: 0,
    counter: i,
    numerics: false,
    columns: { pid: String(i), path: '/usr/bin/ls', cmdline, auid: '1000', parent: '1' },
    action: 'added',
  });

/** a process_events result line of user `user` (auid), numbered `i` */
export const processLine = (i: number, user = '1000') =>
  JSON.stringify({
    name: 'pack_user-behavior_process_events',
    hostIdentifier: 'h',
    unixTime: 1_790_000_000 + i,
    action: 'added',
    columns: { pid: String(i), path: `/usr/bin/tool${i % 5}`, cmdline: `tool${i % 5} -n ${i}`, auid: user, parent: '1' },
  });

/**
 * An extension launched under the emulator (learning from 60 rows) that has scored one
 * process row of root's for each program, a second apart: the ids, oldest first, to label.
 * The caller closes it.
 */
export async function scoredPrograms(programs: readonly string[]): Promise<{ e: Emulated; ids: string[] }> {
  const e = await emulated({ config: { learning: { min_events: 60, min_days: 0 } } });
  await e.launch();
  for (const [i, path] of programs.entries())
    await e.emu.logResult(
      'anomaly',
      JSON.stringify({
        name: 'pack_user-behavior_process_events',
        hostIdentifier: 'h',
        unixTime: 1_790_000_000 + i,
        columns: { pid: String(i + 1), path, cmdline: `${path} -l 4444`, auid: '0', parent: '1' },
        action: 'added',
      }),
    );
  const rows = await until(
    () => e.emu.query('SELECT id FROM anomaly_scores ORDER BY time'),
    (r) => r.length === programs.length,
  );
  return { e, ids: rows.map((r) => r.id) };
}

const COUNTERS = ['received', 'accepted', 'rejected', 'queued', 'scored', 'dropped', 'set_aside'];

/** the logger's line counters from anomaly_models' `*` row */
export async function counters(e: Emulated): Promise<Record<string, number>> {
  // SELECT *: a counter a build lacks (the pre-hardening one had no received or set_aside)
  // shows as NaN and fails the checks on it, instead of failing the query
  const [row] = await e.emu.query("SELECT * FROM anomaly_models WHERE subject = '*'");
  return Object.fromEntries(COUNTERS.map((k) => [k, Number(row[k])]));
}
