import * as os from 'os';
import t from 'tap';
import { OsquerydEmulator } from '../emulator';
import { cgroupCpus, readBudget, readLimits, resolveBudget, watchdogLimits, watcherCores, type OptionInfo } from '../extension/budget';
import { ManagerClient } from '../extension/client';
import { MAX_WAIT_MS, Pacer, TARGET_SHARE, type CpuBudget, type PacerEnv } from '../scorer/pacing';
import { anomaly } from './helpers/cli';
import { emulated, until } from './helpers/emulated';
import * as fs from 'fs';
import * as path from 'path';

// The pacer's arithmetic on a simulated clock and CPU meter (nothing here depends on how
// fast this machine is), then the way osqueryd's options reach it.

/** a simulated process: wall time and CPU time in whole ms, CPU recorded per ms */
class Sim implements PacerEnv {
  t = 0;
  used = 0;
  readonly perMs: number[] = [];
  /** CPU ms per wall ms the process spends outside the paced work (Thrift thread, GC) */
  constructor(readonly background = 0) {}
  now(): number {
    return this.t;
  }
  cpu(): number {
    return this.used;
  }
  async sleep(ms: number): Promise<void> {
    this.advance(ms, 0);
  }
  /** one thread busy for `ms` */
  work(ms: number): void {
    this.advance(ms, 1);
  }
  private advance(ms: number, busy: number): void {
    for (let i = 0; i < ms; i++) {
      this.perMs.push(busy + this.background);
      this.used += busy + this.background;
    }
    this.t += ms;
  }
  /** the most CPU in any window of `windowMs`, at every phase */
  maxWindow(windowMs: number): number {
    let sum = 0;
    let max = 0;
    for (let i = 0; i < this.perMs.length; i++) {
      sum += this.perMs[i];
      if (i >= windowMs) sum -= this.perMs[i - windowMs];
      max = Math.max(max, sum);
    }
    return max;
  }
  /** the watcher's count: over-limit 3 s intervals in a row, longest streak, at one phase */
  longestStreak(limitMs: number, phase: number): number {
    let streak = 0;
    let longest = 0;
    for (let start = phase; start + 3000 <= this.perMs.length; start += 3000) {
      let used = 0;
      for (let i = start; i < start + 3000; i++) used += this.perMs[i];
      streak = used > limitMs ? streak + 1 : 0;
      longest = Math.max(longest, streak);
    }
    return longest;
  }
}

const budget = (cores: number, limitPercent = 10): CpuBudget => ({ limitPercent, cores, intervalMs: 3000, source: 'test' });

async function runPaced(sim: Sim, pacer: Pacer, sliceMs: number, wallMs: number): Promise<number> {
  let done = 0;
  while (sim.t < wallMs) {
    await pacer.slice();
    sim.work(sliceMs);
    done += sliceMs;
  }
  return done;
}

t.test('work flat out on 2 cores stays under the watcher limit in every 3 s window', async (t) => {
  const sim = new Sim();
  const pacer = new Pacer(sim);
  pacer.configure(budget(2));
  const done = await runPaced(sim, pacer, 20, 120_000);
  const limit = 600; // 10 % of 2 cores × 3 s
  t.ok(sim.maxWindow(3000) <= limit, `most CPU in any 3 s window: ${sim.maxWindow(3000)} ms of ${limit}`);
  t.ok(sim.maxWindow(3000) <= TARGET_SHARE * limit * 1.1 + 20, 'within the target share plus one slice');
  // and it does not waste the budget: the long-run rate is close to the target
  const share = done / 120_000 / (0.1 * 2);
  t.ok(share > TARGET_SHARE * 0.9 && share <= TARGET_SHARE * 1.02, `long-run use ${(share * 100).toFixed(1)} % of the limit`);
});

t.test('CPU of unpaced threads is charged too, so the scorer leaves them room', async (t) => {
  const sim = new Sim(0.05); // the Thrift thread and GC: 5 % of a core
  const pacer = new Pacer(sim);
  pacer.configure(budget(2));
  await runPaced(sim, pacer, 20, 60_000);
  t.ok(sim.maxWindow(3000) <= 600, `most CPU in any 3 s window: ${sim.maxWindow(3000).toFixed(0)} ms of 600`);
});

t.test('on larger hosts the same work needs no waiting at all', async (t) => {
  const sim = new Sim();
  const pacer = new Pacer(sim);
  pacer.configure(budget(16)); // 16 cores × 10 % = 1.6 cores: one busy thread is under it
  await runPaced(sim, pacer, 20, 30_000);
  t.equal(pacer.waitedMs, 0);
  t.ok(sim.maxWindow(3000) <= 4800);
});

t.test('restrictive level: 5 % of 2 cores', async (t) => {
  const sim = new Sim();
  const pacer = new Pacer(sim);
  pacer.configure(budget(2, 5));
  await runPaced(sim, pacer, 10, 60_000);
  t.ok(sim.maxWindow(3000) <= 300, `most CPU in any 3 s window: ${sim.maxWindow(3000)} ms of 300`);
});

t.test('one slice far over budget costs strikes but never the 12 s that stop the extension', async (t) => {
  const sim = new Sim();
  const pacer = new Pacer(sim);
  pacer.configure(budget(2));
  await pacer.slice();
  sim.work(5000); // e.g. a model fit that cannot be sliced
  await runPaced(sim, pacer, 20, 90_000);
  for (const phase of [0, 700, 1500, 2300])
    t.ok(sim.longestStreak(600, phase) < 4, `phase ${phase} ms: longest streak ${sim.longestStreak(600, phase)} intervals`);
});

t.test('unpaced: no budget, no waiting', async (t) => {
  const sim = new Sim();
  const pacer = new Pacer(sim);
  pacer.configure(null);
  await runPaced(sim, pacer, 20, 10_000);
  t.equal(pacer.waitedMs, 0);
  t.equal(pacer.budgetMsPerMinute, null);
  pacer.configure(budget(2, 100));
  t.equal(pacer.current, null, 'a 100 % limit is no limit');
});

t.test('when unpaced threads alone use the whole allowance, scoring still moves', async (t) => {
  const sim = new Sim(0.2); // over the 0.14 CPU ms/ms the pacer allows on 2 cores
  const pacer = new Pacer(sim);
  pacer.configure(budget(2));
  await runPaced(sim, pacer, 20, 3 * MAX_WAIT_MS);
  t.ok(pacer.starved >= 1, 'it gave up waiting');
  // the waits it gave up on were waited all the same: anomaly.ext says how long a paced read
  // of its retained scores waited, and said 0.0 s after 181 s of such waits
  t.ok(pacer.waitedMs >= pacer.starved * MAX_WAIT_MS, `every wait counted: ${pacer.waitedMs} ms for ${pacer.starved} given up`);
  t.equal(pacer.budgetMsPerMinute, Math.round(TARGET_SHARE * 0.1 * 2 * 60_000));
});

// systemd gives osqueryd's unit TimeoutStopSec=15 and KillMode=control-group: the extension
// gets SIGTERM with osqueryd and is killed 15 s later. Its scorer thread saves on close, after
// the request under way; paced (at half of the unit's 0.2 CPU quota), that request took 22.5 s
// to end after a SIGTERM, in a run through the emulator (docs/hardening.md, newcomer4).
t.test('release() ends pacing at once, a wait under way included: a shutdown does not wait for the budget', async (t) => {
  /** a clock that moves only when told: a sleep lasts until the test moves it */
  class Stalled implements PacerEnv {
    t = 0;
    used = 0;
    sleeping: number[] = [];
    now = () => this.t;
    cpu = () => this.used;
    sleep = (ms: number) => {
      this.sleeping.push(ms);
      return new Promise<void>(() => {});
    };
  }
  const env = new Stalled();
  const pacer = new Pacer(env);
  pacer.configure(budget(2));
  env.used = 10_000; // far over: the next slice waits
  let done = false;
  const slice = pacer.slice().then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  t.same(env.sleeping, [MAX_WAIT_MS], 'it waits, as long as it may');
  t.notOk(done);
  pacer.release();
  await slice;
  t.ok(done, 'released: the wait ends without the clock moving');
  t.equal(pacer.current, null, 'and nothing is paced after it');
  env.used += 10_000;
  await pacer.slice();
  t.equal(env.sleeping.length, 1, 'the next slice does not wait');
});

const opts = (o: Record<string, string>): Record<string, OptionInfo> =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, { value: v, default_value: '', type: 'string' }]));
const launched = { OSQUERY_EXTENSION: '1234' };

t.test('the limit follows watcher.cpp: level, override, extensions watchdog on or off', async (t) => {
  t.same(watchdogLimits(opts({ enable_extensions_watchdog: 'true' })), { watched: true, utilizationPercent: 10, memoryMb: 200, level: 0 });
  t.same(watchdogLimits(opts({ enable_extensions_watchdog: 'true', watchdog_level: '1' })), { watched: true, utilizationPercent: 5, memoryMb: 100, level: 1 });
  t.equal(watchdogLimits(opts({ watchdog_level: '1', watchdog_utilization_limit: '20' })).utilizationPercent, 20);
  // a level that is not one of the three is the default, even one that names a property every
  // object has: `in` found 'toString' and 'constructor' on the table's prototype, and the
  // limit became a function (NaN ms per minute once multiplied)
  for (const level of ['toString', 'constructor', '__proto__', '7'])
    t.same(
      watchdogLimits(opts({ enable_extensions_watchdog: 'true', watchdog_level: level })),
      { watched: true, utilizationPercent: 10, memoryMb: 200, level: 0 },
      `watchdog_level ${level}: the default level`,
    );
  t.equal(resolveBudget(opts({ enable_extensions_watchdog: 'false' }), null, launched, 2, null), null, 'extensions not watched');
  t.equal(resolveBudget(opts({ enable_extensions_watchdog: 'true', watchdog_level: '-1' }), null, launched, 2, null), null, 'level -1 allows 100 %');
  t.equal(resolveBudget(opts({ enable_extensions_watchdog: 'true' }), null, {}, 2), null, 'not launched by osqueryd: not watched');
  t.match(resolveBudget(opts({ enable_extensions_watchdog: 'true' }), null, launched, 4, null), { limitPercent: 10, cores: 4 });
  t.match(resolveBudget(null, 25, {}, 2), { limitPercent: 25, source: 'config budget.cpu_percent' }, 'the config wins');
  t.equal(resolveBudget(opts({ enable_extensions_watchdog: 'true' }), 0, launched, 2), null, 'budget.cpu_percent 0 turns pacing off');
});

t.test("the scorer collects a fit's garbage unless osqueryd says it watches no extension's memory", async (t) => {
  const noLog = () => {};
  const read = (o: Record<string, string>, configured: number | null = null) => readLimits(async () => opts(o), configured, noLog, launched);
  t.equal((await read({ enable_extensions_watchdog: 'false' })).memoryWatched, false, 'extensions not watched');
  t.equal((await read({ enable_extensions_watchdog: 'true' })).memoryWatched, true, 'watched');
  t.equal((await read({ enable_extensions_watchdog: 'true' }, 0)).memoryWatched, true, 'budget.cpu_percent 0 (options not read): assumed watched');
  t.equal((await read({ enable_extensions_watchdog: 'false' }, 25)).memoryWatched, true, 'a configured budget (options not read): assumed watched');
  const failing = await readLimits(() => Promise.reject(new Error('no answer')), null, noLog, launched);
  t.same(failing, { budget: null, memoryWatched: true }, 'osqueryd did not answer: assumed watched');
  // only an explicit "no" lets the scorer skip its collections: an osqueryd that reports no such
  // flag, or spells "yes" as gflags also accepts it, may still count the growth
  t.equal((await read({ watchdog_level: '0' })).memoryWatched, true, 'options without enable_extensions_watchdog: assumed watched');
  t.equal((await read({ enable_extensions_watchdog: 'TRUE' })).memoryWatched, true, '"TRUE": watched');
  t.equal((await read({ enable_extensions_watchdog: '1' })).memoryWatched, true, '"1": watched');
  t.equal((await read({ enable_extensions_watchdog: '' })).memoryWatched, true, 'an empty value: assumed watched');
  t.equal((await read({ enable_extensions_watchdog: '0' })).memoryWatched, false, '"0": not watched');
  t.equal((await read({ enable_extensions_watchdog: 'FALSE' })).memoryWatched, false, '"FALSE": not watched');
  t.equal(watchdogLimits(opts({ enable_extensions_watchdog: '1' })).watched, true, 'and the CPU limit reads "1" as gflags does');
});

/** a reader of the files cgroupCpus looks at, from a map of their texts */
const files =
  (texts: Record<string, string>) =>
  (file: string): string | null =>
    texts[file] ?? null;

t.test("the cgroup's CPU quota, which osqueryd's own systemd unit sets, is read from cgroup v2 and v1", async (t) => {
  // osquery's deb and rpm units: CPUQuota=20%, i.e. cpu.max "20000 100000" on the service's cgroup
  const unit = '0::/system.slice/osqueryd.service\n';
  t.equal(cgroupCpus(files({ '/proc/self/cgroup': unit, '/sys/fs/cgroup/system.slice/osqueryd.service/cpu.max': '20000 100000\n' })), 0.2);
  t.equal(cgroupCpus(files({ '/proc/self/cgroup': unit, '/sys/fs/cgroup/system.slice/osqueryd.service/cpu.max': 'max 100000\n' })), null, 'max: no quota');
  t.equal(
    cgroupCpus(
      files({
        '/proc/self/cgroup': unit,
        '/sys/fs/cgroup/system.slice/osqueryd.service/cpu.max': '50000 100000',
        '/sys/fs/cgroup/system.slice/cpu.max': '25000 100000',
      }),
    ),
    0.25,
    'a parent slice with a smaller quota bounds the service',
  );
  const v1 = '4:cpu,cpuacct:/system.slice/osqueryd.service\n3:memory:/system.slice/osqueryd.service\n0::/system.slice/osqueryd.service\n';
  t.equal(
    cgroupCpus(
      files({
        '/proc/self/cgroup': v1,
        '/sys/fs/cgroup/cpu,cpuacct/system.slice/osqueryd.service/cpu.cfs_quota_us': '20000\n',
        '/sys/fs/cgroup/cpu,cpuacct/system.slice/osqueryd.service/cpu.cfs_period_us': '100000\n',
      }),
    ),
    0.2,
    "cgroup v1: the cpu controller's quota over its period",
  );
  t.equal(
    cgroupCpus(files({ '/proc/self/cgroup': v1, '/sys/fs/cgroup/cpu,cpuacct/system.slice/osqueryd.service/cpu.cfs_quota_us': '-1' })),
    null,
    'v1 -1: none',
  );
  t.equal(cgroupCpus(files({})), null, 'no /proc: none');
  // containers (review8): with a cgroup namespace the process is at the root of its own tree;
  // without one (cgroup v1 docker) it is named by the host's path, and only its own folder is
  // mounted, at the top: the walk up finds the quota there
  t.equal(cgroupCpus(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '200000 100000\n' })), 2, 'docker --cpus=2, cgroup v2 namespace');
  t.equal(
    cgroupCpus(
      files({
        '/proc/self/cgroup': '12:pids:/docker/0a1b\n4:cpu,cpuacct:/docker/0a1b\n1:name=systemd:/docker/0a1b\n',
        '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '200000\n',
        '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
      }),
    ),
    2,
    'docker --cpus=2, cgroup v1 without a namespace',
  );
  t.equal(
    cgroupCpus(files({ '/proc/self/cgroup': '0::/gone (deleted)\n', '/sys/fs/cgroup/cpu.max': '50000 100000\n' })),
    0.5,
    'a removed cgroup: its parents still bound it',
  );
});

// The tests' own host may have a CPU quota (a CI runner in docker --cpus=2 on a 32-core host:
// 3.1 % of the cores, under watchdog_level 1's 5 %), and every extension they launch would be
// paced to it. ANOMALY_CGROUP_ROOT names the folder /proc/self/cgroup and /sys/fs/cgroup are
// read under, and the tests give theirs (review8).
t.test('the cgroup files are read under ANOMALY_CGROUP_ROOT when it is set', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-cgroup-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const watched = opts({ enable_extensions_watchdog: 'true', watchdog_level: '1' });
  t.match(resolveBudget(watched, null, { ...launched, ANOMALY_CGROUP_ROOT: root }, 2), { limitPercent: 5 }, 'an empty root: no quota');
  fs.mkdirSync(path.join(root, 'proc', 'self'), { recursive: true });
  fs.writeFileSync(path.join(root, 'proc', 'self', 'cgroup'), '0::/system.slice/osqueryd.service\n');
  fs.mkdirSync(path.join(root, 'sys', 'fs', 'cgroup', 'system.slice', 'osqueryd.service'), { recursive: true });
  fs.writeFileSync(path.join(root, 'sys', 'fs', 'cgroup', 'system.slice', 'osqueryd.service', 'cpu.max'), '4000 100000\n');
  t.match(
    resolveBudget(watched, null, { ...launched, ANOMALY_CGROUP_ROOT: root }, 2),
    { limitPercent: 1, source: /0\.04 CPU/ },
    "the root's quota, 0.04 CPU: half of it is 1 % of 2 cores, under the watchdog's 5 %",
  );
});

t.test('under a CPU quota the scorer keeps to half of it, leaving osqueryd the rest: also when the watchdog is off', async (t) => {
  // unwatched (osquery's default, and conf/osquery.flags'), the scorer ran unpaced: a training
  // took the whole 0.2 CPU of the unit's cgroup, osqueryd's audit reader waiting behind it
  const quota = resolveBudget(opts({ enable_extensions_watchdog: 'false' }), null, launched, 2, 0.2);
  t.match(quota, { limitPercent: 5, cores: 2, source: /50 % of the cgroup's CPU quota of 0\.2 CPU, shared with osqueryd/ });
  t.equal(
    Math.round(TARGET_SHARE * (quota!.limitPercent / 100) * quota!.cores * 60_000),
    Math.round(TARGET_SHARE * 0.1 * 60_000),
    '70 % of 0.1 CPU per minute',
  );
  t.match(resolveBudget(null, null, launched, 2, 0.2), { limitPercent: 5 }, 'osqueryd did not answer options(): the quota still holds');
  // watched at level 0 on 2 cores the watcher allows 0.2 CPU, and half the quota is 0.1: the tighter wins
  t.match(resolveBudget(opts({ enable_extensions_watchdog: 'true' }), null, launched, 2, 0.2), { limitPercent: 5 });
  t.match(
    resolveBudget(opts({ enable_extensions_watchdog: 'true' }), null, launched, 2, 1.5),
    { limitPercent: 10, source: 'osqueryd watchdog_level 0' },
    'a quota looser than the watcher: the watcher',
  );
  t.equal(resolveBudget(opts({ enable_extensions_watchdog: 'false' }), null, launched, 2, 4), null, 'a quota of more than all cores: unpaced');
  t.equal(resolveBudget(opts({ enable_extensions_watchdog: 'false' }), null, {}, 2, 0.2), null, 'not launched by osqueryd: not its cgroup to share');
  t.equal(resolveBudget(opts({ enable_extensions_watchdog: 'false' }), 0, launched, 2, 0.2), null, 'budget.cpu_percent 0 still turns pacing off');
});

/** /proc/cpuinfo of one processor (the fields boost's physical_concurrency() reads) */
function processor(n: number, physical: number, core: number): string {
  return `processor\t: ${n}\nmodel name\t: Some CPU @ 2.20GHz\nphysical id\t: ${physical}\nsiblings\t: 4\ncore id\t\t: ${core}\ncpu cores\t: 2\nflags\t\t: fpu vme ht\n\n`;
}

t.test("the budget scales by the cores osqueryd's watcher counts: physical cores, not hyperthreads", async (t) => {
  // watcher.cpp: cpu_ul = percent × interval × kNumOfCPUs, kNumOfCPUs =
  // boost::thread::physical_concurrency(), the distinct (physical id, core id) pairs of
  // /proc/cpuinfo. A 4-vCPU cloud host with two threads per core has 2: the watcher's limit
  // at level 0 is 600 ms per 3 s, and a budget of 4 cores paced to 70 % of 1,200 ms
  const smt = [processor(0, 0, 0), processor(1, 0, 1), processor(2, 0, 0), processor(3, 0, 1)].join('');
  t.equal(watcherCores(smt, 4), 2, 'two cores with two threads each');
  t.equal(watcherCores([processor(0, 0, 0), processor(1, 1, 0)].join(''), 2), 2, 'two sockets of one core');
  t.equal(watcherCores('processor\t: 0\nBogoMIPS\t: 48.00\n\n', 8), 8, 'no core ids (some ARM kernels): the logical count, as boost falls back');
  t.equal(watcherCores(null, 3), 3, 'no /proc/cpuinfo: the logical count');
  const b = resolveBudget(opts({ enable_extensions_watchdog: 'true' }), null, launched, watcherCores(smt, 4), null);
  t.match(b, { limitPercent: 10, cores: 2 });
  // and by default resolveBudget reads this machine's /proc/cpuinfo the same way
  const here = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : null;
  t.match(resolveBudget(opts({ enable_extensions_watchdog: 'true' }), null, launched, undefined, null), { cores: watcherCores(here, os.cpus().length) });
  t.match(resolveBudget(null, 25, {}), { cores: watcherCores(here, os.cpus().length) }, 'budget.cpu_percent is a share of the same cores');
});

t.test("the emulator answers options() with osqueryd's watchdog flags, which become the budget", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-pacing-'));
  const emu = new OsquerydEmulator({ dir, flags: { enable_extensions_watchdog: 'true', watchdog_level: '1' } });
  await emu.start();
  t.teardown(async () => {
    await emu.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const options = (await new ManagerClient(emu.socket).options()) as Record<string, OptionInfo>;
  t.match(options.watchdog_level, { value: '1', default_value: '0', type: 'int32' });
  t.match(options.enable_extensions_watchdog, { value: 'true', default_value: 'false', type: 'bool' });
  t.match(options.watchdog_utilization_limit, { value: '0', type: 'uint64' });
  // an empty cgroup root: the runner's own CPU quota (a CI container's) is not this test's
  const b = await readBudget(
    () => new ManagerClient(emu.socket).options(),
    null,
    () => {},
    { ...launched, ANOMALY_CGROUP_ROOT: dir },
  );
  t.match(b, { limitPercent: 5, cores: watcherCores() });
  t.throws(() => new OsquerydEmulator({ dir, flags: { watchdog_levle: '1' } }), /unknown command line flag/);
});

t.test('anomaly_models shows the budget the scorer thread paces to, and the CPU used', async (t) => {
  const e = await emulated({ flags: { enable_extensions_watchdog: 'true', watchdog_level: '1' } });
  t.teardown(() => e.close());
  await e.launch();
  const expected = Math.round(TARGET_SHARE * 0.05 * watcherCores() * 60_000);
  const [star] = await until(
    () => e.emu.query("SELECT cpu_ms_per_min, budget_ms_per_min FROM anomaly_models WHERE subject = '*'"),
    (rows) => rows.length === 1 && rows[0].budget_ms_per_min !== undefined && rows[0].budget_ms_per_min !== '',
  );
  t.equal(Number(star.budget_ms_per_min), expected, 'watchdog_level 1: 5 % of the cores, at the target share');
  t.ok(Number.isInteger(Number(star.cpu_ms_per_min)) && Number(star.cpu_ms_per_min) >= 0, `cpu_ms_per_min ${star.cpu_ms_per_min}`);
  const status = await anomaly(['status', '--socket', e.emu.socket]);
  t.equal(status.code, 0, status.err);
  t.match(
    status.out,
    new RegExp(`\\nCPU: [\\d,]+ ms in the last minute \\(the process, every thread\\); paced to ${expected.toLocaleString('en-US')} ms per minute`),
    'anomaly status says so',
  );
});

t.test('without the extensions watchdog the budget is NULL, and the config can set one', async (t) => {
  const plain = await emulated();
  t.teardown(() => plain.close());
  await plain.launch();
  const [row] = await until(
    () => plain.emu.query("SELECT budget_ms_per_min FROM anomaly_models WHERE subject = '*' AND budget_ms_per_min IS NULL"),
    (rows) => rows.length === 1,
  );
  t.ok(row, 'NULL when osqueryd does not watch extensions');
  const configured = await emulated({ config: { budget: { cpu_percent: 20 } } });
  t.teardown(() => configured.close());
  await configured.launch();
  const [c] = await until(
    () => configured.emu.query("SELECT budget_ms_per_min FROM anomaly_models WHERE subject = '*'"),
    (rows) => rows.length === 1 && Boolean(rows[0].budget_ms_per_min),
  );
  t.equal(Number(c.budget_ms_per_min), Math.round(TARGET_SHARE * 0.2 * watcherCores() * 60_000));
});
