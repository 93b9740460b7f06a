import t from 'tap';
import { parseFlags, UsageError, type FlagSpec } from '../cli/flags';

// The CLI's own argument parsing: every command declares its flags, anything else is a
// usage error naming the flag.

const SPEC: Record<string, FlagSpec> = { quiet: { kind: 'bool' }, out: { kind: 'value' }, log: { kind: 'many' } };

t.test('values, booleans and the --x=v form', async (t) => {
  t.same(parseFlags(['--out', 'dir', '--quiet'], SPEC), { flags: { out: 'dir', quiet: true }, rest: [] });
  t.same(parseFlags(['--out=a=b'], SPEC).flags, { out: 'a=b' }, 'only the first = splits');
  t.same(parseFlags(['--out='], SPEC).flags, { out: '' }, 'an explicit empty value');
  t.same(parseFlags(['id', '--quiet', 'normal'], SPEC, 2), { flags: { quiet: true }, rest: ['id', 'normal'] }, 'positional words stay in order');
  t.same(parseFlags(['--out', 'a', '--out', 'b'], SPEC).flags, { out: 'b' }, 'a repeated value flag: the last wins');
});

t.test('a many-valued flag takes the words after it, and repeats add up', async (t) => {
  t.same(parseFlags(['--log', 'a.log', 'b.log', '--quiet', 'c'], SPEC, 1), { flags: { log: ['a.log', 'b.log'], quiet: true }, rest: ['c'] });
  t.same(parseFlags(['--log', 'a', '--log=b', '--log', 'c', 'd'], SPEC).flags, { log: ['a', 'b', 'c', 'd'] });
  t.same(parseFlags(['--log=a', 'b'], SPEC, 1), { flags: { log: ['a'] }, rest: ['b'] }, '--log=x takes exactly one');
});

t.test('usage errors name the flag', async (t) => {
  t.throws(() => parseFlags(['--bogus'], SPEC), new UsageError('unknown flag --bogus'));
  t.throws(() => parseFlags(['--bogus=1'], SPEC), new UsageError('unknown flag --bogus'));
  // names every object has are not flags either: the spec was indexed as a plain object, and
  // `train --constructor x` was taken (and ignored), `--toString` asked for a value
  for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty'])
    t.throws(() => parseFlags([`--${name}`, 'x'], SPEC), new UsageError(`unknown flag --${name}`), `--${name}`);
  t.throws(() => parseFlags(['--quiet=yes'], SPEC), new UsageError('--quiet takes no value'));
  t.throws(() => parseFlags(['--out'], SPEC), new UsageError('--out needs a value'));
  t.throws(() => parseFlags(['--out', '--quiet'], SPEC), new UsageError('--out needs a value'), 'a flag is not a value');
  t.throws(() => parseFlags(['--log'], SPEC), new UsageError('--log needs a value'));
  t.type(
    catchError(() => parseFlags(['--x'], {})),
    UsageError,
    'a UsageError, which the CLI exits 64 on',
  );
});

t.test('an unknown flag names the declared one it most likely meant', async (t) => {
  const spec: Record<string, FlagSpec> = {
    socket: { kind: 'value' },
    state: { kind: 'value' },
    config: { kind: 'value' },
    'fail-on-bad': { kind: 'bool' },
    log: { kind: 'many' },
  };
  const meant = (flag: string) => (catchError(() => parseFlags([flag, 'x'], spec)) as Error).message;
  // a typo: one letter left out, added, changed, or two swapped
  t.equal(meant('--sockt'), 'unknown flag --sockt; did you mean --socket?');
  t.equal(meant('--lgo'), 'unknown flag --lgo; did you mean --log?');
  t.equal(meant('--confg'), 'unknown flag --confg; did you mean --config?');
  // osquery's spelling of the same setting: its flags use underscores and longer names
  t.equal(meant('--extensions_socket'), 'unknown flag --extensions_socket; did you mean --socket?');
  t.equal(meant('--state_dir'), 'unknown flag --state_dir; did you mean --state?');
  t.equal(meant('--config_path'), 'unknown flag --config_path; did you mean --config?');
  t.equal(meant('--fail_on_bad'), 'unknown flag --fail_on_bad; did you mean --fail-on-bad?');
  // nothing near: no guess
  t.equal(meant('--bogus'), 'unknown flag --bogus');
  t.equal(meant('--logger_plugin'), 'unknown flag --logger_plugin', 'a word of it is no flag of ours');
  t.equal(meant('--x'), 'unknown flag --x');
});

t.test('a word the command does not take is a usage error, not ignored', async (t) => {
  // `anomaly status -socket /x` (osqueryi's single dash) asked the default socket; `anomaly
  // report stray` ignored the word
  t.throws(() => parseFlags(['-out', 'dir'], SPEC), new UsageError('unknown flag -out; did you mean --out?'));
  t.throws(() => parseFlags(['-out=dir'], SPEC), new UsageError('unknown flag -out; did you mean --out?'));
  t.throws(() => parseFlags(['-bogus'], SPEC), new UsageError('unknown flag -bogus'));
  t.throws(() => parseFlags(['--quiet', 'stray'], SPEC), new UsageError('unexpected argument "stray"'));
  t.throws(() => parseFlags(['a', 'b', 'c'], SPEC, 2), new UsageError('unexpected argument "c"'));
  t.same(parseFlags(['--out', '-x'], SPEC).flags, { out: '-x' }, "a value may start with '-'");
});

function catchError(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  return null;
}
