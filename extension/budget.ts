import * as fs from 'fs';
import * as os from 'os';
import { budgetMsPerMinute, TARGET_SHARE, type CpuBudget } from '../scorer/pacing';

// Which CPU limit osqueryd's watcher holds this extension to, worked out from osqueryd's own
// flags (the manager's options()) the way osquery/core/watcher.cpp does, unless the config
// sets one (budget.cpu_percent).

/** one entry of the manager's options(): every gflag as strings (protocol doc §3) */
export interface OptionInfo {
  value?: string;
  default_value?: string;
  type?: string;
}

/** the watcher's check interval (WatchdogLimitType::INTERVAL, the same at every level) */
export const WATCH_INTERVAL_MS = 3000;
/** UTILIZATION_LIMIT per watchdog_level: 0 normal, 1 restrictive, -1 off */
const UTILIZATION_BY_LEVEL: Record<string, number> = { '0': 10, '1': 5, '-1': 100 };
/** MEMORY_LIMIT per level, MB of resident growth over the first sample */
const MEMORY_BY_LEVEL: Record<string, number> = { '0': 200, '1': 100, '-1': 10000 };

export interface WatchdogLimits {
  /** false when osqueryd does not apply its watchdog to extensions at all */
  watched: boolean;
  utilizationPercent: number;
  memoryMb: number;
  level: number;
}

const flag = (options: Record<string, OptionInfo>, name: string): string | undefined => options[name]?.value ?? options[name]?.default_value;

/** a boolean gflag's value as gflags reads one (true/t/yes/y/1, false/f/no/n/0, any case); undefined: absent or neither */
function boolFlag(options: Record<string, OptionInfo>, name: string): boolean | undefined {
  const v = flag(options, name)?.trim().toLowerCase();
  if (v === undefined) return undefined;
  if (['true', 't', 'yes', 'y', '1'].includes(v)) return true;
  if (['false', 'f', 'no', 'n', '0'].includes(v)) return false;
  return undefined;
}

/** getWorkerLimit() of watcher.cpp, from the flags osqueryd reported */
export function watchdogLimits(options: Record<string, OptionInfo>): WatchdogLimits {
  const level = flag(options, 'watchdog_level') ?? '0';
  // own keys only: `in` also finds 'toString' and 'constructor' on the table's prototype
  const known = Object.hasOwn(UTILIZATION_BY_LEVEL, level) ? level : '0';
  const override = (name: string) => {
    const v = Number(flag(options, name) ?? 0);
    return Number.isFinite(v) && v > 0 ? v : 0;
  };
  return {
    // the watcher checks an extension's CPU and memory only with this flag (watchExtensions)
    watched: boolFlag(options, 'enable_extensions_watchdog') === true,
    utilizationPercent: override('watchdog_utilization_limit') || UTILIZATION_BY_LEVEL[known],
    memoryMb: override('watchdog_memory_limit') || MEMORY_BY_LEVEL[known],
    level: Number(known),
  };
}

/**
 * Whether osqueryd's watcher may count this process's resident memory: false only when
 * osqueryd's options() said that it watches no extension (enable_extensions_watchdog false);
 * options not read (a configured budget.cpu_percent, an osqueryd that did not answer), it may.
 * The scorer thread then collects its garbage after each fit (scorer/heap.ts), which the watcher
 * would otherwise count as growth.
 */
export function memoryWatched(options: Record<string, OptionInfo> | null): boolean {
  // not watchdogLimits' `watched`, which takes an absent flag for osquery's default (off): an
  // osqueryd that does not report it, or a value gflags would not read, may still count the growth
  return options === null || boolFlag(options, 'enable_extensions_watchdog') !== false;
}

/**
 * The cores watcher.cpp scales the limit by: kNumOfCPUs = boost::thread::physical_concurrency(),
 * which on Linux counts the distinct (physical id, core id) pairs of /proc/cpuinfo and falls
 * back to the logical count when there are none, or a line is not `key: value`. Hyperthreads
 * do not count: on a 4-vCPU host with two threads per core the limit at level 0 is 600 ms of
 * CPU per 3 s, not 1,200 (os.cpus() says 4).
 */
export function watcherCores(cpuinfo: string | null = readCpuinfo(), logical: number = os.cpus().length || 1): number {
  if (cpuinfo === null) return logical;
  const cores = new Set<string>();
  let physical = '0';
  for (const line of cpuinfo.split('\n')) {
    if (!line) continue;
    const parts = line.split(':');
    if (parts.length !== 2) return logical;
    const key = parts[0].trim();
    const value = parts[1].trim();
    if (key === 'physical id') physical = value;
    else if (key === 'core id') cores.add(`${physical}/${value}`);
  }
  return cores.size || logical;
}

function readCpuinfo(): string | null {
  try {
    return fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return null;
  }
}

/**
 * The share of its cgroup's CPU quota the extension keeps to. osqueryd and the extensions it
 * starts are one cgroup: osquery's own systemd unit sets CPUQuota=20% (0.2 CPU for osqueryd,
 * its audit and inotify readers, and this extension together), and an unpaced training would
 * take all of it for as long as it runs, osqueryd's readers waiting behind it.
 */
export const CGROUP_SHARE = 0.5;

/**
 * CPUs the cgroup of this process may use, the smallest quota from its own cgroup up to the
 * root (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us` of the cpu
 * controller, under /sys/fs/cgroup); null when none is set. `read` gives a file's text or null.
 */
export function cgroupCpus(read: (file: string) => string | null = cgroupReader()): number | null {
  const self = read('/proc/self/cgroup');
  if (self === null) return null;
  let smallest: number | null = null;
  const keep = (cpus: number) => {
    if (Number.isFinite(cpus) && cpus > 0 && (smallest === null || cpus < smallest)) smallest = cpus;
  };
  for (const line of self.split('\n')) {
    const m = /^\d+:([^:]*):(\/.*)$/.exec(line.trim());
    if (!m) continue;
    const [, controllers, at] = m;
    const v2 = controllers === '';
    if (!v2 && !controllers.split(',').includes('cpu')) continue;
    const mount = v2 ? '/sys/fs/cgroup' : `/sys/fs/cgroup/${controllers}`;
    for (let dir = at; ; dir = dir.slice(0, dir.lastIndexOf('/')) || '/') {
      const base = `${mount}${dir === '/' ? '' : dir}`;
      if (v2) {
        const [quota, period] = (read(`${base}/cpu.max`) ?? 'max').trim().split(/\s+/);
        if (quota !== 'max') keep(Number(quota) / Number(period || 100000));
      } else {
        const quota = Number(read(`${base}/cpu.cfs_quota_us`) ?? -1);
        if (quota > 0) keep(quota / Number(read(`${base}/cpu.cfs_period_us`) ?? 100000));
      }
      if (dir === '/') break;
    }
  }
  return smallest;
}

/**
 * A reader of /proc/self/cgroup and /sys/fs/cgroup under the folder ANOMALY_CGROUP_ROOT names,
 * else under /. The tests name an empty one for the extensions they launch: the host running
 * them may itself have a CPU quota (a CI runner in docker --cpus=2 on a 32-core host is 3.1 %
 * of its cores, under watchdog_level 1's 5 %), which would pace what they expect unpaced.
 */
export function cgroupReader(env: NodeJS.ProcessEnv = process.env): (file: string) => string | null {
  const root = env.ANOMALY_CGROUP_ROOT || '';
  return (file) => readText(root + file);
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/**
 * The budget the scorer paces to, or null to run unpaced. A configured `cpu_percent` wins
 * (0 turns pacing off). Otherwise, for a process osqueryd launched (it sets OSQUERY_EXTENSION
 * in the environment of extensions it autoloads; it watches no others), the tighter of the
 * watcher's limit, when it watches extensions, and CGROUP_SHARE of the cgroup's CPU quota,
 * which osqueryd shares with it.
 */
export function resolveBudget(
  options: Record<string, OptionInfo> | null,
  configured: number | null,
  env: NodeJS.ProcessEnv = process.env,
  cores: number = watcherCores(),
  quotaCpus: number | null = cgroupCpus(cgroupReader(env)),
): CpuBudget | null {
  if (configured !== null) {
    return configured > 0 && configured < 100 ? { limitPercent: configured, cores, intervalMs: WATCH_INTERVAL_MS, source: 'config budget.cpu_percent' } : null;
  }
  if (!env.OSQUERY_EXTENSION) return null;
  const limits = options ? watchdogLimits(options) : null;
  const watchdog: CpuBudget | null =
    limits && limits.watched && limits.utilizationPercent < 100
      ? { limitPercent: limits.utilizationPercent, cores, intervalMs: WATCH_INTERVAL_MS, source: `osqueryd watchdog_level ${limits.level}` }
      : null;
  // the quota as a percent of the same cores, so that both budgets are read alike
  const quotaPercent = quotaCpus === null ? 100 : (CGROUP_SHARE * quotaCpus * 100) / cores;
  if (quotaPercent >= 100 || (watchdog && watchdog.limitPercent <= quotaPercent)) return watchdog;
  return {
    limitPercent: quotaPercent,
    cores,
    intervalMs: WATCH_INTERVAL_MS,
    source: `${Math.round(CGROUP_SHARE * 100)} % of the cgroup's CPU quota of ${+quotaCpus!.toFixed(2)} CPU, shared with osqueryd (systemd CPUQuota)`,
  };
}

/**
 * CPU the whole process used over the last minute, sampled as the watcher samples it, for
 * anomaly_models. Sampling is a getrusage call every interval on an unref'd timer.
 */
export class CpuMonitor {
  private readonly samples: Array<{ t: number; cpu: number }> = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly cpu: () => number = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    },
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(intervalMs = WATCH_INTERVAL_MS): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  sample(): void {
    const t = this.now();
    this.samples.push({ t, cpu: this.cpu() });
    while (this.samples.length > 2 && t - this.samples[1].t >= 60_000) this.samples.shift();
  }

  /** CPU ms used per minute of wall time, over the last minute (less just after start) */
  cpuMsPerMinute(): number {
    const t = this.now();
    const cpu = this.cpu();
    const first = this.samples[0];
    if (!first || t - first.t <= 0) return 0;
    return Math.round(((cpu - first.cpu) * 60_000) / (t - first.t));
  }
}

/**
 * The budget for this process: the manager's options() through `fetchOptions`, then
 * resolveBudget. osqueryd not answering options() leaves only a configured limit.
 */
export async function readBudget(
  fetchOptions: () => Promise<Record<string, OptionInfo>>,
  configured: number | null,
  log: (level: 'info' | 'warn', msg: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<CpuBudget | null> {
  return (await readLimits(fetchOptions, configured, log, env)).budget;
}

/** readBudget's budget, and whether osqueryd's watcher may count this process's memory (memoryWatched) */
export async function readLimits(
  fetchOptions: () => Promise<Record<string, OptionInfo>>,
  configured: number | null,
  log: (level: 'info' | 'warn', msg: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ budget: CpuBudget | null; memoryWatched: boolean }> {
  let options: Record<string, OptionInfo> | null = null;
  if (configured === null) {
    try {
      options = await fetchOptions();
    } catch (err) {
      log('warn', `could not read osqueryd's options (${(err as Error).message}); scoring is not paced`);
    }
  }
  const budget = resolveBudget(options, configured, env);
  log(
    'info',
    budget
      ? `pacing the scorer to ${budgetMsPerMinute(budget)} ms of CPU per minute: ${Math.round(TARGET_SHARE * 100)} % of a ${budget.limitPercent} % limit of ${budget.cores} cores (${budget.source})`
      : 'CPU not paced: osqueryd does not watch this extension, its cgroup has no CPU quota, and the config sets no budget.cpu_percent',
  );
  return { budget, memoryWatched: memoryWatched(options) };
}
