import t from 'tap';
import { runChaos } from '../bench/chaos';

// A short, fixed run of the chaos harness (bench/chaos.ts; the long runs: `npm run chaos`,
// docs/hardening.md "Randomised faults"). Seed 31's first three rounds: a state file damaged
// after a SIGKILL mid-burst; the disk filled while a burst's lines are scored, the extension
// restarted on it and more lines logged; osqueryd vanishing. Whatever the host's speed does to
// where the kills land, every acknowledged line's row must be in anomaly_scores once (bar
// those the faults may lose), none twice, nothing learnt twice, and every start must load.
// Every wait of the harness has a deadline, so a hang ends as a reported violation.

t.test('seed 31, three rounds of faults: nothing acknowledged lost, nothing kept or learnt twice, state loads', async (t) => {
  const r = await runChaos({ seed: 31, rounds: 3, users: 3, disk: '24m', deadlineMs: 120_000 });
  if (r.skipped) return void t.comment(`${r.skipped}: no full disk to try, so no run`);
  t.ok(r.acknowledged > 0, `${r.acknowledged} of ${r.sent} lines acknowledged`);
  t.same(r.violations, [], `the invariants held through: ${r.steps.join(' | ')}`);
});
