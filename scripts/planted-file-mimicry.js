// node scripts/planted-file-mimicry.js ROOT (review13, docs/hardening.md): the scenario set (seed
// 11, 21 days) where edge-web's FIM routine also creates certbot's certificates under /etc
// (weekly) and the link of a new systemd unit (every five days: packages installing services),
// plus one story per file an attacker with root plants there, each a single labelled file event
// on a test day. Prints each labelled row: is the planted file "a new file in a known place"?
// ROOT is a built worktree (compare builds of two commits).
const root = require('path').resolve(process.argv[2]);
const path = require('path');
const { edgeWebLine, scoreStories } = require('./lib/mimicry-run');
const { generateScenarios } = require(root + '/dist/scorer/eval/scenarios/generate');
const { ATTACKS } = require(root + '/dist/scorer/eval/scenarios/stories');
const T = [
  ['/etc/letsencrypt/archive/blog/cert1.pem', 'CREATED'],
  ['/etc/ld.so.preload', 'CREATED'],
  ['/etc/cron.d/backdoor', 'CREATED'],
  ['/etc/profile.d/x.sh', 'CREATED'],
  ['/etc/systemd/system/backdoor.service', 'CREATED'],
  ['/etc/apt/apt.conf.d/99x', 'CREATED'],
  ['/etc/udev/rules.d/99-x.rules', 'CREATED'],
  ['/etc/logrotate.d/x', 'CREATED'],
  ['/etc/ld.so.conf.d/x.conf', 'CREATED'],
  ['/etc/sudo.conf', 'CREATED'],
  ['/etc/polkit-1/rules.d/49-x.rules', 'CREATED'],
];
T.forEach(([file, action], i) =>
  ATTACKS.push({
    id: `r13f-${i}`,
    title: file,
    host: 'edge-web',
    day: i % 2,
    play(h, t) {
      h.file(t + 60, file, action, { story: this.id });
    },
  }),
);
(async () => {
  const out = '/tmp/r13/files-' + path.basename(root);
  const start = 1767225600;
  const set = generateScenarios({ seed: 11, days: 21, start });
  const line = (t, target, action) =>
    edgeWebLine('pack_hids_file_events', t, { target_path: target, action, category: 'config', time: String(t), md5: '', inode: '123456' });
  const last = JSON.parse(set.train[set.train.length - 1]).unixTime;
  for (let d = 0; start + d * 86400 < last; d++) {
    const extra = [];
    if (d % 7 === 2) extra.push(line(start + d * 86400 + 4 * 3600, `/etc/letsencrypt/archive/shop/cert${d}.pem`, 'CREATED'));
    if (d % 5 === 1) extra.push(line(start + d * 86400 + 5 * 3600, `/etc/systemd/system/multi-user.target.wants/svc${d}.service`, 'CREATED'));
    for (const l of extra) {
      const t = JSON.parse(l).unixTime;
      const at = set.train.findIndex((x) => JSON.parse(x).unixTime > t);
      set.train.splice(at < 0 ? set.train.length : at, 0, l);
    }
  }
  await scoreStories(root, out, set, 'r13f-', (n) => T[n][0].padEnd(40));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
