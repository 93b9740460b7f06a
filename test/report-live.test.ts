import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { RetainedScores } from '../state/scores';
import { RetainedWindows } from '../state/windows';
import type { ScoredEvent, ScoredWindow } from '../scorer/types';
import { anomaly } from './helpers/cli';
import { smallDisk } from './helpers/disk';

// 'anomaly report' reads the retained scores and windows of the state directory, most often
// while the extension runs and keeps appending to them. It must only read: opening the
// stores compacted windows.jsonl (a new file renamed over it) when retention had dropped
// records, and the extension's windows then went on being appended to the old, unlinked file.

const T0 = 1_790_000_000;

function window(i: number): ScoredWindow {
  return {
    subject: 'alice',
    host: 'h',
    start: T0 + i * 600,
    end: T0 + (i + 1) * 600,
    events: 3,
    score: 0.9,
    verdict: 'good',
    model: 'mix',
    reasons: 'usual',
    top_ids: '[]',
  };
}

function event(i: number): ScoredEvent {
  return {
    id: `id-${i}`,
    time: T0 + i,
    host: 'h',
    subject: 'alice',
    query: 'q',
    action: 'added',
    event: 'e',
    score: 0.9,
    verdict: 'good',
    model: 'rarity',
    reasons: 'usual',
    columns: '{}',
  };
}

t.test('a report made while the extension runs leaves its retained windows and scores as they are', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-report-live-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const state = path.join(dir, 'state');
  fs.mkdirSync(state, { mode: 0o700 });
  const config = path.join(dir, 'anomaly.json');
  fs.writeFileSync(config, JSON.stringify({ state_dir: state, retention: { max_rows: 1000, max_days: 30 } }), { mode: 0o600 });
  const retention = { maxRows: 1000, maxDays: 30 };
  // the extension's stores, open as they are while it runs
  const scores = new RetainedScores({ dir: path.join(state, 'scores'), ...retention });
  const windows = new RetainedWindows({ dir: path.join(state, 'window-scores'), ...retention });
  scores.append(Array.from({ length: 10 }, (_, i) => event(i)));
  // 1,010 windows, 1,000 retained: the file holds the 10 dropped ones until the extension compacts it
  windows.append(Array.from({ length: 1010 }, (_, i) => window(i)));
  const r = anomaly(['report', '--config', config, '--out', path.join(dir, 'report'), '--quiet']);
  t.equal(r.code, 0, r.err);
  // the extension goes on: five more windows close
  windows.append(Array.from({ length: 5 }, (_, i) => window(1010 + i)));
  windows.close();
  scores.close();
  const again = new RetainedWindows({ dir: path.join(state, 'window-scores'), ...retention });
  t.same(
    again
      .select({})
      .map((w) => (w.start - T0) / 600)
      .sort((a, b) => a - b),
    Array.from({ length: 1000 }, (_, i) => 15 + i),
    'after a restart: the newest 1,000 windows, those closed after the report too',
  );
  again.close();
});

t.test('a report of a state directory without retained scores says so and creates nothing there', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-report-empty-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const state = path.join(dir, 'state');
  fs.mkdirSync(state, { mode: 0o700 });
  const config = path.join(dir, 'anomaly.json');
  fs.writeFileSync(config, JSON.stringify({ state_dir: state }), { mode: 0o600 });
  const r = anomaly(['report', '--config', config, '--out', path.join(dir, 'report'), '--quiet']);
  t.equal(r.code, 66, `no input: ${r.err.trim()}`);
  t.match(r.err, /no retained scores/);
  t.same(fs.readdirSync(state), [], 'no scores/ or window-scores/ made by a reader');
  // the --out folder was made before the state was read: each refusal left an empty one behind
  t.notOk(fs.existsSync(path.join(dir, 'report')), 'no report, so no --out folder');
  fs.rmSync(path.join(dir, 'report'), { recursive: true, force: true });
  // a mistyped --state: not made either (as root, wherever it pointed)
  const typo = path.join(dir, 'stat');
  const m = anomaly(['report', '--config', config, '--state', typo, '--out', path.join(dir, 'report'), '--quiet']);
  t.equal(m.code, 66, m.err.trim());
  t.notOk(fs.existsSync(typo), 'the state directory a mistyped --state names is not created');
  t.notOk(fs.existsSync(path.join(dir, 'report')), 'nor the --out folder of a report not written');
});

t.test('a report of a state directory with a corrupt subject file says so and leaves the file where it is', async (t) => {
  // report opened the subjects as the extension does, which moves a corrupt file to
  // quarantine/: a read-only command changed the state directory of a running extension
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-report-corrupt-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const state = path.join(dir, 'state');
  fs.mkdirSync(state, { mode: 0o700 });
  const config = path.join(dir, 'anomaly.json');
  fs.writeFileSync(config, JSON.stringify({ state_dir: state, models: { lstm: false } }), { mode: 0o600 });
  const scores = new RetainedScores({ dir: path.join(state, 'scores'), maxRows: 1000, maxDays: 30 });
  scores.append(Array.from({ length: 10 }, (_, i) => event(i)));
  scores.close();
  const subjects = path.join(state, 'subjects');
  fs.mkdirSync(subjects, { mode: 0o700 });
  const corrupt = path.join(subjects, 'alice@h.json');
  fs.writeFileSync(corrupt, '{"format":"anomaly-ext-state","kind":"subject","version":1,"payload":{"na', { mode: 0o600 });
  const before = fs.readdirSync(state).sort();
  const r = anomaly(['report', '--config', config, '--out', path.join(dir, 'report')]);
  t.equal(r.code, 0, r.err);
  t.ok(fs.existsSync(corrupt), 'the corrupt file is where it was');
  t.same(fs.readdirSync(subjects), ['alice@h.json'], 'nothing moved or added in subjects/');
  t.same(fs.readdirSync(state).sort(), before, 'nothing added to the state directory');
  t.match(r.err, /alice@h\.json: corrupt .*left in place/, `says which file and that it is left: ${r.err.trim()}`);
  t.notMatch(r.err, /moved to|starts learning again/, 'and nothing about moving it or learning again');
  const html = fs.readFileSync(path.join(dir, 'report', 'index.html'), 'utf8');
  t.match(html, /alice@h\.json/, 'the report names the file it could not read');
});

t.test('a report of a state directory on a read-only mount (a snapshot, a forensic copy) is made, as it only reads', async (t) => {
  // `report` writes nothing in the state directory, yet it was refused there as "not
  // writable (EROFS)", exit 73: a state kept for review on a read-only mount could not be reported
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-report-ro-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const state = path.join(dir, 'state');
  const unmount = smallDisk(state, '16m');
  if (!unmount) {
    t.comment('this machine does not allow mounting a tmpfs: no read-only mount to try');
    return;
  }
  t.teardown(unmount);
  const config = path.join(dir, 'anomaly.json');
  fs.writeFileSync(
    config,
    JSON.stringify({ state_dir: state, learning: { min_events: 100, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false } }),
    { mode: 0o600 },
  );
  const log = path.join(dir, 'results.log');
  fs.writeFileSync(
    log,
    Array.from({ length: 300 }, (_, i) =>
      JSON.stringify({
        name: 'q',
        hostIdentifier: 'h',
        unixTime: T0 + i * 60,
        action: 'added',
        columns: { pid: String(i), path: `/usr/bin/tool${i % 4}`, auid: '1000' },
      }),
    ).join('\n') + '\n',
  );
  t.equal(anomaly(['train', '--log', log, '--config', config, '--quiet']).code, 0, 'trained');
  t.equal(anomaly(['score', '--log', log, '--config', config, '--quiet']).code, 0, 'scored into the state directory');
  execFileSync('mount', ['-o', 'remount,ro', state]);
  const r = anomaly(['report', '--config', config, '--out', path.join(dir, 'report'), '--quiet']);
  t.equal(r.code, 0, `the report is made (${r.err.trim()})`);
  t.ok(fs.readFileSync(path.join(dir, 'report', 'index.html'), 'utf8').includes('300 retained rows'), 'of the 300 rows');
  // what it refuses in a writable one, it refuses there too: trust is not writability
  const linked = path.join(dir, 'linked');
  fs.symlinkSync(state, linked);
  const viaLink = anomaly(['report', '--config', config, '--state', linked, '--out', path.join(dir, 'report2'), '--quiet']);
  t.equal(viaLink.code, 73, 'a state directory named through a link is still refused');
});
