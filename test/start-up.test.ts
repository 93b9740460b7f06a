import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import fsModule = require('fs');
import { RetainedScores } from '../state/scores';
import { RetainedWindows } from '../state/windows';
import { bareNode } from './helpers/bare-node';
import { emulated, exited, until } from './helpers/emulated';
import { DIST } from './helpers/paths';
import { fillScores, plainRow } from './helpers/scored';

// osqueryd gives an extension's logger --extensions_timeout (3 s by default) to register, and
// a million retained rows take longer than that to read: anomaly.ext registers first and
// reads its retained scores afterwards, in slices, answering calls meanwhile.

function filled(dir: string, rows: number): void {
  const store = new RetainedScores({ dir, maxRows: 1_000_000, maxDays: 30 });
  fillScores(store, rows);
  store.close();
}

/** counts the turns of the event loop until stop() */
function turnsOfTheEventLoop(): { stop(): number } {
  let done = false;
  let turns = 0;
  const tick = () => {
    turns++;
    if (!done) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    stop: () => {
      done = true;
      return turns;
    },
  };
}

/** `count` retained windows of 1,000 subjects, ten minutes apart, one in ten bad */
function retainWindows(dir: string, count: number): void {
  const store = new RetainedWindows({ dir, maxRows: 1_000_000, maxDays: 3650 });
  const start = 1_790_000_000;
  for (let b = 0; b < count / 1000; b++)
    store.append(
      Array.from({ length: 1000 }, (_, k) => ({
        subject: `uid:${1000 + k}`,
        host: 'h',
        start: start + b * 600,
        end: start + (b + 1) * 600,
        events: 1,
        score: k % 10 ? 0.9 : 0.1,
        verdict: (k % 10 ? 'good' : 'bad') as 'good',
        model: '' as const,
        reasons: 'r',
        top_ids: '[]',
      })),
    );
  store.close();
}

t.test('RetainedScores.open reads in slices what the constructor reads at once', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-open-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  filled(path.join(dir, 'scores'), 35_000);
  const turns = turnsOfTheEventLoop();
  const sliced = await RetainedScores.open({ dir: path.join(dir, 'scores'), maxRows: 1_000_000, maxDays: 30 });
  const turned = turns.stop();
  t.ok(turned >= 3, `the event loop turned while it read 35,000 rows (${turned} turns)`);
  const bad = (s: RetainedScores) => s.select({ score: [{ op: '<', value: 0.3 }] }).map((ev) => ev.id);
  const expected = bad(sliced);
  t.equal(sliced.size, 35_000, 'every row');
  sliced.close();
  const whole = new RetainedScores({ dir: path.join(dir, 'scores'), maxRows: 1_000_000, maxDays: 30 });
  t.equal(whole.size, 35_000);
  t.same(bad(whole), expected, 'the same rows answer the same filter');
  t.equal(expected.length, 3500);
  whole.close();
});

t.test('anomaly.ext registers before it reads its retained scores, and answers them once read', async (t) => {
  const e = await emulated({ config: { log_level: 'info' } });
  t.teardown(() => e.close());
  filled(path.join(e.stateDir, 'scores'), 20_000);
  await e.launch();
  const logged = await until(
    async () => e.stderr.join(''),
    (s) => /loaded 20000 retained scores/.test(s) || e.child?.exitCode !== null,
  );
  const registered = logged.indexOf('registered as anomaly');
  const loaded = logged.indexOf('loaded 20000 retained scores');
  t.ok(registered >= 0 && loaded > registered, 'registered first, then read the retained scores');
  const rows = await e.emu.query('SELECT count(*) AS n FROM anomaly_scores WHERE score < 0.3');
  t.equal(rows[0].n, '2000', 'the alert query answers the retained rows');
});

const PACED_READ = /read the retained scores and windows in [\d.]+ s, paced to ([^(\n]+) \(waited ([\d.]+) s\)/;

t.test("watched by osqueryd's watchdog, anomaly.ext reads its retained scores paced to the watchdog's budget", async (t) => {
  // The watcher checks a restarted extension from its launch: a million retained rows read
  // flat out were 3.1 and 1.8 s of CPU in the first two 3 s checks (0.6 s allowed on two
  // cores), and on a loaded host more checks in a row, enough to be stopped and restarted to
  // read them again. Watched, the read goes through the pacer the scorer's work uses. Whether
  // it must wait depends on the CPU the host leaves it (at load 9 the read spread out under
  // the budget and never waited), so the wait itself is asserted under a budget of 2 % of the
  // cores: 28 ms of CPU a second, which the read outruns whenever it gets 3 % of a core, yet
  // more than the idle process's other threads take (under 0.5 %, they alone used it up and
  // every wait was given up after 30 s: pacing.test.ts)
  // the three starts read the same 60,000 rows: written once, copied into each state
  const seeded = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-start-seeded-'));
  t.teardown(() => fs.rmSync(seeded, { recursive: true, force: true }));
  filled(seeded, 60_000);
  for (const run of ['watched', 'not watched', 'config budget'] as const) {
    const e = await emulated({
      config: { log_level: 'info', ...(run === 'config budget' ? { budget: { cpu_percent: 2 } } : {}) },
      flags: run === 'watched' ? { enable_extensions_watchdog: 'true' } : {},
    });
    fs.mkdirSync(e.stateDir, { mode: 0o700 });
    fs.cpSync(seeded, path.join(e.stateDir, 'scores'), { recursive: true });
    await e.launch();
    // the warm-up's line is written once the stores are read, after the read's own line: waiting
    // for "loaded 60000" instead raced the line that follows it (a loaded host can stop the
    // extension between the two, and the check found no paced read)
    const logged = await until(
      async () => e.stderr.join(''),
      (s) => /warm-up: \d+ rehearsals/.test(s) || e.child?.exitCode !== null,
    );
    t.match(logged, /loaded 60000 retained scores/, `${run}: every retained row read`);
    const paced = PACED_READ.exec(logged);
    if (run === 'watched')
      t.match(paced?.[1], /^osqueryd watchdog_level 0$/, `watched: the read is paced to the watchdog's budget (${paced?.[0] ?? 'no such line'})`);
    else if (run === 'not watched') t.notOk(paced, 'not watched: read flat out');
    else t.ok(paced && Number(paced[2]) > 0, `under a budget it cannot keep without waiting, the read waited (${paced?.[0] ?? 'no such line'})`);
    const rows = await e.emu.query('SELECT count(*) AS n FROM anomaly_scores WHERE score < 0.3');
    t.equal(rows[0].n, '6000', 'and the alert query answers every retained row');
    await e.close();
  }
});

t.test('anomaly.ext reads its retained windows paced too', async (t) => {
  // the windows are read first, through the same pacer: a state of windows alone must wait too
  // (under the budget of the test above that no host leaves the read within)
  const e = await emulated({ config: { log_level: 'info', budget: { cpu_percent: 2 } } });
  t.teardown(() => e.close());
  retainWindows(path.join(e.stateDir, 'window-scores'), 60_000);
  await e.launch();
  const logged = await until(
    async () => e.stderr.join(''),
    (s) => PACED_READ.test(s) || e.child?.exitCode !== null,
  );
  const paced = PACED_READ.exec(logged);
  t.ok(paced && Number(paced[2]) > 0, `the read of 60,000 windows waited for the budget (${paced?.[0] ?? 'no such line'})`);
  const rows = await e.emu.query('SELECT count(*) AS n FROM anomaly_windows WHERE score < 0.3');
  t.equal(rows[0].n, '6000', 'and the bad windows answer');
});

t.test('retained scores it cannot read stop the extension with EX_CANTCREAT, after it registered', async (t) => {
  const e = await emulated({ config: { log_level: 'info' } });
  t.teardown(() => e.close());
  fs.mkdirSync(e.stateDir, { mode: 0o700 });
  fs.writeFileSync(path.join(e.stateDir, 'scores'), 'not a directory\n', { mode: 0o600 });
  const child = await e.launch({ wait: false });
  const exit = await exited(child);
  t.equal(exit.code, 73, 'exit 73');
  t.match(e.stderr.join(''), /cannot read the retained scores and windows: .*scores/, 'and says why');
});

t.test('reading retained scores holds about a slice of rows, not a whole segment twice over', async (t) => {
  // A segment holds 100,000 rows, and a row keeps up to ~4 kB of its columns: a local user
  // whose processes have long command lines makes segments of 400 MB. The read took the whole
  // file into one buffer and parsed all its rows before indexing them: 935 MB of peak
  // resident memory for one 420 MB segment (measured), at every start, against osqueryd's
  // watchdog limit of 200 MB of growth. Here 40,000 such rows (162 MB), read by a child process
  // whose peak resident memory (VmHWM) is compared with the segment's size
  // (375 MB before, 65–70 MB after, for 161 MB)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-open-big-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const scores = path.join(dir, 'scores');
  const store = new RetainedScores({ dir: scores, maxRows: 1_000_000, maxDays: 3650 });
  const columns = JSON.stringify({ cmdline: `tool ${'A'.repeat(4000)}` });
  for (let i = 0; i < 40_000; i += 1000)
    store.append(Array.from({ length: 1000 }, (_, k) => plainRow(i + k, { id: `r-${i + k}`, columns, ...(k % 10 ? {} : { score: 0.1, verdict: 'bad' }) })));
  store.close();
  const bytes = fs.readdirSync(scores).reduce((n, f) => n + fs.statSync(path.join(scores, f)).size, 0);
  const script = `
    const fs = require('fs');
    const { RetainedScores } = require(${JSON.stringify(path.join(DIST, 'state', 'scores.js'))});
    const kb = (k) => Number(fs.readFileSync('/proc/self/status', 'utf8').split('\\n').find((l) => l.startsWith(k + ':')).split(/ +/)[1]);
    const before = kb('VmRSS');
    RetainedScores.open({ dir: ${JSON.stringify(scores)}, maxRows: 1000000, maxDays: 3650 }).then((s) => {
      const bad = s.select({ score: [{ op: '<', value: 0.3 }] }).length;
      process.stdout.write(JSON.stringify({ rows: s.size, bad, grownKb: kb('VmHWM') - before }));
    });`;
  const res = spawnSync(...bareNode(['-e', script]), { encoding: 'utf8' });
  t.equal(res.status, 0, `the child read the store (${res.stderr.slice(-500)})`);
  const got = JSON.parse(res.stdout) as { rows: number; bad: number; grownKb: number };
  t.equal(got.rows, 40_000, 'every row');
  t.equal(got.bad, 4000, 'the bad rows answer');
  t.ok(
    got.grownKb * 1024 < bytes,
    `peak resident memory grew ${Math.round(got.grownKb / 1024)} MB reading ${Math.round(bytes / 2 ** 20)} MB of retained scores (bound: that size; the whole file and its parsed rows took 2.3 times it)`,
  );
});

t.test('a segment that cannot be read to its end: the rows before are kept, and new rows appended after it read back', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-open-eio-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const scores = path.join(dir, 'scores');
  const store = new RetainedScores({ dir: scores, maxRows: 1_000_000, maxDays: 3650 });
  const columns = JSON.stringify({ cmdline: 'A'.repeat(4000) });
  store.append(Array.from({ length: 2000 }, (_, i) => plainRow(i, { columns })));
  store.close();
  // the first 4 MB read, the rest a failing disk's EIO
  const real = fsModule.readSync;
  fsModule.readSync = ((fd: number, buffer: NodeJS.ArrayBufferView, ...rest: unknown[]) => {
    const position = rest[2];
    if (typeof position === 'number' && position > 0) throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    return (real as (...a: unknown[]) => number)(fd, buffer, ...rest);
  }) as typeof fs.readSync;
  const messages: string[] = [];
  let opened: RetainedScores;
  try {
    opened = await RetainedScores.open({ dir: scores, maxRows: 1_000_000, maxDays: 3650, log: (_l, m) => messages.push(m) });
  } finally {
    fsModule.readSync = real;
  }
  const kept = opened.size;
  t.ok(kept > 0 && kept < 2000, `the rows before the error are kept (${kept})`);
  t.match(messages.join('\n'), /cannot read retained scores past byte/, 'and the error is said');
  opened.append([plainRow(5000, { id: 'after-eio' })]);
  t.equal(opened.get('after-eio')?.time, plainRow(5000).time, 'a row appended after it reads back');
  opened.close();
});

t.test('RetainedWindows.open reads in slices what the constructor reads at once', async (t) => {
  // read after the registration like the retained scores, and as long: 1,000,000 windows
  // (retention.max_rows) took 4.5 s at load 5, on the thread that answers osqueryd's pings
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-open-windows-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const wdir = path.join(dir, 'window-scores');
  retainWindows(wdir, 35_000);
  const turns = turnsOfTheEventLoop();
  const sliced = await RetainedWindows.open({ dir: wdir, maxRows: 1_000_000, maxDays: 3650 });
  const turned = turns.stop();
  t.ok(turned >= 3, `the event loop turned while it read 35,000 windows (${turned} turns)`);
  t.equal(sliced.size, 35_000, 'every window');
  const bad = (s: RetainedWindows) => s.select({ score: [{ op: '<', value: 0.3 }] }).map((w) => `${w.subject}@${w.start}`);
  const expected = bad(sliced);
  sliced.close();
  const whole = new RetainedWindows({ dir: wdir, maxRows: 1_000_000, maxDays: 3650 });
  t.same(bad(whole), expected, 'the same windows answer the same filter');
  t.equal(expected.length, 3500);
  whole.close();
});

t.test('retained windows are held as an index of columns, not an object each: 200,000 windows cost a few bytes each', async (t) => {
  // 1,000,000 retained windows (retention.max_rows) grew resident memory by 666 MB, every window
  // an object with its reasons and top_ids. They are now indexed as the retained scores are
  // (typed columns, each record read back from its segment for the rows an answer returns).
  // Read by a child process: V8's heap and the buffers outside it after a collection, grown
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-windows-memory-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const wdir = path.join(dir, 'window-scores');
  fs.mkdirSync(wdir, { mode: 0o700 });
  const start = 1_790_000_000;
  const windows = 200_000;
  const subjects = 2000;
  const fd = fs.openSync(path.join(wdir, 'windows.jsonl'), 'w', 0o600);
  for (let b = 0; b < windows / subjects; b++) {
    const lines: string[] = [];
    for (let k = 0; k < subjects; k++) {
      const bad = (b * subjects + k) % 100 === 0;
      lines.push(
        JSON.stringify({
          subject: `uid:${1000 + k}`,
          host: 'h',
          start: start + b * 600,
          end: start + (b + 1) * 600,
          events: 40,
          score: bad ? 0.1 : 0.9,
          verdict: bad ? 'bad' : 'good',
          model: 'rate',
          reasons: bad ? `more events than usual for uid:${1000 + k}: 400 in 10 min, usually 40` : `${40 + (k % 7)} events in 10 min, usually 40`,
          top_ids: JSON.stringify([`${b}-${k}-0d1e2f3a4b5c6d7e`, `${b}-${k}-1d1e2f3a4b5c6d7e`, `${b}-${k}-2d1e2f3a4b5c6d7e`]),
        }),
      );
    }
    fs.writeSync(fd, lines.join('\n') + '\n');
  }
  fs.closeSync(fd);
  const script = `
    const { RetainedWindows } = require(${JSON.stringify(path.join(DIST, 'state', 'windows.js'))});
    const held = () => { gc(); gc(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
    const before = held();
    RetainedWindows.open({ dir: ${JSON.stringify(wdir)}, maxRows: 1000000, maxDays: 3650 }).then((s) => {
      const grown = held() - before;
      const bad = s.select({ score: [{ op: '<', value: 0.3 }] });
      const alice = s.select({ subject: ['uid:1007'], start: [{ op: '>=', value: ${start + 90 * 600} }] });
      process.stdout.write(JSON.stringify({ size: s.size, bad: bad.length, first: bad[0], alice: alice.map((w) => w.start), grown }));
    });`;
  const res = spawnSync(...bareNode(['--expose-gc', '-e', script]), { encoding: 'utf8', maxBuffer: 1 << 26 });
  t.equal(res.status, 0, `the child read the windows (${res.stderr.slice(-500)})`);
  const got = JSON.parse(res.stdout) as {
    size: number;
    bad: number;
    first: { subject: string; start: number; top_ids: string };
    alice: number[];
    grown: number;
  };
  t.equal(got.size, windows, 'every window');
  t.equal(got.bad, windows / 100, 'the bad windows answer');
  t.match(
    got.first,
    { subject: 'uid:2900', start: start + 99 * 600, top_ids: '["99-1900-0d1e2f3a4b5c6d7e","99-1900-1d1e2f3a4b5c6d7e","99-1900-2d1e2f3a4b5c6d7e"]' },
    'newest first, whole',
  );
  t.same(
    got.alice,
    Array.from({ length: 10 }, (_, i) => start + (99 - i) * 600),
    'subject and start pushed down',
  );
  t.ok(
    got.grown < 20 * 2 ** 20,
    `V8's heap and buffers grew ${Math.round(got.grown / 2 ** 20)} MB holding ${windows} windows after a collection (bound 20 MB: an index of a few dozen bytes a window, its capacity doubled)`,
  );
});
