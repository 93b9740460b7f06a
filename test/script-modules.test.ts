import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';

// The scripts the docs cite (scripts/*.js) load the built tree by path, outside the type
// check: a module moved in the sources (scorer/windows.ts into scorer/windows/, branch
// `split`) left `node scripts/hostile-columns.js` failing at its first line, MODULE_NOT_FOUND.
// Every module a script names under dist/ must be there.

const dist = path.join(__dirname, '..');
const scripts = path.join(dist, '..', 'scripts');

/** the dist paths a script names: require(path.join(dist, 'a', 'b.js')) and its load('a', 'b') helpers */
function namedModules(source: string): string[] {
  const names: string[] = [];
  for (const m of source.matchAll(/(?:path\.join\(\s*(?:dist|D)\s*,|\bload\()\s*((?:'[^']+'\s*,?\s*)+)\)/g)) {
    const parts = [...m[1].matchAll(/'([^']+)'/g)].map((p) => p[1]);
    // (build stamps such as dist/.built are files, not modules)
    if (!parts[parts.length - 1].startsWith('.')) names.push(path.join(...parts));
  }
  return names;
}

t.test('every dist module a script names exists', async (t) => {
  const files = fs.readdirSync(scripts).filter((f) => f.endsWith('.js'));
  t.ok(files.length > 5, `${files.length} scripts`);
  let named = 0;
  for (const file of files) {
    for (const name of namedModules(fs.readFileSync(path.join(scripts, file), 'utf8'))) {
      named++;
      let found = true;
      try {
        require.resolve(path.join(dist, name));
      } catch {
        found = false;
      }
      t.ok(found, `scripts/${file}: dist/${name}`);
    }
  }
  t.ok(named > 20, `${named} modules named`);
});
