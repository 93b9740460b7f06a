import { spawnSync } from 'child_process';
import * as path from 'path';
import t from 'tap';
import { bareNode } from './helpers/bare-node';
import { DIST } from './helpers/paths';

// `npm run bench -- PART [OPTIONS]` as a user types it (issue 10, "Bench usability"): the help
// lists the parts, and what is not a part or not one of the part's options is a usage error
// (exit 64, one line saying what is wrong), before anything is measured.

function bench(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(...bareNode(['--expose-gc', path.join(DIST, 'bench', 'run.js'), ...args]), {
    encoding: 'utf8',
    timeout: 600_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

t.test('--help lists the parts; an unknown part exits 64', async (t) => {
  const help = bench(['--help']);
  t.equal(help.code, 0);
  t.match(help.out, /Parts:\n(.|\n)*watchdog/);
  const unknown = bench(['nosuch']);
  t.equal(unknown.code, 64);
  t.match(unknown.err, /unknown part "nosuch"/);
});

t.test('an option the part does not have exits 64 before it runs, naming the options it has', async (t) => {
  // a typo of --against: the part ran without it, a whole measurement against nothing
  const typo = bench(['scoring', '--againts', '/tmp/base/dist']);
  t.equal(typo.code, 64, `exit ${typo.code}`);
  t.match(typo.err, /scoring has no option --againts.*--against/);
  t.notMatch(typo.out, /Scoring throughput/, 'nothing was measured');
  const extra = bench(['scoring', 'rarity']);
  t.equal(extra.code, 64, 'a stray argument');
  t.match(extra.err, /"rarity"/);
  const missing = bench(['select', '--times']);
  t.equal(missing.code, 64, 'an option without its value');
  t.match(missing.err, /--times needs a value/);
});

t.test('an option value a part refuses exits 64 with one line, not a stack trace', async (t) => {
  const bad = bench(['memory', '--subjects', 'abc']);
  t.equal(bad.code, 64, `exit ${bad.code}`);
  t.match(bad.err, /--subjects takes a whole number/);
  t.notMatch(bad.err, /\n\s+at /, 'no stack trace');
});

t.test('a watchdog rate of 0 lines/s is refused, not replayed as fast as the socket takes it', async (t) => {
  // the replay paces line k at k × 1000 / rate ms: at 0 every due time is Infinity (or NaN),
  // which setTimeout turns into 1 ms, so the "0 lines/s" run logged the stream flat out
  const zero = bench(['watchdog', '--rate', '0', '--max-seconds', '1']);
  t.equal(zero.code, 64, `exit ${zero.code}`);
  t.match(zero.err, /--rate takes a number above 0, not "0"/);
  t.notMatch(zero.out, /Longest over-limit/, 'nothing was measured');
  const negative = bench(['watchdog', '--days', '-5']);
  t.equal(negative.code, 64);
  t.match(negative.err, /--days takes a number of at least 0, not "-5"/);
});
