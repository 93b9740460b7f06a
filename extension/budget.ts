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
    watched: flag(options, 'enable_extensions_watchdog') === 'true',
    utilizationPercent: override('watchdog_utilization_limit') || UTILIZATION_BY_LEVEL[known],
    memoryMb: override('watchdog_memory_limit') || MEMORY_BY_LEVEL[known],
    level: Number(known),
  };
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
 * The budget the scorer paces to, or null to run unpaced. A configured `cpu_percent` wins
 * (0 turns pacing off); otherwise the watcher's limit applies when it watches extensions and
 * launched this process (osqueryd sets OSQUERY_EXTENSION in the environment of extensions it
 * autoloads; it watches no others).
 */
export function resolveBudget(
  options: Record<string, OptionInfo> | null,
  configured: number | null,
  env: NodeJS.ProcessEnv = process.env,
  cores: number = watcherCores(),
): CpuBudget | null {
  if (configured !== null) {
    return configured > 0 && configured < 100 ? { limitPercent: configured, cores, intervalMs: WATCH_INTERVAL_MS, source: 'config budget.cpu_percent' } : null;
  }
  if (!options || !env.OSQUERY_EXTENSION) return null;
  const limits = watchdogLimits(options);
  if (!limits.watched || limits.utilizationPercent >= 100) return null;
  return { limitPercent: limits.utilizationPercent, cores, intervalMs: WATCH_INTERVAL_MS, source: `osqueryd watchdog_level ${limits.level}` };
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
      : 'CPU not paced: osqueryd does not watch this extension and the config sets no budget.cpu_percent',
  );
  return budget;
}
