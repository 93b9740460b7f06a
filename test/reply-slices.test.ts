import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MessageChannel, Worker } from 'worker_threads';
import t from 'tap';
import { resolveConfig } from '../conf/config';
import { fromBytes, fromSlice, RETAIN_SLICE, toSlices, transferOf } from '../scorer/reply-slices';
import { progressBuffer } from '../scorer/watch';
import type { WorkerInit, WorkerReply } from '../scorer/worker';
import type { ModelSummary, ScoredEvent } from '../scorer/types';

// The scorer thread answers a batch with its rows in slices of bytes, handed over without a
// copy: the thread that answers osqueryd makes one slice into objects a turn, as it retains
// them, instead of a whole batch's rows in one block before anything else can run. The
// models' summaries come with every answer as bytes, read only when anomaly_models is.

t.test('rows go in slices of RETAIN_SLICE, each owning its buffer, and come back whole', async (t) => {
  const rows = Array.from({ length: 2 * RETAIN_SLICE + 7 }, (_, i) => ({ id: `r${i}`, score: i % 3 ? i / 1000 : null, columns: '{"a":"é"}' }));
  const slices = toSlices(rows);
  t.same(
    slices.map((s) => fromSlice(s).length),
    [RETAIN_SLICE, RETAIN_SLICE, 7],
  );
  t.ok(
    slices.every((s) => s.byteOffset === 0 && s.buffer.byteLength === s.byteLength),
    'each slice is all of its buffer, so transferring it hands over nothing else',
  );
  const { port1, port2 } = new MessageChannel();
  const got = new Promise<Uint8Array[]>((resolve) => port2.once('message', resolve));
  port1.postMessage(slices, transferOf(slices));
  const received = await got;
  port1.close();
  t.ok(
    slices.every((s) => s.byteLength === 0),
    'the sender no longer holds the bytes: they were moved, not copied',
  );
  t.same(
    received.flatMap((s) => fromSlice(s)),
    rows,
  );
  t.same(toSlices([]), []);
});

t.test("the scorer thread's answer to a batch holds its rows and windows as slices", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-slices-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = resolveConfig({ state_dir: dir, learning: { min_events: 100000, min_days: 0 } }, 'test', {});
  const init: WorkerInit = { config, stateDir: dir, saveEverySeconds: 60, budget: null, progress: progressBuffer() };
  const worker = new Worker(path.join(__dirname, '..', 'scorer', 'worker.js'), { workerData: init });
  t.teardown(() => worker.terminate());
  const replies: WorkerReply[] = [];
  const done = new Promise<Extract<WorkerReply, { type: 'done' | 'failed' }>>((resolve) =>
    worker.on('message', (m: WorkerReply) => {
      replies.push(m);
      if (m.type === 'done' || m.type === 'failed') resolve(m);
    }),
  );
  await new Promise<void>((resolve) => worker.on('message', (m: WorkerReply) => m.type === 'ready' && resolve()));
  const lines = Array.from({ length: 3 * RETAIN_SLICE + 1 }, (_, i) =>
    JSON.stringify({
      name: 'pack_user-behavior_process_events',
      hostIdentifier: 'h',
      unixTime: 1_790_000_000 + i * 7200,
      action: 'added',
      columns: { pid: String(i), path: '/usr/bin/id', cmdline: 'id', auid: '1000' },
    }),
  );
  worker.postMessage({ type: 'score', id: 1, lines });
  const reply = await done;
  if (reply.type !== 'done') throw new Error(`the worker failed: ${reply.type === 'failed' ? reply.message : ''}`);
  const slices = reply.events ?? [];
  t.ok(slices.length > 0 && slices.every((s) => s instanceof Uint8Array), `the rows come as slices of bytes (${slices.length})`);
  const perSlice = slices.map((s) => fromSlice<ScoredEvent>(s).length);
  t.ok(
    perSlice.every((n) => n <= RETAIN_SLICE),
    `no slice holds more than ${RETAIN_SLICE} rows (${perSlice.join(', ')})`,
  );
  const scored = slices.flatMap((s) => fromSlice<ScoredEvent>(s));
  t.equal(scored.length, lines.length, 'every line scored, one row each');
  t.same(
    scored.map((e) => JSON.parse(e.columns).pid),
    lines.map((_, i) => String(i)),
    'in the order of the lines',
  );
  // windows close as the hours pass: they come as slices too
  const windows = (reply.windows ?? []).flatMap((s) => fromSlice<unknown>(s));
  t.ok(windows.length > 0, `${windows.length} closed windows, as slices`);
  // the models' summaries come as bytes, made into objects only when anomaly_models is read
  t.ok(reply.summaries instanceof Uint8Array, 'the summaries come as bytes');
  const summaries = fromBytes<ModelSummary[]>(reply.summaries);
  t.ok(
    summaries.some((m) => m.state === 'learning' && m.events > 0),
    `the summaries say what the subjects learned (${summaries.map((m) => `${m.subject} ${m.model} ${m.events}`).join('; ')})`,
  );
});
