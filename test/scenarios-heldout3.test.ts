import t from 'tap';
import { assertDeterministic, assertLabelledStories, assertPublished } from './helpers/scenario-sets';

// The third held-out story set (scorer/eval/scenarios/heldout3.ts, branch heldout3): what it
// generates, not how it scores (docs/evaluation.md has the figures). Its labels must be exactly
// its attack stories' rows, the set must come out the same for a seed, and adding it must leave
// the two other sets byte for byte as they were, or their published figures stop reproducing.

t.test('the third held-out set is the same for a seed, and another seed gives another', async (t) => {
  assertDeterministic(t, 'heldout3');
});

t.test('it labels anomalous exactly the rows of its attack stories', async (t) => {
  const { set } = assertLabelledStories(t, 'heldout3', [undefined, 'heldout']);

  // a benign first time's rows are all its own, not the routine's: the node exporter the
  // install starts (its listening port included) appears on the database host only through it
  const onPg = set.test
    .map((line, i) => ({ row: JSON.parse(line) as { hostIdentifier: string; columns: Record<string, string> }, line, story: set.testStory[i] }))
    .filter((x) => x.row.hostIdentifier === 'pg-main');
  // a listening port's row names the process by pid only
  const exporterPids = new Set(onPg.filter((x) => x.row.columns.path === '/usr/bin/prometheus-node-exporter').map((x) => x.row.columns.pid));
  const exporterRows = onPg.filter((x) => exporterPids.has(x.row.columns.pid));
  t.ok(exporterRows.length > 0, 'the node exporter install is on the database host');
  t.same(
    exporterRows.filter((x) => x.story !== 'node-exporter-install').map((x) => x.line),
    [],
    'no row of the node exporter on the database host is the routine',
  );

  // the exploited service's own process is its usual self: the web worker the at job starts
  // from, and the Jenkins job the poisoned Makefile runs under, are routine rows
  const parsed = set.test.map((line) => JSON.parse(line) as { label: string; hostIdentifier: string; columns: Record<string, string> });
  const parentOf = (story: string, cmd: RegExp) => {
    const i = parsed.findIndex((p, k) => set.testStory[k] === story && cmd.test(p.columns.cmdline ?? ''));
    t.ok(i >= 0, `${story}: its first act is there`);
    return parsed.find((p) => p.hostIdentifier === parsed[i].hostIdentifier && p.columns.pid === parsed[i].columns.parent && p.columns.cmdline !== undefined);
  };
  const fpm = parentOf('at-job', /\| at now/);
  t.equal(fpm?.columns.cmdline, 'php-fpm: pool www');
  t.equal(fpm?.label, 'normal', 'the exploited php-fpm worker is not labelled');
  const job = parentOf('dns-tunnel', /^make deps$/);
  t.match(job?.columns.cmdline, /^\/bin\/sh -xe \/var\/lib\/jenkins\/workspace\/runner@tmp/);
  t.equal(job?.label, 'normal', 'the Jenkins job shell the poisoned target runs under is not labelled');
});

t.test('adding the third set leaves the two other sets as they were (seed 12, 21 days)', async (t) => {
  // as `main.js --seed 12 --days 21` wrote them before this set existed
  assertPublished(t, ['independent', 'heldout']);
});
