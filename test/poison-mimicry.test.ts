import t from 'tap';
import { seededRandom as rng } from '../demo/generate';
import { resolveConfig } from '../conf/config';
import { Scorer } from '../scorer/scorer';
import { FeatureExtractor } from '../scorer/features/extract';
import { UidMap } from '../scorer/features/subject';
import type { ResultRow } from '../scorer/types';
import { DAY, HABITS, HOUR, row, START } from '../scorer/eval/mimicry';

// Mimicry with a known program (docs/scoring.md, "What an attacker can do about it"): the
// attacker runs a program of the subject's routine, from its usual parent at its usual hour,
// and points it at a place that matters. The command template is new, but for a person who
// often runs something new a new template is ugly; where the argument points (the accounts,
// what starts programs, a hidden temp directory) was not a feature, and `vim
// /etc/cron.d/evil` and `make -f /tmp/.x/Makefile` scored 0.573 and 0.659.

t.test('where a command line points is a class of its own', async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const places = (cmd: string) => x.extract(row(START, '/usr/bin/tool', cmd)).event.values.filter((v) => v.startsWith('argloc='));
  t.same(places('tool /etc/shadow'), ['argloc=accounts']);
  t.same(
    places('tool -f /tmp/.x/Makefile --out=/etc/cron.d/job /etc/cron.daily/x'),
    ['argloc=temp-hidden', 'argloc=autostart'],
    'one value per place, options too',
  );
  t.same(places('tool notes.md -q'), [], 'no path, no place');
});

t.test('a routine program pointed at a place it never touches is at the edge of bad, not ugly as before', async (t) => {
  const r = rng(5);
  const config = resolveConfig({ learning: { min_events: 400, min_days: 3 }, models: { rarity: true, ocsvm: true, lstm: false } }, 'test', {});
  const scorer = await Scorer.open({ config, stateDir: null });
  for (let d = 0; d < 14; d++) {
    const rows: ResultRow[] = [];
    for (let i = 0; i < 120; i++) {
      const [exe, cmd] = HABITS[Math.floor(r() * HABITS.length)];
      // a program never seen before in 5 % of rows: a new command of this person's is not rare
      const n = Array.from({ length: 6 }, () => String.fromCharCode(97 + Math.floor(r() * 26))).join('');
      const novel = r() < 0.05;
      rows.push(row(START + d * DAY + 9 * HOUR + Math.floor(r() * 8 * HOUR), novel ? `/usr/bin/t${n}` : exe, novel ? `t${n} x${n}` : cmd));
    }
    await scorer.scoreRows(rows.sort((a, b) => a.time - b.time));
  }
  const t0 = START + 14 * DAY + 11 * HOUR;
  const tries: Array<[string, string]> = [
    ['/usr/bin/less', 'less /var/log/syslog'],
    ['/usr/bin/vim', 'vim /etc/cron.d/evil'],
    ['/usr/bin/make', 'make -f /tmp/.x/Makefile'],
  ];
  const out = [];
  for (let i = 0; i < tries.length; i++) {
    // each after a routine command, so that the step into it is a usual one
    await scorer.scoreRows([row(t0 + i * 300 - 60, '/usr/bin/git', 'git status')]);
    out.push((await scorer.scoreRows([row(t0 + i * 300, ...tries[i])]))[0]);
  }
  const [routine, cron, make] = out;
  t.equal(routine.verdict, 'good', `the routine with its usual path is good (${routine.score}: ${routine.reasons})`);
  // 0.62-0.63 before argloc=; here at the edge of bad (0.31), in docs/scoring.md's stream 0.22-0.30
  for (const [what, s] of [
    ['vim on what starts programs', cron],
    ['make on a hidden temp directory', make],
  ] as const) {
    t.ok(s.score !== null && s.score < 0.35, `${what} is at the edge of bad or beyond (${s.score}: ${s.reasons})`);
    t.match(s.reasons, /argloc `/, `${what}: the reasons name where its arguments point`);
  }
});
