import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { fork } from 'child_process';
import { resolveConfig } from '../conf/config';
import { generateDemo } from '../demo/generate';
import { WATCH_INTERVAL_MS, watcherCores } from '../extension/budget';
import { Ingest } from '../extension/ingest';
import { loggerPlugin } from '../extension/plugin/logger';
import { DurableQueue } from '../extension/queue';
import { startServer } from '../extension/server';
import { createScoringService } from '../scorer/service';
import { percentile, type DriveResult } from './ingest-client';
import type { BenchPart } from './part';
import { loadAverage, note, report, tmpdir } from './table';
import { processThreadTimes, since, type ProcessThreadTimes } from './thread-time';

// Logger ingest as osqueryd drives it: a new unix-socket connection per result line, eight
// calls in flight, from a thread of its own; against a bare server answering the same framing.

/** drives sockets as osqueryd does, from a process of its own (bench/ingest-client.ts) */
export function ingestClient(): { drive(socket: string, lines: string[], concurrency: number): Promise<DriveResult>; close(): Promise<void> } {
  const child = fork(path.join(__dirname, 'ingest-client.js'), ['ingest-client'], { stdio: 'inherit' });
  return {
    drive: (socket, lines, concurrency) =>
      new Promise((resolve, reject) => {
        const failed = (code: number | null) => reject(new Error(`the ingest client exited (${code})`));
        child.once('exit', failed);
        child.once('message', (r) => {
          child.off('exit', failed);
          resolve(r as DriveResult);
        });
        child.send({ socket, lines, concurrency });
      }),
    close: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill();
      }),
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

/** calls per round and path; the rounds alternate the extension and the bare socket */
const PER_ROUND = 1000;
const ROUNDS = 8;
/** calls to each path before the rounds, on lines the rounds do not send again */
const WARM_UP = 2000;

type Case = 'idle' | 'training' | 'paced';

interface Side {
  latencies: number[];
  seconds: number;
  /** CPU ms of the scorer thread while this side was driven */
  scorerMs: number;
  /** the server thread's and the process's other threads' times while this side was driven */
  threads: ProcessThreadTimes | null;
}

/** the lines every case sends: 30 days of one host, warm-up first, then the rounds' */
function benchLines(): string[] {
  const lines = generateDemo({ seed: 1, days: 30, start: 1_790_000_000 - (1_790_000_000 % 86400), host: 'web-01', attacks: false }).lines;
  if (lines.length < WARM_UP + ROUNDS * PER_ROUND) throw new Error(`the demo stream has ${lines.length} lines, fewer than the bench sends`);
  return lines;
}

/**
 * One case. `training`: subjects leave learning after 300 events, so the scorer thread trains
 * all three models while the client drives the socket (the issue's "p99 while training
 * runs"); `paced`: the same, paced to the budget osqueryd's default watchdog level gives.
 * Whether training really ran while the rounds were measured is reported, as the scorer
 * thread's CPU during them: paced, the pacer meters the whole process, so the ingest itself
 * can use up the allowance and hold training back.
 *
 * The extension and the bare socket are driven in alternating rounds (extension first in
 * odd rounds, bare first in even ones), so a change in the machine's load or in the
 * scorer's work moves both sides alike; p99 is over all the rounds' calls of a side.
 */
async function measure(kase: Case, lines: string[], client: ReturnType<typeof ingestClient>, rounds: number, print: boolean): Promise<void> {
  const dir = tmpdir('ingest');
  const training = kase !== 'idle';
  const learning = training ? { min_events: 300, min_days: 0 } : { min_events: 100000, min_days: 0 };
  const config = resolveConfig({ state_dir: dir, learning }, 'bench', {});
  // paced: the budget osqueryd's default watchdog level gives this host (extension/budget.ts)
  const budget = kase === 'paced' ? { limitPercent: 10, cores: watcherCores(), intervalMs: WATCH_INTERVAL_MS, source: 'bench' } : null;
  const service = await createScoringService({ config, log: () => {}, budget });
  const queue = new DurableQueue(path.join(dir, 'queue'), config.queue.max_bytes);
  const ingest = new Ingest(queue, service, config, () => {});
  ingest.start();
  const socket = path.join(dir, 'ext.sock');
  const server = await startServer({
    path: socket,
    plugins: [loggerPlugin('anomaly', { features: 1, result: (l) => ingest.accept(l) })],
    onShutdown: () => {},
    log: () => {},
  });
  const bareSocket = path.join(dir, 'bare.sock');
  const bare = await bareServer(bareSocket);
  await client.drive(socket, lines.slice(0, WARM_UP), 8); // warm up both paths
  await client.drive(bareSocket, lines.slice(0, WARM_UP), 8);
  const zero = () => (processThreadTimes() ? { self: { runMs: 0, waitMs: 0 }, others: { runMs: 0, waitMs: 0 } } : null);
  const real: Side = { latencies: [], seconds: 0, scorerMs: 0, threads: zero() };
  const base: Side = { latencies: [], seconds: 0, scorerMs: 0, threads: zero() };
  const halves: number[][] = [[], []];
  const run = async (side: Side, sock: string, chunk: string[], half: number[]) => {
    const cpu0 = service.scorerCpuMs() ?? 0;
    const t0 = processThreadTimes();
    const r = await client.drive(sock, chunk, 8);
    const t1 = processThreadTimes();
    side.scorerMs += (service.scorerCpuMs() ?? cpu0) - cpu0;
    if (side.threads && t0 && t1) {
      const d = since(t0, t1);
      side.threads.self.runMs += d.self.runMs;
      side.threads.self.waitMs += d.self.waitMs;
      side.threads.others.runMs += d.others.runMs;
      side.threads.others.waitMs += d.others.waitMs;
    }
    side.seconds += r.seconds;
    for (const l of r.latencies) side.latencies.push(l);
    if (sock === socket) for (const l of r.latencies) half.push(l);
  };
  for (let i = 0; i < rounds; i++) {
    const chunk = lines.slice(WARM_UP + i * PER_ROUND, WARM_UP + (i + 1) * PER_ROUND);
    const half = halves[i < rounds / 2 ? 0 : 1];
    if (i % 2 === 0) {
      await run(real, socket, chunk, half);
      await run(base, bareSocket, chunk, half);
    } else {
      await run(base, bareSocket, chunk, half);
      await run(real, socket, chunk, half);
    }
  }
  const trained = new Set(
    service
      .models()
      .filter((m) => m.state === 'monitoring')
      .map((m) => m.subject),
  ).size;
  server.close();
  bare.close();
  await ingest.stop();
  queue.close();
  await service.close();
  fs.rmSync(dir, { recursive: true, force: true });
  if (!print) return;
  const share = (s: Side) => `${Math.round(s.scorerMs / 10 / s.seconds)} %`;
  const when =
    kase === 'idle'
      ? `, scorer not training (scorer thread ${share(real)} of a core while measured)`
      : `, scorer training${kase === 'paced' ? ' paced to the watchdog budget' : ''} (scorer thread ${share(real)} of a core while measured; ${trained} subjects trained by the end)`;
  const rate = (s: Side) => s.latencies.length / s.seconds;
  report({
    measure: `Logger ingest, Thrift socket, 8 concurrent, new connection per call${when}`,
    value: rate(real),
    unit: 'rows/s',
    kind: 'rate',
    baseline: { value: rate(base), label: 'bare socket, same framing' },
    target: 5000,
  });
  const p = (xs: number[], q: number) => percentile(xs, q).toFixed(2);
  // the server thread's own work a call, and how long the machine kept it from a core
  const where = (s: Side) =>
    s.threads
      ? `${Math.round((s.threads.self.runMs * 1000) / s.latencies.length)} µs of CPU a call, waited for a core ${Math.round((100 * s.threads.self.waitMs) / (s.seconds * 1000))} % of the time; the process's other threads ${Math.round(s.threads.others.runMs / s.seconds / 10)} % of a core`
      : 'no scheduler statistics here';
  note(`${kase}: the server thread, extension: ${where(real)}; bare socket: ${where(base)}`);
  report({
    measure: `Logger acknowledgement latency p99 over ${real.latencies.length} calls${when} (p50 ${p(real.latencies, 50)} ms, bare ${p(base.latencies, 50)} ms; p99 of the first and second half ${p(halves[0], 99)} / ${p(halves[1], 99)} ms)`,
    value: percentile(real.latencies, 99),
    unit: 'ms',
    kind: 'cost',
    baseline: { value: percentile(base.latencies, 99), label: 'bare socket' },
    target: 5,
    digits: 2,
  });
}

/** the semi-space size anomaly.ext starts node with, read from the launcher itself (null if it sets none) */
function launcherSemiSpaceMb(): number | null {
  const launcher = fs.readFileSync(path.join(__dirname, '..', '..', 'extension', 'anomaly.ext'), 'utf8');
  const m = /^exec .*--max-semi-space-size=(\d+)/m.exec(launcher);
  return m ? Number(m[1]) : null;
}

/**
 * The extension runs here in the bench's own process, whose young generation is whatever this
 * node was started with: V8's default lets a busy thread grow two 16 MB semi-spaces, where
 * anomaly.ext starts node with 4 MB ones. A scavenge's pause grows with what is live in the
 * semi-space it empties, and those pauses are the longest waits of the thread that answers
 * osqueryd (docs/benchmarks.md, "Ingest, fourth pass"): the row says which one was measured.
 */
function semiSpaceNote(): string {
  const flag = [...process.execArgv].reverse().find((a) => a.startsWith('--max-semi-space-size'));
  const mb = flag ? Number(flag.split('=')[1]) : NaN;
  const size = Number.isFinite(mb) ? `${mb} MB` : "V8's default (up to 16 MB)";
  const launcher = launcherSemiSpaceMb();
  if (launcher === null) return `main thread's semi-spaces: ${size}`;
  return mb === launcher
    ? `main thread's semi-spaces: ${size}, as anomaly.ext starts node`
    : `main thread's semi-spaces: ${size}; anomaly.ext starts node with ${launcher} MB (node --expose-gc --max-semi-space-size=${launcher} dist/bench/run.js ingest measures it as it runs)`;
}

export const ingestPart: BenchPart = {
  name: 'ingest',
  summary: 'logger ingest rate and acknowledgement p99 at 8 concurrent calls, idle scorer and while it trains',
  options: {},
  async run() {
    note(`load average at the start ${loadAverage()}`);
    note(semiSpaceNote());
    const lines = benchLines();
    const client = ingestClient();
    try {
      // the first case would otherwise meet the server, the ingest and the client colder than
      // the others: one unreported run of the idle case warms them all
      await measure('idle', lines, client, 2, false);
      for (const kase of ['idle', 'training', 'paced'] as const) await measure(kase, lines, client, ROUNDS, true);
    } finally {
      await client.close();
    }
    note(`load average at the end ${loadAverage()}`);
  },
};
