import { HOUR, type DemoHost } from '../host';

/** services that listen from the first day */
export function daemonListeners(h: DemoHost, t0: number): void {
  h.listen(t0, 812, '/usr/sbin/sshd', 22, '0.0.0.0');
  h.listen(t0, 901, '/usr/sbin/nginx', 80, '0.0.0.0');
  h.listen(t0, 901, '/usr/sbin/nginx', 443, '0.0.0.0');
  h.listen(t0, 1022, '/usr/lib/postgresql/15/bin/postgres', 5432, '127.0.0.1');
  h.listen(t0, 640, '/usr/sbin/chronyd', 323, '127.0.0.1');
}

/** the host's day: cron ticks, timers, log rotation, time sync, apt timers */
export function daemonsDay(h: DemoHost, base: number): void {
  for (let hour = 0; hour < 24; hour++) {
    const t = base + hour * HOUR + Math.floor(h.r() * 300);
    const cron = h.proc(t, null, '/usr/sbin/cron', '/usr/sbin/CRON -f', 700, '/');
    h.proc(t + 1, null, '/bin/sh', '/bin/sh -c [ -x /usr/lib/php/sessionclean ] && /usr/lib/php/sessionclean', cron, '/');
    h.connect(t + 5, null, 640, '/usr/sbin/chronyd', h.pick(['162.159.200.1', '162.159.200.123', '129.250.35.250']), 123);
    if (hour % 6 === 0) h.proc(t + 30, null, '/usr/bin/systemctl', 'systemctl start apt-daily.service', 1, '/');
  }
  const rot = h.proc(base + 6 * HOUR + 25 * 60, null, '/usr/sbin/logrotate', '/usr/sbin/logrotate /etc/logrotate.conf', 1, '/');
  h.proc(base + 6 * HOUR + 25 * 60 + 2, null, '/usr/bin/gzip', 'gzip /var/log/nginx/access.log.1', rot, '/');
}
