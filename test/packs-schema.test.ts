import * as fs from 'fs';
import * as path from 'path';
import initSqlJs from 'sql.js';
import t from 'tap';
import { MODEL_COLUMNS } from '../extension/tables/models';
import { SCORE_COLUMNS } from '../extension/tables/scores';
import { WINDOW_COLUMNS } from '../extension/tables/windows';
import { FIXTURES, ROOT } from './helpers/paths';

// Each pack query states the osquery version it needs ("version", else the pack's). Every
// query must compile against osquery's schema of that version: the tables as osquery's
// specs/*.table files define them (test/fixtures/osquery-specs/<version>/, trimmed copies),
// each at the newest copy not newer than the version, plus the extension's own tables.

const SPECS = path.join(FIXTURES, 'osquery-specs');
type Version = [number, number, number];
const parse = (v: string): Version => v.split('.').map(Number).concat(0, 0).slice(0, 3) as Version;
const cmp = (a: Version, b: Version) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** table name to its columns, as osquery `version` defines them (as far as the fixtures go) */
function schemaAt(version: string): Map<string, string[]> {
  const tables = new Map<string, { at: Version; columns: string[] }>();
  for (const dir of fs.readdirSync(SPECS).filter((d) => /^\d+\.\d+\.\d+$/.test(d))) {
    if (cmp(parse(dir), parse(version)) > 0) continue;
    for (const f of fs.readdirSync(path.join(SPECS, dir))) {
      const spec = fs.readFileSync(path.join(SPECS, dir, f), 'utf8');
      const name = /table_name\("(\w+)"/.exec(spec)![1];
      const columns = [...spec.matchAll(/Column\("(\w+)"/g)].map((m) => m[1]);
      const known = tables.get(name);
      if (!known || cmp(known.at, parse(dir)) < 0) tables.set(name, { at: parse(dir), columns });
    }
  }
  return new Map([...tables].map(([name, { columns }]) => [name, columns]));
}

async function compileAt(version: string): Promise<(sql: string) => string | null> {
  const SQL = await initSqlJs();
  const db = new SQL.Database();
  const tables = schemaAt(version);
  tables.set(
    'anomaly_scores',
    SCORE_COLUMNS.map((c) => c.name),
  );
  tables.set(
    'anomaly_models',
    MODEL_COLUMNS.map((c) => c.name),
  );
  tables.set(
    'anomaly_windows',
    WINDOW_COLUMNS.map((c) => c.name),
  );
  for (const [name, columns] of tables) db.run(`CREATE TABLE ${name} (${columns.map((c) => `"${c}"`).join(', ')})`);
  return (sql) => {
    try {
      db.prepare(sql).free();
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  };
}

for (const file of ['user-behavior.conf', 'anomaly-alerts.conf']) {
  t.test(`${file}: every query compiles against the schema of the osquery version it names`, async (t) => {
    const pack = JSON.parse(fs.readFileSync(path.join(ROOT, 'packs', file), 'utf8'));
    t.match(pack.version, /^\d+\.\d+\.\d+$/, 'the pack names a version');
    const packCompile = await compileAt(pack.version);
    for (const q of pack.discovery ?? []) t.equal(packCompile(q), null, `discovery at ${pack.version}: ${q}`);
    for (const [name, q] of Object.entries<{ query: string; version?: string }>(pack.queries)) {
      const version = q.version ?? pack.version;
      t.ok(cmp(parse(version), parse(pack.version)) >= 0, `${name}: version ${version} is not below the pack's`);
      t.equal((await compileAt(version))(q.query), null, `${name} at osquery ${version}`);
    }
  });
}

t.test('the versions are needed: socket_events.status and last.type_name came in osquery 5.0.0', async (t) => {
  const pack = JSON.parse(fs.readFileSync(path.join(ROOT, 'packs', 'user-behavior.conf'), 'utf8'));
  const before = await compileAt('4.9.0');
  t.match(before(pack.queries.socket_events.query), /no such column: status/);
  t.match(before(pack.queries.last.query), /no such column: type_name/);
});

t.test('socket_events leaves out loopback as osquery writes it, and keeps binds', async (t) => {
  const pack = JSON.parse(fs.readFileSync(path.join(ROOT, 'packs', 'user-behavior.conf'), 'utf8'));
  const SQL = await initSqlJs();
  const db = new SQL.Database();
  const columns = schemaAt(pack.queries.socket_events.version).get('socket_events')!;
  db.run(`CREATE TABLE socket_events (${columns.map((c) => `"${c}"`).join(', ')})`);
  // rows as osquery 5's socket_events.cpp makes them: IPv6 addresses with every group in full,
  // a bind's remote address "0" up to 5.14 and none from 5.15.0 (osquery #8510: the column is
  // left unset, which osquery's table answers as '', and NULL here too): the loopback filter
  // then dropped every bind on a current osquery
  // family is an INTEGER column in osquery
  const rows: Array<[string, number, string | null]> = [
    ['connect', 2, '127.0.0.1'],
    ['connect', 2, '127.0.0.53'], // systemd-resolved's stub: every DNS lookup on Ubuntu
    ['connect', 10, '0000:0000:0000:0000:0000:0000:0000:0001'],
    ['connect', 10, '0000:0000:0000:0000:0000:ffff:7f00:0001'],
    ['connect', 2, '198.51.100.7'],
    ['connect', 10, '2001:0db8:0000:0000:0000:0000:0000:0001'],
    ['bind', 2, '0'],
    ['bind', 10, ''],
    ['bind', 2, null],
  ];
  for (const [action, family, remote] of rows)
    db.run('INSERT INTO socket_events (action, family, remote_address, path) VALUES (?, ?, ?, ?)', [action, family, remote, '/usr/bin/x']);
  const [res] = db.exec(pack.queries.socket_events.query);
  const kept = res.values.map((r) => `${r[res.columns.indexOf('action')]} ${r[res.columns.indexOf('remote_address')]}`);
  t.same(kept, ['connect 198.51.100.7', 'connect 2001:0db8:0000:0000:0000:0000:0000:0001', 'bind 0', 'bind ', 'bind null']);
});
