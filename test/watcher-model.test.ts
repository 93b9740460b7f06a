import t from 'tap';
import { defaultLimits, WatcherModel } from '../bench/watcher';

// The watchdog bench's model of osqueryd's watcher (bench/watcher.ts) on made-up samples:
// watchExtensions() checks nothing before --watchdog_delay (60 s after the worker started),
// and each extension's counters start at 0, so its first check counts all the CPU the
// extension used since its launch as one interval (osquery/core/watcher.cpp getChange).

const MB = 1024 * 1024;

t.test('nothing is checked before the delay; the first check counts all CPU since launch', async (t) => {
  // busy at start-up (2 s of CPU per 3 s for 30 s), then 400 ms per 3 s, under the 600 ms limit
  const w = new WatcherModel(defaultLimits(2));
  let cpu = 0;
  for (let at = 3; at <= 120; at += 3) {
    cpu += at <= 30 ? 2000 : 400;
    w.check(at, { cpuMs: cpu, rssBytes: (100 + at) * MB });
  }
  t.equal(w.checks[0].at, 60, 'the first check is at the delay');
  t.equal(w.checks[0].cpuMs, 10 * 2000 + 10 * 400, 'and counts the CPU of the whole first minute');
  t.equal(w.longestStreakSeconds, 3, 'one over-limit interval (the first check), not the 30 s of start-up');
  t.equal(w.stoppedAt, null, 'not stopped');
  t.equal(w.initialRssMb, 160, 'the memory baseline is the first check');
});

t.test('a streak that begins at the first check counts it', async (t) => {
  // 700 ms per 3 s from 54 s on: the first check (all of the first minute) and three more make 12 s
  const w = new WatcherModel(defaultLimits(2));
  let cpu = 0;
  for (let at = 3; at <= 75; at += 3) {
    cpu += at < 54 ? 100 : 700;
    w.check(at, { cpuMs: cpu, rssBytes: 100 * MB });
  }
  t.match(w.stoppedAt, { at: 69 }, 'stopped at the fourth over-limit check in a row');
});
