import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { DIST, JUMPVM_LOG, WORKSTATION_EXPORT } from './helpers/paths';

const CLI = path.join(DIST, 'cli', 'main.js');
function anomaly(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ANOMALY_CONFIG: '', ...env }, timeout: 240_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

t.test('help and usage errors follow Unix conventions', async (t) => {
  const help = anomaly(['--help']);
  t.equal(help.code, 0);
  for (const c of ['demo', 'train', 'score', 'eval', 'report', 'status', 'feedback']) t.match(help.out, new RegExp(`\\n  ${c} `), `--help lists ${c}`);
  t.match(anomaly(['eval', '--help']).out, /--train FILE/);
  const unknown = anomaly(['frobnicate']);
  t.equal(unknown.code, 64, 'unknown command: EX_USAGE');
  t.match(unknown.err, /unknown command "frobnicate"/);
  t.equal(anomaly(['score', '--log']).code, 64, 'a flag without its value');
  t.equal(anomaly(['score', '--bogus', 'x']).code, 64);
});

t.test('train and score on real logs, and errors that name the file', async (t) => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-cli-'));
  t.teardown(() => fs.rmSync(state, { recursive: true, force: true }));
  const cfg = path.join(state, 'anomaly.json');
  fs.writeFileSync(cfg, JSON.stringify({ learning: { min_events: 150, min_days: 0 }, models: { rarity: true, ocsvm: true, lstm: false } }));
  const trained = anomaly(['train', '--log', WORKSTATION_EXPORT, '--state', state, '--config', cfg, '--quiet']);
  t.equal(trained.code, 0, trained.err);
  t.match(trained.out, /learned 1,741 rows/);
  t.ok(fs.readdirSync(path.join(state, 'subjects')).length > 0, 'models saved in the state directory');
  const scored = anomaly(['score', '--log', JUMPVM_LOG, '--state', state, '--config', cfg, '--quiet']);
  t.equal(scored.code, 0, scored.err);
  const rows = scored.out.trim().split('\n').map((l) => JSON.parse(l));
  t.equal(rows.length, 266, 'one JSON line per row');
  t.ok(rows.every((r) => 'score' in r && 'verdict' in r && 'reasons' in r));
  const table = anomaly(['score', '--log', JUMPVM_LOG, '--state', state, '--config', cfg, '--format', 'table', '--only', 'bad', '--quiet']);
  t.match(table.out, /\| time +\| subject +\|/, 'an osqueryi-style table');

  const missing = anomaly(['score', '--log', '/nonexistent.log', '--state', state, '--config', cfg]);
  t.equal(missing.code, 66, 'a missing file: EX_NOINPUT');
  t.match(missing.err, /\/nonexistent\.log: no such file/);
  const csv = path.join(state, 'dev_labelled.csv');
  fs.writeFileSync(csv, ['Sequence,label', '5 5 22 11 9,0', '5 22 7 11,1', '5 5 9 26,0', '22 5 11 9 26,0', '5 26 26 11,1'].join('\n') + '\n');
  const notOsquery = anomaly(['train', '--log', csv, '--state', state, '--config', cfg]);
  t.equal(notOsquery.code, 65, 'not osquery output: EX_DATAERR');
  t.match(notOsquery.err, /dev_labelled\.csv: line 1: not osquery results output/);
  fs.writeFileSync(cfg, JSON.stringify({ learning: { min_event: 3 } }));
  const badConfig = anomaly(['train', '--log', JUMPVM_LOG, '--state', state, '--config', cfg]);
  t.equal(badConfig.code, 78, 'a bad config: EX_CONFIG');
  t.match(badConfig.err, /learning\.min_event: unknown key/);
});

t.test('eval --json ends with one JSON object of metrics', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-eval-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const normal = (i: number) => Array.from({ length: 12 }, (_, j) => String((j % 4) + 1 + (i % 2) * 4)).join(' ');
  fs.writeFileSync(path.join(dir, 'train.txt'), Array.from({ length: 400 }, (_, i) => normal(i)).join('\n') + '\n');
  const test = ['Sequence,label', ...Array.from({ length: 100 }, (_, i) => `${normal(i)},0`), ...Array.from({ length: 20 }, (_, i) => `${normal(i).split(' ').map((k, j) => (j === 5 ? '9' : k)).join(' ')},1`)];
  fs.writeFileSync(path.join(dir, 'test.csv'), test.join('\n') + '\n');
  const r = anomaly(['eval', '--train', path.join(dir, 'train.txt'), '--test', path.join(dir, 'test.csv'), '--json', '--models', 'rarity,ocsvm', '--quiet']);
  t.equal(r.code, 0, r.err);
  const last = JSON.parse(r.out.trim().split('\n').at(-1)!);
  for (const k of ['precision', 'recall', 'f1', 'fpr', 'auc', 'n']) t.type(last[k], 'number', k);
  t.equal(last.n, 120);
  t.ok(last.recall >= 0.9, `an unseen key in a session is found (recall ${last.recall})`);
  t.ok(last.fpr <= 0.02, `normal sessions stay below the line (fpr ${last.fpr})`);
});

t.test('eval on labelled osquery results: the demo stories, trained on the days before', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-eval-osq-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const split = anomaly(['demo', '--eval-split', '--days', '8', '--out', dir]);
  t.equal(split.code, 0, split.err);
  const test = fs.readFileSync(path.join(dir, 'test.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  t.ok(test.every((l) => l.label === 'normal' || l.label === 'anomalous'), 'every test line is labelled');
  t.notOk(fs.readFileSync(path.join(dir, 'train.log'), 'utf8').includes('"label"'), 'training lines are not');
  const r = anomaly(['eval', '--train', path.join(dir, 'train.log'), '--test', path.join(dir, 'test.log'), '--json', '--models', 'rarity,ocsvm', '--quiet']);
  t.equal(r.code, 0, r.err);
  const m = JSON.parse(r.out.trim().split('\n').at(-1)!);
  t.equal(m.kind, 'osquery');
  t.equal(m.anomalies, test.filter((l) => l.label === 'anomalous').length, 'every labelled row is a unit');
  t.ok(m.recall >= 0.75, `the stories' rows score below 0.3 (recall ${m.recall})`);
  t.ok(m.auc >= 0.9, `and rank below the day's normal rows (AUC ${m.auc})`);
  t.ok(Object.keys(m.per_type).length >= 5, 'recall per query');
});

t.test('every friction point is one clear line with its sysexits code', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-cli-friction-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const state = path.join(dir, 'state');
  const cfg = path.join(dir, 'anomaly.json');
  fs.writeFileSync(cfg, JSON.stringify({ learning: { min_events: 150, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false } }));
  const oneLine = (r: { err: string }, what: string) => t.equal(r.err.trim().split('\n').length, 1, `${what}: one line (${r.err.trim()})`);
  const cases: Array<[string, string[], number, RegExp]> = [
    ['score before train', ['score', '--log', JUMPVM_LOG], 66, /no trained model in .*; train first with: anomaly train --log FILE/],
    ['--only with a made-up verdict', ['score', '--log', JUMPVM_LOG, '--only', 'terrible'], 64, /--only: unknown verdict "terrible" \(bad, ugly, good, learning\)/],
    ['a directory', ['train', '--log', dir], 66, /is a directory; name the results logs in it/],
    ['a binary file', ['train', '--log', path.join(dir, 'binary.log')], 65, /binary data, not osquery results output/],
    ['a fake .gz', ['train', '--log', path.join(dir, 'fake.log.gz')], 65, /named \.gz but not gzip data/],
    ['a missing --config', ['train', '--log', JUMPVM_LOG, '--config', path.join(dir, 'none.json')], 66, /none\.json: no such config file/],
    ['an invalid enum', ['train', '--log', JUMPVM_LOG, '--config', path.join(dir, 'enum.json')], 78, /log_level: must be one of "debug", "info", "warn", "error"/],
    ['eval --config with bad JSON', ['eval', '--train', JUMPVM_LOG, '--test', JUMPVM_LOG, '--config', path.join(dir, 'bad.json')], 78, /bad\.json: not valid JSON/],
    ['report --out onto a file', ['report', '--out', cfg], 73, /cannot write the report into .*anomaly\.json: .* is not a directory/],
    ['report --out under /proc', ['report', '--out', '/proc/anomaly-report-test'], 73, /cannot write the report into \/proc\/anomaly-report-test: cannot create/],
  ];
  fs.writeFileSync(path.join(dir, 'binary.log'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0x1b, 0x5b, 0x32, 0x4a]));
  fs.writeFileSync(path.join(dir, 'fake.log.gz'), '{"name":"q"}\n');
  fs.writeFileSync(path.join(dir, 'enum.json'), JSON.stringify({ log_level: 'loud' }));
  fs.writeFileSync(path.join(dir, 'bad.json'), '{"models": {');
  for (const [what, args, code, message] of cases) {
    // eval has no state; the others get this test's state, and its config unless the case names one
    const r = anomaly(args[0] === 'eval' ? args : [...args, '--state', state, ...(args.includes('--config') ? [] : ['--config', cfg])]);
    t.equal(r.code, code, `${what}: exit ${code}`);
    t.match(r.err, message, what);
    oneLine(r, what);
    // eslint-disable-next-line no-control-regex
    t.notMatch(r.err, /[\x00-\x08\x0b-\x1f]/, `${what}: no control bytes reach the terminal`);
  }

  const first = anomaly(['train', '--log', JUMPVM_LOG, '--state', state, '--config', cfg]);
  t.equal(first.code, 0, first.err);
  t.match(first.err, /training models: 1 of 1/, 'train progress reaches 1 of 1');
  const again = anomaly(['train', '--log', JUMPVM_LOG, '--state', state, '--config', cfg, '--quiet']);
  t.equal(again.code, 65, 'the same log again: nothing new, EX_DATAERR');
  t.match(again.err, /all 266 rows were already learned \(same host, query and time/);
  oneLine(again, 'the same log again');
});

t.test('demo --end pins the stream to a day, whatever day it runs', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-demo-end-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const a = anomaly(['demo', '--eval-split', '--days', '4', '--end', '2026-11-20', '--out', path.join(dir, 'a')]);
  t.equal(a.code, 0, a.err);
  const test = fs.readFileSync(path.join(dir, 'a', 'test.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  t.ok(test.every((l) => l.unixTime >= Date.UTC(2026, 10, 20) / 1000 && l.unixTime < Date.UTC(2026, 10, 21) / 1000), 'the last day is the one named');
  const b = anomaly(['demo', '--eval-split', '--days', '4', '--end', '2026-11-20', '--out', path.join(dir, 'b')]);
  t.equal(b.code, 0, b.err);
  for (const f of ['train.log', 'test.log']) t.equal(fs.readFileSync(path.join(dir, 'a', f), 'utf8'), fs.readFileSync(path.join(dir, 'b', f), 'utf8'), `${f}: the same bytes`);
  const bad = anomaly(['demo', '--end', '2026-02-30']);
  t.equal(bad.code, 64, 'a date that does not exist: EX_USAGE');
  t.match(bad.err, /--end must be a date as YYYY-MM-DD, not "2026-02-30"/);
});
