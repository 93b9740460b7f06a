#!/usr/bin/env node
'use strict';
// Resident memory around each training, on the heap bench part's stream (bench/heap.ts: the
// watchdog part's two hosts, fixed last day) scored in-process as the scorer thread does, with
// its heap keeper (scorer/heap.ts) on the pacer's slices and, with REAL=1, after each fit.
// Writes OUT (one row per training and fit begin/end, keeper collection and 5,000 lines:
// ms, label, rss, heapUsed, heapTotal, external, arrayBuffers, libsvm's and tfjs's wasm heap
// sizes, tfjs tensors, then resident MB by mapping from /proc/self/smaps: V8's 256 kB pages,
// malloc's brk heap, the wasm memories, other anonymous maps (V8's large objects, stacks),
// files) and OUT.rss (process RSS every 20 ms, read from a second thread, so that it sees
// inside synchronous fits). docs/benchmarks.md, memory, says what it found. Linux only.
//
//   node --expose-gc --max-semi-space-size=2 scripts/retrain-memory.js OUT [DAYS] [MODELS]
//
// GC_AFTER=.fit runs a full collection after every fit instead (what REAL=1 bounds).
// --max-semi-space-size=2 gives the young generation the scorer thread's size (service.ts).
const D = require('path').resolve(__dirname, '..', 'dist');
const tf = require(require.resolve('@tensorflow/tfjs', { paths: [D] }));
const path = require('path'),
  fs = require('fs');
const { Worker } = require('worker_threads');
const { DEMO_USERS } = require(D + '/demo/generate');
const { parseResultLine } = require(D + '/scorer/parse/results');
const { Scorer } = require(D + '/scorer/scorer');
const { WindowScorer, windowOptionsFrom } = require(D + '/scorer/windows');
const { twoHosts } = require(D + '/bench/watchdog');
const { replayConfig } = require(D + '/bench/heap');
const { Subject } = require(D + '/scorer/subject');
const { OcsvmModel } = require(D + '/scorer/models/ocsvm');
const { LstmModel } = require(D + '/scorer/models/lstm');
const { RarityModel } = require(D + '/scorer/models/rarity');
const out = process.argv[2];
if (!out) throw new Error('usage: node --expose-gc scripts/retrain-memory.js OUT [DAYS] [MODELS]');
const days = Number(process.argv[3] || 60);
const wanted = (process.argv[4] || 'rarity,ocsvm,lstm').split(',');
const t0 = Date.now();
const ev = fs.openSync(out, 'w');
const sampler = new Worker(
  `
const { parentPort, workerData } = require('worker_threads'); const fs = require('fs');
const fd = fs.openSync(workerData.file, 'w'); const t0 = workerData.t0;
setInterval(() => fs.writeSync(fd, (Date.now()-t0) + '\\t' + process.memoryUsage.rss() + '\\n'), 20);
`,
  { eval: true, workerData: { file: out + '.rss', t0 } },
);
sampler.unref();
function svmHeap() {
  try {
    return require(require.resolve('libsvm-js/out/wasm/libsvm', { paths: [D] })).HEAP8.byteLength;
  } catch {
    return 0;
  }
}
function tfHeap() {
  try {
    const b = tf.backend();
    const w = b.wasm;
    if (!w) return 0;
    return (w.HEAPU8 || w.HEAP8).byteLength;
  } catch (e) {
    return -1;
  }
}
const M = (x) => (x / 1048576).toFixed(1);
function smaps() {
  // resident MB by kind: V8 heap pages (256 kB anonymous maps), malloc's brk heap, the two wasm memories (by size), other anon, file
  const r = { v8: 0, brk: 0, wasm: 0, anon: 0, file: 0 };
  let kind = null;
  const wasmSizes = new Set([svmHeap(), tfHeap()]);
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      const size = parseInt(m[2], 16) - parseInt(m[1], 16);
      kind = m[3] === '[heap]' ? 'brk' : m[3] ? 'file' : size === 262144 ? 'v8' : wasmSizes.has(size) ? 'wasm' : 'anon';
    } else if (line.startsWith('Rss:')) r[kind] += Number(line.split(/\s+/)[1]) / 1024;
  }
  return [r.v8, r.brk, r.wasm, r.anon, r.file].map((x) => x.toFixed(1)).join('\t');
}
function mark(label) {
  const m = process.memoryUsage();
  fs.writeSync(
    ev,
    [
      Date.now() - t0,
      label,
      M(m.rss),
      M(m.heapUsed),
      M(m.heapTotal),
      M(m.external),
      M(m.arrayBuffers),
      M(svmHeap()),
      M(tfHeap()),
      tf.memory().numTensors,
      smaps(),
    ].join('\t') + '\n',
  );
}
function wrap(proto, name, label) {
  const f = proto[name];
  proto[name] = async function (...a) {
    const who = label(this);
    mark(`${who} begin`);
    try {
      return await f.apply(this, a);
    } finally {
      mark(`${who} end`);
      if (process.env.GC_AFTER && who.includes(process.env.GC_AFTER)) {
        global.gc();
        mark(`${who} end+gc`);
      }
    }
  };
}
wrap(Subject.prototype, 'train', (s) => `train ${s.name} w=${s.window?.length}`);
wrap(OcsvmModel.prototype, 'fit', () => '  ocsvm.fit');
wrap(LstmModel.prototype, 'fit', () => '  lstm.fit');
wrap(RarityModel.prototype, 'fit', () => '  rarity.fit');
(async () => {
  const lines = twoHosts(days, 1_796_083_200);
  const config = replayConfig(wanted);
  const scorer = await Scorer.open({ config, stateDir: null });
  scorer.setUsers(DEMO_USERS);
  const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'retrain-memory-'));
  const windows = new WindowScorer(windowOptionsFrom(config, path.join(dir, 'windows'), () => {}));
  const { HeapKeeper } = require(D + '/scorer/heap');
  const keeper = process.env.KEEPER === '0' ? null : new HeapKeeper();
  const { pacer } = require(D + '/scorer/pacing');
  if (keeper && process.env.REAL)
    pacer.onFitEnd = () => {
      if (keeper.afterFit()) mark('  keeper collect (fit end)');
    };
  if (keeper)
    pacer.onSlice = () => {
      if (keeper.check()) mark('  keeper gc (slice)');
    };
  global.gc();
  mark('start');
  let checksum = 0,
    scored = 0;
  for (let i = 0; i < lines.length; i += 50) {
    const events = await scorer.scoreRows(lines.slice(i, i + 50).flatMap(parseResultLine));
    for (const e of events) if (e.score !== null) checksum += e.score * (1 + (scored++ % 7));
    windows.add(events);
    if (keeper && keeper.check()) mark('keeper gc');
    if (i % 5000 === 0) mark(`line ${i}`);
  }
  mark('end');
  global.gc();
  mark('end after gc');
  fs.writeSync(ev, `checksum ${checksum.toFixed(9)} scored ${scored} lines ${lines.length} keeper ${keeper?.collections}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
})();
