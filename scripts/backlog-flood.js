// node --expose-gc --max-semi-space-size=4 scripts/backlog-flood.js [TREE] [LINES] (branch
// floodmem, docs/benchmarks.md "The flood's batches and the scorer's free pages"): LINES (200)
// lines of a local user's flood of long values (bench/long-value-flood.ts, 90 kB a line) queued
// at once, then scored through the extension's own path in this process (durable queue, ingest,
// scoring service and its scorer thread, retained stores), LSTM off: what the process holds at
// its peak while it works through a backlog, as when the scorer lags behind the flood. TREE is
// the checkout whose dist/ is run (this one by default), so that two builds compare alike.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const v8 = require('v8');
const { setInterval, clearInterval } = require('timers');
const tree = path.resolve(process.argv[2] || path.join(__dirname, '..'));
const n = Number(process.argv[3] || 200);
const { resolveConfig } = require(tree + '/dist/conf/config');
const { Ingest } = require(tree + '/dist/extension/ingest');
const { DurableQueue } = require(tree + '/dist/extension/queue');
const { createScoringService } = require(tree + '/dist/scorer/service');
const { floodLines } = require(tree + '/dist/bench/long-value-flood');
(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodmem-backlog-'));
  const config = resolveConfig({ state_dir: dir, learning: { min_events: 1000, min_days: 0 }, models: { lstm: false } }, 'probe', {});
  const service = await createScoringService({ config, log: () => {} });
  const queue = new DurableQueue(path.join(dir, 'queue'), 256 << 20);
  const ingest = new Ingest(queue, service, config, () => {});
  const lines = floodLines(n * 20);
  for (const l of lines) ingest.accept(l);
  lines.length = 0;
  if (global.gc) global.gc();
  const base = v8.getHeapStatistics();
  const peak = { used: 0, committed: 0, external: 0, rss: 0 };
  const t = setInterval(() => {
    const h = v8.getHeapStatistics(),
      m = process.memoryUsage();
    peak.used = Math.max(peak.used, h.used_heap_size);
    peak.committed = Math.max(peak.committed, h.total_physical_size);
    peak.external = Math.max(peak.external, m.external);
    peak.rss = Math.max(peak.rss, m.rss);
  }, 20);
  const t0 = Date.now();
  ingest.start();
  while (queue.length > 0) await new Promise((r) => setTimeout(r, 50));
  const secs = (Date.now() - t0) / 1000;
  clearInterval(t);
  await ingest.stop();
  queue.close();
  await service.close();
  const mb = (x) => (x / 1048576).toFixed(1);
  console.log(
    `${tree}: ${n} lines in ${secs.toFixed(0)} s; main thread at start used ${mb(base.used_heap_size)} committed ${mb(base.total_physical_size)}; at peak used ${mb(peak.used)} committed ${mb(peak.committed)} external ${mb(peak.external)}; rss peak ${mb(peak.rss)}; scored ${ingest.counters.scored}`,
  );
  fs.rmSync(dir, { recursive: true, force: true });
})();
