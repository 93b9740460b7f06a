import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t, { type Test } from 'tap';
import { ExtensionClient } from '../extension/client';
import type { ScoredEvent, ScoredWindow } from '../scorer/types';
import { JsonlAppender, readJsonl } from '../state/atomic';
import { RetainedScores } from '../state/scores';
import { RetainedWindows } from '../state/windows';
import { bareNode } from './helpers/bare-node';
import { anomaly } from './helpers/cli';
import { emulatedOnSmallDisk, fill, smallDisk } from './helpers/disk';
import { counters, emulated, exited, processLine as line, until } from './helpers/emulated';
import { DIST } from './helpers/paths';
import { plainRow } from './helpers/scored';

// State files against a full disk and damaged contents, through the emulated osqueryd and
// the real extension process: what was acknowledged survives a restart, and what was refused
// leaves nothing behind that could spoil the records written after it.

t.setTimeout(3_600_000);

/**
 * An extension whose state directory is an 8 MB tmpfs, five rows scored, and a way to label
 * them through the writable table; null (with a comment) where no tmpfs can be mounted.
 */
async function fiveRowsOnSmallDisk(t: Test) {
  const e = await emulatedOnSmallDisk(t);
  if (!e) {
    t.comment('this machine does not allow mounting a tmpfs: no full disk to try');
    return null;
  }
  const child = await e.launch();
  for (let i = 0; i < 5; i++) await e.emu.logResult('anomaly', line(i));
  const rows = await until(
    () => e.emu.query('SELECT id FROM anomaly_scores'),
    (r) => r.length === 5,
  );
  const insert = async (values: unknown[]) => {
    const [ext] = e.emu.registered();
    const res = await new ExtensionClient(ext.socket).call('table', 'anomaly_feedback', { action: 'insert', json_value_array: JSON.stringify(values) });
    return res.response[0];
  };
  return { e, child, rows, insert };
}

t.test('a label whose subject cannot be saved (full disk) is not acknowledged, even when feedback.jsonl takes it', async (t) => {
  const disk = await fiveRowsOnSmallDisk(t);
  if (!disk) return;
  const { e, child, rows, insert } = disk;
  t.match(await insert([rows[0].id, 'normal', 'first']), { status: 'success' }, 'a first label is saved');
  fill(e.stateDir);
  // a short line fits in the page feedback.jsonl already has; the subject's new state file does not
  const answer = await insert([rows[1].id, 'anomalous', 'second']);
  const listed = await e.emu.query('SELECT id FROM anomaly_feedback');
  child.kill('SIGKILL');
  await exited(child);
  t.not(answer.status, 'success', `the label is not acknowledged (${JSON.stringify(answer).slice(0, 300)})`);
  t.same(
    listed.map((r) => r.id),
    [rows[0].id],
    'nor listed as given',
  );
});

t.test('a label refused by a full disk leaves no torn line: the labels saved after it survive a restart', async (t) => {
  const disk = await fiveRowsOnSmallDisk(t);
  if (!disk) return;
  const { e, rows, insert } = disk;
  let { child } = disk;
  t.match(await insert([rows[0].id, 'normal', 'first']), { status: 'success' }, 'a first label is saved');
  const filler = fill(e.stateDir);
  // a note of 4 kB: more than the free bytes left in the page the file already has, so the
  // disk takes part of the line before it refuses the rest
  const refused = await insert([rows[1].id, 'normal', 'x'.repeat(4000)]);
  t.not(refused.status, 'success', `a label the full disk refuses is not acknowledged (${JSON.stringify(refused).slice(0, 200)})`);
  fs.rmSync(filler);
  t.match(await insert([rows[2].id, 'anomalous', 'third']), { status: 'success' }, 'with space again, a label is saved');
  child.kill('SIGTERM');
  t.same(await exited(child), { code: 0, signal: null }, 'the extension stops');
  child = await e.launch();
  const kept = await e.emu.query('SELECT id, label, note FROM anomaly_feedback');
  t.same(
    kept.map((r) => [r.id, r.label, r.note]),
    [
      [rows[0].id, 'normal', 'first'],
      [rows[2].id, 'anomalous', 'third'],
    ],
    'after a restart: every acknowledged label, nothing of the refused one',
  );
  t.notMatch(e.stderr.join(''), /feedback\.jsonl:\d+: skipped/, 'and no line of the file had to be skipped');
});

t.test('a line torn by a crash mid-write does not swallow the record appended after the restart', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-torn-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'feedback.jsonl');
  fs.writeFileSync(file, '{"id":"a","label":"normal","note":"","time":1}\n{"id":"b","lab');
  const a = new JsonlAppender(file);
  a.append({ id: 'c', label: 'normal', note: '', time: 3 });
  a.close();
  const warnings: string[] = [];
  const records = readJsonl<{ id: string }>(file, (m) => warnings.push(m));
  t.same(
    records.map((r) => r.id),
    ['a', 'c'],
    'the record appended after the torn line is read',
  );
  t.equal(warnings.length, 1, `only the torn line is skipped (${warnings.join('; ')})`);
  t.throws(() => a.append({ id: 'd' }), /after close/, 'an append after close is refused, never written to a reused descriptor');
});

const scoredWindow = (i: number): ScoredWindow => ({
  subject: 'alice',
  host: 'h',
  start: 1_790_000_000 + i * 600,
  end: 1_790_000_600 + i * 600,
  events: 10,
  score: 0.9,
  verdict: 'good',
  model: 'mix',
  reasons: `usual for alice, window ${i} ${'-'.repeat(200)}`,
  top_ids: '[]',
});

t.test('retained windows on a nearly full disk: an append the disk refuses is cut back out, and appends go on once there is space', async (t) => {
  // (Earlier builds compacted one windows.jsonl by a copy renamed over it, and a short write
  // renamed over it lost the windows after it: 21 of 200 left. Windows are now kept in
  // segments as the retained scores are, and nothing is ever rewritten.)
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-windows-disk-'));
  const dir = path.join(root, 'disk');
  const unmount = smallDisk(dir, '1m');
  t.teardown(() => {
    unmount?.();
    fs.rmSync(root, { recursive: true, force: true });
  });
  if (!unmount) {
    t.comment('this machine does not allow mounting a tmpfs: no full disk to try');
    return;
  }
  const opts = { dir: path.join(dir, 'window-scores'), maxRows: 200, maxDays: 3650 };
  const w = new RetainedWindows(opts);
  w.append(Array.from({ length: 300 }, (_, i) => scoredWindow(i)));
  t.equal(w.size, 200, 'retention keeps the newest 200');
  const full = fill(dir);
  fs.truncateSync(full, fs.statSync(full).size - 16384);
  t.throws(() => w.append(Array.from({ length: 200 }, (_, i) => scoredWindow(400 + i))), /ENOSPC/, 'the append the disk refused is reported');
  fs.rmSync(full);
  w.append([scoredWindow(5000)]);
  t.equal(w.select({}).at(0)?.start, scoredWindow(5000).start, 'a window appended once there is space is retained');
  w.close();
  const last = new RetainedWindows(opts);
  t.teardown(() => last.close());
  t.equal(last.select({}).at(0)?.start, scoredWindow(5000).start, 'and is there after a reopen');
  t.equal(last.size, 200, 'with the 199 before it');
  const starts = last.select({}).map((x) => x.start);
  t.equal(new Set(starts).size, starts.length, 'no window read twice');
});

t.test('retained scores with wrong-shaped records: skipped on load, every other row selectable, none dropped', async (t) => {
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  const dir = path.join(e.stateDir, 'scores');
  const ev = (i: number): ScoredEvent => plainRow(i);

  const store = new RetainedScores({ dir, maxRows: 1000, maxDays: 30 });
  store.append([ev(1), ev(2)]);
  store.close();
  const segment = path.join(
    dir,
    fs.readdirSync(dir).find((f) => f.endsWith('.jsonl'))!,
  );
  // JSON that parses, in shapes no scorer writes: a bit flip, an editor, another version
  const hostile: unknown[] = [
    { ...ev(3), host: { a: 1 } },
    { ...ev(4), score: '0.1' },
    { ...ev(5), reasons: ['x'] },
    { ...ev(6), verdict: 'evil' },
    { ...ev(7), columns: null },
    { ...ev(8), time: 1e300 },
    { ...ev(9), time: -5 },
    { ...ev(10), score: 1e308 },
    { ...ev(11), __proto__: { polluted: true }, subject: 7 },
  ];
  fs.appendFileSync(segment, hostile.map((r) => `${JSON.stringify(r)}\n`).join('') + `${JSON.stringify(ev(12))}\n`);
  await e.launch();
  const rows = await e.emu.query('SELECT id, host, score, verdict FROM anomaly_scores');
  t.same(
    rows.map((r) => r.id).sort(),
    ['r-1', 'r-12', 'r-2'],
    'the sound rows, before and after the bad ones, are selectable; an absurd time retires none of them',
  );
  t.match(e.stderr.join(''), /skipped 9 unreadable records/, 'the skipped records are counted in the log');
});

t.test('the command line refuses a state directory others could plant links in, as the extension does', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-cli-statedir-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'results.log');
  fs.writeFileSync(log, Array.from({ length: 50 }, (_, i) => line(i)).join('\n') + '\n');
  const cfg = path.join(dir, 'anomaly.json');
  fs.writeFileSync(cfg, JSON.stringify({ models: { rarity: true, ocsvm: false, lstm: false } }));
  // a shared state directory: anyone may put `subjects` there as a link to a directory of
  // their choosing, and root's train would write its files into it
  const shared = path.join(dir, 'shared');
  fs.mkdirSync(shared);
  fs.chmodSync(shared, 0o777);
  const elsewhere = path.join(dir, 'elsewhere');
  fs.mkdirSync(elsewhere);
  fs.symlinkSync(elsewhere, path.join(shared, 'subjects'));
  const r = anomaly(['train', '--log', log, '--state', shared, '--config', cfg, '--quiet']);
  t.equal(r.code, 73, `refused with EX_CANTCREAT (${r.err.trim()})`);
  t.match(r.err, /state directory .*shared is writable by everyone \(mode 777\); chmod 700 it/, 'says why and how to fix it');
  t.same(fs.readdirSync(elsewhere), [], 'nothing written through the planted link');
  const linked = path.join(dir, 'linked');
  fs.symlinkSync(elsewhere, linked);
  const viaLink = anomaly(['train', '--log', log, '--state', linked, '--config', cfg, '--quiet']);
  t.equal(viaLink.code, 73, 'a state directory named through a link is refused too');
  t.match(viaLink.err, /is a symbolic link/, 'and says so');
  const own = path.join(dir, 'own');
  const ok = anomaly(['train', '--log', log, '--state', own, '--config', cfg, '--quiet']);
  t.equal(ok.code, 0, `a state directory of its own is used (${ok.err.trim()})`);
  t.equal(fs.statSync(own).mode & 0o777, 0o700, 'created 0700, as the extension makes it');
});

t.test('a state or report directory inside one another user owns, or can write to, is refused: they could swap it for a link mid-run', async (t) => {
  // root's `anomaly train --state /home/eve/st`: the state directory itself is root's (made
  // 0700), but eve owns the directory it is named in, and may rename it away and put a link
  // in its place at any time after the check: train then went on writing its subjects,
  // windows and extractor into the directory the link names (seen with a 16k-line log and
  // the swap made once `subjects/` appeared). What is looked up on the way must be root's or
  // the user's own, and writable by no one else (a sticky directory such as /tmp may be, for
  // names the user owns)
  if (process.getuid?.() !== 0) {
    t.comment('not root: no directory to give to another user');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-state-parent-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'results.log');
  fs.writeFileSync(log, Array.from({ length: 50 }, (_, i) => line(i)).join('\n') + '\n');
  const cfg = path.join(dir, 'anomaly.json');
  fs.writeFileSync(cfg, JSON.stringify({ models: { rarity: true, ocsvm: false, lstm: false } }));
  const eve = path.join(dir, 'eve');
  fs.mkdirSync(eve, { mode: 0o755 });
  fs.chownSync(eve, 65534, 65534);
  const r = anomaly(['train', '--log', log, '--state', path.join(eve, 'st'), '--config', cfg, '--quiet']);
  t.equal(r.code, 73, `refused with EX_CANTCREAT (${r.err.trim()})`);
  t.match(r.err, /eve is owned by uid 65534/, 'names the directory and its owner');
  t.same(fs.readdirSync(eve), [], 'nothing made in it');
  // the same reached through a link of root's
  fs.symlinkSync(eve, path.join(dir, 'to-eve'));
  const viaLink = anomaly(['train', '--log', log, '--state', path.join(dir, 'to-eve', 'st'), '--config', cfg, '--quiet']);
  t.equal(viaLink.code, 73, 'through a link to it too');
  t.match(viaLink.err, /eve is owned by uid 65534/);
  // root's own, but its group may write there
  const group = path.join(dir, 'group');
  fs.mkdirSync(group);
  fs.chmodSync(group, 0o775);
  const g = anomaly(['train', '--log', log, '--state', path.join(group, 'st'), '--config', cfg, '--quiet']);
  t.equal(g.code, 73, 'a directory its group may write to');
  t.match(g.err, /group is writable by its group \(mode 775\)/);
  // the report goes through the same check
  const rep = anomaly(['report', '--out', path.join(eve, 'report'), '--state', path.join(dir, 'own'), '--config', cfg]);
  t.equal(rep.code, 73, `report --out there is refused (${rep.err.trim()})`);
  t.same(fs.readdirSync(eve), [], 'nothing made in it');
  // eval's window listing (review10): it opened the path given for writing, following a link
  // eve put there, so root's `anomaly eval --out /home/eve/w.jsonl` truncated and wrote the
  // file her link named
  const victim = path.join(dir, 'victim');
  fs.writeFileSync(victim, 'root:x:0:0\n');
  fs.symlinkSync(victim, path.join(eve, 'w.jsonl'));
  const listing = anomaly(['eval', '--train', log, '--test', log, '--unit', 'window', '--quiet', '--out', path.join(eve, 'w.jsonl')]);
  t.equal(listing.code, 73, `eval --out there is refused (${listing.err.trim()})`);
  t.match(listing.err, /eve is owned by uid 65534/);
  t.equal(fs.readFileSync(victim, 'utf8'), 'root:x:0:0\n', 'the file her link names is untouched');
  fs.unlinkSync(path.join(eve, 'w.jsonl'));
  // where it may write, the listing is its reader's alone, as the report is (it was 0644, and an
  // earlier listing's mode stayed)
  const own = path.join(dir, 'w.jsonl');
  fs.writeFileSync(own, '', { mode: 0o666 });
  fs.chmodSync(own, 0o666);
  // (this log has no labels, so the evaluation itself stops after the listing is opened)
  anomaly(['eval', '--train', log, '--test', log, '--unit', 'window', '--quiet', '--out', own]);
  t.equal(fs.statSync(own).mode & 0o777, 0o600, 'the window listing is 0600');
  // a sticky directory anyone may write to (/tmp) is fine for names of root's own
  const sticky = path.join(dir, 'sticky');
  fs.mkdirSync(sticky);
  fs.chmodSync(sticky, 0o1777);
  const ok = anomaly(['train', '--log', log, '--state', path.join(sticky, 'st'), '--config', cfg, '--quiet']);
  t.equal(ok.code, 0, `a state directory of its own in a sticky directory is used (${ok.err.trim()})`);
  // and the extension checks the same
  const e = await emulated({ config: { state_dir: path.join(eve, 'ext-state') } });
  t.teardown(() => e.close());
  const child = await e.launch({ wait: false });
  const registered = await e.emu
    .waitFor('anomaly', Infinity, () => (child.exitCode !== null || child.signalCode !== null ? 'exited' : null))
    .then(
      () => true,
      () => false,
    );
  t.notOk(registered, 'the extension does not register');
  if (registered) return;
  t.same(await exited(child), { code: 73, signal: null }, 'it exits with EX_CANTCREAT');
  t.match(e.stderr.join(''), /eve is owned by uid 65534/, 'and says why');
  t.same(fs.readdirSync(eve), [], 'nothing made in it');
});

t.test('a config file others can write is refused: it decides what root watches and where it writes', async (t) => {
  const e = await emulated();
  t.teardown(() => e.close());
  const cfg = e.env.ANOMALY_CONFIG!;
  fs.chmodSync(cfg, 0o666);
  const child = await e.launch({ wait: false });
  const exit = await exited(child);
  t.same(exit, { code: 78, signal: null }, 'the extension exits with EX_CONFIG');
  t.match(e.stderr.join(''), /anomaly\.json: not used: .*anomaly\.json is writable by everyone \(mode 666\); chmod o-w it/, 'and says why');
  t.same(e.emu.registered(), [], 'it never registered');
  const log = path.join(e.dir, 'results.log');
  fs.writeFileSync(log, `${line(1)}\n`);
  const r = anomaly(['train', '--log', log, '--state', path.join(e.dir, 'cli-state'), '--config', cfg, '--quiet']);
  t.equal(r.code, 78, `the command line refuses it too (${r.err.trim()})`);
  fs.chmodSync(cfg, 0o644);
  await e.launch();
  t.equal(e.emu.registered().length, 1, 'with mode 644 the extension starts');
});

t.test('a results log another user can write is not learnt from: train and score refuse it, as the config and the fleet prior', async (t) => {
  // root's `anomaly train --log` learnt whatever the file held: a log everyone may write, one
  // a user owns, or one in a directory they could swap it in was theirs to fill with their own
  // rows (a backdoor's connections, their tools) for every account's normal
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-hostile-input-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cfg = path.join(dir, 'anomaly.json');
  fs.writeFileSync(cfg, JSON.stringify({ learning: { min_events: 10, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false } }), { mode: 0o600 });
  const rows = Array.from({ length: 40 }, (_, i) => line(i)).join('\n') + '\n';
  const loose = path.join(dir, 'everyone.log');
  fs.writeFileSync(loose, rows);
  fs.chmodSync(loose, 0o666);
  const theirs = path.join(dir, 'theirs.log');
  fs.writeFileSync(theirs, rows, { mode: 0o644 });
  fs.chownSync(theirs, 1000, 1000);
  const shared = path.join(dir, 'shared');
  fs.mkdirSync(shared);
  fs.chmodSync(shared, 0o777);
  const swappable = path.join(shared, 'results.log');
  fs.writeFileSync(swappable, rows, { mode: 0o644 });
  const state = path.join(dir, 'state');
  for (const [file, why] of [
    [loose, /everyone\.log is writable by everyone \(mode 666\); chmod o-w it/],
    [theirs, /theirs\.log is owned by uid 1000, neither root nor the user reading it/],
    [swappable, /shared is writable by everyone \(mode 777\), who could replace what is in it/],
  ] as const) {
    for (const command of ['train', 'score']) {
      const r = anomaly([command, '--log', file, '--state', state, '--config', cfg, '--quiet']);
      t.equal(r.code, 66, `${command} ${path.basename(file)}: refused (${r.err.trim()})`);
      t.match(r.err, why, `${command} ${path.basename(file)}: says why`);
      t.match(r.err, /not learnt from/);
    }
    const fleet = anomaly(['train', '--fleet', file, '--out', path.join(dir, 'fleet.json'), '--state', state, '--config', cfg, '--quiet']);
    t.equal(fleet.code, 66, `train --fleet ${path.basename(file)}: refused`);
  }
  t.notOk(fs.existsSync(state), 'no state made from them');
  fs.chmodSync(loose, 0o644);
  t.equal(anomaly(['train', '--log', loose, '--state', state, '--config', cfg, '--quiet']).code, 0, 'root’s own log, mode 644, is learnt');
});

t.test('one row dated far in the future (a host clock gone wrong, a hand-made log) retires no other row', async (t) => {
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  await e.launch();
  for (let i = 0; i < 20; i++) await e.emu.logResult('anomaly', line(i));
  const future = JSON.stringify({ ...JSON.parse(line(20)), unixTime: 253_402_300_799 });
  await e.emu.logResult('anomaly', future);
  await until(
    () => counters(e),
    (c) => c.received === 21 && c.queued === 0,
  );
  const rows = await e.emu.query('SELECT time FROM anomaly_scores');
  t.equal(rows.length, 21, 'the 20 rows before it are still retained');
});

t.test('the copies a crash leaves half written are removed at the next start, not kept for ever', async (t) => {
  // A state file is written as a copy beside it and renamed over it (state/atomic.ts): a kill
  // in the middle (osqueryd's SIGKILL 11 s after its SIGTERM while the subjects are saved, the
  // watchdog's after 4 s, a power loss) leaves the copy, up to a host baseline's 15–20 MB, and
  // nothing ever removed it: one more per such kill, until the disk is full
  const e = await emulated();
  t.teardown(() => e.close());
  const crashIn = (file: string) => {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // a real process killed in the middle of writeStateFile: its first 300 kB are written
    // when the next member is turned into JSON, which kills the process
    const script = `require(${JSON.stringify(path.join(DIST, 'state', 'atomic.js'))}).writeStateFile(${JSON.stringify(file)}, 'subject', 1, { a: 'x'.repeat(300000), b: { toJSON() { process.kill(process.pid, 'SIGKILL'); } } });`;
    const res = spawnSync(...bareNode(['-e', script]));
    t.equal(res.signal, 'SIGKILL', `killed while writing ${path.relative(e.stateDir, file)}`);
  };
  const targets = [
    path.join(e.stateDir, 'subjects', 'a.json'),
    path.join(e.stateDir, 'subjects', 'a.json'),
    path.join(e.stateDir, 'windows', 'subjects', 'b.json'),
    // a host's window baseline (branch winbase)
    path.join(e.stateDir, 'windows', 'pools', 'c.json'),
    path.join(e.stateDir, 'windows', 'open.json'),
    path.join(e.stateDir, 'queue', 'cursor.json'),
    path.join(e.stateDir, 'extractor.json'),
  ];
  fs.mkdirSync(e.stateDir, { mode: 0o700 });
  for (const file of targets) crashIn(file);
  const leftovers = () => {
    const out: string[] = [];
    const walk = (dir: string) => {
      for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
        if (d.isDirectory()) walk(path.join(dir, d.name));
        else if (/\.tmp$/.test(d.name)) out.push(path.relative(e.stateDir, path.join(dir, d.name)));
      }
    };
    walk(e.stateDir);
    return out.sort();
  };
  const left = leftovers();
  t.equal(left.length, 7, `seven copies left by the kills: ${left.join(', ')}`);
  t.ok(
    left.every((f) => fs.statSync(path.join(e.stateDir, f)).size >= 300000),
    'each holds what was written before the kill',
  );
  // something of the same name that is not a file of ours is not followed: a link goes, its target stays
  const outside = path.join(e.dir, 'outside');
  fs.writeFileSync(outside, 'keep');
  fs.symlinkSync(outside, path.join(e.stateDir, 'subjects', '.c.json.0123456789ab.tmp'));
  // and files of other names are left alone
  fs.writeFileSync(path.join(e.stateDir, 'subjects', 'notes.tmp'), 'mine');
  await e.launch();
  t.same(leftovers(), ['subjects/notes.tmp'], 'the copies are gone once the extension has started');
  t.equal(fs.readFileSync(outside, 'utf8'), 'keep', 'the target of a link named like a copy is untouched');
  t.match(e.stderr.join(''), /removed 8 copies .*left by a stop in the middle of a save/, 'and it says so');
  for (let i = 0; i < 5; i++) await e.emu.logResult('anomaly', line(i));
  await until(
    () => e.emu.query('SELECT id FROM anomaly_scores'),
    (r) => r.length === 5,
  );
  t.pass('and scores as usual');
});
