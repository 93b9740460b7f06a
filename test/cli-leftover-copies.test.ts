import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { anomaly } from './helpers/cli';
import { JUMPVM_LOG, WORKSTATION_EXPORT } from './helpers/paths';

// chaos3: `anomaly score` or `train` SIGKILLed while it wrote a state file (a subject's, of
// megabytes, or a ledger written anew) left the copy it was writing (`.<name>.<12 hex>.tmp`,
// state/atomic.ts replaceFile). The extension removes such copies when it takes the state's
// lock; the command line, which takes the same lock, never did: each killed run could leave
// one more behind for as long as only the command line used the state (bench/cli-chaos.ts
// found one, a torn subject's copy, among the subjects' files).

t.test('score and train remove the copies a run killed mid-save left, and say so', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-leftover-copies-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const state = path.join(dir, 'state');
  const cfg = path.join(dir, 'anomaly.json');
  fs.writeFileSync(cfg, JSON.stringify({ learning: { min_events: 150, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false } }));
  t.equal(anomaly(['train', '--log', WORKSTATION_EXPORT, '--state', state, '--config', cfg, '--quiet']).code, 0);
  // (train then learns a log score has not met: the same rows a year on)
  const later = path.join(dir, 'later.log');
  const lines = fs.readFileSync(JUMPVM_LOG, 'utf8').trim().split('\n');
  fs.writeFileSync(later, `${lines.map((l) => JSON.stringify({ ...JSON.parse(l), unixTime: JSON.parse(l).unixTime + 365 * 86_400 })).join('\n')}\n`);
  const subjects = fs.readdirSync(path.join(state, 'subjects')).filter((f) => f.endsWith('.json'));
  for (const [command, copies] of [
    ['score', [path.join('subjects', `.${subjects[0]}.0123456789ab.tmp`), '.scored-runs.a1b2c3d4e5f6.tmp']],
    ['train', [path.join('subjects', `.${subjects[1]}.ba9876543210.tmp`), '.trained-runs.0a0b0c0d0e0f.tmp']],
  ] as const) {
    for (const c of copies) fs.writeFileSync(path.join(state, c), '{"format":"anomaly-ext","kind":"subject","version":1,"payload":{"na', { mode: 0o600 });
    const run = anomaly([command, '--log', command === 'score' ? JUMPVM_LOG : later, '--state', state, '--config', cfg, '--quiet']);
    t.equal(run.code, 0, `${command}: ${run.err.trim().split('\n').pop()}`);
    for (const c of copies) t.notOk(fs.existsSync(path.join(state, c)), `${command}: ${c} is removed`);
    t.match(run.err, /removed 2 copies of state files .* left by a stop in the middle of a save/, `${command}: and says so`);
  }
});
