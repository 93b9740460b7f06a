import * as v8 from 'v8';
import * as vm from 'vm';
import t from 'tap';
import { ChainSuspicion, fisher } from '../scorer/chain-suspicion';
import { scoreScenarioSet } from './helpers/scenario-run';

// Suspicion carried down a process chain (scorer/chain-suspicion.ts): an unusual process
// started by an unusual process is two pieces of evidence about one chain of events.

const host = 'dev-ws-4';
const exec = (pid: string, parent: string, event: string, score: number, model = 'host:rarity', time = 1000, packagesDoing = false) => ({
  host,
  time,
  columns: { pid, parent },
  kind: 'process',
  event,
  score,
  model,
  packagesDoing,
});
const socket = (pid: string, event: string, score: number, time = 1000) => ({
  host,
  time,
  columns: { pid },
  kind: 'socket',
  event,
  score,
  model: 'host:rarity',
  packagesDoing: false,
});

t.test('an unusual process started by an unusual one is an alert where neither row alone was', async (t) => {
  const chains = new ChainSuspicion();
  t.equal(chains.judge(exec('10', '1', 'exec /bin/bash <- /usr/sbin/sshd', 0.95)), undefined, 'a usual login shell');
  t.equal(chains.judge(exec('11', '10', 'exec /usr/bin/sudo <- /bin/bash', 0.341)), undefined, 'its child, unusual: alone, as before (its parent was usual)');
  const dpkg = chains.judge(exec('12', '11', 'exec /usr/bin/dpkg <- /usr/bin/sudo', 0.341));
  t.ok(dpkg && dpkg.verdict === 'bad', `the unusual child of an unusual process is bad (${dpkg?.score.toFixed(3)})`);
  t.match(dpkg?.reason ?? '', /suspicion carried down a process chain: a process started by an unusual process \(`exec \/usr\/bin\/sudo <- \/bin\/bash`/);
  const script = chains.judge(exec('13', '12', 'exec /var/lib/dpkg/info/x.postinst <- /usr/bin/dpkg', 0.377));
  t.ok(script && script.verdict === 'bad', 'and its unusual child in turn');
  t.equal(
    chains.judge(exec('14', '13', 'exec /usr/bin/ldconfig <- /var/lib/dpkg/info/x.postinst', 0.62)),
    undefined,
    'a usual row is not changed, whoever its parent is',
  );
  t.equal(chains.judge(exec('15', '14', 'exec /usr/bin/curl <- /usr/bin/ldconfig', 0.4)), undefined, 'a usual process ends the chain');
  const beacon = chains.judge(socket('13', 'connect /var/lib/dpkg/info/x.postinst -> public:203.0:8443', 0.48, 4000));
  t.ok(beacon && beacon.verdict === 'bad', 'an unusual connection of a process started by an unusual process is bad');
  t.ok(Math.abs(fisher([0.01, 0.01]) - 0.0001 * (1 - Math.log(0.0001))) < 1e-12, "Fisher's combination of two p-values");
});

t.test('what a process that is an alert on its own runs takes its suspicion, usual or not', async (t) => {
  // a wrapper planted first in everyone's PATH (its own row an alert, a program no one ran
  // there) runs the real program, base64 and curl, each a person's routine tool: alone usual
  const chains = new ChainSuspicion();
  t.equal(chains.judge(exec('60', '1', 'exec /bin/bash <- /usr/sbin/sshd', 0.95)), undefined, 'a usual login shell');
  t.equal(chains.judge(exec('61', '60', 'exec /shared/apps/bin/squeue <- /bin/bash', 0.018)), undefined, 'the wrapper, an alert alone, under a usual shell');
  const real = chains.judge(exec('62', '61', 'exec /usr/bin/squeue <- /shared/apps/bin/squeue', 0.66));
  t.ok(real && real.verdict === 'bad', `its usual child is bad (${real?.score.toFixed(3)})`);
  t.match(real?.reason ?? '', /a process started by an alerting process \(`exec \/shared\/apps\/bin\/squeue <- \/bin\/bash`/);
  chains.judge(exec('63', '61', 'exec /usr/bin/curl <- /shared/apps/bin/squeue', 0.61));
  const post = chains.judge(socket('63', 'connect /usr/bin/curl -> public:203.0:443', 0.76));
  t.ok(post && post.verdict === 'bad', 'and the usual connection of that child');
  // a usual process still ends the chain for what it starts in turn
  t.equal(chains.judge(exec('64', '62', 'exec /usr/bin/ls <- /usr/bin/squeue', 0.4)), undefined, 'a usual child carries nothing further');
  // a parent only at the edge of usual (not an alert alone) passes nothing to a usual child
  chains.judge(exec('65', '60', 'exec /usr/bin/sudo <- /bin/bash', 0.34));
  t.equal(chains.judge(exec('66', '65', 'exec /usr/bin/zfs <- /usr/bin/sudo', 0.62)), undefined, 'a usual child of an unusual parent is unchanged');
  // a package run's steps stay the packages' doing
  t.equal(
    chains.judge(exec('67', '61', 'exec /usr/bin/dpkg-deb <- /usr/bin/dpkg', 0.62, 'rarity', 1000, true)),
    undefined,
    "a package run's step takes nothing",
  );
  t.equal(chains.judge(exec('68', '61', 'exec /usr/bin/squeue <- /shared/apps/bin/squeue', 0.66, 'ocsvm')), undefined, 'nor an SVM-decided row');
  // sshd's fork for a new account's first login is an alert; the usual login shell under it shows
  // the same login again
  const login = {
    ...exec('70', '1', 'exec /usr/sbin/sshd <- /usr/sbin/sshd', 0.28, 'rarity'),
    columns: { pid: '70', parent: '1', path: '/usr/sbin/sshd', cmdline: 'sshd: sofia [priv]', uid: '0' },
  };
  chains.judge(login);
  t.equal(
    chains.judge(exec('71', '70', 'exec /bin/bash <- /usr/sbin/sshd', 0.89)),
    undefined,
    "a usual login shell under an alerting login's fork is unchanged",
  );
});

t.test("an alerting process passes its suspicion only to processes of its own login, not to another account's reused pid", async (t) => {
  const chains = new ChainSuspicion();
  const of = (row: ReturnType<typeof exec>, auid: string) => ({ ...row, columns: { ...row.columns, uid: auid, auid } });
  chains.judge(of(exec('80', '1', 'exec /tmp/.a1 <- /bin/bash', 0.01), '1001'));
  // the pid is reused by another user's subshell (a fork without exec logs no row): its usual git
  const victim = chains.judge(of(exec('81', '80', 'exec /usr/bin/git <- /bin/bash', 0.8, 'host:rarity', 1600), '1002'));
  t.equal(victim, undefined, "another account's usual row under a reused pid is unchanged");
  const own = chains.judge(of(exec('82', '80', 'exec /usr/bin/curl <- /tmp/.a1', 0.8, 'host:rarity', 1600), '1001'));
  t.ok(own && own.verdict === 'bad', `the alerting process's own child still takes it (${own?.score.toFixed(3)})`);
});

t.test('one piece of evidence shown twice is not combined', async (t) => {
  const chains = new ChainSuspicion();
  chains.judge(exec('20', '1', 'exec /usr/bin/prometheus-node-exporter <- unknown', 0.175));
  t.equal(
    chains.judge(socket('20', 'listen /usr/bin/prometheus-node-exporter :9100/tcp', 0.355)),
    undefined,
    "a new daemon's listening port is not combined with its own exec row",
  );
  // the SVM's vector holds the events before the row: a daemon's fork right after an odd event
  // is outside its shape for the same reason as its parent
  chains.judge(exec('30', '1', 'exec /usr/sbin/cron <- unknown', 0.214, 'ocsvm'));
  t.equal(chains.judge(exec('31', '30', 'exec /bin/sh <- /usr/sbin/cron', 0.4, 'rarity')), undefined, 'an SVM-decided parent carries no suspicion');
  chains.judge(exec('40', '1', 'exec /usr/bin/sudo <- /bin/bash', 0.34));
  t.equal(chains.judge(exec('41', '40', 'exec /bin/sh <- /usr/bin/sudo', 0.4, 'ocsvm')), undefined, 'nor is an SVM-decided child combined');
  t.equal(chains.judge(exec('42', '40', 'exec /bin/sh <- /usr/bin/sudo', 0.4, 'rarity', 1000 + 25 * 3600)), undefined, 'a day later the parent is forgotten');
  chains.judge(exec('40', '1', 'exec /usr/bin/vim <- /bin/bash', 0.9, 'rarity', 1100));
  t.equal(chains.judge(exec('43', '40', 'exec /bin/sh <- /usr/bin/vim', 0.4)), undefined, "a pid's next exec row replaces its record");
});

t.test('a process that keeps acting keeps its chain: a stage calling back every three hours for days', async (t) => {
  // a post-link script's python stage (unusual, under an unusual installer) detaches and calls
  // its server every ~3 h; each call is at the edge of usual for a person who brings new values
  const chains = new ChainSuspicion();
  chains.judge(exec('90', '1', 'exec /opt/conda/bin/python <- /bin/bash', 0.42));
  chains.judge(exec('91', '90', 'exec /opt/conda/envs/x/bin/python <- /opt/conda/bin/python', 0.41));
  const hour = 3600;
  const calls: (number | undefined)[] = [];
  for (let h = 3; h <= 33; h += 3)
    calls.push(chains.judge(socket('91', 'connect /opt/conda/envs/x/bin/python3.11 -> public:203.0:443', 0.45, 1000 + h * hour))?.score);
  t.ok(
    calls.every((s) => s !== undefined && s < 0.3),
    `every call, the last 33 h after the stage started, is an alert: ${calls.map((s) => s?.toFixed(3)).join(' ')}`,
  );
  // a day with no row of it: the pid may be another process's now
  t.equal(
    chains.judge(socket('91', 'connect /opt/conda/envs/x/bin/python3.11 -> public:203.0:443', 0.45, 1000 + 58 * hour)),
    undefined,
    'a day after its last row it is forgotten',
  );
  // another login's row under the same pid is another process (a fork without exec that reused
  // it): it takes nothing from the record and does not keep it alive
  chains.judge({ ...exec('92', '90', 'exec /tmp/.s <- /opt/conda/bin/python', 0.41), columns: { pid: '92', parent: '90', auid: '1001', uid: '1001' } });
  t.equal(
    chains.judge({ ...socket('92', 'connect /usr/bin/ssh -> private:10.40:22', 0.45, 1000 + 20 * hour), columns: { pid: '92', auid: '1002' } }),
    undefined,
    "another login's row under the pid takes nothing",
  );
  t.equal(
    chains.judge({ ...socket('92', 'connect /tmp/.s -> public:203.0:443', 0.45, 1000 + 30 * hour), columns: { pid: '92', auid: '1001' } }),
    undefined,
    'nor keeps the record alive',
  );
});

t.test("the steps of a package run are the packages' structure, not a chain", async (t) => {
  // a first kernel upgrade (by the automatic upgrades or a person's sudo apt): dpkg starts dpkg-deb, the image's postinst
  // starts run-parts, run-parts depmod; each unusual for a root that never upgraded a kernel
  const chains = new ChainSuspicion();
  const run = (pid: string, parent: string, event: string, score: number) => chains.judge(exec(pid, parent, event, score, 'rarity', 1000, true));
  t.equal(chains.judge(exec('50', '1', 'exec /usr/bin/dpkg <- /usr/bin/unattended-upgrade', 0.2, 'rarity')), undefined, "the run's start, judged alone");
  t.equal(run('51', '50', 'exec /usr/bin/dpkg-deb <- /usr/bin/dpkg', 0.4), undefined, 'its steps take no suspicion from it');
  t.equal(run('52', '51', 'exec /bin/run-parts <- /var/lib/dpkg/info/linux-image.postinst', 0.4), undefined, 'nor from each other');
  // they end the chain as a usual process does: a shell given code below them is judged alone,
  // and in full (package-run.ts)
  t.equal(chains.judge(exec('53', '51', 'exec /bin/sh <- /var/lib/dpkg/info/linux-image.postinst', 0.4, 'rarity')), undefined, 'the chain ends at the run');
  t.ok(
    chains.judge(exec('54', '50', 'exec /bin/sh <- /usr/bin/dpkg', 0.4, 'rarity'))?.verdict === 'bad',
    "a row outside the packages' doing still takes the start's suspicion",
  );
});

t.test('the third held-out set (seed 12): the malicious package is found by rows, and no normal row more is bad', async (t) => {
  const { set, rows } = await scoreScenarioSet(t, 12, 'heldout3');
  const story = (id: string) => rows.filter((_, i) => set.testStory[i] === id);
  // before: every one of its 20 rows 0.34-0.51 (a person's host pool, a new kind at its edge)
  const deb = story('malicious-deb');
  const bad = (id: string) => deb.filter((s) => s.verdict === 'bad' && s.event.startsWith(id)).length;
  // dpkg under sudo and its maintainer script stay as they score alone (the script is the
  // package's doing, which ends a chain): what the chain adds is the dropped updater's rows
  t.equal(bad('connect /usr/lib/code/resources/app/out/updater'), 5, "the dropped updater's five beacons are bad");
  t.ok(deb.filter((s) => s.verdict === 'bad').length >= 11, `the story's rows bad: ${deb.filter((s) => s.verdict === 'bad').length} of ${deb.length}`);
  const attack = new Set(set.stories.map((s) => s.id));
  const normal = rows.filter((_, i) => !attack.has(set.testStory[i]));
  const chainedAlerts = normal.filter((s) => s.verdict === 'bad' && /an alert where the row alone was not/.test(s.reasons));
  t.same(
    chainedAlerts.map((s) => `${s.subject} ${s.event}`),
    [],
    'no normal row (routine, or a benign first time: a kernel upgrade, an agent install, a new pipeline) is an alert by a chain',
  );
});

t.test('a remembered process keeps the head of its event, not the whole row event it was cut from', async (t) => {
  // Each unusual process is remembered with its event's first 200 characters. That slice was
  // a view on the row's whole event, which stayed alive with it: a local user's flood of long
  // names (20,000 processes remembered) kept ~10 MB of events the bound meant to let go.
  const gc = (() => {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  })();
  const chains = new ChainSuspicion();
  const processes = 40;
  const eventChars = 1 << 20;
  gc();
  const base = process.memoryUsage().heapUsed;
  for (let i = 0; i < processes; i++) {
    const event = `exec /home/eve/${String.fromCharCode(97 + (i % 26)).repeat(eventChars)}${i} <- /bin/bash`;
    chains.judge(exec(String(100 + i), '1', event, 0.01, 'eve:rarity'));
  }
  gc();
  const grown = process.memoryUsage().heapUsed - base;
  // 40 events of 1 MB are 40 MB held; 40 heads of 200 characters a few kB
  t.ok(
    grown < 4 * eventChars,
    `the heap grew by ${(grown / 1048576).toFixed(1)} MB for ${processes} remembered processes whose events were ${eventChars >> 20} MB each`,
  );
  const child = chains.judge(exec('200', '100', 'exec /usr/bin/curl <- /home/eve/x', 0.3, 'eve:rarity'));
  t.ok(child?.reason.includes(`exec /home/eve/${'a'.repeat(50)}`), "the head is still what a child's reason names");
});

t.test("a row that arrives late does not age the process's record: its age counts from the latest row", async (t) => {
  // osqueryd logs each query's rows at its own interval, so a process's earlier connection may
  // be scored after a later one (rows are judged in the order they arrive)
  const chains = new ChainSuspicion();
  chains.judge(exec('90', '1', 'exec /opt/conda/bin/python <- /bin/bash', 0.42));
  chains.judge(exec('91', '90', 'exec /opt/conda/envs/x/bin/python <- /opt/conda/bin/python', 0.41));
  const hour = 3600;
  const call = (h: number) => chains.judge(socket('91', 'connect /opt/conda/envs/x/bin/python3.11 -> public:203.0:443', 0.45, 1000 + h * hour))?.score;
  t.ok((call(20) ?? 1) < 0.3, 'its call 20 h after it started is an alert');
  t.ok((call(1) ?? 1) < 0.3, "a call of its first hour, logged late, is one of the process's rows too");
  const later = call(30);
  t.ok(later !== undefined && later < 0.3, `10 h after its latest row it still has its chain (${later})`);
});
