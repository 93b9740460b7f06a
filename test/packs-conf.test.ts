import * as fs from 'fs';
import * as path from 'path';
import Ajv from 'ajv';
import t from 'tap';
import { loadConfig, resolveConfig, ConfigError } from '../conf/config';
import { ROOT } from './helpers/paths';
import { fileLocation } from '../scorer/features/security';

const packSchema = JSON.parse(fs.readFileSync(path.join(ROOT, 'conf', 'pack.schema.json'), 'utf8'));
const validatePack = new Ajv({ allErrors: true }).compile(packSchema);

t.test('the shipped packs are valid osquery packs', async (t) => {
  for (const name of ['user-behavior.conf', 'anomaly-alerts.conf']) {
    const pack = JSON.parse(fs.readFileSync(path.join(ROOT, 'packs', name), 'utf8'));
    t.ok(validatePack(pack), `${name}: ${JSON.stringify(validatePack.errors)}`);
  }
  const alerts = JSON.parse(fs.readFileSync(path.join(ROOT, 'packs', 'anomaly-alerts.conf'), 'utf8'));
  t.match(alerts.discovery[0], /osquery_registry.*anomaly_scores/, 'the alert pack only runs where the table is registered');
  t.match(alerts.queries.bad.query, /score < 0\.3/);
  t.match(alerts.queries.ugly.query, /score >= 0\.3 AND score < 0\.7/);
});

t.test('a broken pack is refused, naming the key', async (t) => {
  const bad = { queries: { q: { query: 'SELECT 1', interval: 700000, snapshott: true } } };
  t.notOk(validatePack(bad));
  const paths = (validatePack.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`).join('; ');
  t.match(paths, /\/queries\/q/, `errors point at the query: ${paths}`);
  t.match(paths, /snapshott|interval/, 'and at the bad key');
  t.notOk(validatePack({ queries: {} }), 'a pack needs queries');
  // osquery's Pack::initialize reads shard, platform, version, query, interval, snapshot,
  // removed, denylist and (since 5.17.0) startup_priority of a query (value and description are
  // documentation): any other key would be silently ignored
  t.notOk(validatePack({ queries: { q: { query: 'SELECT 1', blacklist: false } } }), 'a key osquery does not read is refused');
  t.notOk(validatePack({ queries: { q: { query: 'SELECT 1', startup_priority: -1 } } }), 'startup_priority is a size');
});

t.test("a pack query's startup_priority, which osquery 5.17.0 reads, is accepted (review rev5)", async (t) => {
  // osquery/config/packs.cpp reads it since #8554 (5.17.0): a query with it also runs once at
  // start, in its order; the schema had been made to refuse it as a key osquery never reads
  const pack = { queries: { users: { query: 'SELECT uid FROM users;', interval: 86400, startup_priority: 0 } } };
  t.ok(validatePack(pack), JSON.stringify(validatePack.errors));
});

t.test('the example config is valid and covers every section', async (t) => {
  const file = path.join(ROOT, 'conf', 'anomaly.example.json');
  const cfg = loadConfig(file, {});
  t.equal(cfg.state_dir, '/var/osquery/anomaly');
  // the default: the host baseline waits min_days too, and until it scores every row is NULL
  t.equal(cfg.learning.min_days, 1);
  t.same(cfg.models, { rarity: true, ocsvm: true, lstm: true, ngram: false });
  t.equal(cfg.queries['pack_user-behavior_listening_ports'].subject, 'host');
  t.same(cfg.queries['pack_user-behavior_file_events'].key, ['action', 'target_path']);
});

t.test('a config that names its schema for an editor is accepted', async (t) => {
  // editors complete and check a JSON file against the schema its "$schema" names; the
  // extension refused the key (exit 78), and a logger that does not start keeps osqueryd down
  const cfg = resolveConfig({ $schema: '/usr/local/lib/osquery/anomaly/conf/anomaly.schema.json', learning: { min_events: 500 } }, 'x.json', {});
  t.equal(cfg.learning.min_events, 500, 'the rest of the config is read');
  t.throws(() => resolveConfig({ $schema: 7 }, 'x.json', {}), /x\.json: \$schema: must be string/, 'a schema reference is a path or URL');
});

t.test('a bad config is refused with the path of the offending key', async (t) => {
  t.throws(() => resolveConfig({ learning: { min_events: 'many' } }, 'x.json', {}), /x\.json: learning\.min_events: must be integer/);
  t.throws(() => resolveConfig({ models: { lstm: true, gru: true } }, 'x.json', {}), /models\.gru: unknown key \(expected one of rarity, ocsvm, lstm, ngram\)/);
  // a typo shows the keys it could have meant, at the top, in a section and in a query override
  t.throws(() => resolveConfig({ learnign: {} }, 'x.json', {}), /x\.json: learnign: unknown key \(expected one of state_dir, log_level, retention, learning,/);
  t.throws(
    () => resolveConfig({ queries: { q: { subjet: 'host' } } }, 'x.json', {}),
    /queries\.q\.subjet: unknown key \(expected one of subject, key, ignore\)/,
  );
  t.throws(() => resolveConfig({ queries: { q: { subject: '' } } }, 'x.json', {}), /queries\.q\.subject/);
  t.throws(() => loadConfig('/nonexistent/anomaly.json', {}), ConfigError, 'a config that was asked for must exist');
  // the extension (cwd / under systemd) and anomaly train (cwd anywhere) would use two places
  t.throws(() => resolveConfig({ state_dir: 'anomaly-state' }, 'x.json', {}), /x\.json: state_dir: must be an absolute path, not "anomaly-state"/);
  t.throws(() => resolveConfig({ baselines: { fleet_prior: 'fleet.json' } }, 'x.json', {}), /baselines\.fleet_prior: must be an absolute path/);
  t.equal(resolveConfig({ baselines: { fleet_prior: '' } }, 'x.json', {}).baselines.fleet_prior, '', 'no fleet prior is still ""');
  t.equal(loadConfig(undefined, { ANOMALY_STATE_DIR: '/tmp/x' }).state_dir, '/tmp/x', 'ANOMALY_STATE_DIR overrides the state directory');
  // the same two places through the variable: it was taken as given, so osqueryd's extension
  // (cwd /) kept its state in /var/anomaly and `anomaly train` run in /root in /root/var/anomaly
  t.throws(
    () => loadConfig(undefined, { ANOMALY_STATE_DIR: 'var/anomaly' }),
    /ANOMALY_STATE_DIR: must be an absolute path, not "var\/anomaly"/,
    'a relative ANOMALY_STATE_DIR is refused as the config key is',
  );
  // and the config file the variable names, read by both: /etc/anomaly.json for the extension
  t.throws(
    () => loadConfig(undefined, { ANOMALY_CONFIG: 'etc/anomaly.json' }),
    /ANOMALY_CONFIG: must be an absolute path, not "etc\/anomaly\.json"/,
    'a relative ANOMALY_CONFIG too',
  );
});

t.test('the flags file uses osquery flag names', async (t) => {
  const flags = fs
    .readFileSync(path.join(ROOT, 'conf', 'osquery.flags'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('--'));
  for (const f of ['--logger_plugin=filesystem,anomaly', '--extensions_require=anomaly', '--disable_audit=false', '--enable_file_events=true'])
    t.ok(flags.includes(f), f);
});

// osquery's table call cannot be paged: the extension refuses an answer past 64 MB (status 1,
// the scheduled query's error) and filters on time and score before it reads rows, so an
// alert query's answer is every row of its window that passes its score filter, whatever its
// LIMIT. A row of good_sample's seven columns is about 266 bytes on the wire (245 jumpvm rows
// scored: 172 bytes of values, 32 of keys, 8 of lengths per column): a day of good rows (94 %
// of them) passes 64 MB past about 250,000 rows a day, 3 a second, which a build server's
// process_events exceeds. Only the bad
// rows (0.16 %) may be read over a day; any other score band over an hour at most, as ugly is.
t.test('alert queries over anomaly_scores read a day only of bad rows, other bands an hour at most', async (t) => {
  const alerts = JSON.parse(fs.readFileSync(path.join(ROOT, 'packs', 'anomaly-alerts.conf'), 'utf8'));
  for (const [name, q] of Object.entries(alerts.queries as Record<string, { query: string; interval: number }>)) {
    if (!/FROM anomaly_scores/.test(q.query)) continue;
    const window = /time > \(CAST\(strftime\('%s', 'now'\) AS INTEGER\) - (\d+)\)/.exec(q.query);
    t.ok(window, `${name}: bounded by time`);
    const onlyBad = /WHERE score < 0\.3 /.test(q.query);
    t.ok(Number(window![1]) <= (onlyBad ? 86400 : 3600), `${name}: a window of ${window![1]} s`);
    t.ok(q.interval <= Number(window![1]), `${name}: runs at least once a window (${q.interval} s)`);
  }
});

// Fleet does not read osquery packs: `fleetctl convert -f pack.conf` turns each query into a
// `kind: query` spec of name, query, interval, description and min_osquery_version, and drops
// the pack's platform and discovery and each query's snapshot and removed (fleetdm/fleet,
// cmd/fleetctl/fleetctl/convert.go, specGroupFromPack); Fleet logs a query whose `logging` is
// unset as a snapshot. Converted as they are, `bad` would log every bad row of a day again
// every minute. packs/README.md gives the logging each query needs: it must say what the
// pack's own keys say, for every query of both packs.
t.test('packs/README.md gives each pack query, for Fleet, the logging its snapshot and removed keys mean', async (t) => {
  const readme = fs.readFileSync(path.join(ROOT, 'packs', 'README.md'), 'utf8');
  const table = new Map(
    [...readme.matchAll(/^\| `([\w-]+)` \| `(\w+)` \| `(snapshot|differential|differential_ignore_removals)` \|/gm)].map((m) => [`${m[1]}/${m[2]}`, m[3]]),
  );
  for (const pack of ['user-behavior', 'anomaly-alerts']) {
    const queries = JSON.parse(fs.readFileSync(path.join(ROOT, 'packs', `${pack}.conf`), 'utf8')).queries as Record<
      string,
      { snapshot?: boolean; removed?: boolean }
    >;
    for (const [name, q] of Object.entries(queries)) {
      const logging = q.snapshot ? 'snapshot' : q.removed === false ? 'differential_ignore_removals' : 'differential';
      t.equal(table.get(`${pack}/${name}`), logging, `${pack} ${name}: logging ${logging}`);
    }
    t.equal([...table.keys()].filter((k) => k.startsWith(`${pack}/`)).length, Object.keys(queries).length, `${pack}: no query the pack does not have`);
  }
});

t.test('every path the example osquery config watches is a place the scorer classes as persistence or credentials', async (t) => {
  // a watched path the scorer reads as plain `config` would make a planted file one more config
  // change, and a persistence place the scorer knows but nobody watches is never seen at all
  const conf = JSON.parse(fs.readFileSync(path.join(ROOT, 'conf', 'osquery.example.conf'), 'utf8'));
  const watched: string[] = Object.values(conf.file_paths as Record<string, string[]>).flat();
  t.ok(watched.length >= 20, `${watched.length} watched paths`);
  for (const glob of watched) {
    // osquery's `%` is one path level, `%%` anything below
    const sample = glob.replace(/%%$/, 'planted').replace(/%/g, 'alice');
    t.match(fileLocation(sample), /^(?:autostart|accounts|ssh)$/, `${glob} (${sample}) is classed ${fileLocation(sample)}`);
  }
  for (const place of ['/etc/udev/rules.d/x', '/etc/ld.so.preload', '/etc/profile.d/x.sh', '/home/alice/.config/systemd/user/x.timer', '/etc/pam.d/sshd']) {
    t.ok(
      watched.some((glob) => new RegExp(`^${glob.replace(/[.]/g, '\\.').replace(/%%$/, '.+').replace(/%/g, '[^/]+')}$`).test(place)),
      `${place} is watched`,
    );
  }
});
