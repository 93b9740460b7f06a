#!/usr/bin/env node
// The retained scores' replay filter (state/scores.ts, REPLAY_IDS) against a whole-segment
// replay, as a damaged queue cursor gives one: N rows appended 50 at a time, the store
// reopened, the same N rows appended again in order. Prints how many are kept.
//   npm run build && node scripts/replay-ids-bound.js 60000
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { RetainedScores } = require(path.join(__dirname, '..', 'dist', 'state', 'scores.js'));

const rows = Number(process.argv[2] || 60000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'replay-ids-'));
const row = (i) => ({
  id: `r-${i}`,
  time: 1_790_000_000 + i,
  host: 'h',
  subject: 'u',
  query: 'q',
  action: 'added',
  event: 'e',
  score: 0.9,
  verdict: 'good',
  model: 'rarity',
  reasons: 'usual',
  columns: '{}',
});
const appendAll = (store) => {
  for (let i = 0; i < rows; i += 50) store.append(Array.from({ length: Math.min(50, rows - i) }, (_, k) => row(i + k)));
};
try {
  let store = new RetainedScores({ dir, maxRows: 1_000_000, maxDays: 3650 });
  appendAll(store);
  store.close();
  store = new RetainedScores({ dir, maxRows: 1_000_000, maxDays: 3650 });
  appendAll(store);
  console.log(`${rows} rows, all replayed after a restart: ${store.size} kept`);
  store.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
