import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { DEFAULTS } from '../conf/config';
import { BATCH_BYTES, Ingest } from '../extension/ingest';
import { DurableQueue } from '../extension/queue';
import { lsLine } from './helpers/emulated';

// A batch is held whole on both threads until it is scored and retained (its lines, their copy
// to the scorer thread, the rows scored, the reply): it is bounded in bytes, not only in
// lines. 500 lines of a user's flood of long values were the 8 MB the queue holds in memory.

/** a result line of about `bytes` bytes: one row whose command line is that long */
const longLine = (i: number, bytes: number) => lsLine(i, `ls ${'x'.repeat(bytes)}`);
/** the line's number (its osqueryd counter) */
const counterOf = (line: string) => Number(/"counter":(\d+)/.exec(line)?.[1]);
const bytesOf = (lines: readonly string[]) => lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);

t.test('the queue hands out no more than the bytes asked for, and always the first line', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-batch-bytes-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const queue = new DurableQueue(dir, 64 << 20);
  t.teardown(() => queue.close());
  const lines = Array.from({ length: 10 }, (_, i) => longLine(i, 100_000));
  for (const l of lines) queue.append(l);
  const first = queue.take(500, 350_000);
  t.same(first, lines.slice(0, 3), 'three lines of 100 kB within 350 kB');
  queue.commit(first.length);
  t.same(queue.take(500, 1000), lines.slice(3, 4), 'a line longer than the bound comes alone');
  queue.release();
  t.equal(queue.take(500).length, 7, 'without a bound in bytes, every line left');
});

t.test('a flood of long lines reaches the scorer in batches of at most BATCH_BYTES, every line scored once', async (t) => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-batch-bytes-ingest-'));
  t.teardown(() => fs.rmSync(state, { recursive: true, force: true }));
  const config = { ...DEFAULTS, state_dir: state };
  const queue = new DurableQueue(path.join(state, 'queue'), 256 << 20);
  const batches: number[] = [];
  const scorer = {
    score: async (lines: readonly string[]) => {
      batches.push(bytesOf(lines));
      return { setAside: [] };
    },
  };
  // the ingest as the extension makes it: 500 lines a batch
  const ingest = new Ingest(queue, scorer, config, () => {});
  // 40 lines of 90 kB, as memcap's flood logs them: 3.6 MB, all queued before the first batch
  for (let i = 0; i < 40; i++) ingest.accept(longLine(i, 90_000));
  ingest.start();
  while (queue.length > 0) await new Promise((r) => setTimeout(r, 20));
  await ingest.stop();
  queue.close();
  t.equal(ingest.counters.scored, 40, 'every line scored');
  const largest = Math.max(...batches);
  t.ok(largest <= BATCH_BYTES, `the largest batch held ${largest} bytes of lines (bound ${BATCH_BYTES}), in ${batches.length} batches`);
});

t.test('a backlog behind a lagging scorer holds two batches of lines in memory, not the 8 MB it used to', async (t) => {
  // While the scorer thread lags a flood of long lines (a loaded host: heapmem's runs at load
  // ~20), the queue kept its whole in-memory tail full, 8 MB of lines on the thread that
  // answers osqueryd, though the ingest takes at most BATCH_BYTES of them at a time: the batch
  // being scored and the next are all it needs, the rest waits in the segments it is written to
  // anyway (docs/benchmarks.md, "The flood under a lagging scorer").
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-batch-bytes-lag-'));
  t.teardown(() => fs.rmSync(state, { recursive: true, force: true }));
  const config = { ...DEFAULTS, state_dir: state };
  // the queue as the extension makes it (extension.ts): its own bound in memory
  const queue = new DurableQueue(path.join(state, 'queue'), config.queue.max_bytes);
  let heldAtMost = 0;
  const scored: number[] = [];
  const scorer = {
    score: async (lines: readonly string[]) => {
      heldAtMost = Math.max(heldAtMost, queue.heldBytes);
      for (const l of lines) scored.push(counterOf(l));
      return { setAside: [] };
    },
  };
  const ingest = new Ingest(queue, scorer, config, () => {});
  // 120 lines of 90 kB (10.8 MB) accepted before the scorer takes any: its lag
  const lines = Array.from({ length: 120 }, (_, i) => longLine(i, 90_000));
  for (const l of lines) ingest.accept(l);
  heldAtMost = Math.max(heldAtMost, queue.heldBytes);
  ingest.start();
  while (queue.length > 0) await new Promise((r) => setTimeout(r, 20));
  await ingest.stop();
  queue.close();
  t.equal(ingest.counters.accepted, 120, 'every line acknowledged as it came');
  t.same(scored, lines.map(counterOf), 'every line scored once, in order');
  // (a read back stops once the bound is reached: the last line it read may cross it)
  const bound = 2 * BATCH_BYTES + bytesOf(lines.slice(0, 1));
  t.ok(heldAtMost <= bound, `the queue held at most ${heldAtMost} bytes of lines in memory (bound ${bound})`);
});
