import t from 'tap';
import { assertDeterministic, assertKeepsToPack, assertLabelledStories, assertPublished, type SetLine } from './helpers/scenario-sets';

// The fifth held-out story set (scorer/eval/scenarios/heldout5.ts, branch heldout5): what it
// generates, not how it scores (docs/evaluation.md has the figures). Its labels must be exactly
// its attack stories' rows, the set must come out the same for a seed, its rows must be what the
// pack's queries return, and adding it must leave the four other sets byte for byte as they were.

t.test('the fifth held-out set is the same for a seed, and another seed gives another', async (t) => {
  assertDeterministic(t, 'heldout5');
});

t.test('it labels anomalous exactly the rows of its attack stories, and keeps to what the pack returns', async (t) => {
  const { set } = assertLabelledStories(t, 'heldout5', [undefined, 'heldout', 'heldout3', 'heldout4']);
  const parsed = set.test.map((line) => JSON.parse(line) as SetLine);
  const all = [...set.train.map((line) => JSON.parse(line) as SetLine), ...parsed];

  assertKeepsToPack(t, all);

  // the tainted squeue: every squeue after the plant runs the wrapper, and is the attack's
  const story = (i: number) => set.testStory[i];
  const plant = parsed.findIndex((p, i) => story(i) === 'path-hijack-squeue' && p.columns.cmdline === 'cp /tmp/.m/sq /shared/apps/bin/squeue');
  t.ok(plant >= 0, 'the wrapper is planted');
  const later = parsed.filter(
    (p, i) => i > plant && p.name === 'pack_hids_process_events' && p.hostIdentifier === 'gpu-login-1' && /squeue/.test(p.columns.path),
  );
  t.ok(later.length > 0, 'someone runs squeue after the plant');
  t.same(
    later.filter((p) => p.columns.path === '/usr/bin/squeue' && !/^\/usr\/bin\/squeue/.test(p.columns.cmdline)),
    [],
    'no squeue after the plant bypasses the wrapper',
  );
  t.ok(
    later.every((p) => p.label === 'anomalous'),
    'and each is labelled anomalous',
  );

  // the account the new student gets is in the next day's users snapshot, as that novelty's row
  const sofia = parsed.filter((p) => p.name === 'pack_hids_users' && p.columns.username === 'sofia');
  t.equal(sofia.length, 1, 'one users row lists the new account');
  t.equal(set.testStory[parsed.indexOf(sofia[0])], 'new-phd-student');

  // the departed researcher's account stays: she is in every day's users snapshot and logs in no more after she left
  const meiLogins = all.filter((p) => p.name === 'pack_hids_last' && p.columns.username === 'mei');
  t.ok(meiLogins.length > 0, 'she worked here');
  const left = Date.UTC(2026, 0, 15) / 1000;
  t.same(
    meiLogins.filter((p) => Number(p.columns.time) >= left && p.label !== 'anomalous').map((p) => p.columns.time),
    [],
    'after 14 January only the attacker logs in as her',
  );
});

t.test('adding the fifth set leaves the four other sets as they were (seed 12, 21 days)', async (t) => {
  assertPublished(t, ['independent', 'heldout', 'heldout3', 'heldout4', 'heldout5']);
});
