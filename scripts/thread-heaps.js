// Preloaded into every thread of a node process (NODE_OPTIONS reaches the extension through the
// emulator's launch, and a worker runs the preloads too), it appends each thread's V8 heap to
// DIR/thread-heaps-PID.log every 3 s: used against committed (physical) MB, in all and by space,
// the heap's limit and the isolate's external memory (the wasm heaps are in the scorer
// thread's); the main thread adds the process's resident size. Which thread's heap grows, and
// whether with live objects or with pages committed and free, is what it tells (branch heapmem,
// docs/benchmarks.md "Which thread holds the flood's memory"):
//
//   NODE_OPTIONS="--require $PWD/scripts/thread-heaps.js" THREAD_HEAPS_DIR=/tmp/x \
//     nice -n 10 node --expose-gc dist/bench/run.js watchdog --flood 20000 --rate 5 --unpaced --start-after 63 --trace
//
// The bench's own process writes a file too: the extension's is the one whose main thread
// names extension/main.js.
'use strict';
const fs = require('fs');
const path = require('path');
const v8 = require('v8');
const { isMainThread, threadId } = require('worker_threads');
const { setInterval } = require('timers');

const file = path.join(process.env.THREAD_HEAPS_DIR || '.', `thread-heaps-${process.pid}.log`);
const started = Date.now();
const mb = (n) => (n / 1048576).toFixed(1);
const script = isMainThread ? ' ' + (process.argv[1] || '').split('/').slice(-2).join('/') : '';

function sample() {
  const h = v8.getHeapStatistics();
  const spaces = v8
    .getHeapSpaceStatistics()
    .filter((s) => s.physical_space_size > 512 * 1024)
    .map((s) => `${s.space_name.replace('_space', '')} ${mb(s.space_used_size)}/${mb(s.physical_space_size)}`);
  const rss = isMainThread ? ` | rss ${mb(process.memoryUsage().rss)}` : '';
  fs.appendFileSync(
    file,
    `${((Date.now() - started) / 1000).toFixed(0)}s t${threadId}${script}: used ${mb(h.used_heap_size)} committed ${mb(h.total_physical_size)} limit ${mb(h.heap_size_limit)} external ${mb(h.external_memory)} | ${spaces.join(' | ')}${rss}\n`,
  );
}
setInterval(sample, 3000).unref();
