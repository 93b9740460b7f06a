import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { resolveConfig } from '../conf/config';
import { runEval } from '../scorer/eval/run';
import { generateScenarios } from '../scorer/eval/scenarios/generate';
import type { ScoredEvent } from '../scorer/types';

// The independent scenario set (scorer/eval/scenarios): three hosts, three weeks, sparse and
// weekly accounts, ATT&CK Linux stories and benign novelty, scored exactly as `anomaly eval`
// scores it. The assertions are what this size meets today (docs/evaluation.md has the
// figures and the misses): the issue's targets (recall 0.95 with no attack row NULL, AUC 0.99,
// normal rows below 0.3 at most 0.3 %), since branch novelty2 on the four seeds 11 to 14.

t.test('the scenario set, scored as anomaly eval scores it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-scenarios-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const set = generateScenarios({ seed: 11, days: 21, start: 1_767_225_600 });
  fs.writeFileSync(path.join(dir, 'train.log'), set.train.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'test.log'), set.test.join('\n') + '\n');
  const config = resolveConfig({ models: { rarity: true, ocsvm: true, lstm: false } }, 'test', {});
  const rows: ScoredEvent[] = [];
  const r = await runEval({ train: path.join(dir, 'train.log'), test: path.join(dir, 'test.log'), config, onRow: (s) => rows.push(s) });
  t.equal(rows.length, set.test.length, 'every test line is a labelled row');
  const storyOf = (i: number) => set.testStory[i];
  const attack = new Set(set.stories.map((s) => s.id));

  const attackRows = rows.filter((_, i) => attack.has(storyOf(i)));
  t.equal(attackRows.filter((s) => s.score === null).length, 0, 'no attack row is NULL: sparse, weekly and new accounts are scored by their host baseline');
  t.ok(
    attackRows.some((s) => s.model.startsWith('host:')),
    'some attack rows are scored by a host baseline',
  );
  for (const story of set.stories) {
    const bad = rows.filter((s, i) => storyOf(i) === story.id && s.verdict === 'bad');
    t.ok(bad.length > 0, `story ${story.id} has a bad row (${bad.length})`);
  }
  const routine = rows.filter((_, i) => !storyOf(i));
  const routineBad = routine.filter((s) => s.score !== null && s.score < 0.3).length;
  t.ok(routineBad / routine.length <= 0.003, `routine rows below 0.3: ${routineBad} of ${routine.length}`);
  t.ok(r.recall >= 0.95, `recall ${r.recall} (the target of 0.95)`);
  t.ok(r.auc >= 0.99, `AUC ${r.auc} (the target of 0.99 is met at 21 days, not at 12)`);
  // the DBA brings new values more often than any account on the host: a first psql to the
  // application database is weaker evidence from them than a first curl from the backup account
  const dba = rows.filter((s, i) => storyOf(i) === 'first-internal-db');
  t.equal(
    dba.filter((s) => s.verdict === 'bad').length,
    0,
    `the DBA's first connection to the application database is not bad (${dba.map((s) => s.score?.toFixed(3)).join(', ')})`,
  );
  // the developer's first `docker compose up`: a program she runs every day on operands it never
  // had (branch rowfix: no new option), by a person, everything else about the rows known
  const compose = rows.filter((s, i) => storyOf(i) === 'first-compose-up' && /^(?:exec \/usr\/bin\/docker|shell docker)/.test(s.event));
  t.ok(
    compose.length === 2 && compose.every((s) => s.verdict !== 'bad' && /a known program on a new object \(`compose` `up`\)/.test(s.reasons)),
    `the first docker compose up is not bad (${compose.map((s) => s.score?.toFixed(3)).join(', ')})`,
  );
  const normalRows = rows.filter((_, i) => !attack.has(storyOf(i)));
  const normalBad = normalRows.filter((s) => s.score !== null && s.score < 0.3).length;
  t.ok(normalBad / normalRows.length <= 0.003, `normal rows below 0.3: ${normalBad} of ${normalRows.length} (the target of 0.3 %; 6 before novelty2)`);
  // the operator installs and runs htop: a person's new tools, of no new kind
  const htop = rows.filter((s, i) => storyOf(i) === 'new-system-tool');
  t.ok(
    htop.every((s) => s.verdict !== 'bad'),
    `no row of the operator's htop install is bad (${htop.map((s) => s.score?.toFixed(3)).join(', ')})`,
  );
  const backup = rows.filter((s, i) => storyOf(i) === 'exfiltration');
  t.ok(
    backup.every((s) => s.verdict === 'bad'),
    `every row of the backup account's exfiltration is bad (${backup.map((s) => s.score?.toFixed(3)).join(', ')})`,
  );
  // the DBA's key used from outside: sshd's fork and the login shell look like the DBA's own
  // Monday login, except where the login came from, which the session's rows carry
  const stolen = rows.filter((s, i) => storyOf(i) === 'authorized-keys');
  t.ok(
    stolen.every((s) => s.verdict === 'bad'),
    `every row of the planted key story, its use from outside included, is bad (${stolen.map((s) => s.score?.toFixed(3)).join(', ')})`,
  );
  t.match(stolen.map((s) => s.reasons).join('\n'), /session from `public`/, 'the reasons say the session came from a public address');
  // the attackers' file changes (accounts, SSH keys, cron and systemd, the logs): one new path
  // each, counted once, and a first change to a kind of place the host's routine never touches
  const files = rows.filter((s, i) => attack.has(storyOf(i)) && s.event.startsWith('file '));
  t.ok(
    files.length >= 7 && files.every((s) => s.verdict === 'bad'),
    `every attack file row is bad (${files.map((s) => `${s.event} ${s.score?.toFixed(3)}`).join(', ')})`,
  );
  const reasons = attackRows.map((s) => s.reasons).join('\n');
  t.match(reasons, /new tool|new behaviour|new kind of behaviour|first activity of this account/, 'reasons say what kind of novelty');
});

t.test('the scenario set with three other seeds meets the targets too', async (t) => {
  for (const seed of [12, 13, 14]) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-scenarios-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const set = generateScenarios({ seed, days: 21, start: 1_767_225_600 });
    fs.writeFileSync(path.join(dir, 'train.log'), set.train.join('\n') + '\n');
    fs.writeFileSync(path.join(dir, 'test.log'), set.test.join('\n') + '\n');
    const config = resolveConfig({ models: { rarity: true, ocsvm: true, lstm: false } }, 'test', {});
    const rows: ScoredEvent[] = [];
    const r = await runEval({ train: path.join(dir, 'train.log'), test: path.join(dir, 'test.log'), config, onRow: (s) => rows.push(s) });
    const attack = new Set(set.stories.map((s) => s.id));
    const attackRows = rows.filter((_, i) => attack.has(set.testStory[i]));
    const normalRows = rows.filter((_, i) => !attack.has(set.testStory[i]));
    const normalBad = normalRows.filter((s) => s.score !== null && s.score < 0.3).length;
    t.equal(attackRows.filter((s) => s.score === null).length, 0, `seed ${seed}: no attack row is NULL`);
    t.ok(r.recall >= 0.95, `seed ${seed}: recall ${r.recall}`);
    t.ok(r.auc >= 0.99, `seed ${seed}: AUC ${r.auc}`);
    t.ok(normalBad / normalRows.length <= 0.003, `seed ${seed}: normal rows below 0.3: ${normalBad} of ${normalRows.length}`);
  }
});

// The held-out story set (branch heldout2): written after the scorer was tuned on the set
// above, to judge it on attacks and hosts it was not written for. What it detects is measured
// in docs/evaluation.md ("A held-out story set"), not asserted here: this only checks that the
// set is generated and labelled as the independent set is.
t.test('the held-out story set is generated and labelled like the independent set', async (t) => {
  const opts = { seed: 12, days: 21, start: 1_767_225_600 };
  const set = generateScenarios({ ...opts, stories: 'heldout' });
  const old = generateScenarios(opts);
  t.same(generateScenarios({ ...opts, stories: 'independent' }).test, old.test, 'the default is the independent set');
  const oldIds = new Set([...old.stories, ...old.novelties].map((s) => s.id));
  t.same(
    [...set.stories, ...set.novelties].filter((s) => oldIds.has(s.id)).map((s) => s.id),
    [],
    'no held-out story is one of the independent set',
  );
  t.equal(set.stories.length, 10, 'ten attack stories');
  for (const s of set.stories) t.match(s.title, /\(T\d{4}(\.\d{3})?[,) ]/, `${s.id} names its ATT&CK technique`);
  const parsed = set.test.map((l) => JSON.parse(l) as { label?: string; hostIdentifier: string; unixTime: number; name: string });
  t.ok(
    set.train.every((l) => !('label' in JSON.parse(l))),
    'training lines carry no label',
  );
  t.equal(set.testStory.length, parsed.length, 'one story id per test line');
  const attack = new Set(set.stories.map((s) => s.id));
  const wrong = parsed.filter((row, i) => (row.label === 'anomalous') !== attack.has(set.testStory[i]));
  t.equal(wrong.length, 0, 'a test row is anomalous exactly when an attack story made it');
  for (const s of [...set.stories, ...set.novelties]) {
    const rows = parsed.filter((_, i) => set.testStory[i] === s.id);
    t.ok(rows.length > 0, `${s.id} has rows in the labelled days (${rows.length})`);
    t.ok(
      rows.every((row) => s.host.split(', ').includes(row.hostIdentifier)),
      `${s.id}'s rows are on ${s.host}`,
    );
  }
  // the two hosts the scorer had not been run on, and the internet's background on the edge
  const hosts = new Set(set.train.map((l) => (JSON.parse(l) as { hostIdentifier: string }).hostIdentifier));
  t.ok(hosts.has('bastion-1') && hosts.has('build-2'), 'the bastion and the build host are in training');
  t.ok(
    set.train.some((l) => l.includes('"action":"accept"')),
    'training holds inbound SSH connections (the scanners on the edge host)',
  );
  // once the deploy account has stopped osqueryd the edge host logs nothing more
  // (sudo's row, then systemctl's a second later: the later is the last thing logged)
  const stops = parsed.filter((row, i) => set.testStory[i] === 'disable-security-tools' && JSON.stringify(row).includes('systemctl stop osqueryd'));
  const stop = Math.max(...stops.map((row) => row.unixTime));
  t.equal(stops.length, 2, 'the osqueryd stop is logged (sudo and systemctl)');
  t.equal(parsed.filter((row) => row.hostIdentifier === 'edge-web' && row.unixTime > stop).length, 0, 'no edge-web row after osqueryd is stopped');
  // a provisioned account is in the next day's users snapshot, as the new hire's novelty
  t.ok(
    parsed.some((row, i) => row.name === 'pack_hids_users' && set.testStory[i] === 'new-developer' && JSON.stringify(row).includes('"username":"lee"')),
    "the new developer's account is in the users snapshot",
  );
});
