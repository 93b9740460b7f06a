import * as v8 from 'v8';
import * as vm from 'vm';
import t from 'tap';
import { fisher } from '../scorer/chain-suspicion';
import { ConnectionFan, FAN_SECONDS, peerOf } from '../scorer/connection-fan';
import { scoreScenarioSet } from './helpers/scenario-run';

// One tool against many peers (scorer/connection-fan.ts): the repetition no single row carries.

const host = 'bastion-1';
const exec = (pid: string, parent: string, score: number, time: number, model = 'host:rarity') => ({
  host,
  time,
  columns: { pid, parent, path: '/usr/bin/ssh' },
  kind: 'process',
  event: 'exec /usr/bin/ssh <- /bin/bash',
  score,
  model,
  packagesDoing: false,
});
const connect = (pid: string, peer: string, score: number, time: number) => ({
  host,
  time,
  columns: { pid, action: 'connect', remote_address: peer, remote_port: '22' },
  kind: 'socket',
  event: 'connect /usr/bin/ssh -> private:10.40:22',
  score,
  model: 'host:rarity',
  packagesDoing: false,
});
t.test('one shell reaching many hosts with one unusual program: alerts from the third peer on', async (t) => {
  const fan = new ConnectionFan();
  const verdicts = [];
  for (let k = 0; k < 5; k++) {
    const pid = String(100 + k);
    verdicts.push(fan.judge(exec(pid, '50', 0.56, 1000 + 8 * k)));
    verdicts.push(fan.judge(connect(pid, `10.40.2.${k + 7}`, 0.74, 1001 + 8 * k)));
  }
  t.same(verdicts.slice(0, 4), [undefined, undefined, undefined, undefined], 'two processes, two peers: rows as they score alone');
  t.equal(verdicts[4]?.verdict, 'bad', `the third process, its two siblings at two peers: an alert before it connects (${verdicts[4]?.score.toFixed(3)})`);
  t.match(verdicts[4]?.reason ?? '', /repeated against many peers: the next process of one program started by one parent against 2 peers/);
  t.equal(verdicts[5]?.verdict, 'bad', `the third peer's connection is an alert (${verdicts[5]?.score.toFixed(3)})`);
  t.match(verdicts[5]?.reason ?? '', /repeated against many peers: a connection of one program started by one parent against 3 peers/);
  t.match(verdicts[5]?.reason ?? '', /an alert where the row alone was not/);
  t.equal(verdicts[6]?.verdict, 'bad', 'and the fourth');
  t.equal(verdicts[9]?.verdict, 'bad', 'and the fifth peer');
  t.ok(Math.abs(fisher([0.01, 0.01]) - 0.0001 * (1 - Math.log(0.0001))) < 1e-12, "Fisher's method for two p-values");
});

t.test('what is no fan: usual processes, one process to many peers, one peer, members too far apart', async (t) => {
  const usual = new ConnectionFan();
  for (let k = 0; k < 5; k++) {
    t.equal(usual.judge(exec(String(200 + k), '60', 0.8, 1000 + k)), undefined);
    t.equal(usual.judge(connect(String(200 + k), `10.40.2.${k}`, 0.6, 1000 + k)), undefined, 'processes usual on their own rows carry nothing');
  }
  const one = new ConnectionFan();
  t.equal(one.judge(exec('300', '61', 0.5, 1000)), undefined);
  for (let k = 0; k < 6; k++) t.equal(one.judge(connect('300', `198.51.100.${k}`, 0.5, 1001 + k)), undefined, 'one process to many addresses is one member');
  const same = new ConnectionFan();
  for (let k = 0; k < 5; k++) {
    t.equal(same.judge(exec(String(400 + k), '62', 0.5, 1000 + k)), undefined);
    t.equal(same.judge(connect(String(400 + k), '10.40.2.7', 0.5, 1000 + k)), undefined, 'many processes to one peer are no fan-out');
  }
  const slow = new ConnectionFan();
  for (let k = 0; k < 5; k++) {
    const time = 1000 + k * (FAN_SECONDS + 1);
    t.equal(slow.judge(exec(String(500 + k), '63', 0.5, time)), undefined);
    t.equal(slow.judge(connect(String(500 + k), `10.40.2.${k}`, 0.5, time)), undefined, 'members further apart than the window');
  }
  const svm = new ConnectionFan();
  for (let k = 0; k < 5; k++) {
    t.equal(svm.judge(exec(String(600 + k), '64', 0.5, 1000 + k, 'ocsvm')), undefined);
    t.equal(svm.judge(connect(String(600 + k), `10.40.2.${k}`, 0.5, 1000 + k)), undefined, 'processes the SVM decided are not weighed on their own rows');
  }
});

t.test('one address written two ways is one peer: three processes to one host in three writings are no fan-out', async (t) => {
  // socket_events writes an IPv6 address's every group and an IPv4 peer of an IPv6 socket as
  // `::ffff:…`; a tool that reaches one host over an IPv4 and a dual-stack socket made two or
  // three peers of it. 10.40.2.7 is ::ffff:a28:207.
  const writings = [
    ['10.40.2.7', '::ffff:10.40.2.7', '0000:0000:0000:0000:0000:ffff:0a28:0207'],
    ['2001:db8::7', '2001:0DB8:0000:0000:0000:0000:0000:0007', ' 2001:DB8::7 '],
    ['fe80::7', 'fe80::7%eth0', 'FE80:0:0:0:0:0:0:7'],
  ];
  for (const [i, forms] of writings.entries()) {
    const fan = new ConnectionFan();
    const verdicts = forms.flatMap((peer, k) => {
      const pid = String(700 + 10 * i + k);
      return [fan.judge(exec(pid, String(70 + i), 0.5, 1000 + k)), fan.judge(connect(pid, peer, 0.5, 1001 + k))];
    });
    t.same(verdicts, [undefined, undefined, undefined, undefined, undefined, undefined], `${forms.join(', ')}: one peer`);
    t.same(new Set(forms.map((peer) => peerOf({ remote_address: peer }))).size, 1, `peerOf gives ${forms[0]} one text`);
  }
  t.equal(peerOf({ remote_address: '::ffff:10.40.2.7' }), '10.40.2.7', 'an IPv4 peer of an IPv6 socket in its IPv4 form, the form shared-peer keys on');
  t.equal(peerOf({ remote_address: '0000:0000:0000:0000:0000:0000:0000:0001' }), undefined, 'loopback in full is no peer');
});

t.test('the second held-out set (seed 12): lateral movement is found by its rows, and no normal row more is bad', async (t) => {
  const { set, rows } = await scoreScenarioSet(t, 12, 'heldout');
  const story = (id: string) => rows.filter((_, i) => set.testStory[i] === id);
  const bad = (id: string, event: string) => story(id).filter((s) => s.verdict === 'bad' && s.event.startsWith(event)).length;
  // before: each of the fourteen ssh processes 0.54-0.58 and its connection 0.60-0.75, none bad
  t.ok(bad('lateral-movement', 'connect /usr/bin/ssh') >= 12, `lateral movement's connections bad: ${bad('lateral-movement', 'connect /usr/bin/ssh')} of 14`);
  t.ok(bad('lateral-movement', 'exec /usr/bin/ssh') >= 11, `its ssh processes bad: ${bad('lateral-movement', 'exec /usr/bin/ssh')} of 14`);
  t.equal(bad('brute-force', 'accept /usr/sbin/sshd'), 0, 'guesses from one address are no fan-out (one listener, no processes started)');
  const attack = new Set(set.stories.map((s) => s.id));
  const normal = rows.filter((_, i) => !attack.has(set.testStory[i]));
  t.same(
    normal.filter((s) => /repeated against many peers/.test(s.reasons)).map((s) => `${s.subject} ${s.event}`),
    [],
    'no normal row (routine, or a benign first time: a package upgrade, a new developer, a holiday week) is changed by a fan',
  );
});

t.test("a remembered group keeps the heads of its program and event, not the whole rows' values they were cut from", async (t) => {
  // Each member process is remembered with its group (its parent and program's first 256
  // characters) and each group with its first connection's event's first 200: slices are views
  // on the row's whole value, which would stay alive with them (a local user's flood of long
  // program names)
  const gc = (() => {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  })();
  const fan = new ConnectionFan();
  const groups = 40;
  const chars = 1 << 20;
  gc();
  const base = process.memoryUsage().heapUsed;
  for (let i = 0; i < groups; i++) {
    const program = `/home/eve/${String.fromCharCode(97 + (i % 26)).repeat(chars)}${i}`;
    for (let k = 0; k < 3; k++) {
      const pid = String(1000 + 3 * i + k);
      fan.judge({ ...exec(pid, String(100 + i), 0.5, 1000 + i), columns: { pid, parent: String(100 + i), path: program } });
      fan.judge({ ...connect(pid, `10.40.2.${k}`, 0.6, 1000 + i), event: `connect ${program} -> private:10.40:22` });
    }
  }
  gc();
  const grown = process.memoryUsage().heapUsed - base;
  t.ok(grown < 4 * chars, `the heap grew by ${(grown / 1048576).toFixed(1)} MB for ${groups} groups whose programs were ${chars >> 20} MB each`);
});
