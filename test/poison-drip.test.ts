import t from 'tap';
import { seededRandom as rng } from '../demo/generate';
import { resolveConfig } from '../conf/config';
import { Scorer } from '../scorer/scorer';
import type { ResultRow } from '../scorer/types';

// Slow-drip poisoning (docs/scoring.md, "What an attacker can do about it"): an attacker who
// runs the precursor of an attack a little every day, odd enough to be ugly (0.3 to 0.7) but
// not bad, must not thereby make it normal. Only good rows and rows labelled normal may be
// learnt; the newest stretch of not-bad rows that calibration holds out at each retraining
// was learnt as well, ugly ones included, so each retraining took in the drip of the days
// before it and the precursor was good from its third day on.

const HOUR = 3600;
const DAY = 24 * HOUR;
const START = 1_790_000_000 - (1_790_000_000 % DAY);
const HABITS: Array<[string, string]> = [
  ['/usr/bin/git', 'git status'],
  ['/usr/bin/vim', 'vim notes.md'],
  ['/usr/bin/make', 'make test'],
  ['/usr/bin/ls', 'ls -la'],
  ['/usr/bin/less', 'less /var/log/syslog'],
];

function row(time: number, exe: string, cmdline: string): ResultRow {
  return {
    query: 'pack_user-behavior_process_events',
    host: 'app-01',
    time,
    action: 'added',
    columns: { pid: String(1000 + (time % 30000)), path: exe, cmdline, auid: '1000', uid: '1000', euid: '1000', parent_path: '/bin/bash' },
    decorations: {},
  };
}

t.test('a precursor dripped once a day, never good, is never learnt', async (t) => {
  const r = rng(5);
  // a developer: five habits, and a program never seen before in 15 % of the rows, so a new
  // program of theirs is ugly rather than bad
  const day = (d: number): ResultRow[] => {
    const rows: ResultRow[] = [];
    for (let i = 0; i < 120; i++) {
      const [exe, cmd] = HABITS[Math.floor(r() * HABITS.length)];
      const n = Array.from({ length: 6 }, () => String.fromCharCode(97 + Math.floor(r() * 26))).join('');
      const novel = r() < 0.15;
      rows.push(row(START + d * DAY + 9 * HOUR + Math.floor(r() * 8 * HOUR), novel ? `/usr/bin/t${n}` : exe, novel ? `t${n} x${n}` : cmd));
    }
    return rows.sort((a, b) => a.time - b.time);
  };
  const config = resolveConfig({ learning: { min_events: 400, min_days: 3 }, models: { rarity: true, ocsvm: true, lstm: false } }, 'test', {});
  const scorer = await Scorer.open({ config, stateDir: null });
  for (let d = 0; d < 7; d++) await scorer.scoreRows(day(d));
  const seen: string[] = [];
  for (let d = 7; d < 21; d++) {
    await scorer.scoreRows(day(d));
    // once a day, after work: the interpreter the attack will use, never run before
    const [p] = await scorer.scoreRows([row(START + d * DAY + 18 * HOUR, '/usr/bin/python3', 'python3 -c import socket')]);
    seen.push(`day ${d}: ${p.score?.toFixed(3)} ${p.verdict} (${p.model}: ${p.reasons.slice(0, 90)})`);
  }
  t.comment(seen.join('\n'));
  t.equal(seen[0].includes('ugly'), true, 'the first drip is ugly, not bad: the attacker can keep it up');
  t.same(
    seen.filter((x) => x.includes(' good ')),
    [],
    'no drip of the precursor is good',
  );
  t.match(seen[seen.length - 1], /never seen before/, 'after 14 days of drip the program is still never seen before');
});
