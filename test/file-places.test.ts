import t from 'tap';
import { FeatureExtractor } from '../scorer/features/extract';
import { UidMap } from '../scorer/features/subject';
import { createModel, loadModel } from '../scorer/models';
import type { BehaviourEvent, Evidence, Model } from '../scorer/types';

// A new file in a place the host changes (branch fimfp): file events name no program and no
// account, so a configuration agent's first change of a file beside the ones it changes every
// day was as bad as a planted key (heldout3 diagnosis, cause 5). The host's FIM events below
// go through the product's extractor; the model is the rarity model a subject is scored by.

const DAY = 86400;
const START = 1_790_000_000 - (1_790_000_000 % DAY);

function fileRow(path: string, action: string, time: number) {
  return {
    query: 'pack_hids_file_events',
    host: 'web-1',
    time,
    action: 'added' as const,
    columns: { target_path: path, action, category: 'config', time: String(time), md5: '', inode: '123456' },
    decorations: {},
  };
}

/** a host whose FIM routine is three files under /etc, the logs and a backup, fourteen days */
async function fittedHost(): Promise<{ model: Model; event: (path: string, action?: string) => BehaviourEvent }> {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const train: BehaviourEvent[] = [];
  for (let d = 0; d < 14; d++) {
    const at = START + d * DAY;
    train.push(x.extract(fileRow('/var/log/syslog.1', 'CREATED', at + 600)).event);
    train.push(x.extract(fileRow('/etc/resolv.conf', 'UPDATED', at + 6 * 3600)).event);
    train.push(x.extract(fileRow('/var/backups/dpkg.status.0', 'CREATED', at + 6 * 3600 + 60)).event);
    if (d % 3 === 0) train.push(x.extract(fileRow('/etc/apt/trusted.gpg.d/ubuntu-keyring.gpg', 'UPDATED', at + 7 * 3600)).event);
    if (d % 4 === 1) train.push(x.extract(fileRow('/etc/hosts', 'UPDATED', at + 9 * 3600)).event);
  }
  const model = createModel('rarity');
  await model.fit([train]);
  const at = START + 14 * DAY + 10 * 3600;
  return { model, event: (path, action = 'UPDATED') => x.match(fileRow(path, action, at)) };
}

async function scoreOf(model: Model, e: BehaviourEvent): Promise<Evidence> {
  return (await model.score([{ event: e, context: [] }]))[0];
}

t.test('rarity: a new file where the host changes files of its class counts half; a new class or a new place in full', async (t) => {
  const { model, event } = await fittedHost();
  // a configuration agent's first change of chrony's config, under /etc where config changes daily
  const config = await scoreOf(model, event('/etc/chrony/chrony.conf'));
  t.match(config.detail, /^new file in a known place \(`\/etc`\)/, config.detail);
  // a new file of a known class (`other`: the backups) beside the daily one, and in a
  // directory where no file was ever changed
  const beside = await scoreOf(model, event('/var/backups/apt.extended_states.0', 'CREATED'));
  const elsewhere = await scoreOf(model, event('/srv/app/dump.tar', 'CREATED'));
  t.match(beside.detail, /^new file in a known place \(`\/var\/backups`\)/, beside.detail);
  t.notMatch(elsewhere.detail, /known place/, elsewhere.detail);
  t.ok(
    beside.value < elsewhere.value - 1.5,
    `a new file beside the backups (${beside.value.toFixed(2)}) is well below one under /srv (${elsewhere.value.toFixed(2)})`,
  );
  // under /etc too, but of a class the host never changed: persistence, the accounts, SSH,
  // the loader's preload; a hidden file in /tmp, an executable in a program directory
  for (const [path, action] of [
    ['/etc/cron.d/backdoor', 'CREATED'],
    ['/etc/sudoers.d/99-x', 'CREATED'],
    ['/etc/passwd', 'UPDATED'],
    ['/etc/ssh/sshd_config', 'UPDATED'],
    ['/etc/ld.so.preload', 'CREATED'],
    ['/root/.ssh/authorized_keys', 'UPDATED'],
    ['/tmp/.x/kworker', 'CREATED'],
    ['/usr/local/bin/kworker', 'CREATED'],
  ]) {
    const s = await scoreOf(model, event(path, action));
    t.notMatch(s.detail, /known place/, `${path}: ${s.detail}`);
    t.ok(s.value > config.value + 2, `${path} (${s.value.toFixed(2)}) weighs in full, above a new config file (${config.value.toFixed(2)})`);
  }
  // where the host only ever created logs (rotation), a new log created is the place's; the
  // first log updated in place is a change the host never made to its logs
  const rotated = await scoreOf(model, event('/var/log/kern.log.1', 'CREATED'));
  const edited = await scoreOf(model, event('/var/log/auth.log', 'UPDATED'));
  t.match(rotated.detail, /^new file in a known place \(`\/var\/log`\)/, rotated.detail);
  t.notMatch(edited.detail, /known place/, edited.detail);
  t.ok(edited.value > rotated.value + 1.5, `a log updated (${edited.value.toFixed(2)}) weighs in full, a new log rotated (${rotated.value.toFixed(2)}) half`);
  // a known file's new action is a new kind of its own, not the leaf's
  const deleted = await scoreOf(model, event('/etc/hosts', 'DELETED'));
  t.notMatch(deleted.detail, /known place/, deleted.detail);
});

t.test('rarity: the places a model learnt are kept in its state', async (t) => {
  const { model, event } = await fittedHost();
  const loaded = loadModel(JSON.parse(JSON.stringify(model.toState())));
  const e = event('/etc/chrony/chrony.conf');
  const [before, after] = [await scoreOf(model, e), await scoreOf(loaded, e)];
  t.equal(after.value, before.value, 'the same evidence after a save and load');
  t.equal(after.detail, before.detail);
});

t.test('rarity: a planted file of a persistence or privilege class is no leaf of a known place elsewhere under /etc (review13)', async (t) => {
  // a host whose routine creates config files under /etc (certbot's renewals), links of systemd
  // units (packages installing services) and updates libraries: the places are learnt
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const train: BehaviourEvent[] = [];
  for (let d = 0; d < 14; d++) {
    const at = START + d * DAY;
    train.push(x.extract(fileRow('/etc/resolv.conf', 'UPDATED', at + 6 * 3600)).event);
    train.push(x.extract(fileRow('/var/log/syslog.1', 'CREATED', at + 600)).event);
    if (d % 3 === 0) train.push(x.extract(fileRow(`/etc/letsencrypt/archive/shop/cert${d}.pem`, 'CREATED', at + 7 * 3600)).event);
    if (d % 3 === 1) train.push(x.extract(fileRow(`/etc/systemd/system/multi-user.target.wants/svc${d}.service`, 'CREATED', at + 8 * 3600)).event);
    if (d % 3 === 2) train.push(x.extract(fileRow(`/usr/lib/x86_64-linux-gnu/lib${'abcdefghijklmn'[d]}.so`, 'UPDATED', at + 8 * 3600)).event);
  }
  const model = createModel('rarity');
  await model.fit([train]);
  const at = START + 14 * DAY + 10 * 3600;
  const event = (path: string, action: string) => x.match(fileRow(path, action, at));
  const beside = await scoreOf(model, event('/etc/letsencrypt/archive/blog/cert1.pem', 'CREATED'));
  t.match(beside.detail, /^new file in a known place/, `a renewal's new certificate still counts half: ${beside.detail}`);
  const unit = await scoreOf(model, event('/etc/systemd/system/multi-user.target.wants/backup.service', 'CREATED'));
  t.match(unit.detail, /^new file in a known place \(`\/etc\/systemd\/system\/multi-user.target.wants`\)/, `beside the unit: ${unit.detail}`);
  for (const [path, action] of [
    // what starts programs, in another directory than the one the host changed (the class is known at `/etc` alone)
    ['/etc/ld.so.preload', 'CREATED'],
    ['/etc/cron.d/backdoor', 'CREATED'],
    ['/etc/profile.d/x.sh', 'CREATED'],
    ['/etc/systemd/system/backdoor.service', 'CREATED'],
    ['/usr/local/bin/kworker', 'UPDATED'],
    // places whose files the system runs or loads by itself, or that say who may do what, read
    // as `config` before: apt's hooks, udev's RUN+=, logrotate's postrotate, the loader's
    // path, shells' startup files, modules loaded at boot, NetworkManager's and dhclient's
    // hooks, the kernel's core_pattern, sudo's plugins, doas, polkit's rules, where accounts come from
    ['/etc/apt/apt.conf.d/99x', 'CREATED'],
    ['/etc/udev/rules.d/99-x.rules', 'CREATED'],
    ['/etc/logrotate.d/x', 'CREATED'],
    ['/etc/ld.so.conf.d/x.conf', 'CREATED'],
    ['/etc/bash_completion.d/x', 'CREATED'],
    ['/etc/zsh/zshenv', 'CREATED'],
    ['/etc/modprobe.d/x.conf', 'CREATED'],
    ['/etc/modules-load.d/x.conf', 'CREATED'],
    ['/etc/NetworkManager/dispatcher.d/99-x', 'CREATED'],
    ['/etc/dhcp/dhclient-exit-hooks.d/x', 'CREATED'],
    ['/etc/sysctl.d/99-x.conf', 'CREATED'],
    ['/etc/sudo.conf', 'CREATED'],
    ['/etc/doas.conf', 'CREATED'],
    ['/etc/polkit-1/rules.d/49-x.rules', 'CREATED'],
    ['/etc/nsswitch.conf', 'CREATED'],
  ]) {
    const s = await scoreOf(model, event(path, action));
    t.notMatch(s.detail, /known place/, `${path}: ${s.detail}`);
  }
});
