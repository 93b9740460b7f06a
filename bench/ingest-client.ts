import { isMainThread, parentPort, workerData } from 'worker_threads';
import { ExtensionClient } from '../extension/client';

// The client side of the ingest benchmark, run in its own thread: osqueryd is another
// process, so its calls must not queue on the event loop of the extension being measured.

export interface DriveResult {
  rate: number;
  p99: number;
  p50: number;
}

/** osqueryd's pattern: a new connection per call, `concurrency` calls in flight */
async function drive(socket: string, lines: string[], concurrency: number): Promise<DriveResult> {
  const lat: number[] = [];
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < lines.length) {
        const line = lines[next++];
        const t0 = process.hrtime.bigint();
        await new ExtensionClient(socket).call('logger', 'anomaly', { string: line, category: 'event' });
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { rate: lines.length / seconds, p99: percentile(lat, 99), p50: percentile(lat, 50) };
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

// one long-lived thread serves every run, so the measured runs find the client code warm
if (!isMainThread && parentPort && workerData === 'ingest-client') {
  const port = parentPort;
  port.on('message', ({ socket, lines, concurrency }: { socket: string; lines: string[]; concurrency: number }) => {
    drive(socket, lines, concurrency).then((r) => port.postMessage(r));
  });
}
