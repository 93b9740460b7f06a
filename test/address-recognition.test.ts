import t from 'tap';
import { FeatureExtractor } from '../scorer/features/extract';
import { addressClass, canonicalAddress, ipVersion, loginOrigin } from '../scorer/features/generalise';
import { generaliseValue } from '../scorer/features/kinds';
import { UidMap } from '../scorer/features/subject';
import type { ResultRow } from '../scorer/types';

// (ipv6) A column of a table no unit knows, and a configured key's column, was an address
// only when dotted IPv4 or holding `::`: a full IPv6 address had its digits masked like a
// number (`2001:0db8:0000:…:0001` → `<n>:<n>db<n>:…`), another value than `2001:db8::1`, and a
// name with `::` in it (`Net::SSH`) was taken for an address and became `name`.

t.test('an IPv6 address in any form is the same value as its compressed form', async (t) => {
  const forms: [string, string][] = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', 'public:2001:db8'],
    ['2001:db8:0:0:0:0:0:1', 'public:2001:db8'],
    ['2001:DB8::1', 'public:2001:db8'],
    ['2a01:4f8:c17:1b2c:a00:27ff:fe4e:66a1', 'public:2a01:4f8'],
    ['fe80:0:0:0:a00:27ff:fe4e:66a1%eth0', 'link-local'],
    ['0:0:0:0:0:ffff:198.51.100.7', 'public:198.51'],
    ['0000:0000:0000:0000:0000:ffff:c633:6407', 'public:198.51'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', 'loopback'],
    ['fd12:3456:789a:1:0:0:0:1', 'private:v6'],
  ];
  for (const [v, want] of forms) {
    t.equal(generaliseValue(v), want, v);
    t.equal(generaliseValue(v), addressClass(v), `${v}: a column's value is the address's class`);
  }
  t.equal(generaliseValue('2001:0db8:0000:0000:0000:0000:0000:0001'), generaliseValue('2001:db8::1'), 'one host, one value');
  t.equal(generaliseValue('198.51.100.7'), 'public:198.51', 'IPv4 as before');
});

t.test('what only has colons or dots is no address', async (t) => {
  const not = [
    'aa:bb:cc:dd:ee:ff', // a MAC
    '08:00:27:4e:66:a1',
    '12:34:56', // a time
    '2026-11-22 03:07:00',
    '50:01:43:80:12:34:56:78', // a fibre channel WWN, an EUI-64: parses as IPv6, lies in ::/8
    'Net::SSH', // a module's name
    'std::string',
    ':0', // an X display
    '1:2', // a ratio
    'host:8080',
    '1.2.3', // a version
    '300.1.2.3',
  ];
  for (const v of not) {
    t.equal(ipVersion(v), 0, v);
    t.equal(addressClass(v), 'name', `${v}: a name to addressClass`);
    t.equal(canonicalAddress(v), v.toLowerCase(), `${v}: left as written`);
  }
  t.equal(generaliseValue('aa:bb:cc:dd:ee:ff'), 'aa:bb:cc:dd:ee:ff', 'a MAC stays a value');
  t.equal(generaliseValue('12:34:56'), '<n>:<n>:<n>', 'a time is masked as before');
  t.equal(generaliseValue('Net::SSH'), 'Net::SSH', 'a module name stays itself, not `name`');
  t.equal(generaliseValue('50:01:43:80:12:34:56:78'), '<n>:<n>:<n>:<n>:<n>:<n>:<n>:<n>');
  t.equal(ipVersion(' 2001:db8::1 '), 6, 'trimmed as addressClass trims');
  t.equal(loginOrigin('2a01:4f8:c17:1b2c:a00:27ff:fe4e:66a1'), '2a01:4f8:c17:1b2c:a00:27ff:fe4e:66a1', 'a login from a full IPv6 address keeps it');
});

t.test('a table no unit knows and a configured key see one peer in both of its forms', async (t) => {
  const row = (peer: string): ResultRow => ({
    query: 'pack_x_vpn_peers',
    host: 'h',
    time: 1_790_000_000,
    action: 'added',
    columns: { peer, iface: 'wg0' },
    decorations: {},
  });
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const full = x.extract(row('2001:0db8:0000:0000:0000:0000:0000:0001')).event;
  const short = x.extract(row('2001:db8::1')).event;
  t.equal(full.key, 'vpn_peers iface=wg<n> peer=public:2001:db8');
  t.equal(full.key, short.key, 'one event');
  t.ok(full.values.includes('peer=public:2001:db8'));
  const keyed = new FeatureExtractor({ users: new UidMap(), overrides: { pack_x_vpn_peers: { key: ['peer'] } } });
  t.equal(keyed.extract(row('2a01:4f8:c17:1b2c:a00:27ff:fe4e:66a1')).event.key, 'vpn_peers peer=public:2a01:4f8', 'a configured key too');
});
