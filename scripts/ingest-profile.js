#!/usr/bin/env node
'use strict';
// Where the ingest's time goes on the thread that answers osqueryd: the ingest bench's
// server, logger, ingest and queue (bench/ingest.ts), 2,000 warm-up calls then 8 rounds of
// 1,000 through the bench's client process, 8 in flight, with a real scorer (MODE real: subjects
// train after 300 events; idle: they never leave learning) or a stub that scores nothing
// (stub: the protocol thread alone). Prints the call rate and latency percentiles, the event
// loop's delay (perf_hooks.monitorEventLoopDelay), the main thread's GC pauses by kind, and
// the time spent in the queue's append and timer flush and in the ingest's accept.
// HEAPSAMPLE=FILE also writes the sampling heap profile of the measured calls, collected
// objects included (what each call allocates, by function). OTHERS_NICE=10 runs every thread
// but the protocol thread at nice 10 while measured. It also prints the protocol thread's CPU
// and the time it waited for a core, and the other threads' (/proc/self/task/*/schedstat).
// docs/benchmarks.md, "Ingest, third pass" and "Ingest, fifth pass", say what it found.
//
//   node scripts/ingest-profile.js [DIST] [stub|idle|real]
//   node --cpu-prof --cpu-prof-dir=DIR scripts/ingest-profile.js dist stub

const fs = require('fs');
const path = require('path');
const { monitorEventLoopDelay, PerformanceObserver, performance } = require('perf_hooks');

const D = path.resolve(process.argv[2] || path.join(__dirname, '..', 'dist'));
const mode = process.argv[3] || 'real';
const load = (m) => require(path.join(D, m));
const { resolveConfig } = load('conf/config');
const { generateDemo } = load('demo/generate');
const { createScoringService } = load('scorer/service');
const { DurableQueue } = load('extension/queue');
const { Ingest } = load('extension/ingest');
const { loggerPlugin } = load('extension/plugin/logger');
const { startServer } = load('extension/server');
// the client of this checkout, whatever tree is measured, so that both sides of a comparison
// are driven alike
const { ingestClient } = require('../dist/bench/ingest');
const { percentile } = require('../dist/bench/ingest-client');
const { processThreadTimes, since } = require('../dist/bench/thread-time');

const stats = {};
function time(proto, name, label) {
  const f = proto[name];
  proto[name] = function (...args) {
    const t = performance.now();
    try {
      return f.apply(this, args);
    } finally {
      const d = performance.now() - t;
      const s = (stats[label] ??= { n: 0, total: 0, max: 0, over1: 0 });
      s.n++;
      s.total += d;
      s.max = Math.max(s.max, d);
      if (d > 1) s.over1++;
    }
  };
}
time(DurableQueue.prototype, 'append', 'queue.append');
// the timer's flush: synchronous before the ingest pass, in the background after it
time(DurableQueue.prototype, DurableQueue.prototype.flushInBackground ? 'flushInBackground' : 'sync', 'queue timer');
time(Ingest.prototype, 'accept', 'ingest.accept');

async function main() {
  const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'ingest-profile-'));
  const lines = generateDemo({ seed: 1, days: 30, start: 1_790_000_000 - (1_790_000_000 % 86400), host: 'web-01', attacks: false }).lines;
  const learning = mode === 'idle' ? { min_events: 100000, min_days: 0 } : { min_events: 300, min_days: 0 };
  const config = resolveConfig({ state_dir: dir, learning }, 'bench', {});
  const service =
    mode === 'stub' ? { score: async () => ({ setAside: [] }), close: async () => {} } : await createScoringService({ config, log: () => {}, budget: null });
  const queue = new DurableQueue(path.join(dir, 'queue'), config.queue.max_bytes);
  const ingest = new Ingest(queue, service, config, () => {});
  ingest.start();
  const socket = path.join(dir, 'ext.sock');
  const server = await startServer({
    path: socket,
    plugins: [loggerPlugin('anomaly', { features: 1, result: (l) => ingest.accept(l) })],
    onShutdown: () => {},
    log: () => {},
  });
  const client = ingestClient();
  await client.drive(socket, lines.slice(0, 2000), 8);
  for (const k of Object.keys(stats)) delete stats[k];
  const gcs = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([e.detail?.kind ?? e.kind, e.duration]);
  });
  obs.observe({ entryTypes: ['gc'] });
  const inspector = require('inspector');
  const session = new inspector.Session();
  session.connect();
  const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (e, v) => (e ? reject(e) : resolve(v))));
  if (process.env.HEAPSAMPLE)
    await post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  if (process.env.OTHERS_NICE) {
    const os = require('os');
    const self = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    for (const tid of fs.readdirSync('/proc/self/task').map(Number))
      if (tid !== self && os.getPriority(tid) < Number(process.env.OTHERS_NICE)) os.setPriority(tid, Number(process.env.OTHERS_NICE));
  }
  const threads0 = processThreadTimes();
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const lat = [];
  let seconds = 0;
  for (let i = 0; i < 8; i++) {
    const r = await client.drive(socket, lines.slice(2000 + i * 1000, 3000 + i * 1000), 8);
    seconds += r.seconds;
    for (const l of r.latencies) lat.push(l);
  }
  delay.disable();
  const threads = threads0 && since(threads0, processThreadTimes());
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  obs.disconnect();
  if (process.env.HEAPSAMPLE) fs.writeFileSync(process.env.HEAPSAMPLE, JSON.stringify((await post('HeapProfiler.stopSampling')).profile));
  const ms = (x) => x.toFixed(2);
  console.log(
    `${mode}: ${Math.round(lat.length / seconds)} calls/s; latency p50 ${ms(percentile(lat, 50))} p99 ${ms(percentile(lat, 99))} p99.9 ${ms(percentile(lat, 99.9))} max ${ms(Math.max(...lat))} ms; ` +
      `event loop busy ${elu.utilization.toFixed(2)}, process CPU ${Math.round((cpu.user + cpu.system) / lat.length)} µs a call`,
  );
  if (threads)
    console.log(
      `protocol thread: on a CPU ${threads.self.runMs.toFixed(0)} ms, waiting for one ${threads.self.waitMs.toFixed(0)} ms (${Math.round((1000 * threads.self.runMs) / lat.length)} µs of CPU a call); ` +
        `the other threads: on a CPU ${threads.others.runMs.toFixed(0)} ms, waiting ${threads.others.waitMs.toFixed(0)} ms`,
    );
  console.log(`event loop delay p50 ${ms(delay.percentile(50) / 1e6)} p99 ${ms(delay.percentile(99) / 1e6)} max ${ms(delay.max / 1e6)} ms`);
  const byKind = {};
  for (const [kind, d] of gcs) {
    const s = (byKind[kind] ??= { n: 0, total: 0, max: 0 });
    s.n++;
    s.total += d;
    s.max = Math.max(s.max, d);
  }
  // perf_hooks kinds: 1 scavenge, 4 mark-compact, 8 incremental marking, 16 weak callbacks
  for (const [kind, s] of Object.entries(byKind)) console.log(`gc kind ${kind}: ${s.n} pauses, ${ms(s.total)} ms in all, longest ${ms(s.max)} ms`);
  for (const [k, s] of Object.entries(stats))
    console.log(`${k}: ${s.n} calls, ${ms(s.total)} ms in all, mean ${((s.total / s.n) * 1000).toFixed(1)} µs, longest ${ms(s.max)} ms, ${s.over1} over 1 ms`);
  await client.close();
  server.close();
  await ingest.stop();
  queue.close();
  await service.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
