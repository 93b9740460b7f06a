import t from 'tap';
import { assertDeterministic, assertKeepsToPack, assertLabelledStories, assertPublished, type SetLine } from './helpers/scenario-sets';

// The sixth held-out story set (scorer/eval/scenarios/heldout6.ts, branch ho6): what it
// generates, not how it scores (docs/evaluation.md has the figures). Its labels must be exactly
// its attack stories' rows, the set must come out the same for a seed, its rows must be what the
// pack's queries return, and adding it must leave the five other sets byte for byte as they were.

t.test('the sixth held-out set is the same for a seed, and another seed gives another', async (t) => {
  assertDeterministic(t, 'heldout6');
});

t.test('it labels anomalous exactly the rows of its attack stories, and keeps to what the pack returns', async (t) => {
  const { set } = assertLabelledStories(t, 'heldout6', [undefined, 'heldout', 'heldout3', 'heldout4', 'heldout5']);
  const parsed = set.test.map((line) => JSON.parse(line) as SetLine);
  const all = [...set.train.map((line) => JSON.parse(line) as SetLine), ...parsed];

  assertKeepsToPack(t, all);

  // the push mirrors: every push Gitea makes to the outside host is the attack's, and some follow a developer's push
  const story = (i: number) => set.testStory[i];
  const mirrored = parsed.filter((p) => p.name === 'pack_hids_process_events' && /push --mirror/.test(p.columns.cmdline));
  t.ok(mirrored.length > 0, 'Gitea pushes to the mirrors');
  t.ok(
    mirrored.every((p) => p.label === 'anomalous'),
    'each mirror push is labelled anomalous',
  );
  const setUp = parsed.findIndex((p, i) => story(i) === 'gitea-push-mirror');
  t.ok(setUp >= 0 && mirrored.every((p) => p.unixTime >= parsed[setUp].unixTime), 'no mirror push before the mirrors are set up');

  // the developer who left: after her last day her Git key and her account are used by the attacks only
  const left = Date.UTC(2026, 0, 10) / 1000;
  const leaverKey = all.filter((p) => p.name === 'pack_hids_process_events' && /serv key-23$/.test(p.columns.cmdline));
  t.ok(
    leaverKey.some((p) => p.unixTime < left),
    'she pushed and pulled while she worked here',
  );
  t.same(
    leaverKey.filter((p) => p.unixTime >= left && p.label !== 'anomalous').map((p) => p.unixTime),
    [],
    'after 9 January only the attacker uses her Git key',
  );
  t.same(
    all.filter((p) => p.name === 'pack_hids_last' && p.columns.username === 'wiebke' && p.unixTime >= left && p.label !== 'anomalous').map((p) => p.unixTime),
    [],
    'and only the attacker logs in as her',
  );

  // the keystroke-injection stick turns history off: its commands leave no shell_history row
  t.same(
    parsed.filter((p, i) => story(i) === 'usb-hid-cookie-theft' && p.name === 'pack_hids_shell_history'),
    [],
    'no shell history from the injected terminal',
  );

  // the new SRE is in the users snapshots from her first Monday, in the training days, and first logs in on the labelled days
  const started = Date.UTC(2026, 0, 12) / 1000;
  const piaUsers = all.filter((p) => p.name === 'pack_hids_users' && p.columns.username === 'pia');
  t.ok(piaUsers.length > 0 && piaUsers.every((p) => p.unixTime >= started && p.label !== 'anomalous'), 'her account is listed from 12 January');
  const piaLogins = all.filter((p) => p.name === 'pack_hids_last' && p.columns.username === 'pia');
  t.ok(piaLogins.length > 0, 'she logs in');
  t.ok(
    piaLogins.every((p) => p.label === 'normal'),
    'only on the labelled days, her shadowing labelled normal',
  );
});

t.test('adding the sixth set leaves the five other sets as they were (seed 12, 21 days)', async (t) => {
  assertPublished(t, ['independent', 'heldout', 'heldout3', 'heldout4', 'heldout5', 'heldout6']);
});
