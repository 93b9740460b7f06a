import t from 'tap';
import { peerOf } from '../scorer/connection-fan';
import { FeatureExtractor } from '../scorer/features/extract';
import { addressClass } from '../scorer/features/generalise';
import { networkClass } from '../scorer/features/security';
import { parseResultLine } from '../scorer/parse/results';
import { UidMap } from '../scorer/features/subject';

// osquery 5.15.0 (#8510, b30bb8128) stopped writing "0" in socket_events for the side a row
// has not: a bind's remote_address, a connect's or an accept's local_address are left unset,
// which its log writes as ''. Ports keep their default "0" on Linux (row["remote_port"] = '0'
// before the address is parsed, in both versions). A host upgrading osquery must not see its
// binds as new behaviour, nor were they ever connections to a host name.

/** one socket_events line as osqueryd's filesystem logger writes it */
function line(columns: Record<string, string>): string {
  return JSON.stringify({
    name: 'pack_user-behavior_socket_events',
    hostIdentifier: 'web-3',
    calendarTime: 'Sat Nov 21 09:15:02 2026 UTC',
    unixTime: 1795338902,
    epoch: 0,
    counter: 0,
    numerics: false,
    decorations: { host_uuid: 'u' },
    columns: {
      pid: '812',
      path: '/usr/sbin/nginx',
      fd: '6',
      auid: '4294967295',
      family: '2',
      protocol: '0',
      time: '1795338900',
      uptime: '91',
      status: 'succeeded',
      success: '1',
      ...columns,
    },
    action: 'added',
  });
}

/** the row's event as a fresh extractor makes it (learning nothing from another row first) */
function featuresOf(text: string): { key: string; values: string[]; pairs: string[] } {
  const [row] = parseResultLine(text);
  const { event } = new FeatureExtractor({ users: new UidMap(), overrides: {} }).extract(row);
  return { key: event.key, values: event.values, pairs: event.pairs };
}

t.test('every spelling of "no address" is one class, and 0.0.0.0 and :: stay addresses', async (t) => {
  for (const none of ['', '0', ' 0 ', '  ']) {
    t.equal(addressClass(none), 'none', JSON.stringify(none));
    t.equal(networkClass(none), 'none', `network of ${JSON.stringify(none)}`);
    t.equal(peerOf({ remote_address: none }), undefined, `no peer in ${JSON.stringify(none)}`);
  }
  t.equal(addressClass('0.0.0.0'), 'any', "a listener's every interface (listening_ports), not no address");
  t.equal(addressClass('::'), 'any');
  t.equal(addressClass('0000:0000:0000:0000:0000:0000:0000:0000'), 'any', 'socket_events: :: in full');
  t.equal(addressClass('10.0.0.0'), 'private:10.0', 'a 0 inside an address is no "no address"');
});

t.test('a bind row logged by osquery 5.14 and by 5.15 has the same features', async (t) => {
  const bind = { action: 'bind', local_address: '0.0.0.0', local_port: '8443', remote_port: '0' };
  const before = featuresOf(line({ ...bind, remote_address: '0' }));
  const after = featuresOf(line({ ...bind, remote_address: '' }));
  t.same(after, before, 'key, values and pairs');
  t.ok(before.values.includes('raddr=none'), `no peer, not a host name (${before.values.join(' ')})`);
  t.ok(before.values.includes('net=none'));
  t.equal(before.key, 'bind /usr/sbin/nginx :8443');
  // the column left out of the row altogether (the extension reads a row's columns as osqueryd hands them)
  t.same(featuresOf(line(bind)), before, 'no remote_address column at all');
});

t.test('a connect and an accept whose local address 5.14 wrote "0" and 5.15 leaves empty', async (t) => {
  for (const [action, port] of [
    ['connect', '443'],
    ['accept', '51514'],
  ]) {
    const row = { action, remote_address: '198.51.100.7', remote_port: port, local_port: '0' };
    t.same(featuresOf(line({ ...row, local_address: '' })), featuresOf(line({ ...row, local_address: '0' })), action);
  }
});

t.test('a row with no action column and no peer is a bound socket, whichever way the peer is missing', async (t) => {
  const keys = ['', '0'].map((remote) => featuresOf(line({ remote_address: remote, remote_port: '0', local_port: '8443' })).key);
  t.same(keys, ['bind /usr/sbin/nginx :8443', 'bind /usr/sbin/nginx :8443']);
});
