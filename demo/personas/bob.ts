import { HOUR, type DemoHost } from '../host';
import { BOB } from './users';

type Habit = [path: string, cmdline: string];

const BOB_HABITS: Habit[] = [
  ['/usr/bin/git', 'git status'],
  ['/usr/bin/git', 'git pull --rebase'],
  ['/usr/bin/git', 'git commit -m wip'],
  ['/usr/bin/git', 'git push origin main'],
  ['/usr/bin/git', 'git diff HEAD~1'],
  ['/usr/bin/node', 'node server.js'],
  ['/usr/bin/npm', 'npm test'],
  ['/usr/bin/npm', 'npm install'],
  ['/usr/bin/npm', 'npm run build'],
  ['/usr/bin/vim', 'vim src/app.ts'],
  ['/usr/bin/vim', 'vim README.md'],
  ['/usr/bin/make', 'make -j4'],
  ['/usr/bin/gcc', 'gcc -O2 -c parser.c'],
  ['/usr/bin/ls', 'ls -la'],
  ['/usr/bin/cat', 'cat package.json'],
  ['/usr/bin/curl', 'curl -s http://localhost:3000/health'],
  ['/usr/bin/python3', 'python3 scripts/migrate.py'],
];

/** bob, the developer: weekdays 09–19, sometimes an evening, from the office or the VPN */
export function bobDay(h: DemoHost, base: number, weekday: boolean): void {
  if (!weekday && h.r() >= 0.3) return;
  const sessions = weekday ? 3 : 1;
  const src = `${BOB.home}/src/webapp`;
  for (let s = 0; s < sessions; s++) {
    let t = base + (9 + s * 3 + Math.floor(h.r() * 3)) * HOUR + Math.floor(h.r() * 1800);
    const from = h.r() < 0.7 ? `10.0.8.${20 + Math.floor(h.r() * 10)}` : `172.16.4.${10 + Math.floor(h.r() * 20)}`;
    const shell = h.login(t, BOB, from);
    h.loggedIn(t + 5, BOB, 'pts/2', from, t, shell);
    const n = 35 + Math.floor(h.r() * 30);
    for (let i = 0; i < n; i++) {
      t += 15 + Math.floor(h.r() * 150);
      const [path, cmd] = h.pick(BOB_HABITS);
      const p = h.proc(t, BOB, path, cmd, shell, src);
      if (cmd.startsWith('git p'))
        h.connect(t + 1, BOB, h.proc(t + 1, BOB, '/usr/bin/ssh', 'ssh git@github.com git-upload-pack', p, src), '/usr/bin/ssh', '140.82.121.4', 22);
      if (cmd === 'npm install') h.connect(t + 2, BOB, p, '/usr/bin/node', '104.16.24.35', 443);
      if (cmd.startsWith('curl')) h.connect(t + 1, BOB, p, path, '127.0.0.1', 3000);
      if (path === '/usr/bin/make') h.proc(t + 2, BOB, '/usr/bin/gcc', 'gcc -O2 -c lexer.c', p, src);
      if (h.r() < 0.6) h.history(t, BOB, cmd);
      if (path === '/usr/bin/vim') h.fileEvent(t + 90, BOB, `${src}/${cmd.split(' ')[1]}`, 'UPDATED');
    }
  }
}
