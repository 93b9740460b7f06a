// What the mimicry scripts (person-, package-run-, planted-file-mimicry.js) share: an osquery
// result line of the scenario set's web host, and scoring a set's logs as `anomaly eval` does
// (rarity and the SVM, no sequence models), printing the rows of the stories a script added.
const path = require('path'),
  fs = require('fs');

/** a result line of `edge-web` as osqueryd logs it (event format) */
function edgeWebLine(name, unixTime, columns) {
  return JSON.stringify({
    name,
    hostIdentifier: 'edge-web',
    calendarTime: 'x',
    unixTime,
    epoch: 0,
    counter: 0,
    numerics: false,
    decorations: { host_uuid: 'uuid-edge-web' },
    columns,
    action: 'added',
  });
}

/**
 * Writes the set's train and test logs into `out` and scores them with the build in `root`;
 * for every test row of a story whose id starts with `prefix`, prints `label(n, row)` (n: the
 * number after the prefix), the score, the model and the reasons.
 */
async function scoreStories(root, out, set, prefix, label) {
  const { resolveConfig } = require(root + '/dist/conf/config');
  const { runEval } = require(root + '/dist/scorer/eval/run');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'train.log'), set.train.join('\n') + '\n');
  fs.writeFileSync(path.join(out, 'test.log'), set.test.join('\n') + '\n');
  const config = resolveConfig({ models: { rarity: true, ocsvm: true, lstm: false, ngram: false } }, '--models', {});
  const scored = [];
  await runEval({ train: path.join(out, 'train.log'), test: path.join(out, 'test.log'), config, onRow: (s) => scored.push(s) });
  set.testStory.forEach((id, i) => {
    if (!id.startsWith(prefix)) return;
    const s = scored[i];
    const score = s.score === null ? 'NULL ' : s.score.toFixed(3);
    console.log(`${label(Number(id.slice(prefix.length)), s)} ${score} ${s.model.padEnd(12)} ${s.reasons.slice(0, 140)}`);
  });
}

module.exports = { edgeWebLine, scoreStories };
