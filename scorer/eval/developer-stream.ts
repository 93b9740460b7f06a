import { seededRandom } from '../../demo/generate';
import type { Scorer } from '../scorer';
import type { ResultRow } from '../types';

// The stream of the attacker experiments (docs/scoring.md, "What an attacker can do about it"):
// one developer on one host, 120 rows a day between 09:00 and 17:00 from five habits, a
// program never seen before in 5 % of rows (a new command of this person's is not rare), and
// optionally a daily `curl` whose path varies. Shared by scorer/eval/mimicry.ts and its test.

export const HOUR = 3600;
export const DAY = 24 * HOUR;
export const START = 1_790_000_000 - (1_790_000_000 % DAY);
export const HABITS: Array<[string, string]> = [
  ['/usr/bin/git', 'git status'],
  ['/usr/bin/vim', 'vim notes.md'],
  ['/usr/bin/make', 'make test'],
  ['/usr/bin/ls', 'ls -la'],
  ['/usr/bin/less', 'less /var/log/syslog'],
];

/** one process row of the developer (uid 1000 on app-01, under bash in ~/src) */
export function developerRow(time: number, exe: string, cmdline: string, query = 'pack_user-behavior_process_events'): ResultRow {
  return {
    query,
    host: 'app-01',
    time,
    action: 'added',
    columns: {
      pid: String(1000 + (time % 30000)),
      path: exe,
      cmdline,
      auid: '1000',
      uid: '1000',
      euid: '1000',
      parent_path: '/bin/bash',
      cwd: '/home/alice/src',
    },
    decorations: {},
  };
}

/** `days` days of the developer's routine through `scorer`, from START, with seed 5 */
export async function developerDays(scorer: Scorer, days: number, opts: { dailyCurl?: boolean } = {}): Promise<void> {
  const r = seededRandom(5);
  for (let d = 0; d < days; d++) {
    const rows: ResultRow[] = [];
    for (let i = 0; i < 120; i++) {
      const [exe, cmd] = HABITS[Math.floor(r() * HABITS.length)];
      const n = Array.from({ length: 6 }, () => String.fromCharCode(97 + Math.floor(r() * 26))).join('');
      const novel = r() < 0.05;
      rows.push(developerRow(START + d * DAY + 9 * HOUR + Math.floor(r() * 8 * HOUR), novel ? `/usr/bin/t${n}` : exe, novel ? `t${n} x${n}` : cmd));
    }
    if (opts.dailyCurl)
      rows.push(
        developerRow(
          START + d * DAY + 9 * HOUR + 1800,
          '/usr/bin/curl',
          `curl -s https://api.corp.example/v1/${['users', 'items', 'health', 'status'][d % 4]}`,
        ),
      );
    await scorer.scoreRows(rows.sort((a, b) => a.time - b.time));
  }
}
