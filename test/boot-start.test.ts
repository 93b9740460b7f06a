import t from 'tap';
import { isRebootCommand } from '../scorer/features/boot';
import { checkExtractor } from '../state/schema';
import { FeatureExtractor } from '../scorer/features/extract';
import { UidMap } from '../scorer/features/subject';
import type { ResultRow } from '../scorer/types';
import { fittedOn, processRow, scoreOf, type Ids } from './helpers/root-process';

// A boot after root's reboot command (scorer/features/boot.ts, scorer/models/boot-start.ts).
// A host's daemons were started before its window began, so their exec rows are new when it
// reboots: root's own model put every daemon of the boot below 0.3 (the third held-out set's
// kernel upgrade, the fourth's release upgrade: journald, networkd, resolved, sshd, the mail
// stack, by the SVM's shape and by rarity's `parent unknown` pairs). The rows go through the
// product's extractor, which decides what a boot's start is; the models are root's two.

const DAY = 86400;
const START = 1_790_000_000 - (1_790_000_000 % DAY);
const ROOT: Ids = { uid: '0', auid: '4294967295' };

function proc(pid: number, parent: number, path: string, cmdline: string, time: number, ids: Ids = ROOT): ResultRow {
  return processRow('mail-1', pid, parent, path, cmdline, time, ids);
}

type Row = ResultRow;

/** root's routine for fourteen days: cron's hourly jobs, and the mail daemon's master forking its workers */
function routine(): Row[] {
  const rows: Row[] = [];
  let pid = 1000;
  for (let d = 0; d < 14; d++)
    for (let h = 0; h < 24; h++) {
      const at = START + d * DAY + h * 3600;
      const cron = pid++;
      rows.push(proc(cron, 1, '/usr/sbin/cron', '/usr/sbin/CRON -f', at, ROOT));
      rows.push(proc(pid++, cron, '/bin/sh', '/bin/sh -c cd / && run-parts --report /etc/cron.hourly', at + 1, ROOT));
      rows.push(proc(pid++, 700, '/usr/lib/postfix/sbin/master', '/usr/lib/postfix/sbin/master -w', at + 60, ROOT));
      rows.push(proc(pid++, 700, '/usr/sbin/dovecot', '/usr/sbin/dovecot -F', at + 120, ROOT));
    }
  return rows;
}

const fitted = () => fittedOn(routine());

/** the boot's starts by the service manager (pid 1), named: two known daemons and a program the host never ran */
function boot(at: number): Array<[string, Row]> {
  return [
    ['master', proc(5001, 1, '/usr/lib/postfix/sbin/master', '/usr/lib/postfix/sbin/master -w', at)],
    ['dovecot', proc(5002, 1, '/usr/sbin/dovecot', '/usr/sbin/dovecot -F', at + 2)],
    ['planted', proc(5003, 1, '/usr/local/sbin/kmod-sync', '/usr/local/sbin/kmod-sync --daemon', at + 4)],
    ['in /tmp', proc(5004, 1, '/tmp/.x/kworkerd', '/tmp/.x/kworkerd', at + 6)],
  ];
}

t.test('the reboot commands', async (t) => {
  const root = { uid: '0', euid: '0' };
  t.ok(isRebootCommand('/sbin/shutdown', '/sbin/shutdown -r now', root));
  t.ok(isRebootCommand('/usr/sbin/shutdown', 'shutdown --reboot +1', root));
  t.ok(isRebootCommand('/usr/bin/systemctl', 'systemctl reboot', root));
  t.ok(isRebootCommand('/usr/sbin/reboot', 'reboot', root));
  t.notOk(isRebootCommand('/sbin/shutdown', '/sbin/shutdown -h now', root), 'a halt is no reboot');
  t.notOk(isRebootCommand('/usr/bin/systemctl', 'systemctl restart nginx', root), 'a restart is no reboot');
  t.notOk(isRebootCommand('/sbin/shutdown', '/sbin/shutdown -r now', { uid: '1000', euid: '1000' }), "a user's is refused by the kernel");
  t.notOk(isRebootCommand('/tmp/reboot', 'reboot', root), 'a copy in /tmp is anyone');
  // what reboots nothing now opens no window a local user could time a process for (review)
  t.ok(isRebootCommand('/sbin/shutdown', 'shutdown -r', root), 'shutdown -r alone reboots in a minute');
  t.ok(isRebootCommand('/sbin/shutdown', 'shutdown -r +0 kernel upgrade', root), 'a wall message after the time');
  t.notOk(isRebootCommand('/sbin/shutdown', 'shutdown -r 23:00', root), 'a reboot scheduled for tonight is no reboot now');
  t.notOk(isRebootCommand('/sbin/shutdown', 'shutdown -r +60', root), 'nor one in an hour');
  t.notOk(isRebootCommand('/sbin/shutdown', 'shutdown -k -r now', root), 'a warning only');
  t.notOk(isRebootCommand('/sbin/shutdown', 'shutdown -c', root), 'a cancel');
  t.notOk(isRebootCommand('/usr/sbin/reboot', 'reboot --wtmp-only', root), 'a wtmp record only');
  t.notOk(isRebootCommand('/usr/sbin/reboot', 'reboot -w', root), 'a wtmp record only, short');
});

t.test(
  "a boot after root's reboot command: a known daemon's start weighs a quarter, the SVM abstains; a new program, one from /tmp and a start without a reboot are weighed as before",
  async (t) => {
    const at = START + 14 * DAY + 20 * 3600;
    // the same boot twice: once after root's reboot command, once on a host that ran none
    const rebooted = await fitted();
    rebooted.x.extract(proc(4000, 3999, '/sbin/shutdown', '/sbin/shutdown -r now', at - 120, { uid: '0', auid: '1000' }));
    const after = new Map(boot(at).map(([name, row]) => [name, rebooted.x.extract(row).event]));
    const plain = await fitted();
    const without = new Map(boot(at).map(([name, row]) => [name, plain.x.extract(row).event]));
    for (const name of ['master', 'dovecot']) {
      const [b, w] = [after.get(name)!, without.get(name)!];
      t.ok(b.values.includes('boot=after-reboot'), `${name}: a start of the boot`);
      t.notOk(w.values.includes('boot=after-reboot'), `${name}: no boot without a reboot command`);
      const [rb, rw] = [await scoreOf(rebooted.rarity, b), await scoreOf(plain.rarity, w)];
      t.ok(rw.value > 4, `${name} started by pid 1 with no reboot before: ${rw.value.toFixed(2)} bits (${rw.detail})`);
      t.ok(rb.value < 0.35 * rw.value, `${name}: in the boot (${rb.value.toFixed(2)}) weighs about a quarter of that`);
      t.ok(Number.isNaN((await scoreOf(rebooted.ocsvm, b)).value), `${name}: the SVM gives no evidence in the boot`);
      t.ok(Number.isFinite((await scoreOf(plain.ocsvm, w)).value), `${name}: the SVM weighs it without a reboot`);
    }
    // a program the host never ran, started at boot, is a unit someone planted: rarity in full
    for (const name of ['planted', 'in /tmp']) {
      const [rb, rw] = [await scoreOf(rebooted.rarity, after.get(name)!), await scoreOf(plain.rarity, without.get(name)!)];
      t.ok(rb.value >= 0.99 * rw.value, `${name}: in the boot (${rb.value.toFixed(2)}) weighs as without one (${rw.value.toFixed(2)}): ${rb.detail}`);
    }
    t.notOk(after.get('in /tmp')!.values.includes('boot=after-reboot'), 'a binary in /tmp is no start of the boot');
    t.notOk(after.get('planted')!.values.includes('boot=after-reboot'), 'nor is a program never seen running on the host');
    // a user's orphaned process is re-parented to pid 1 before it execs, but keeps the user's
    // login uid: a known program of theirs in the boot's window is weighed in full (review)
    const orphan = rebooted.x.extract(proc(5010, 1, '/usr/sbin/dovecot', '/usr/sbin/dovecot -c /tmp/x.conf', at + 8, { uid: '1000', auid: '1000' })).event;
    t.notOk(orphan.values.includes('boot=after-reboot'), "a user's process under pid 1 is no start of the boot");
    // the extension restarts with the host: the reboot command and the programs are in its saved state
    const saved = JSON.parse(JSON.stringify(rebooted.x.toState())) as ReturnType<FeatureExtractor['toState']>;
    const restarted = FeatureExtractor.fromState(saved, { users: new UidMap(), overrides: {} });
    const woke = restarted.extract(proc(5201, 1, '/usr/sbin/dovecot', '/usr/sbin/dovecot -F', at + 60)).event;
    t.ok(woke.values.includes('boot=after-reboot'), 'a start after the extension restarted from its saved state is the boot');
    t.equal(checkExtractor(saved), null, 'and the saved state passes its schema');
    // the boot ends: a start by pid 1 an hour later is weighed as any
    const later = rebooted.x.extract(proc(5100, 1, '/usr/sbin/dovecot', '/usr/sbin/dovecot -F', at + 3600)).event;
    t.notOk(later.values.includes('boot=after-reboot'), 'a start an hour after the reboot command is not the boot');
  },
);
