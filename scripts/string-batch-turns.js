/* global setImmediate */
// How long the logger keeps the thread for one string_batch (docs/hardening.md, branch attack4).
//   node scripts/string-batch-turns.js [items=8388607]
// Items are the one-byte `1` (16 MB at the default, the most one string may be), each parsed
// and refused as the ingest does. Prints the longest stretch without a turn of the event loop
// (when pings could not be answered) and the whole time. Needs the build (dist/).
const path = require('path');
const { loggerPlugin } = require(path.join(__dirname, '..', 'dist/extension/plugin/logger.js'));
const { parseResultLine } = require(path.join(__dirname, '..', 'dist/scorer/parse/results.js'));

const items = Number(process.argv[2] || 8 * 1024 * 1024 - 1);
const logger = loggerPlugin('anomaly', {
  features: 1,
  result: (line) => {
    try {
      parseResultLine(line);
    } catch {
      /* refused */
    }
  },
});
const batch = `[${Array(items).fill('1').join(',')}]`;
let longest = 0;
let last = process.hrtime.bigint();
let turning = true;
const tick = () => {
  const now = process.hrtime.bigint();
  longest = Math.max(longest, Number(now - last) / 1e6);
  last = now;
  if (turning) setImmediate(tick);
};
const start = process.hrtime.bigint();
last = start;
setImmediate(tick);
Promise.resolve(logger.call({ string_batch: batch }, new Map())).then(() => {
  const whole = Number(process.hrtime.bigint() - start) / 1e6;
  tick();
  turning = false;
  console.log(`${items} items (${batch.length} bytes): longest stretch without a turn ${Math.round(longest)} ms, whole ${Math.round(whole)} ms`);
});
