#!/usr/bin/env node
'use strict';
// What the thread that answers osqueryd does in one go with the scorer thread's answer to a
// batch: making its rows into objects (v8.deserialize, as a MessagePort message is), whole or a
// slice of 50 at a time (scorer/reply-slices.ts), and the models' summaries of 500 subjects that
// every answer carries. The answer is a real one: lines 3,000–3,500 of the ingest bench's stream,
// scored by a real scorer thread with its subjects out of learning. Medians of 41 repetitions,
// as preemption on a shared machine makes the means say more about the load than the work.
// docs/benchmarks.md, "Ingest, fourth pass", has what it found.
//
//   node scripts/reply-cost.js [DIST]

const fs = require('fs');
const os = require('os');
const path = require('path');
const v8 = require('v8');
const { performance } = require('perf_hooks');

const D = path.resolve(process.argv[2] || path.join(__dirname, '..', 'dist'));
const load = (m) => require(path.join(D, m));
const { resolveConfig } = load('conf/config');
const { generateDemo } = load('demo/generate');
const { createScoringService } = load('scorer/service');
const { RetainedScores } = load('state/scores');

function median(f, n = 41) {
  const xs = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    f();
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return `median ${xs[n >> 1].toFixed(2)} ms (min ${xs[0].toFixed(2)}, max ${xs[n - 1].toFixed(2)})`;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reply-cost-'));
  const lines = generateDemo({ seed: 1, days: 30, start: 1_790_000_000 - (1_790_000_000 % 86400), host: 'web-01', attacks: false }).lines;
  const config = resolveConfig({ state_dir: dir, learning: { min_events: 300, min_days: 0 } }, 'bench', {});
  // the answer's rows as the store took them: a batch's result says only how many it scored
  const scores = new RetainedScores({ dir: path.join(dir, 'scores'), maxRows: 100_000, maxDays: 3650 });
  const service = await createScoringService({ config, log: () => {}, budget: null, scores });
  await service.score(lines.slice(0, 3000));
  const { rows, windows } = await service.score(lines.slice(3000, 3500));
  const events = scores.select({}).slice(0, rows).reverse();
  await service.close();
  scores.close();
  fs.rmSync(dir, { recursive: true, force: true });

  const whole = v8.serialize(events);
  const slice = v8.serialize(events.slice(0, 50));
  const summaries = [];
  for (let i = 0; i < 500; i++)
    for (const model of ['rarity', 'ocsvm', 'lstm'])
      summaries.push({
        subject: `user${i}@host-${i % 20}`,
        model,
        state: 'monitoring',
        events: 12345 + i,
        lastTrained: 1_790_000_000 + i,
        calibration: 0.5,
        backend: 'wasm',
      });
  const summaryBytes = v8.serialize(summaries);
  console.log(`the answer: ${events.length} scored rows, ${windows.length} closed windows`);
  for (let round = 0; round < 2; round++) {
    console.log(`${events.length} scored rows in one message (${whole.length} bytes): ${median(() => v8.deserialize(whole))}`);
    console.log(`one slice of 50 rows (${slice.length} bytes): ${median(() => v8.deserialize(slice))}`);
    console.log(`1,500 model summaries, 500 subjects (${summaryBytes.length} bytes): ${median(() => v8.deserialize(summaryBytes))}`);
  }
  console.log(
    `load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
