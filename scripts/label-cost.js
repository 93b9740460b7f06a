#!/usr/bin/env node
// What one anomaly_feedback label costs the scorer thread: a state trained on a demo split's
// train.log (rarity, ocsvm, ngram), then 200 of its scored rows labelled `normal` one at a
// time, each followed by the save the extension makes before it answers the INSERT. Prints
// the state's file sizes and the CPU and wall time per label.
//   node dist/cli/main.js demo --eval-split --seed 21 --out /tmp/r12-demo
//   node scripts/label-cost.js /tmp/r12-demo
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const dist = path.join(__dirname, '..', 'dist');
const { resolveConfig } = require(path.join(dist, 'conf', 'config.js'));
const { Scorer } = require(path.join(dist, 'scorer', 'scorer.js'));
const { parseResultLine } = require(path.join(dist, 'scorer', 'parse', 'results.js'));
const split = process.argv[2];
if (!split) {
  console.error('usage: node scripts/label-cost.js DEMO_SPLIT_DIR');
  process.exit(64);
}
(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'label-cost-'));
  const config = resolveConfig(
    { state_dir: dir, learning: { min_events: 300, min_days: 3 }, models: { rarity: true, ocsvm: true, ngram: true, lstm: false } },
    'x',
    {},
  );
  const scorer = await Scorer.open({ config, stateDir: dir });
  const train = fs
    .readFileSync(path.join(split, 'train.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => parseResultLine(l));
  let scored = [];
  for (let i = 0; i < train.length; i += 500) scored.push(...(await scorer.scoreRows(train.slice(i, i + 500))));
  scorer.save();
  const du = () =>
    fs.readdirSync(path.join(dir, 'subjects')).reduce((a, f) => a + fs.statSync(path.join(dir, 'subjects', f)).size, 0) +
    fs.statSync(path.join(dir, 'extractor.json')).size;
  console.log(
    'state bytes',
    du(),
    'extractor',
    fs.statSync(path.join(dir, 'extractor.json')).size,
    'subjects',
    fs
      .readdirSync(path.join(dir, 'subjects'))
      .map((f) => fs.statSync(path.join(dir, 'subjects', f)).size)
      .join(' '),
  );
  const pick = scored.filter((s) => s.verdict !== 'learning').slice(-200);
  const c0 = process.cpuUsage();
  const t0 = Date.now();
  for (const s of pick) {
    scorer.feedback(s, { id: s.id, label: 'normal', note: '', time: 0 });
    scorer.save();
  }
  const c = process.cpuUsage(c0);
  console.log(
    `${pick.length} labels: ${((c.user + c.system) / 1000 / pick.length).toFixed(1)} ms CPU each, ${((Date.now() - t0) / pick.length).toFixed(1)} ms wall each`,
  );
  fs.rmSync(dir, { recursive: true, force: true });
})();
