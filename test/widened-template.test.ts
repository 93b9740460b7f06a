import t from 'tap';
import { withIdentity } from '../scorer/baseline';
import { compactValue, DIGEST_MARK, MAX_VALUE_CHARS } from '../scorer/features/compact-value';
import { FeatureExtractor, type ExtractorState } from '../scorer/features/extract';
import { checkExtractor } from '../state/schema';
import { UidMap } from '../scorer/features/subject';
import { createModel } from '../scorer/models';
import type { BehaviourEvent, ResultRow } from '../scorer/types';

// The template miner learns every row it extracts, an attacker's too. A database's routine
// backend, `postgres: app appdb 10.40.2.11(51234) idle` every few minutes, was widened by a
// reverse tunnel's backends (`postgres: app appdb 127.0.0.1(40122) COPY`) to `postgres: app
// appdb <*> <*>`, a template the models never learnt (the tunnel's rows were bad), and every
// routine backend after them scored "a known program on a new object (in place of `idle`)",
// 0.17: the attack made the routine after it look new (docs/evaluation.md, the fourth
// held-out set's diagnosis, routine rows cause 1).

const DAY = 86400;
const T0 = 1_790_000_000 - (1_790_000_000 % DAY);
const ROUTINE = 'postgres: app appdb 10.40.2.11(51234) idle';

/** a process row of `path` on `host` run by `uid`, its parent `parent` */
function processRow(host: string, path: string, uid: string, parent: string, time: number, cmdline: string, auid?: string): ResultRow {
  return {
    query: 'pack_user-behavior_process_events',
    host,
    time,
    action: 'added',
    columns: { pid: String(2000 + (time % 30000)), path, cmdline, uid, euid: uid, ...(auid ? { auid } : {}), parent_path: parent },
    decorations: {},
  };
}

const backend = (time: number, cmdline: string) =>
  processRow('pg-main', '/usr/lib/postgresql/16/bin/postgres', '113', '/usr/lib/postgresql/16/bin/postgres', time, cmdline);

const cmdOf = (e: BehaviourEvent) => e.values.find((v) => v.startsWith('cmd='));

t.test("an attacker's lines that widen a routine template do not make the routine after them new (actor)", async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const train: BehaviourEvent[] = [];
  for (let d = 0; d < 10; d++) for (let i = 0; i < 100; i++) train.push(x.extract(backend(T0 + d * DAY + i * 300, ROUTINE)).event);
  const m = createModel('rarity');
  await m.fit(train.map((e) => [e]));
  const at = T0 + 10 * DAY + 3600;
  const score = async (e: BehaviourEvent) => (await m.score([{ event: e, context: [] }]))[0];
  const before = await score(x.extract(backend(at, ROUTINE)).event);
  // the tunnel's backends: extracted (the miner learns them), scored, never learnt by the model
  const tunnel = x.extract(backend(at + 60, 'postgres: app appdb 127.0.0.1(40122) COPY')).event;
  const attack = await score(tunnel);
  const after = x.extract(backend(at + 120, ROUTINE)).event;
  t.equal(cmdOf(after), 'cmd=postgres: app appdb <*> <*>', 'the miner widened the routine template');
  const routine = await score(after);
  t.ok(
    routine.value <= before.value + 0.5,
    `the routine backend after the tunnel (${routine.value.toFixed(2)} bits) scores as before it (${before.value.toFixed(2)})`,
  );
  t.notMatch(routine.detail, /new object/, `and is no new object: ${routine.detail}`);
  // the tunnel's own lines fit no known line: still a known program on a new object
  t.match(attack.detail, /a known program on a new object/, `the tunnel's backend: ${attack.detail}`);
  t.ok(attack.value > routine.value + 4, `and weighs (${attack.value.toFixed(2)}) well above the routine (${routine.value.toFixed(2)})`);
  // the same in a host's pooled baseline, whose events keep no command-line text
  const pool = createModel('rarity');
  await pool.fit(train.map((e) => [withIdentity(e, 'postgres')]));
  const [pooledBefore, pooledAfter] = await pool.score([
    { event: withIdentity(train[train.length - 1], 'postgres'), context: [] },
    { event: withIdentity(after, 'postgres'), context: [] },
  ]);
  t.ok(
    pooledAfter.value <= pooledBefore.value + 0.5,
    `in the host's pool too: ${pooledAfter.value.toFixed(2)} bits after the tunnel, ${pooledBefore.value.toFixed(2)} before (${pooledAfter.detail})`,
  );
  // learnt, the routine line does not teach the widened template: the tunnel's next line is still new
  m.observe?.(after, []);
  const next = await score(x.extract(backend(at + 180, 'postgres: app appdb 127.0.0.1(40124) COPY')).event);
  t.match(next.detail, /a known program on a new object/, `so does the next one: ${next.detail}`);
});

// The same for a long command line (compactword). A template of a line of more than 24 words,
// or over 160 characters, was its first 160 characters and the option names after them, and a
// value over 256 characters was its head and a digest (memcap): a wildcard in place of a word
// moved the cut, and the digest ended every long template in a word no other template had, so
// no known template fitted a long line word by word. The routine after an attacker's widening
// was then a new object, learnt it taught the widened template, and the attacker's line, padded
// past 256 characters, named no object its known line had there.
const OPS_LINE = [
  'kubectl --kubeconfig /etc/kubernetes/admin.conf --context arn:aws:eks:eu-west-1:123456789012:cluster/prod-payments --namespace payments',
  'port-forward svc/ledger-db 15432:5432 --address 127.0.0.1 --pod-running-timeout 1m0s',
  '--request-timeout 30s --v 2 --log-flush-frequency 5s --insecure-skip-tls-verify --disable-compression',
  '--skip-headers --match-server-version --cache-dir /var/cache/kube --warnings-as-errors',
].join(' ');

const forward = (time: number, cmdline: string) => processRow('bastion-1', '/usr/local/bin/kubectl', '1001', '/usr/bin/bash', time, cmdline, '1001');

t.test("a long line's known template is fitted word by word, and an attacker's padded line does not escape it (compactword)", async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const train: BehaviourEvent[] = [];
  for (let d = 0; d < 10; d++) for (let i = 0; i < 40; i++) train.push(x.extract(forward(T0 + d * DAY + 9 * 3600 + i * 300, OPS_LINE)).event);
  const known = cmdOf(train[train.length - 1]) ?? '';
  t.ok(OPS_LINE.length > 256 && known.length > 160, `a long line (${OPS_LINE.length} characters), a long template (${known.length})`);
  const m = createModel('rarity');
  await m.fit(train.map((e) => [e]));
  const at = T0 + 10 * DAY + 9 * 3600;
  const score = async (e: BehaviourEvent) => (await m.score([{ event: e, context: [] }]))[0];
  const before = await score(x.extract(forward(at, OPS_LINE)).event);
  // the attacker forwards another service, the line padded with options of its own past 256 characters
  const padded = `${OPS_LINE.replace('svc/ledger-db', 'svc/vault')} --as-group system:masters --profile-output /tmp/p --one-output --show-managed-fields`;
  const attack = await score(x.extract(forward(at + 60, padded)).event);
  const afterEvent = x.extract(forward(at + 120, OPS_LINE)).event;
  const after = cmdOf(afterEvent) ?? '';
  t.not(after, known, 'the miner widened the routine template');
  t.ok(after.split(' ').includes('<*>'), `with a wildcard in place of the service: ${after}`);
  t.ok(
    after.split(' ').some((w) => w.includes(DIGEST_MARK)),
    'a long word of it kept as its head and a digest, in its place',
  );
  const routine = await score(afterEvent);
  t.ok(routine.value <= before.value + 0.5, `the routine after the attack (${routine.value.toFixed(2)} bits) scores as before it (${before.value.toFixed(2)})`);
  t.notMatch(routine.detail, /new object/, `and is no new object: ${routine.detail}`);
  t.match(attack.detail, /a known program on a new object \(in place of `svc\/ledger-db`\)/, `the attacker's padded line: ${attack.detail}`);
  m.observe?.(afterEvent, []);
  const next = await score(x.extract(forward(at + 180, padded.replace('15432', '15433'))).event);
  t.match(next.detail, /a known program on a new object/, `learnt, the routine taught no wider template: ${next.detail}`);
});

t.test('a state saved before compactword keeps the long form its models learnt; a new one spells long lines word by word (compactword)', async (t) => {
  const opts = () => ({ users: new UidMap(), overrides: {} });
  const templateOf = (x: FeatureExtractor) => cmdOf(x.extract(forward(T0, OPS_LINE)).event)?.slice(4) ?? '';
  const fresh = new FeatureExtractor(opts());
  const words = templateOf(fresh);
  const saved = JSON.parse(JSON.stringify(fresh.toState())) as ExtractorState;
  t.equal(saved.longForm, 'words', 'a new state says its form');
  t.equal(checkExtractor(saved), null, 'and passes the schema');
  t.equal(templateOf(FeatureExtractor.fromState(saved, opts())), words, 'read back, it spells the line as before');
  t.ok(words.split(' ').includes('30s'), `word by word, each in its place: ${words}`);
  // 878ff45 wrote no longForm: its models learnt the first 160 characters and the option names
  const { longForm: _, ...older } = saved;
  const head = templateOf(FeatureExtractor.fromState(older, opts()));
  t.not(head, words, `an older state's line is spelt as its models learnt it: ${head}`);
  t.notOk(head.split(' ').includes('30s'), 'its first 160 characters and the option names after them');
  t.ok(head.length <= MAX_VALUE_CHARS, `and bounded as that build bounded it, its head and a digest past ${MAX_VALUE_CHARS} characters (${head.length})`);
});

// A long word the miner masked in part (`arn:aws:eks:eu-west-1:<*>:cluster/prod-payments`) is
// kept compacted with its wildcard at the end, and the line's raw word compacted carries none:
// the widening guard fitted no long known template with such a word, so the routine after an
// attacker's widening was new again, and learnt it taught the widened template (review).
t.test("a long line's word the miner masked in part is fitted to the known template as the miner keeps it (review of compactword)", async (t) => {
  const line = `kubectl --context arn:aws:eks:eu-west-1:123456789012:cluster/prod-payments ${OPS_LINE.slice(OPS_LINE.indexOf('--namespace'))}`;
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const train: BehaviourEvent[] = [];
  for (let d = 0; d < 10; d++) for (let i = 0; i < 40; i++) train.push(x.extract(forward(T0 + d * DAY + 9 * 3600 + i * 300, line)).event);
  t.ok(
    (cmdOf(train[train.length - 1]) ?? '').split(' ').some((w) => w.includes(DIGEST_MARK) && w.endsWith('<*>')),
    'the masked word is kept compacted',
  );
  const m = createModel('rarity');
  await m.fit(train.map((e) => [e]));
  const at = T0 + 10 * DAY + 9 * 3600;
  const score = async (e: BehaviourEvent) => (await m.score([{ event: e, context: [] }]))[0];
  const before = await score(x.extract(forward(at, line)).event);
  await score(x.extract(forward(at + 60, line.replace('cluster/prod-payments', 'cluster/prod-vault'))).event);
  const afterEvent = x.extract(forward(at + 120, line)).event;
  const routine = await score(afterEvent);
  t.ok(routine.value <= before.value + 0.5, `the routine after the attack (${routine.value.toFixed(2)} bits) scores as before it (${before.value.toFixed(2)})`);
  m.observe?.(afterEvent, []);
  for (let i = 1; i < 40; i++) m.observe?.(x.extract(forward(at + 120 + i * 300, line)).event, []);
  const next = await score(x.extract(forward(at + 13_000, line.replace('cluster/prod-payments', 'cluster/prod-secrets'))).event);
  t.ok(
    next.value > routine.value + 3,
    `learnt 40 times, the routine taught no wider template: the attacker's next cluster ${next.value.toFixed(2)} bits (${next.detail})`,
  );
});

// A state of 878ff45 learnt a long template in the head form and, past 256 characters, as its
// head and a digest with the mark of that build: read back, the same line must give the same value.
t.test('a state saved before compactword spells a long template past 256 characters as its build did (review of compactword)', async (t) => {
  const line = `${OPS_LINE.replace('--context arn:aws:eks:eu-west-1:123456789012:cluster/prod-payments', '--context prod')} --one-output --show-managed-fields --profile-output x --as-group-extra y`;
  // what 878ff45's extractor made of `line`, its cmd value as its rarity model stored it
  const at878 =
    'cmd=kubectl --kubeconfig /etc/kubernetes/admin.conf --context prod --namespace payments port-forward svc/ledger-db <*>:<*> --address <*> --pod-running-timeout 1m0s  --disable-compression --insecure-skip-tls-verify --log-flush-frequency …#c59_KksDwXo04bDTo1QLiR';
  const { longForm: _, ...older } = new FeatureExtractor({ users: new UidMap(), overrides: {} }).toState();
  const x = FeatureExtractor.fromState(JSON.parse(JSON.stringify(older)) as ExtractorState, { users: new UidMap(), overrides: {} });
  const value = cmdOf(x.extract(forward(T0, line)).event) ?? '';
  t.equal(`cmd=${compactValue(at878.slice(4))}`, value, `the value its models learnt, read back as this build spells it: ${value}`);
});

// A long word of a long line's template is kept as its head, the mark and a digest
// (`nightly-ledger-snapsho·#3x6I2tyO`). A local user decides their own command lines: one with
// that spelling in the word's place made the template the user's routine had, a known command
// though the word was never seen (only the character model still weighed it, 4.11 bits against
// 0.10). A raw value's mark is spelt otherwise now, so only compaction makes one (markguard).
t.test("a command line that spells a known template's compacted word is not that template (markguard)", async (t) => {
  const word = 'nightly-ledger-snapshot-of-the-accounts-database';
  const line = `backup-tool ${word} --compress zstd --target /srv/backups/ledger --retain weekly --verify full --quiet --lock-wait long --notify ops --tag ledger --exclude temporary --exclude scratch`;
  const backup = (time: number, cmdline: string) => processRow('db-1', '/usr/local/bin/backup-tool', '1001', '/usr/bin/bash', time, cmdline, '1001');
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const train: BehaviourEvent[] = [];
  for (let d = 0; d < 10; d++) for (let i = 0; i < 20; i++) train.push(x.extract(backup(T0 + d * DAY + 3600 + i * 300, line)).event);
  const known = cmdOf(train[train.length - 1]) ?? '';
  const forged = known.split(' ')[1];
  t.ok(forged.includes(DIGEST_MARK), `the routine's long word is kept compacted: ${forged}`);
  const m = createModel('rarity');
  await m.fit(train.map((e) => [e]));
  const at = T0 + 10 * DAY + 3600;
  const rows = [line, line.replace(word, forged), line.replace(word, 'nightly-ledger-snapshot-of-the-secrets-vault')];
  const events = rows.map((l, i) => x.extract(backup(at + 60 * i, l)).event);
  const [routine, attack, other] = await m.score(events.map((event) => ({ event, context: [] })));
  const attackCmd = cmdOf(events[1]);
  t.not(attackCmd, known, `the line that spells it is another template: ${attackCmd}`);
  t.match(attack.detail, /never seen before/, `whose command is new: ${attack.detail}`);
  t.ok(
    attack.value >= other.value - 0.5,
    `and weighs (${attack.value.toFixed(2)} bits) as much as another new word in its place (${other.value.toFixed(2)}; the routine ${routine.value.toFixed(2)})`,
  );
});
