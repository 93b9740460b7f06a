// node --expose-gc scripts/long-value-flood.js [ROWS] (memcap, docs/hardening.md): one local user's
// rows of new 900-character names in every column they decide (bench/long-value-flood.ts), scored
// by the Scorer as the extension's scorer thread scores them (in this process, unpaced), 500 to a
// batch. Prints the heap after GC every 5,000 rows and, at the end, what each store holds by its
// own accounting (characters). The same flood through the real anomaly.ext under the emulated
// osqueryd's watchdog, sampled from /proc every 3 s as its watcher does:
//   npm run bench -- watchdog --flood 20000 --rate 5 --unpaced --start-after 63 --trace
// Before memcap: 144.5 MB of heap after 20,000 rows (78.3 / 101.2 / 121.0 at 5,000 / 10,000 /
// 15,000); after: 89.3 MB (68.7 / 75.6 / 87.7).
'use strict';
const path = require('path');
const dist = path.join(__dirname, '..', 'dist');
const { Scorer } = require(path.join(dist, 'scorer', 'scorer.js'));
const { DEFAULTS } = require(path.join(dist, 'conf', 'config.js'));
const { floodRows } = require(path.join(dist, 'bench', 'long-value-flood.js'));

const rows = Number(process.argv[2] ?? 20_000);
(async () => {
  // the subject and the host's baseline leave learning within the flood, as in the bench
  const config = { ...DEFAULTS, learning: { ...DEFAULTS.learning, min_events: 1000, min_days: 0 }, models: { ...DEFAULTS.models, lstm: false } };
  const scorer = await Scorer.open({ config, stateDir: null });
  const mb = (n) => (n / 2 ** 20).toFixed(1);
  for (let from = 0; from < rows; from += 500) {
    // made a batch at a time: the whole flood held here would be the largest thing in the heap
    await scorer.scoreRows(floodRows(Math.min(500, rows - from), { from }));
    if ((from + 500) % 5000 === 0 || from + 500 >= rows) {
      global.gc?.();
      const m = process.memoryUsage();
      console.log(`${Math.min(from + 500, rows)} rows: heap ${mb(m.heapUsed)} MB after GC, resident ${mb(m.rss)} MB`);
    }
  }
  console.log(JSON.stringify(scorer.heldChars(), null, 1));
  console.log(
    scorer
      .summaries()
      .map((s) => `${s.subject} ${s.model} ${s.state} ${s.events}`)
      .join('\n'),
  );
})();
