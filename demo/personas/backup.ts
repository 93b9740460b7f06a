import { HOUR, type DemoHost } from '../host';
import { BACKUP } from './users';

/** svc-backup's day: the backup job every six hours from 02:00, nothing else */
export function backupDay(h: DemoHost, base: number): void {
  for (const at of [2, 8, 14, 20]) {
    const t = base + at * HOUR + Math.floor(h.r() * 120);
    const cron = h.proc(t, null, '/usr/sbin/cron', '/usr/sbin/CRON -f', 700, '/');
    const sh = h.proc(t + 1, BACKUP, '/bin/sh', '/bin/sh -c /usr/local/bin/backup.sh', cron, BACKUP.home);
    const script = h.proc(t + 2, BACKUP, '/usr/local/bin/backup.sh', '/bin/bash /usr/local/bin/backup.sh', sh, BACKUP.home);
    const stamp = new Date(t * 1000).toISOString().slice(0, 10);
    h.proc(t + 3, BACKUP, '/usr/bin/pg_dump', 'pg_dump -Fc appdb', script, BACKUP.home);
    for (const dir of ['/etc', '/var/www', '/srv/app'])
      h.proc(
        t + 20 + Math.floor(h.r() * 60),
        BACKUP,
        '/usr/bin/tar',
        `tar czf /var/backups/${dir.slice(1).replace(/\//g, '-')}-${stamp}.tgz ${dir}`,
        script,
        BACKUP.home,
      );
    const rsync = h.proc(t + 120, BACKUP, '/usr/bin/rsync', 'rsync -a --delete /var/backups/ backup@10.0.9.5:/srv/backup/web-01/', script, BACKUP.home);
    const ssh = h.proc(
      t + 121,
      BACKUP,
      '/usr/bin/ssh',
      'ssh -l backup 10.0.9.5 rsync --server -logDtpre.iLsfxC --delete . /srv/backup/web-01/',
      rsync,
      BACKUP.home,
    );
    h.connect(t + 122, BACKUP, ssh, '/usr/bin/ssh', '10.0.9.5', 22);
    h.proc(t + 300, BACKUP, '/usr/bin/find', 'find /var/backups -mtime +14 -delete', script, BACKUP.home);
    for (let i = 0; i < 6; i++)
      h.fileEvent(t + 20 + i * 15, BACKUP, `/var/backups/${['etc', 'var-www', 'srv-app'][i % 3]}-${stamp}.tgz`, i < 3 ? 'CREATED' : 'UPDATED');
  }
}
