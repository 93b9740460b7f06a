import { HOUR, type DemoHost } from '../host';
import { ALICE } from './users';

type Habit = [path: string, cmdline: string];

const ALICE_HABITS: Habit[] = [
  ['/usr/bin/sudo', 'sudo systemctl status nginx'],
  ['/usr/bin/sudo', 'sudo systemctl restart nginx'],
  ['/usr/bin/sudo', 'sudo journalctl -u nginx --since today'],
  ['/usr/bin/sudo', 'sudo apt-get update'],
  ['/usr/bin/sudo', 'sudo apt-get upgrade -y'],
  ['/usr/bin/systemctl', 'systemctl list-units --failed'],
  ['/usr/bin/journalctl', 'journalctl -p err -b'],
  ['/usr/bin/vim', 'vim /etc/nginx/sites-available/default'],
  ['/usr/bin/less', 'less /var/log/nginx/error.log'],
  ['/usr/bin/top', 'top'],
  ['/usr/bin/df', 'df -h'],
  ['/usr/bin/free', 'free -m'],
  ['/usr/bin/ls', 'ls -la /etc/nginx'],
  ['/usr/bin/grep', 'grep -r server_name /etc/nginx'],
  ['/usr/bin/ssh', 'ssh db-01.internal'],
  ['/usr/bin/ss', 'ss -tlnp'],
];

/** alice, the admin: weekdays 08–18 from her workstation */
export function aliceDay(h: DemoHost, base: number, weekday: boolean): void {
  if (!weekday) return;
  const sessions = 2 + Math.floor(h.r() * 2);
  for (let s = 0; s < sessions; s++) {
    let t = base + (8 + s * 3 + Math.floor(h.r() * 2)) * HOUR + Math.floor(h.r() * 1800);
    const shell = h.login(t, ALICE, '10.0.4.17');
    h.loggedIn(t + 5, ALICE, 'pts/1', '10.0.4.17', t, shell);
    const n = 25 + Math.floor(h.r() * 25);
    for (let i = 0; i < n; i++) {
      t += 20 + Math.floor(h.r() * 200);
      const [path, cmd] = h.pick(ALICE_HABITS);
      const p = h.proc(t, ALICE, path, cmd, shell, ALICE.home);
      if (path === '/usr/bin/sudo') h.proc(t + 1, ALICE, `/usr/bin/${cmd.split(' ')[1]}`, cmd.slice(5), p, ALICE.home, undefined, '0');
      if (cmd.includes('apt-get update')) h.connect(t + 2, ALICE, p, '/usr/lib/apt/methods/http', h.pick(['151.101.2.132', '151.101.66.132']), 80);
      if (path === '/usr/bin/ssh') h.connect(t + 1, ALICE, p, path, '10.0.5.20', 22);
      if (h.r() < 0.5) h.history(t, ALICE, cmd);
      if (cmd.includes('vim /etc/nginx')) h.fileEvent(t + 60, ALICE, '/etc/nginx/sites-available/default', 'UPDATED');
    }
  }
}
