import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { bareNode } from './helpers/bare-node';
import { FIRST, FIRST_WINDOW, SECOND, life, until } from './helpers/kill-retaining';

// chaos2's first "seen and left": the scorer thread saved the window state (with `taken`, the
// last queue row its windows took in) before the main thread had retained the windows the
// batch closed. Killed in between, the batch was scored again at the next start, its rows kept
// once, but they were not taken into windows again (`taken`), and the windows they closed were
// not open any more: gone from anomaly_windows for good.

t.test('windows a batch closed are kept when the process is SIGKILLed while retaining them (durable)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-kill-retaining-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // the first life: the first batch scored and its window state saved, the second batch scored
  // (closing the first batch's window, and saving the subject that began to monitor), then a
  // SIGKILL as the main thread begins to retain the closed windows
  const child = spawn(...bareNode([path.join(__dirname, 'helpers', 'kill-retaining.js'), dir]), { stdio: ['ignore', 'inherit', 'inherit'] });
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  t.equal(signal, 'SIGKILL', `the first life died as it retained the closed windows (exit ${code})`);
  // the next start: the queue gives the second batch back, and it is scored again
  const l = await life(dir);
  t.teardown(async () => {
    await l.ingest.stop();
    l.queue.close();
    await l.service.close();
  });
  l.ingest.start();
  await until(() => l.queue.length === 0 && l.queue.counters.scored >= FIRST.length + SECOND.length);
  const first = l.windows.select({}).filter((w) => w.start === FIRST_WINDOW);
  t.equal(first.length, 1, 'the window the second batch closed is in anomaly_windows, once');
  t.equal(first[0]?.events, FIRST.length, `with the first batch's ${FIRST.length} rows`);
  const rows = l.scores.select({}).map((e) => Number(JSON.parse(e.columns).pid));
  t.equal(new Set(rows).size, FIRST.length + SECOND.length, 'every line has its row in anomaly_scores');
  t.equal(rows.length, FIRST.length + SECOND.length, 'each once');
});
