import { ExtensionClient } from '../extension/client';

// The client side of the ingest benchmark, run as a process of its own, as osqueryd is: its
// calls must not queue on the event loop of the extension being measured, and its CPU must
// not be charged to the extension's (the scorer's pacer meters the whole process, and a
// client thread in it made the paced case starve the scorer more than osqueryd would).

export interface DriveResult {
  /** wall seconds from the first call to the last answer */
  seconds: number;
  /** each call's latency, ms, in the order they were answered */
  latencies: number[];
}

/** osqueryd's pattern: a new connection per call, `concurrency` calls in flight */
async function drive(socket: string, lines: string[], concurrency: number): Promise<DriveResult> {
  const latencies: number[] = [];
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < lines.length) {
        const line = lines[next++];
        const t0 = process.hrtime.bigint();
        await new ExtensionClient(socket).call('logger', 'anomaly', { string: line, category: 'event' });
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, latencies };
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

// one long-lived process serves every run, so the measured runs find the client code warm
if (require.main === module && process.argv[2] === 'ingest-client' && process.send) {
  process.on('message', ({ socket, lines, concurrency }: { socket: string; lines: string[]; concurrency: number }) => {
    drive(socket, lines, concurrency).then((r) => process.send!(r));
  });
}
