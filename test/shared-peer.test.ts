import t from 'tap';
import { MAX_PROGRAMS, PEER_SECONDS, SharedPeer } from '../scorer/shared-peer';
import { scoreScenarioSet } from './helpers/scenario-run';

// Another program at an alert's public peer (scorer/shared-peer.ts).

const host = 'gpu-login-1';
const connect = (path: string, peer: string, score: number, time: number, model = 'host:rarity', packagesDoing = false) => ({
  host,
  time,
  columns: { pid: String(time), path, action: 'connect', remote_address: peer, remote_port: '443' },
  kind: 'socket',
  event: `connect ${path} -> public:203.0:443`,
  score,
  model,
  packagesDoing,
});
const stage = '/opt/conda/envs/vision/bin/python3.11';

t.test("a second program at the peer an alert reached takes the alert's evidence", async (t) => {
  const peers = new SharedPeer();
  t.equal(peers.judge(connect(stage, '203.0.113.77', 0.0, 1000)), undefined, 'the alert itself is recorded, not changed');
  const curl = peers.judge(connect('/usr/bin/curl', '203.0.113.77', 0.62, 1060));
  t.equal(curl?.verdict, 'bad', `curl's connection to the stage's peer is an alert (${curl?.score.toFixed(3)})`);
  t.match(curl?.reason ?? '', /another program at an alert's peer/);
  t.match(curl?.reason ?? '', /an alert where the row alone was not/);
});

t.test('what takes nothing: the same program, a usual row, another address, an internal peer, a day later, the SVM, a package run', async (t) => {
  const peers = new SharedPeer();
  peers.judge(connect(stage, '203.0.113.77', 0.1, 1000));
  t.equal(peers.judge(connect(stage, '203.0.113.77', 0.45, 1100)), undefined, "the same program's next call is the same novelty shown again");
  t.equal(peers.judge(connect('/usr/bin/curl', '203.0.113.77', 0.75, 1200)), undefined, 'a row usual on its own');
  t.equal(peers.judge(connect('/usr/bin/curl', '203.0.113.78', 0.5, 1300)), undefined, 'another address');
  t.equal(peers.judge(connect('/usr/bin/curl', '203.0.113.77', 0.5, 1000 + PEER_SECONDS + 1)), undefined, 'more than a day after the alert');
  t.equal(peers.judge(connect('/usr/bin/curl', '203.0.113.77', 0.5, 1400, 'ocsvm')), undefined, 'a row the SVM decided');
  t.equal(peers.judge(connect('/usr/lib/apt/methods/http', '203.0.113.77', 0.5, 1500, 'host:rarity', true)), undefined, "a package run's step");
  const internal = new SharedPeer();
  internal.judge(connect('/usr/bin/psql', '10.40.3.5', 0.0, 1000));
  t.equal(internal.judge(connect('/usr/share/grafana/bin/grafana', '10.40.3.5', 0.6, 1100)), undefined, 'an internal service is shared by design');
  const other = new SharedPeer();
  other.judge(connect(stage, '203.0.113.77', 0.0, 1000));
  t.equal(other.judge({ ...connect('/usr/bin/curl', '203.0.113.77', 0.6, 1100), host: 'gpu-login-2' }), undefined, 'another host');
});

t.test('the fifth held-out set (seed 12): the post-link stage’s curl connection is an alert, and no normal row is changed', async (t) => {
  const { set, rows } = await scoreScenarioSet(t, 12, 'heldout5');
  const story = rows.filter((_, i) => set.testStory[i] === 'conda-postlink');
  const curl = story.filter((s) => s.event.startsWith('connect /usr/bin/curl'));
  // before: 0.623, a new address for a person who often brings one
  t.equal(curl.length, 1, 'one curl connection');
  t.equal(curl[0]?.verdict, 'bad', `curl's connection to the stage's peer is an alert (${curl[0]?.score?.toFixed(3)})`);
  const attack = new Set(set.stories.map((s) => s.id));
  const normal = rows.filter((_, i) => !attack.has(set.testStory[i]));
  t.same(
    normal.filter((s) => /another program at an alert's peer/.test(s.reasons)).map((s) => `${s.subject} ${s.event}`),
    [],
    'no normal row (apt at a new mirror, a new environment at its index) is changed',
  );
});

t.test('one address written two ways is one peer: an IPv4 address through an IPv6 socket, in full or short form (rev12)', async (t) => {
  // 203.0.113.77 is ::ffff:cb00:714d; socket_events writes every group of an IPv6 address in full
  for (const written of ['::ffff:203.0.113.77', '0000:0000:0000:0000:0000:ffff:cb00:714d', ' 203.0.113.77 ']) {
    const peers = new SharedPeer();
    peers.judge(connect(stage, '203.0.113.77', 0.0, 1000));
    const curl = peers.judge(connect('/usr/bin/curl', written, 0.62, 1060));
    t.equal(curl?.verdict, 'bad', `curl at ${JSON.stringify(written)} reached the stage's peer`);
  }
  const v6 = new SharedPeer();
  v6.judge(connect(stage, '2001:0db8:0000:0000:0000:0000:0000:0077', 0.0, 1000));
  t.equal(v6.judge(connect('/usr/bin/curl', '2001:DB8::77', 0.62, 1060))?.verdict, 'bad', 'an IPv6 peer in full form and in short form');
});

t.test("one alert lowers at most one row of each other program, and only a few programs' (rev12)", async (t) => {
  // A local user makes one alert at an address the host's programs reach every day (a CDN's
  // front, a cloud's storage endpoint): every other program's unusual connection there for a
  // day was an alert on the other accounts, as many as they made.
  const peers = new SharedPeer();
  peers.judge(connect('/home/mallory/.local/bin/x', '203.0.113.77', 0.0, 1000));
  let lowered = 0;
  for (let i = 0; i < 20; i++) for (const again of [0, 1]) if (peers.judge(connect(`/usr/bin/tool${i}`, '203.0.113.77', 0.5, 1100 + i * 10 + again))) lowered++;
  t.equal(lowered, MAX_PROGRAMS, `${lowered} rows lowered by one alert (at most one a program, ${MAX_PROGRAMS} programs)`);
  // the alert again, by its program: what it lowers stays counted
  peers.judge(connect('/home/mallory/.local/bin/x', '203.0.113.77', 0.0, 2000));
  t.equal(peers.judge(connect('/usr/bin/tool19', '203.0.113.77', 0.5, 2100)), undefined, 'an alert again at the same peer does not start the count afresh');
});

t.test("an alert that arrives late does not age the peer's record (rev12)", async (t) => {
  // osqueryd logs each query's rows at its own interval: a row of an earlier time can arrive later
  const peers = new SharedPeer();
  peers.judge(connect(stage, '203.0.113.77', 0.0, 50_000));
  peers.judge(connect('/usr/bin/wget', '203.0.113.77', 0.0, 1000));
  const curl = peers.judge(connect('/usr/bin/curl', '203.0.113.77', 0.62, 1000 + PEER_SECONDS + 100));
  t.equal(curl?.verdict, 'bad', 'less than a day after the latest alert at the peer, whatever order the alerts came in');
});
