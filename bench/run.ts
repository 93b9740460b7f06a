import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { resolveConfig } from '../conf/config';
import { generateDemo } from '../demo/generate';
import { OsquerydEmulator } from '../emulator';
import { Ingest } from '../extension/ingest';
import { loggerPlugin } from '../extension/plugin/logger';
import { DurableQueue } from '../extension/queue';
import { ManagerClient, toNumber, types } from '../extension/client';
import { startServer } from '../extension/server';
import { scoresTable } from '../extension/tables/scores';
import { Scorer } from '../scorer/scorer';
import { createScoringService } from '../scorer/service';
import type { BehaviourEvent, ScoredEvent } from '../scorer/types';
import { RetainedScores } from '../state/scores';
import { scoring as benchSequenceScoring, training as benchSequenceTraining, type SequenceReport } from './sequence';
import { percentile, type DriveResult } from './ingest-client';

// `npm run bench`: every figure next to a baseline measured in the same run, as a ratio,
// because these machines are shared and absolute numbers drift. Results: docs/benchmarks.md.

const only = process.argv.slice(2);
const results: string[] = [];

function report(measure: string, value: string, baseline: string, ratio: string, target: string): void {
  const line = `| ${measure} | ${value} | ${baseline} | ${ratio} | ${target} |`;
  results.push(line);
  console.log(line);
}

function tmpdir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `anomaly-bench-${name}-`));
}

/** drives sockets as osqueryd does, from a thread of its own (bench/ingest-client.ts) */
function ingestClient(): { drive(socket: string, lines: string[], concurrency: number): Promise<DriveResult>; close(): Promise<number> } {
  const worker = new Worker(path.join(__dirname, 'ingest-client.js'), { workerData: 'ingest-client' });
  return {
    drive: (socket, lines, concurrency) =>
      new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.postMessage({ socket, lines, concurrency });
      }),
    close: () => worker.terminate(),
  };
}

/** the baseline: a bare unix-socket server answering each Thrift call with a canned reply */
function bareServer(socket: string): Promise<net.Server> {
  const server = net.createServer((conn) => {
    let buf = Buffer.alloc(0);
    conn.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 12) return;
      const nameLen = buf.readUInt32BE(4);
      if (buf.length < 12 + nameLen) return;
      const seqid = buf.readUInt32BE(8 + nameLen);
      const name = buf.subarray(8, 8 + nameLen);
      // REPLY: {0: ExtensionResponse {1: ExtensionStatus {1: code 0}, 2: list<map> []}}
      const head = Buffer.alloc(8);
      head.writeUInt32BE(0x80010002, 0);
      head.writeUInt32BE(nameLen, 4);
      const seq = Buffer.alloc(4);
      seq.writeUInt32BE(seqid, 0);
      const body = Buffer.from([0x0c, 0x00, 0x00, 0x0c, 0x00, 0x01, 0x08, 0x00, 0x01, 0, 0, 0, 0, 0x00, 0x0f, 0x00, 0x02, 0x0d, 0, 0, 0, 0, 0x00, 0x00]);
      conn.end(Buffer.concat([head, name, seq, body]));
      buf = Buffer.alloc(0);
    });
  });
  return new Promise((resolve) => server.listen(socket, () => resolve(server)));
}

async function benchIngest(): Promise<void> {
  const dir = tmpdir('ingest');
  const lines = generateDemo({ seed: 1, days: 14, start: 1_790_000_000 - (1_790_000_000 % 86400), host: 'web-01', attacks: false }).lines.slice(0, 6000);
  const config = resolveConfig({ state_dir: dir, learning: { min_events: 100000, min_days: 0 } }, 'bench', {});
  const service = await createScoringService({ config, log: () => {} });
  const queue = new DurableQueue(path.join(dir, 'queue'), config.queue.max_bytes);
  const ingest = new Ingest(queue, service, config, () => {});
  ingest.start();
  const socket = path.join(dir, 'ext.sock');
  const server = await startServer({ path: socket, plugins: [loggerPlugin('anomaly', { features: 1, result: (l) => ingest.accept(l) })], onShutdown: () => {}, log: () => {} });
  const bareSocket = path.join(dir, 'bare.sock');
  const bare = await bareServer(bareSocket);
  const client = ingestClient();
  await client.drive(socket, lines.slice(0, 1000), 8); // warm up both paths
  await client.drive(bareSocket, lines.slice(0, 1000), 8);
  const real = await client.drive(socket, lines, 8);
  const base = await client.drive(bareSocket, lines, 8);
  await client.close();
  report('Logger ingest, Thrift socket, 8 concurrent, new connection per call', `${Math.round(real.rate)} rows/s`, `${Math.round(base.rate)} rows/s (bare socket, same framing)`, `${(real.rate / base.rate).toFixed(2)}×`, '≥ 5,000 rows/s');
  report('Logger acknowledgement latency p99 (p50)', `${real.p99.toFixed(2)} ms (${real.p50.toFixed(2)})`, `${base.p99.toFixed(2)} ms (${base.p50.toFixed(2)})`, `${(real.p99 / base.p99).toFixed(2)}×`, '≤ 5 ms');
  await server.close();
  bare.close();
  await ingest.stop();
  queue.close();
  await service.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

function userEvents(u: number, n: number): BehaviourEvent[] {
  const tools = Array.from({ length: 12 }, (_, i) => `/usr/bin/tool${(u * 7 + i) % 40}`);
  return Array.from({ length: n }, (_, i) => {
    const exe = tools[(i * 5 + u) % tools.length];
    return { key: `exec ${exe} <- /bin/bash`, values: ['kind=process', `exe=${exe}`, 'parent=/bin/bash', `cmd=${exe.split('/').pop()} -x <*>`, `hour=${String(9 + (i % 9)).padStart(2, '0')}`], pairs: [`parent=/bin/bash>exe=${exe}`], text: `${exe} -x ${i % 17}`, time: 1_790_000_000 + i * 120 };
  });
}

async function benchMemory(): Promise<void> {
  const config = resolveConfig({ learning: { min_events: 300, min_days: 0 }, retrain: { window_events: 2000 } }, 'bench', {});
  const rowsFor = (u: number) =>
    userEvents(u, 400).map((e, i) => ({ query: 'pack_user-behavior_process_events', host: 'web-01', time: e.time, action: 'added' as const, decorations: {}, columns: { pid: String(i), path: e.values[1].slice(4), cmdline: e.text, auid: String(2000 + u), parent: '1' } }));
  const measure = async (subjects: number) => {
    const gc = (global as { gc?: () => void }).gc;
    gc?.();
    const before = process.memoryUsage().rss;
    const scorer = await Scorer.open({ config, stateDir: null });
    for (let u = 0; u < subjects; u++) await scorer.scoreRows(rowsFor(u));
    gc?.();
    const after = process.memoryUsage().rss;
    return { scorer, growth: (after - before) / 1e6 };
  };
  // the first scorer pays for loading tfjs and its wasm backend once per process: not growth
  await measure(1);
  const one = await measure(1);
  const hundred = await measure(100);
  const monitoring = new Set(hundred.scorer.summaries().filter((s) => s.state === 'monitoring').map((s) => s.subject)).size;
  report(`Resident memory growth, 100 modelled subjects (${monitoring} monitoring, all three models)`, `${hundred.growth.toFixed(0)} MB`, `${one.growth.toFixed(0)} MB (1 subject)`, `${(hundred.growth / Math.max(one.growth, 1)).toFixed(1)}×`, '≤ 150 MB');
  void one.scorer;
}

async function benchSelect(): Promise<void> {
  const dir = tmpdir('select');
  const store = new RetainedScores({ dir: path.join(dir, 'scores'), maxRows: 1_000_000, maxDays: 3650 });
  const batch: ScoredEvent[] = [];
  for (let i = 0; i < 1_000_000; i++) {
    const bad = i % 997 === 0;
    const score = bad ? 0.1 : 0.7 + (i % 300) / 1000;
    batch.push({ id: `id-${i}`, time: 1_790_000_000 + i, host: 'web-01', subject: `user${i % 100}`, query: 'pack_user-behavior_process_events', action: 'added', event: `exec /usr/bin/tool${i % 50} <- /bin/bash`, score, verdict: bad ? 'bad' : 'good', model: 'rarity', reasons: bad ? 'program `/usr/bin/nc` never seen before' : 'usual', columns: '{"pid":"1"}' });
    if (batch.length === 50_000) store.append(batch.splice(0));
  }
  const emu = new OsquerydEmulator({ dir: path.join(dir, 'osquery'), interval: 60, timeout: 5 });
  await emu.start();
  const table = scoresTable(store);
  const status = await new ManagerClient(emu.socket).registerExtension(new types.InternalExtensionInfo({ name: 'bench', version: '1', sdk_version: '0.0.0', min_sdk_version: '0.0.0' }), { table: { anomaly_scores: table.routes() } });
  const server = await startServer({ path: `${emu.socket}.${toNumber(status.uuid)}`, plugins: [table], onShutdown: () => {}, log: () => {} });
  const time = async (sql: string) => {
    const lat: number[] = [];
    let rows = 0;
    for (let i = 0; i < 7; i++) {
      const t0 = process.hrtime.bigint();
      rows = (await emu.query(sql)).length;
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return { ms: percentile(lat, 50), rows };
  };
  const pushed = await time('SELECT * FROM anomaly_scores WHERE score < 0.3');
  // the fixed cost of a query through the emulator: same table, a filter nothing matches
  const empty = await time("SELECT * FROM anomaly_scores WHERE score < 0.3 AND subject = 'nobody'");
  report(`SELECT * FROM anomaly_scores WHERE score < 0.3, 1,000,000 retained rows, through the emulator (${pushed.rows} rows)`, `${pushed.ms.toFixed(1)} ms`, `${empty.ms.toFixed(1)} ms (same query matching nothing)`, `${(pushed.ms / empty.ms).toFixed(2)}×`, '≤ 100 ms');
  await server.close();
  await emu.stop();
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''}`);
  console.log('| measure | value | baseline (same run) | ratio | target |');
  console.log('|---|---|---|---|---|');
  // the sequence models' parts live in sequence.ts, which also runs on its own
  const sequenceReport: SequenceReport = (measure, value, baseline, ratio, target, met) => report(measure, value, baseline, ratio, met ? `${target} (${met})` : target);
  const all: Record<string, () => Promise<void>> = { ingest: benchIngest, scoring: () => benchSequenceScoring(sequenceReport), select: benchSelect, memory: benchMemory, lstm: () => benchSequenceTraining(sequenceReport) };
  for (const [name, fn] of Object.entries(all)) {
    if (only.length && !only.includes(name)) continue;
    await fn();
  }
  if (process.env.BENCH_OUT) fs.writeFileSync(process.env.BENCH_OUT, results.join('\n') + '\n');
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
