import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { resolveConfig } from '../conf/config';
import { generateDemo } from '../demo/generate';
import { WATCH_INTERVAL_MS } from '../extension/budget';
import { Ingest } from '../extension/ingest';
import { loggerPlugin } from '../extension/plugin/logger';
import { DurableQueue } from '../extension/queue';
import { startServer } from '../extension/server';
import { createScoringService } from '../scorer/service';
import type { DriveResult } from './ingest-client';
import type { BenchPart } from './part';
import { loadAverage, note, report, tmpdir } from './table';

// Logger ingest as osqueryd drives it: a new unix-socket connection per result line, eight
// calls in flight, from a thread of its own; against a bare server answering the same framing.

/** drives sockets as osqueryd does, from a thread of its own (bench/ingest-client.ts) */
export function ingestClient(): { drive(socket: string, lines: string[], concurrency: number): Promise<DriveResult>; close(): Promise<number> } {
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

/**
 * `training`: subjects leave learning after 300 events, so the scorer thread trains all
 * three models while the client drives the socket (the "p99 while training runs").
 */
async function measure(training: boolean, paced = false): Promise<void> {
  const dir = tmpdir('ingest');
  const lines = generateDemo({ seed: 1, days: 14, start: 1_790_000_000 - (1_790_000_000 % 86400), host: 'web-01', attacks: false }).lines.slice(0, 6000);
  const learning = training ? { min_events: 300, min_days: 0 } : { min_events: 100000, min_days: 0 };
  const config = resolveConfig({ state_dir: dir, learning }, 'bench', {});
  // paced: the budget osqueryd's default watchdog level gives this host (extension/budget.ts)
  const budget = paced ? { limitPercent: 10, cores: os.cpus().length, intervalMs: WATCH_INTERVAL_MS, source: 'bench' } : null;
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
  const client = ingestClient();
  await client.drive(socket, lines.slice(0, 1000), 8); // warm up both paths
  await client.drive(bareSocket, lines.slice(0, 1000), 8);
  const real = await client.drive(socket, lines, 8);
  const base = await client.drive(bareSocket, lines, 8);
  await client.close();
  const trained = new Set(
    service
      .models()
      .filter((m) => m.state === 'monitoring')
      .map((m) => m.subject),
  ).size;
  const when = training ? `, scorer training${paced ? ' paced to the watchdog budget' : ''} (${trained} subjects trained by the end)` : ', scorer not training';
  report({
    measure: `Logger ingest, Thrift socket, 8 concurrent, new connection per call${when}`,
    value: real.rate,
    unit: 'rows/s',
    kind: 'rate',
    baseline: { value: base.rate, label: 'bare socket, same framing' },
    target: 5000,
  });
  report({
    measure: `Logger acknowledgement latency p99${when} (p50 ${real.p50.toFixed(2)} ms, bare ${base.p50.toFixed(2)} ms)`,
    value: real.p99,
    unit: 'ms',
    kind: 'cost',
    baseline: { value: base.p99, label: 'bare socket' },
    target: 5,
    digits: 2,
  });
  server.close();
  bare.close();
  await ingest.stop();
  queue.close();
  await service.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

export const ingestPart: BenchPart = {
  name: 'ingest',
  summary: 'logger ingest rate and acknowledgement p99 at 8 concurrent calls, idle scorer and while it trains',
  async run() {
    await measure(false);
    await measure(true);
    await measure(true, true);
    note(`load average ${loadAverage()}`);
  },
};
