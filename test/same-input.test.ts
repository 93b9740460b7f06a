import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t, { type Test } from 'tap';
import { anomaly } from './helpers/cli';
import { JUMPVM_LOG } from './helpers/paths';

// The same file named twice in one command (`--log a.log --log a.log`, `./a.log` and `a.log`,
// a link or a hard link to it) was read twice: `train` learnt each of its rows twice (a
// routine counted double toward what is normal) and `score` scored and printed each twice. A
// file is now known by the device and inode of what its check opened, read once, and the
// repeat said on stderr.

t.setTimeout(600_000);

/** a folder with the jumpvm log split in two (train.log, score.log), a link and a hard link to each, and a config */
function inputs(t: Test): { dir: string; cfg: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-same-input-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const lines = fs.readFileSync(JUMPVM_LOG, 'utf8').split('\n').filter(Boolean);
  const cut = Math.floor(lines.length * 0.75);
  for (const [name, part] of [
    ['train.log', lines.slice(0, cut)],
    ['score.log', lines.slice(cut)],
  ] as const) {
    fs.writeFileSync(path.join(dir, name), part.join('\n') + '\n', { mode: 0o644 });
    fs.symlinkSync(name, path.join(dir, `${name}.link`));
    fs.linkSync(path.join(dir, name), path.join(dir, `${name}.hard`));
  }
  const cfg = path.join(dir, 'anomaly.json');
  fs.writeFileSync(cfg, JSON.stringify({ learning: { min_events: 20, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false } }));
  return { dir, cfg };
}

t.test('train: a file named twice, as a link or a hard link is learnt once, and the repeat is said', async (t) => {
  const { dir, cfg } = inputs(t);
  const f = path.join(dir, 'train.log');
  const once = anomaly(['train', '--log', f, '--state', path.join(dir, 'once'), '--config', cfg, '--quiet']);
  t.equal(once.code, 0, `trained once (${once.err.trim()})`);
  const learned = (out: string) => /^learned .*? lines/m.exec(out)?.[0];
  t.match(learned(once.out), /^learned [\d,]+ rows from [\d,]+ lines$/, 'says what it learnt');
  const names = [f, f, `${dir}/./train.log`, path.join(dir, 'train.log.link'), path.join(dir, 'train.log.hard')];
  const many = anomaly(['train', ...names.flatMap((n) => ['--log', n]), '--state', path.join(dir, 'many'), '--config', cfg, '--quiet']);
  t.equal(many.code, 0, `trained with the file named five ways (${many.err.trim()})`);
  t.equal(learned(many.out), learned(once.out), 'learnt the same rows from the same lines: the file was read once');
  const repeats = many.err.split('\n').filter((l) => / is .* again \(the same file: device \d+, inode \d+\): read once$/.test(l));
  t.equal(repeats.length, 4, 'each repeat said on stderr, --quiet or not');
  t.match(many.err, `warn: ${path.join(dir, 'train.log.link')} is ${f} again`, 'a link named as the file it leads to');
  t.match(many.err, `warn: ${path.join(dir, 'train.log.hard')} is ${f} again`, 'a hard link too');
});

t.test('score: a file named twice is scored once, and the repeat is said', async (t) => {
  const { dir, cfg } = inputs(t);
  const state = path.join(dir, 'state');
  const trained = anomaly(['train', '--log', path.join(dir, 'train.log'), '--state', state, '--config', cfg, '--quiet']);
  t.equal(trained.code, 0, `trained (${trained.err.trim()})`);
  // two copies of the trained state, so that the second command does not find the first's rows retained
  fs.cpSync(state, path.join(dir, 'state2'), { recursive: true });
  const f = path.join(dir, 'score.log');
  const rowsOf = (out: string) => out.split('\n').filter(Boolean).length;
  const once = anomaly(['score', '--log', f, '--state', state, '--config', cfg, '--quiet']);
  t.ok(once.code === 0 || once.code === 1, `scored once (${once.err.trim()})`);
  t.ok(rowsOf(once.out) > 10, `rows printed (${rowsOf(once.out)})`);
  const twice = anomaly([
    'score',
    '--log',
    f,
    '--log',
    path.join(dir, 'score.log.link'),
    '--log',
    path.join(dir, 'score.log.hard'),
    '--state',
    path.join(dir, 'state2'),
    '--config',
    cfg,
    '--quiet',
  ]);
  t.equal(twice.code, once.code, `scored with the file named three ways (${twice.err.trim()})`);
  t.equal(rowsOf(twice.out), rowsOf(once.out), 'each row scored and printed once');
  t.equal(twice.err.split('\n').filter((l) => / again \(the same file: .*\): read once$/.test(l)).length, 2, 'the two repeats said');
});
