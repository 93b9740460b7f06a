import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import fsModule = require('fs');
import { DEFAULTS } from '../conf/config';
import { Ingest } from '../extension/ingest';
import { DurableQueue } from '../extension/queue';
import { RowsNotRetained } from '../state/store';
import { lsLine } from './helpers/emulated';
import { readResultLogs } from '../scorer/parse/results';

// The lines the scorer does not score are kept in queue/failed.jsonl and counted set aside.
// Every accepted line is scored, queued, dropped or set aside, once.

const line = (i: number) => lsLine(i, `ls ${i}`);
const realWriteSync = fsModule.writeSync;

/**
 * Run the ingest until the queue is empty, then stop it and close the queue; with `writeSync`,
 * fs.writeSync is that meanwhile (a disk that refuses or takes part of a write), real again after
 */
async function drain(ingest: Ingest, queue: DurableQueue, writeSync?: typeof fs.writeSync): Promise<void> {
  if (writeSync) fsModule.writeSync = writeSync;
  try {
    ingest.start();
    while (queue.length > 0) await new Promise((r) => setTimeout(r, 50));
  } finally {
    fsModule.writeSync = realWriteSync;
    await ingest.stop();
    queue.close();
  }
}

t.test('lines set aside for two reasons, and the disk refuses the second write: each is kept and counted once', async (t) => {
  // The set-aside lines of a batch were written one reason at a time, each counted once
  // written: when the disk took the first write and refused the second (a nearly full disk
  // has room for a few small lines, not for more), the batch went back to the queue and was
  // tried again, and the lines of the first reason were written and counted again each time.
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-set-aside-'));
  t.teardown(() => fs.rmSync(state, { recursive: true, force: true }));
  const config = { ...DEFAULTS, state_dir: state };
  const queue = new DurableQueue(path.join(state, 'queue'), 1 << 20);
  let rounds = 0;
  const scorer = {
    score: async (lines: readonly string[]) => {
      rounds++;
      // the first line no longer parses, the second took too much CPU; the rest are scored
      return {
        setAside: [
          { index: 0, why: 'no longer a valid result line on replay' },
          { index: 1, why: 'its rows took over budget.row_cpu_ms' },
        ].filter((s) => s.index < lines.length),
      };
    },
  };
  const ingest = new Ingest(queue, scorer, config, () => {}, 10);
  for (let i = 0; i < 10; i++) ingest.accept(line(i));
  let refused = 0;
  await drain(ingest, queue, ((fd: number, data: unknown, ...rest: unknown[]) => {
    // the disk refuses the write that holds the second line, once
    if (refused === 0 && Buffer.isBuffer(data) && data.includes(`ls 1"`)) {
      refused++;
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }
    return (realWriteSync as (...a: unknown[]) => number)(fd, data, ...rest);
  }) as typeof fs.writeSync);
  t.equal(refused, 1, 'one write was refused');
  t.ok(rounds >= 2, `the batch was tried again (${rounds} rounds)`);
  const kept = fs
    .readFileSync(path.join(state, 'queue', 'failed.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean);
  t.same(kept.sort(), [line(0), line(1)].sort(), 'each line set aside is kept once');
  const c = queue.counters;
  t.equal(c.set_aside, 2, 'two lines counted set aside');
  t.equal(c.scored, 8);
  t.equal(c.scored + c.queued + c.dropped + c.set_aside, c.accepted, `scored + queued + dropped + set_aside = accepted (${JSON.stringify(c)})`);
});

t.test('queue/failed.jsonl is bounded: past its size it becomes failed.jsonl.1, replacing the one before', async (t) => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-set-aside-bound-'));
  t.teardown(() => fs.rmSync(state, { recursive: true, force: true }));
  const config = { ...DEFAULTS, state_dir: state };
  const queue = new DurableQueue(path.join(state, 'queue'), 1 << 20);
  // every line is set aside; the file may hold 2,000 bytes, about eight of these lines
  const scorer = { score: async (lines: readonly string[]) => ({ setAside: lines.map((_, index) => ({ index, why: 'test' })) }) };
  const bound = 2000;
  const ingest = new Ingest(queue, scorer, config, () => {}, 5, bound);
  for (let i = 0; i < 60; i++) ingest.accept(line(i));
  await drain(ingest, queue);
  t.equal(ingest.counters.set_aside, 60, 'every line counted set aside');
  const file = path.join(state, 'queue', 'failed.jsonl');
  const batch = 5 * (line(59).length + 1);
  for (const f of [file, `${file}.1`])
    t.ok(fs.statSync(f).size <= bound + batch, `${path.basename(f)}: ${fs.statSync(f).size} bytes (bound ${bound}, one batch over at most)`);
  t.notOk(fs.existsSync(`${file}.2`), 'two files at most');
  t.match(fs.readFileSync(file, 'utf8'), /"ls 59"/, 'the newest lines are in failed.jsonl');
});

t.test('a write to queue/failed.jsonl the full disk took part of leaves no fragment glued to the next line', async (t) => {
  // A nearly full disk takes part of a write and refuses the rest: the part stayed at the end
  // of failed.jsonl, the batch was tried again, and its lines were appended right after it:
  // the first of them glued to the fragment, one line that is neither, which a reader
  // (anomaly score --log queue/failed.jsonl) could only skip, the whole line with it.
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-set-aside-torn-'));
  t.teardown(() => fs.rmSync(state, { recursive: true, force: true }));
  const config = { ...DEFAULTS, state_dir: state };
  const queue = new DurableQueue(path.join(state, 'queue'), 1 << 20);
  const scorer = { score: async () => ({ setAside: [{ index: 0, why: 'no longer a valid result line on replay' }] }) };
  const ingest = new Ingest(queue, scorer, config, () => {}, 10);
  for (let i = 0; i < 10; i++) ingest.accept(line(i));
  let partial = 0;
  await drain(ingest, queue, ((fd: number, data: unknown, ...rest: unknown[]) => {
    if (Buffer.isBuffer(data) && data.includes('ls 0"')) {
      // the first write takes half of the line, the next one is refused
      if (partial === 0) {
        partial++;
        return (realWriteSync as (...a: unknown[]) => number)(fd, data, rest[0] ?? 0, Math.floor(data.length / 2));
      }
      if (partial === 1) {
        partial++;
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
    }
    return (realWriteSync as (...a: unknown[]) => number)(fd, data, ...rest);
  }) as typeof fs.writeSync);
  t.equal(partial, 2, 'half a write taken, then one refused');
  const text = fs.readFileSync(path.join(state, 'queue', 'failed.jsonl'), 'utf8');
  const kept = text.split('\n').filter(Boolean);
  t.same(kept, [line(0)], `the line set aside, whole and once, and nothing else: ${JSON.stringify(text.slice(0, 300))}`);
  t.equal(queue.counters.set_aside, 1, 'counted once');
});

t.test('queue/failed.jsonl ending in a torn line: the next lines start on a line of their own, and a reader counts the torn one', async (t) => {
  // a kill or a power loss in the middle of an append leaves a line without its end, which
  // nothing can cut off afterwards: the next append ends it first
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-set-aside-torn-'));
  t.teardown(() => fs.rmSync(state, { recursive: true, force: true }));
  const file = path.join(state, 'queue', 'failed.jsonl');
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const torn = line(100).slice(0, 40);
  fs.writeFileSync(file, `${line(99)}\n${torn}`, { mode: 0o600 });
  const config = { ...DEFAULTS, state_dir: state };
  const queue = new DurableQueue(path.join(state, 'queue'), 1 << 20);
  const scorer = { score: async () => ({ setAside: [{ index: 0, why: 'test' }] }) };
  const ingest = new Ingest(queue, scorer, config, () => {}, 10);
  for (let i = 0; i < 3; i++) ingest.accept(line(i));
  await drain(ingest, queue);
  t.same(fs.readFileSync(file, 'utf8').split('\n'), [line(99), torn, line(0), ''], 'the torn line ended, the new one whole after it');
  const items = [];
  for await (const item of readResultLogs([file])) items.push(item);
  const rows = items.filter((i) => i.rows).map((i) => i.rows![0].columns.path ?? i.rows![0].columns.cmdline ?? i.line);
  const errors = items.filter((i) => i.error).map((i) => i.error!.message);
  t.equal(rows.length, 2, `a reader takes the two whole lines (${JSON.stringify(rows)})`);
  t.equal(errors.length, 1, 'and counts the torn one as one bad line');
  t.match(errors[0] ?? '', /failed\.jsonl:2: truncated JSON/, errors[0]);
});

t.test('a batch whose rows the disk refused waits out its backoff while lines keep arriving (review11)', async (t) => {
  // Each try scores the refused batch again in the scorer thread, so its waits grow to 30 s
  // (77c1921). The wait was the gathering pause, which every accepted line cuts short: with
  // osqueryd sending lines, the batch was scored again as each arrived, not once per wait
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-backoff-'));
  t.teardown(() => fs.rmSync(state, { recursive: true, force: true }));
  const config = { ...DEFAULTS, state_dir: state };
  const queue = new DurableQueue(path.join(state, 'queue'), 1 << 20);
  let tries = 0;
  const scorer = {
    score: async () => {
      tries++;
      throw new RowsNotRetained('2 scored rows not retained in anomaly_scores (ENOSPC): their lines stay queued');
    },
  };
  const ingest = new Ingest(queue, scorer, config, () => {}, 2);
  ingest.accept(line(0));
  ingest.accept(line(1));
  ingest.start();
  while (tries === 0) await new Promise((r) => setImmediate(r));
  // the pump is in its first wait (1 s); lines arrive, and the event loop turns many times
  for (let i = 2; i < 12; i++) {
    ingest.accept(line(i));
    for (let k = 0; k < 20; k++) await new Promise((r) => setImmediate(r));
  }
  t.equal(tries, 1, 'the refused batch was not scored again before its wait ended');
  // stop() still ends the wait (systemd gives a stopping service 15 s; the wait may be 30 s)
  await ingest.stop();
  queue.close();
  t.equal(queue.counters.scored, 0, 'nothing counted scored: the lines stay queued');
});
