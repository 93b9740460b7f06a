import t from 'tap';
import { assertDeterministic, assertLabelledStories, assertPublished } from './helpers/scenario-sets';

// The fourth held-out story set (scorer/eval/scenarios/heldout4.ts, branch heldout4): what it
// generates, not how it scores (docs/evaluation.md has the figures). Its labels must be exactly
// its attack stories' rows, the set must come out the same for a seed, and adding it must leave
// the three other sets byte for byte as they were, or their published figures stop reproducing.

type Line = { label: string; name: string; hostIdentifier: string; columns: Record<string, string> };

t.test('the fourth held-out set is the same for a seed, and another seed gives another', async (t) => {
  assertDeterministic(t, 'heldout4');
});

t.test('it labels anomalous exactly the rows of its attack stories', async (t) => {
  const { set } = assertLabelledStories(t, 'heldout4', [undefined, 'heldout', 'heldout3']);
  const parsed = set.test.map((line) => JSON.parse(line) as Line);

  // it keeps to what the pack logs: no loopback peer in socket_events, no file event outside
  // the pack's file_paths, and no deletion
  const all = [...set.train.map((line) => JSON.parse(line) as Line), ...parsed];
  t.same(
    all.filter((p) => p.name === 'pack_hids_socket_events' && p.columns.remote_address.startsWith('127.')),
    [],
    'no loopback socket rows',
  );
  const watched =
    /^(\/etc\/cron\.d\/|\/etc\/systemd\/system\/|\/var\/spool\/cron\/|\/etc\/sudoers|\/etc\/rc\.local|\/home\/[^/]+\/\.ssh\/|\/root\/\.ssh\/|\/etc\/passwd$|\/etc\/shadow$)/;
  const files = all.filter((p) => p.name === 'pack_hids_file_events');
  t.same(
    files.filter((p) => !watched.test(p.columns.target_path) || p.columns.action === 'DELETED').map((p) => p.columns.target_path),
    [],
    'every file event is in a watched place',
  );

  // the exploited service's own process is its usual self: the web worker the exploit starts
  // from, and the pod the stolen token execs into, are routine rows
  const parentOf = (story: string, cmd: RegExp) => {
    const i = parsed.findIndex((p, k) => set.testStory[k] === story && cmd.test(p.columns.cmdline ?? ''));
    t.ok(i >= 0, `${story}: its first act is there`);
    const parent = parsed.findIndex(
      (p) => p.hostIdentifier === parsed[i].hostIdentifier && p.columns.pid === parsed[i].columns.parent && p.columns.cmdline !== undefined,
    );
    return { line: parent >= 0 ? parsed[parent] : undefined, story: parent >= 0 ? set.testStory[parent] : undefined };
  };
  const fpm = parentOf('pwnkit', /&& \.\/pk$/);
  t.equal(fpm.line?.columns.cmdline, 'php-fpm: pool www');
  t.equal(fpm.line?.label, 'normal', 'the exploited php-fpm worker is not labelled');
  const runc = parentOf('kubectl-exec-pivot', / exec --process .* --console-socket /);
  const shim =
    runc.line ??
    set.train
      .map((line) => JSON.parse(line) as Line)
      .find((p) => p.hostIdentifier === 'k8s-node-2' && p.columns.pid === parsed.find((q, k) => set.testStory[k] === 'kubectl-exec-pivot')?.columns.parent);
  t.match(shim?.columns.cmdline, /^\/usr\/bin\/containerd-shim-runc-v2 /, "the exec's parent is the running pod's shim");
  t.not(runc.story, 'kubectl-exec-pivot', 'the pod the token execs into is not labelled');

  // the account the new SRE gets is in the next day's users snapshot, as that novelty's row
  const noor = parsed.filter((p) => p.name === 'pack_hids_users' && p.columns.username === 'noor');
  t.equal(noor.length, 1, 'one users row lists the new account');
  t.equal(set.testStory[parsed.indexOf(noor[0])], 'new-sre');
});

t.test('adding the fourth set leaves the three other sets as they were (seed 12, 21 days)', async (t) => {
  // as `main.js --seed 12 --days 21` wrote them before this set existed
  assertPublished(t, ['independent', 'heldout', 'heldout3']);
});
