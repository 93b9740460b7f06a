// node --expose-gc scripts/resident-flood.js [ROWS] (branch rss, docs/benchmarks.md "What holds
// resident memory under the flood"): scripts/long-value-flood.js's flood, in this process, with
// what holds the resident memory at every 5,000 rows after a full GC: process.memoryUsage(), V8's
// old space committed against used, the wasm heap, and /proc/self/smaps's resident kB by kind of
// mapping (file-backed; brk heap = glibc's main arena; anonymous by size: V8's pages are 256 kB,
// the wasm memory one mapping of its size). LSTM=1 turns the LSTM on. As the scorer thread runs:
//   LSTM=1 MALLOC_MMAP_THRESHOLD_=131072 node --expose-gc --max-semi-space-size=2 \
//     [--max-old-space-size=160] scripts/resident-flood.js 20000
'use strict';
const path = require('path');
const fs = require('fs');
const v8 = require('v8');
const dist = path.join(__dirname, '..', 'dist');
const { Scorer } = require(path.join(dist, 'scorer', 'scorer.js'));
const { DEFAULTS } = require(path.join(dist, 'conf', 'config.js'));
const { floodRows } = require(path.join(dist, 'bench', 'long-value-flood.js'));
const rows = Number(process.argv[2] ?? 20_000);
const lstm = process.env.LSTM === '1';
const mb = (n) => (n / 2 ** 20).toFixed(1);
function smaps() {
  const txt = fs.readFileSync('/proc/self/smaps', 'utf8').split('\n');
  const cats = {};
  let cur = null;
  const maps = [];
  for (const line of txt) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      cur = { size: (parseInt(m[2], 16) - parseInt(m[1], 16)) / 1024, perms: m[3], name: m[4], rss: 0, anon: 0 };
      maps.push(cur);
      continue;
    }
    const r = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line);
    if (r && cur) cur[r[1] === 'Rss' ? 'rss' : 'anon'] += Number(r[2]);
  }
  for (const x of maps) {
    let c;
    if (x.name.startsWith('/')) c = 'file';
    else if (x.name === '[heap]') c = 'brk-heap';
    else if (x.name.startsWith('[')) c = x.name;
    else if (x.size >= 1024 * 1024) c = 'anon>=1GB(wasm/cage resv)';
    else if (x.size >= 32 * 1024) c = 'anon 32MB-1GB';
    else if (x.size >= 1024) c = 'anon 1-32MB';
    else c = 'anon <1MB';
    cats[c] = (cats[c] || 0) + x.rss;
  }
  const out = Object.entries(cats)
    .filter(([, v]) => v > 512)
    .map(([k, v]) => `${k} ${(v / 1024).toFixed(1)}`)
    .join(' | ');
  const top = maps
    .filter((x) => !x.name.startsWith('/'))
    .sort((a, b) => b.rss - a.rss)
    .slice(0, 6)
    .map((x) => `${(x.rss / 1024).toFixed(1)}/${(x.size / 1024).toFixed(0)}MB ${x.perms} ${x.name}`)
    .join('; ');
  return { out, top };
}
function wasmBytes() {
  try {
    const tf = require(require.resolve('@tensorflow/tfjs', { paths: [dist] }));
    const b = tf.findBackend('wasm');
    return b && b.wasm ? b.wasm.HEAPU8.length : null;
  } catch (e) {
    return 'err ' + e.message;
  }
}
function report(label) {
  global.gc?.();
  const m = process.memoryUsage();
  const sp = v8.getHeapSpaceStatistics();
  const old = sp.find((s) => s.space_name === 'old_space');
  const lo = sp.find((s) => s.space_name === 'large_object_space');
  const committed = sp.reduce((a, s) => a + s.physical_space_size, 0);
  const w = wasmBytes();
  const sm = smaps();
  console.log(
    `${label}: rss ${mb(m.rss)} heapTotal ${mb(m.heapTotal)} heapUsed ${mb(m.heapUsed)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)} | old committed ${mb(old.physical_space_size)} used ${mb(old.space_used_size)} | LO committed ${mb(lo.physical_space_size)} used ${mb(lo.space_used_size)} | all spaces physical ${mb(committed)} | wasm ${typeof w === 'number' ? mb(w) : w}`,
  );
  console.log(`   smaps rss by kind (MB): ${sm.out}`);
  console.log(`   top anon: ${sm.top}`);
}
(async () => {
  const config = { ...DEFAULTS, learning: { ...DEFAULTS.learning, min_events: 1000, min_days: 0 }, models: { ...DEFAULTS.models, lstm } };
  report('before open');
  const scorer = await Scorer.open({ config, stateDir: null });
  report('opened');
  const t0 = Date.now();
  for (let from = 0; from < rows; from += 500) {
    await scorer.scoreRows(floodRows(Math.min(500, rows - from), { from }));
    if ((from + 500) % 5000 === 0 || from + 500 >= rows) report(`${Math.min(from + 500, rows)} rows (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
  await new Promise((r) => setTimeout(r, 2000));
  report('2 s idle after');
})();
