import * as fs from 'fs';
import * as path from 'path';
import { installExtension, OsquerydEmulator } from '../emulator';
import { generateContext } from '../emulator/sql';
import * as thrift from 'thrift';
import { Extension, ExtensionClient, ManagerClient, toNumber, types } from '../extension/client';
import { SocketTransport } from '../extension/transport';
import { startServer } from '../extension/server';
import { ALERT_QUERY, WARM_UP, warmUp } from '../extension/warm';
import { scoresTable } from '../extension/tables/scores';
import type { ScoredEvent } from '../scorer/types';
import { RetainedScores } from '../state/scores';
import { percentile } from './ingest-client';
import { UsageError, type BenchPart } from './part';
import { loadAverage, note, report, tmpdir } from './table';

// The alert query over a million retained rows, through the osqueryd emulator (Thrift call
// to the table, then SQLite over what it returns), against the same round trip for a query
// that matches nothing; with `--against DIST`, against another build (an earlier commit built
// into DIST) set up the same way in this process, the two measured in turns.
//
// The first queries of a process run unoptimised code: V8 compiles the JavaScript of the
// answer's path and tiers up the hot wasm functions of the emulator's SQLite over about ten
// queries, at a CPU cost several times the query's own. The medians are of queries after
// `--warmup` (20) of them, what a long-running extension answers; the first query is a row
// of its own. `--warmup 1` measures as this part did before (the median then lands in the
// warm-up).

/** the modules one build is measured with: this one's, or those of the dist/ given */
interface Build {
  emulator: typeof import('../emulator');
  sql: typeof import('../emulator/sql');
  client: typeof import('../extension/client');
  server: typeof import('../extension/server');
  tables: typeof import('../extension/tables/scores');
  store: typeof import('../state/scores');
  /** the extension's start-up rehearsal of the alert query, in builds that have one */
  warm?: typeof import('../extension/warm');
}

const SELF: Build = {
  emulator: { OsquerydEmulator } as Build['emulator'],
  sql: { generateContext } as Build['sql'],
  client: { ManagerClient, ExtensionClient, toNumber, types } as Build['client'],
  server: { startServer } as Build['server'],
  tables: { scoresTable } as Build['tables'],
  store: { RetainedScores } as Build['store'],
  warm: { warmUp, ALERT_QUERY, WARM_UP } as Build['warm'],
};

function buildAt(dist: string): Build {
  const load = <T>(p: string): T => require(path.join(dist, p)) as T;
  return {
    emulator: load('emulator'),
    sql: load('emulator/sql'),
    client: load('extension/client'),
    server: load('extension/server'),
    tables: load('extension/tables/scores'),
    store: load('state/scores'),
    warm: fs.existsSync(path.join(dist, 'extension/warm.js')) ? load('extension/warm') : undefined,
  };
}

const ALERT = 'SELECT * FROM anomaly_scores WHERE score < 0.3';
const NOTHING = "SELECT * FROM anomaly_scores WHERE score < 0.3 AND subject = 'nobody'";

/** retained row i of a million (1 in 997 scored bad), its event ending in `suffix` */
export function retainedRow(i: number, suffix = ''): ScoredEvent {
  const bad = i % 997 === 0;
  return {
    id: `id-${i}`,
    time: 1_790_000_000 + i,
    host: 'web-01',
    subject: `user${i % 100}`,
    query: 'pack_user-behavior_process_events',
    action: 'added',
    event: `exec /usr/bin/tool${i % 50} <- /bin/bash${suffix}`,
    score: bad ? 0.1 : 0.7 + (i % 300) / 1000,
    verdict: bad ? 'bad' : 'good',
    model: 'rarity',
    reasons: bad ? 'program `/usr/bin/nc` never seen before' : 'usual',
    columns: '{"pid":"1"}',
  };
}

/** a million retained rows (1,004 scored bad), an emulator, and the table served to it */
async function setUp(b: Build, dir: string, rehearse = true) {
  const store = new b.store.RetainedScores({ dir: path.join(dir, 'scores'), maxRows: 1_000_000, maxDays: 3650 });
  const batch: ScoredEvent[] = [];
  for (let i = 0; i < 1_000_000; i++) {
    batch.push(retainedRow(i));
    if (batch.length === 50_000) store.append(batch.splice(0));
  }
  const emu = new b.emulator.OsquerydEmulator({ dir: path.join(dir, 'osquery'), interval: 60, timeout: 5 });
  await emu.start();
  const table = b.tables.scoresTable(store);
  const status = await new b.client.ManagerClient(emu.socket).registerExtension(
    new b.client.types.InternalExtensionInfo({ name: 'bench', version: '1', sdk_version: '0.0.0', min_sdk_version: '0.0.0' }),
    { table: { anomaly_scores: table.routes() } },
  );
  const extSocket = `${emu.socket}.${b.client.toNumber(status.uuid)}`;
  const server = await b.server.startServer({ path: extSocket, plugins: [table], onShutdown: () => {}, log: () => {} });
  // what anomaly.ext does once registered (extension/warm.ts), awaited here so that the
  // first query measured follows it; --no-warm-up leaves it out
  if (rehearse && b.warm) await b.warm.warmUp(server, [b.warm.ALERT_QUERY], b.warm.WARM_UP, () => {});
  const columns = table
    .routes()
    .filter((r) => r.id === 'column')
    .map((r) => ({ name: r.name, type: r.type, op: r.op }));
  // what osqueryd itself waits for: the table's answer to generate, without the emulator's
  // SQLite (osqueryd's is C, and reads a virtual table rather than loading one)
  const answer = (sql: string) =>
    emu.callPlugin('table', 'anomaly_scores', { action: 'generate', context: b.sql.generateContext(sql, columns, 'anomaly_scores') });
  const close = async () => {
    await server.close();
    await emu.stop();
    store.close();
  };
  /** take the table away from the emulator, which stays up (and as warm as it got) */
  const detach = async () => {
    await new b.client.ManagerClient(emu.socket).deregisterExtension(b.client.toNumber(status.uuid));
    await server.close();
    store.close();
  };
  return { store, emu, columns, extSocket, answer, close, detach };
}

interface Timing {
  ms: number;
  cpu: number;
}

/** wall and process CPU time (every thread) of one call */
async function timed(fn: () => Promise<unknown>): Promise<Timing> {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await fn();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  return { ms, cpu: (c.user + c.system) / 1000 };
}

function medians(runs: Timing[]): Timing {
  return {
    ms: percentile(
      runs.map((r) => r.ms),
      50,
    ),
    cpu: percentile(
      runs.map((r) => r.cpu),
      50,
    ),
  };
}

async function median(fn: () => Promise<unknown>, times: number): Promise<Timing> {
  const runs: Timing[] = [];
  for (let i = 0; i < times; i++) runs.push(await timed(fn));
  return medians(runs);
}

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${name} takes a whole number of at least 1, not ${JSON.stringify(args[i + 1])}`);
  return v;
}

async function run(args: string[]): Promise<void> {
  const warmup = option(args, 'warmup', 20);
  const times = option(args, 'times', 9);
  if (args.includes('--first')) return firstQueries(args, warmup, option(args, 'first', 10));
  const at = args.indexOf('--against');
  if (at >= 0) {
    if (!args[at + 1]) throw new UsageError('--against needs the dist/ directory of another build');
    return against(path.resolve(args[at + 1]), warmup, times);
  }
  const dir = tmpdir('select');
  const s = await setUp(SELF, path.join(dir, 'self'), !args.includes('--no-warm-up'));
  const emu = s.emu;
  const store = s.store;
  let rows = 0;
  const first = await timed(async () => (rows = (await emu.query(ALERT)).length));
  for (let i = 1; i < warmup; i++) await emu.query(ALERT);
  const pushed = await median(() => emu.query(ALERT), times);
  const empty = await median(() => emu.query(NOTHING), times);
  const answer = await median(() => s.answer(ALERT), times);
  const answerEmpty = await median(() => s.answer(NOTHING), times);
  const direct = await median(async () => store.select({ score: [{ op: '<', value: 0.3 }] }), times);
  // a broad answer (the last 10,000 rows by time) read by the clients' reader (extension/wire.ts)
  // and by thrift's generated client, which re-parses the reply from its start at every chunk
  const broad = generateContext(`SELECT * FROM anomaly_scores WHERE time > ${1_790_000_000 + 1_000_000 - 10_000 - 1}`, s.columns, 'anomaly_scores');
  const extSocket = s.extSocket;
  const broadRows = (await new ExtensionClient(extSocket, 600_000).call('table', 'anomaly_scores', { action: 'generate', context: broad })).response.length;
  const wire = await median(() => new ExtensionClient(extSocket, 600_000).call('table', 'anomaly_scores', { action: 'generate', context: broad }), times);
  const thriftReader = await median(() => thriftCall(extSocket, { action: 'generate', context: broad }), 3);
  report({
    measure: `${ALERT}, 1,000,000 retained rows, through the emulator (${rows} rows), median of ${times} after ${warmup} queries${args.includes('--no-warm-up') ? ', without the extension’s start-up rehearsal' : ''}`,
    value: pushed.ms,
    unit: 'ms',
    kind: 'cost',
    baseline: { value: empty.ms, label: 'same query matching nothing' },
    target: 30,
  });
  report({
    measure: 'the same, CPU time of the process (extension and emulator together; steadier than wall time on a loaded host)',
    value: pushed.cpu,
    unit: 'ms',
    kind: 'cost',
    baseline: { value: empty.cpu, label: 'matching nothing' },
  });
  report({
    measure: 'the first query of the process (code not yet compiled), wall time',
    value: first.ms,
    unit: 'ms',
    kind: 'cost',
    baseline: { value: pushed.ms, label: 'median after warm-up' },
  });
  report({
    measure: "the table's answer alone: Thrift generate call to the extension, no SQLite",
    value: answer.ms,
    unit: 'ms',
    kind: 'cost',
    baseline: { value: answerEmpty.ms, label: 'matching nothing' },
    target: 30,
  });
  report({
    measure: 'the filter in the store alone (RetainedScores.select)',
    value: direct.ms,
    unit: 'ms',
    kind: 'cost',
    baseline: { value: empty.ms, label: 'emulator round trip matching nothing' },
  });
  report({
    measure: `a broad answer (${broadRows.toLocaleString('en-US')} rows, WHERE time > …) read by the client (extension/wire.ts reader), no SQLite, median of ${times}`,
    value: wire.ms,
    unit: 'ms',
    kind: 'cost',
    baseline: { value: thriftReader.ms, label: "thrift's own reply reader, median of 3" },
  });
  note(`load average ${loadAverage()}`);
  await s.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * this build against another, set up alike in this process and measured in turns. Not the
 * first query: whichever build runs first compiles what the two share (sql.js's wasm, node's
 * socket code), so only separate processes compare that.
 */
async function against(dist: string, warmup: number, times: number): Promise<void> {
  const dir = tmpdir('select');
  const builds = { self: SELF, that: buildAt(dist) };
  const label = `${path.basename(path.dirname(dist))}/${path.basename(dist)}`;
  const set = { that: await setUp(builds.that, path.join(dir, 'that'), false), self: await setUp(builds.self, path.join(dir, 'self'), false) };
  const order = (r: number) => (r % 2 ? (['self', 'that'] as const) : (['that', 'self'] as const));
  const rows = (await set.self.emu.query(ALERT)).length;
  const rowsThat = (await set.that.emu.query(ALERT)).length;
  if (rows !== rowsThat) throw new Error(`the builds answer ${rows} and ${rowsThat} rows`);
  for (let i = 1; i < warmup; i++) for (const k of order(i)) await set[k].emu.query(ALERT);
  const runs = { self: [] as Timing[], that: [] as Timing[] };
  const answers = { self: [] as Timing[], that: [] as Timing[] };
  for (let r = 0; r < times; r++) for (const k of order(r)) runs[k].push(await timed(() => set[k].emu.query(ALERT)));
  for (let r = 0; r < times; r++) for (const k of order(r)) answers[k].push(await timed(() => set[k].answer(ALERT)));
  const q = { self: medians(runs.self), that: medians(runs.that) };
  const a = { self: medians(answers.self), that: medians(answers.that) };
  const target = 30;
  report({
    measure: `${ALERT}, 1,000,000 retained rows, through the emulator (${rows} rows), median of ${times} after ${warmup} queries, builds in turns`,
    value: q.self.ms,
    unit: 'ms',
    kind: 'cost',
    baseline: { value: q.that.ms, label: label },
    target,
  });
  report({ measure: 'the same, CPU time of the process', value: q.self.cpu, unit: 'ms', kind: 'cost', baseline: { value: q.that.cpu, label } });
  report({
    measure: "the table's answer alone: Thrift generate call to the extension, no SQLite",
    value: a.self.ms,
    unit: 'ms',
    kind: 'cost',
    baseline: { value: a.that.ms, label },
    target,
  });
  report({ measure: 'the same, CPU time of the process', value: a.self.cpu, unit: 'ms', kind: 'cost', baseline: { value: a.that.cpu, label } });
  note(`load average ${loadAverage()}`);
  await set.self.close();
  await set.that.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * The first queries of a freshly launched extension, as osqueryd meets them: the real
 * anomaly.ext (this build's, and with `--ext-dist DIST` another's, e.g. the commit before)
 * launched by the emulator with a state directory holding the million rows, measured by an
 * emulator that is already warm (its reader and sql.js compiled and tiered up over
 * `--warmup` queries to an in-process table first, then that table taken away). So the
 * figures are the extension's first answers, not the test double's first SQLite. Each
 * build is launched twice, once for the queries through the emulator and once for the
 * table's answers alone, `--settle` ms (default 3000) after it has read the retained rows
 * (which it does after registering). BENCH_EXT_LOG=1 shows the extension's log (its
 * rehearsal's line among it).
 */
async function firstQueries(args: string[], warmup: number, n: number): Promise<void> {
  const at = args.indexOf('--ext-dist');
  const dists = [path.resolve(__dirname, '..'), ...(at >= 0 ? [path.resolve(args[at + 1])] : [])];
  const si = args.indexOf('--settle');
  const settle = si >= 0 ? Number(args[si + 1]) : 3000;
  if (!Number.isFinite(settle) || settle < 0) throw new UsageError('--settle takes milliseconds');
  const dir = tmpdir('select');
  const s = await setUp(SELF, path.join(dir, 'self'));
  const emu = s.emu;
  try {
    for (let i = 0; i < warmup; i++) await emu.query(ALERT);
    const warm = await median(() => emu.query(ALERT), 9);
    const warmAnswer = await median(() => s.answer(ALERT), 9);
    await s.detach();
    const scores = path.join(dir, 'self', 'scores');
    const segments = fs.readdirSync(scores);
    const ext = installExtension(dir);
    let launches = 0;
    /** one launch of the build in `dist`: `n` calls of `fn`, each timed, from `settle` ms after it read the retained rows */
    const measure = async (dist: string, fn: () => Promise<number>): Promise<{ ms: number[]; cpu: number[] }> => {
      const state = path.join(dir, `state-${++launches}`);
      fs.mkdirSync(path.join(state, 'scores'), { recursive: true, mode: 0o700 });
      // the same segment files, linked: the store only reads them at start-up
      for (const f of segments) fs.linkSync(path.join(scores, f), path.join(state, 'scores', f));
      const configFile = path.join(dir, `anomaly-${launches}.json`);
      // info: the extension says when it has read the million rows, which it does after registering
      fs.writeFileSync(configFile, JSON.stringify({ state_dir: state, log_level: 'info' }));
      const child = emu.launch(ext, { env: { ANOMALY_DIST: dist, ANOMALY_CONFIG: configFile, ANOMALY_STATE_DIR: '' }, stderr: 'pipe' });
      let logged = '';
      child.stderr?.on('data', (d: Buffer) => {
        logged += d.toString();
        if (process.env.BENCH_EXT_LOG) process.stderr.write(d);
      });
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      try {
        await emu.waitFor('anomaly', 120_000, () => (child.exitCode !== null ? `exited ${child.exitCode}` : null));
        while (!/loaded \d+ retained scores/.test(logged)) {
          if (child.exitCode !== null) throw new Error(`anomaly.ext exited ${child.exitCode}: ${logged.slice(-2000)}`);
          await sleep(100);
        }
        await sleep(settle);
        const ms: number[] = [];
        // the CPU time of the extension's main thread, which answers, per call
        const cpu: number[] = [];
        for (let i = 0; i < n; i++) {
          const c0 = mainThreadCpuMs(child.pid!);
          const t0 = process.hrtime.bigint();
          const rows = await fn();
          ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
          cpu.push(mainThreadCpuMs(child.pid!) - c0);
          if (rows !== 1004) throw new Error(`${rows} rows, not 1004`);
        }
        return { ms, cpu };
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
    };
    const query = async () => (await emu.query(ALERT)).length;
    const answer = async () => {
      const res = await emu.callPlugin('table', 'anomaly_scores', { action: 'generate', context: generateContext(ALERT, s.columns, 'anomaly_scores') });
      return res.rows.filter((r) => Number(r.score) < 0.3).length;
    };
    const got = dists.map((d) => ({ dist: d, queries: [] as number[], answers: [] as number[], queryCpu: [] as number[], cpu: [] as number[] }));
    for (const g of got) ({ ms: g.queries, cpu: g.queryCpu } = await measure(g.dist, query));
    for (const g of got) ({ ms: g.answers, cpu: g.cpu } = await measure(g.dist, answer));
    const label = (d: string) => `${path.basename(path.dirname(d))}/${path.basename(d)}`;
    const mid = (xs: number[]) => percentile(xs.slice(1), 50);
    const base = got[1];
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ');
    for (const g of got) {
      const who = `anomaly.ext from ${label(g.dist)}, launched with the million rows, ${settle} ms after it read them`;
      report({
        measure: `${ALERT}: the first query of ${who}, through the warm emulator`,
        value: g.queries[0],
        unit: 'ms',
        kind: 'cost',
        baseline: base && g !== base ? { value: base.queries[0], label: label(base.dist) } : { value: warm.ms, label: 'warm, in-process table' },
        target: 30,
      });
      report({
        measure: `the same, median of queries 2 to ${n}`,
        value: mid(g.queries),
        unit: 'ms',
        kind: 'cost',
        baseline: base && g !== base ? { value: mid(base.queries), label: label(base.dist) } : { value: warm.ms, label: 'warm, in-process table' },
        target: 30,
      });
      report({
        measure: "the table's answer alone (Thrift generate call, no SQLite): the first one (another launch)",
        value: g.answers[0],
        unit: 'ms',
        kind: 'cost',
        baseline: base && g !== base ? { value: base.answers[0], label: label(base.dist) } : { value: warmAnswer.ms, label: 'warm, in-process table' },
        target: 30,
      });
      report({
        measure: `the same, median of answers 2 to ${n}`,
        value: mid(g.answers),
        unit: 'ms',
        kind: 'cost',
        baseline: base && g !== base ? { value: mid(base.answers), label: label(base.dist) } : { value: warmAnswer.ms, label: 'warm, in-process table' },
        target: 30,
      });
      report({
        measure: "the extension's main-thread CPU time for its first answer (/proc/PID/schedstat)",
        value: g.cpu[0],
        unit: 'ms',
        kind: 'cost',
        baseline: base && g !== base ? { value: base.cpu[0], label: label(base.dist) } : { value: mid(g.cpu), label: `median of answers 2 to ${n}` },
      });
      note(
        `${label(g.dist)}: queries ${fmt(g.queries)} ms (the extension's main thread: ${fmt(g.queryCpu)} ms of CPU); answers ${fmt(g.answers)} ms (${fmt(g.cpu)} ms of CPU)`,
      );
    }
    note(
      `warm, in-process table after ${warmup} queries: query ${warm.ms.toFixed(1)} ms, answer ${warmAnswer.ms.toFixed(1)} ms; load average ${loadAverage()}`,
    );
  } finally {
    await emu.shutdown(5000);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * CPU time of a process's main thread in ms, to the nanosecond (/proc/PID/schedstat, the
 * thread-group leader's run time): /proc/PID/stat counts every thread, in 10 ms ticks
 */
function mainThreadCpuMs(pid: number): number {
  return Number(fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

/** the table call through thrift's generated client: how the emulator and the CLI read answers before */
function thriftCall(socket: string, request: Record<string, string>): Promise<unknown> {
  const createUDSConnection = (thrift as unknown as { createUDSConnection(path: string, opts: object): thrift.Connection }).createUDSConnection;
  return new Promise((resolve, reject) => {
    const conn = createUDSConnection(socket, { transport: SocketTransport, protocol: thrift.TBinaryProtocol, max_attempts: 1 });
    conn.on('error', reject);
    const client = thrift.createClient(Extension as never, conn) as unknown as {
      call(r: string, i: string, q: Record<string, string>, cb: (err: unknown, res: unknown) => void): void;
    };
    client.call('table', 'anomaly_scores', request, (err, res) => {
      conn.end();
      if (err) reject(err);
      else resolve(res);
    });
  });
}

export const selectPart: BenchPart = {
  name: 'select',
  summary:
    "the alert query over 1,000,000 retained rows through the emulator (--warmup N queries first, 20; --times N, 9; --against DIST: against another build, e.g. an earlier commit built into DIST, in turns in this process; --first N [--ext-dist DIST] [--settle MS]: the first N queries of a freshly launched anomaly.ext, this build and DIST's, through an emulator already warm; --no-warm-up: without the extension’s start-up rehearsal)",
  options: { warmup: 'value', times: 'value', against: 'value', first: 'value', 'ext-dist': 'value', settle: 'value', 'no-warm-up': 'flag' },
  run,
};
