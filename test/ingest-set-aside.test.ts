import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import fsModule = require('fs');
import { DEFAULTS } from '../conf/config';
import { Ingest } from '../extension/ingest';
import { DurableQueue } from '../extension/queue';
import { lsLine } from './helpers/emulated';

// The lines the scorer does not score are kept in queue/failed.jsonl and counted set aside.
// Every accepted line is scored, queued, dropped or set aside, once.

const line = (i: number) => lsLine(i, `ls ${i}`);

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
  const real = fsModule.writeSync;
  let refused = 0;
  fsModule.writeSync = ((fd: number, data: unknown, ...rest: unknown[]) => {
    // the disk refuses the write that holds the second line, once
    if (refused === 0 && Buffer.isBuffer(data) && data.includes(`ls 1"`)) {
      refused++;
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }
    return (real as (...a: unknown[]) => number)(fd, data, ...rest);
  }) as typeof fs.writeSync;
  try {
    ingest.start();
    while (queue.length > 0) await new Promise((r) => setTimeout(r, 50));
  } finally {
    fsModule.writeSync = real;
    await ingest.stop();
    queue.close();
  }
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
  ingest.start();
  while (queue.length > 0) await new Promise((r) => setTimeout(r, 50));
  await ingest.stop();
  queue.close();
  t.equal(ingest.counters.set_aside, 60, 'every line counted set aside');
  const file = path.join(state, 'queue', 'failed.jsonl');
  const batch = 5 * (line(59).length + 1);
  for (const f of [file, `${file}.1`])
    t.ok(fs.statSync(f).size <= bound + batch, `${path.basename(f)}: ${fs.statSync(f).size} bytes (bound ${bound}, one batch over at most)`);
  t.notOk(fs.existsSync(`${file}.2`), 'two files at most');
  t.match(fs.readFileSync(file, 'utf8'), /"ls 59"/, 'the newest lines are in failed.jsonl');
});
