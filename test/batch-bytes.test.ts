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
