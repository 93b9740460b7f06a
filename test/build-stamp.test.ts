import t, { type Test } from 'tap';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { bareNode } from './helpers/bare-node';
import { ROOT } from './helpers/paths';

// The README's first three commands are `npm ci`, `npm test` and `npm run demo`. `npm ci`
// builds (its `prepare` script, scripts/prepare.js), and `npm run demo` builds again unless
// dist/.built says the last build is newer than every source (scripts/build-if-stale.js).
// A build is a build whichever script ran it: the demo right after `npm ci` must not build
// a second time. The scripts run here on a tree of their own (one source, the repository's
// TypeScript), so that the test builds seconds of code, not the project.

function tree(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'build-stamp-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'scripts'));
  for (const f of ['stale.js', 'prepare.js', 'build-if-stale.js', 'transpile.js', 'copy-assets.js'])
    fs.copyFileSync(path.join(ROOT, 'scripts', f), path.join(dir, 'scripts', f));
  fs.writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'node16',
        strict: true,
        esModuleInterop: true,
        isolatedModules: true,
        sourceMap: true,
        outDir: 'dist',
        rootDir: '.',
        incremental: true,
        tsBuildInfoFile: 'dist/.tsbuildinfo',
        types: [],
      },
      include: ['cli/**/*.ts'],
    }),
  );
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'build-stamp-fixture', private: true }));
  fs.mkdirSync(path.join(dir, 'cli'));
  fs.writeFileSync(path.join(dir, 'cli', 'main.ts'), 'export const answer: number = 42;\n');
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

/** what a build is made by but its sources, in the tree (scripts/stale.js buildInputs) */
function buildInputs(dir: string): string[] {
  return ['tsconfig.json', 'package.json', ...fs.readdirSync(path.join(dir, 'scripts')).map((f) => path.join('scripts', f))];
}

function run(dir: string, script: string, ...args: string[]) {
  // as npm runs them: without the TAP_* settings of this test's own run (tap reads its project from
  // TAP_CWD), nor its hooks (which tsc's and tap's loads of their compilers ran through)
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TAP')));
  const r = spawnSync(...bareNode([path.join('scripts', script), ...args]), { cwd: dir, encoding: 'utf8', env });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/**
 * the tree as the first test leaves it: built by prepare, then found current by build-if-stale.
 * The second test starts from a copy of it (timestamps kept), as it would otherwise run the same
 * two scripts to get there, tsc and tap's build included: a third of this file's CPU
 */
let preparedTree: string | undefined;
const file = t;

t.test("the demo's build-if-stale builds nothing right after npm ci's prepare built", async (t) => {
  // (removed when the file ends, not the test: the second one copies it)
  const dir = tree(file);
  // prepare also builds tap's Test class to package.json's plugin list, in the node_modules
  // the tree links: this suite's own, which the tree's list (none) must leave as it is
  const tapClass = path.join(ROOT, 'node_modules', '@tapjs', 'test', 'test-built', 'dist', 'esm', 'index.js');
  const tapBefore = fs.readFileSync(tapClass, 'utf8');
  const prepared = run(dir, 'prepare.js');
  t.equal(prepared.status, 0, `prepare (npm ci) builds: ${prepared.out}`);
  t.ok(fs.existsSync(path.join(dir, 'dist', 'cli', 'main.js')), 'prepare compiled the source');
  t.ok(fs.readFileSync(tapClass, 'utf8') === tapBefore, "a tree without a tap plugin list leaves the running suite's tap class alone");
  const demo = run(dir, 'build-if-stale.js');
  t.equal(demo.status, 0, demo.out);
  t.match(demo.out, /dist\/ is current: nothing to build/, `then npm run demo finds the build current (it said: ${demo.out.trim() || 'nothing'})`);
  preparedTree = dir;
});

t.test('a source saved after the last build is built again', async (t) => {
  // prepare.js, then build-if-stale.js: the first test's tree, copied (it fails if they did)
  t.ok(preparedTree, 'the first test left a tree built by prepare and found current');
  if (!preparedTree) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'build-stamp-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.cpSync(preparedTree, dir, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  // the last build well before the edit, whatever the file system's time resolution
  const stamp = path.join(dir, 'dist', '.built');
  const before = new Date(Date.now() - 10_000);
  fs.utimesSync(stamp, before, before);
  fs.writeFileSync(path.join(dir, 'cli', 'main.ts'), 'export const answer: number = 43;\n');
  const demo = run(dir, 'build-if-stale.js');
  t.equal(demo.status, 0, demo.out);
  t.notMatch(demo.out, /nothing to build/, 'the changed source is built');
  t.match(fs.readFileSync(path.join(dir, 'dist', 'cli', 'main.js'), 'utf8'), /43/, 'the output is the new source');
  t.match(run(dir, 'build-if-stale.js').out, /dist\/ is current: nothing to build/, 'and once built, current');
});

/** the repository's `npm run typecheck` (part of `npm run lint`), run in `dir` */
function typecheck(dir: string) {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TAP'))),
    PATH: `${path.join(ROOT, 'node_modules', '.bin')}:${process.env.PATH}`,
  };
  const r = spawnSync('/usr/bin/env', ['-u', 'NODE_OPTIONS', '/bin/sh', '-c', pkg.scripts.typecheck], { cwd: dir, encoding: 'utf8', env });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

// The build transpiles each file alone (scripts/transpile.js, no type check): its outputs must
// be tsc's own, which isolatedModules (checked by the type check) makes them, maps included.
t.test("the build's per-file transpile writes what tsc writes, maps included", async (t) => {
  const dir = tree(t);
  const files: Record<string, string> = {
    'cli/main.ts': [
      "import path from 'path';",
      "import { type Shape, area, Kind } from './shape';",
      "import type { Unit } from './unit';",
      "export { area } from './shape';",
      'const unit: Unit = "m";',
      'export class Box { readonly sides = 4; constructor(private readonly shape: Shape) {} }',
      'export async function main(): Promise<string> { return `${area({ kind: Kind.Square, side: 2 })} ${unit} ${path.sep}`; }',
      '',
    ].join('\n'),
    'cli/shape.ts':
      'export enum Kind { Square, Circle }\nexport interface Shape { kind: Kind; side: number }\nexport function area(s: Shape): number { return s.kind === Kind.Square ? s.side ** 2 : Math.PI * s.side ** 2; }\n',
    'cli/unit.ts': "export type Unit = 'm' | 'cm';\n",
  };
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);
  t.equal(run(dir, 'build-if-stale.js').status, 0, 'built');
  // tsc's emit of the same tree (its type errors do not stop it: no node types here)
  spawnSync(
    ...bareNode([path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--outDir', 'dist-tsc', '--incremental', 'false']),
    { cwd: dir },
  );
  for (const f of Object.keys(files)) {
    for (const out of [f.replace(/\.ts$/, '.js'), f.replace(/\.ts$/, '.js.map')])
      t.equal(fs.readFileSync(path.join(dir, 'dist', out), 'utf8'), fs.readFileSync(path.join(dir, 'dist-tsc', out), 'utf8'), `dist/${out} is tsc's`);
  }
  t.match(
    fs.readFileSync(path.join(dir, 'dist', 'cli', 'main.js.map'), 'utf8'),
    /"sources":\["\.\.\/\.\.\/cli\/main\.ts"\]/,
    'the map names the source, relative to itself',
  );
});

t.test('a type error no longer stops the build; the type check (npm run lint) fails on it, and on what a per-file transpile would get wrong', async (t) => {
  const dir = tree(t);
  t.equal(typecheck(dir).status, 0, 'the fixture checks clean');
  fs.writeFileSync(path.join(dir, 'cli', 'main.ts'), "export const answer: number = 'forty-two';\n");
  const built = run(dir, 'build-if-stale.js');
  t.equal(built.status, 0, `the build runs the code's JavaScript whatever its types: ${built.out}`);
  t.match(fs.readFileSync(path.join(dir, 'dist', 'cli', 'main.js'), 'utf8'), /forty-two/);
  const checked = typecheck(dir);
  t.not(checked.status, 0, 'the type check fails');
  t.match(checked.out, /TS2322/, checked.out);
  // a type re-exported as a value: transpiled alone, the file would export a getter of nothing
  fs.writeFileSync(path.join(dir, 'cli', 'types.ts'), 'export type Answer = number;\n');
  fs.writeFileSync(path.join(dir, 'cli', 'main.ts'), "import { Answer } from './types';\nexport { Answer };\n");
  const isolated = typecheck(dir);
  t.not(isolated.status, 0, 'the type check fails on a construct a per-file transpile cannot compile as tsc does');
  t.match(isolated.out, /TS1205/, isolated.out);
});

t.test('a syntax error fails the build, which is not stamped', async (t) => {
  const dir = tree(t);
  fs.writeFileSync(path.join(dir, 'cli', 'main.ts'), 'export const answer: number = ;\n');
  const built = run(dir, 'build-if-stale.js');
  t.not(built.status, 0, 'the build fails');
  t.match(built.out, /cli\/main\.ts.*TS1109/, built.out);
  t.notOk(fs.existsSync(path.join(dir, 'dist', '.built')), 'and does not say dist/ is current');
});

// (tidy6) `npm test` builds through build-if-stale.js, so that CI, whose `npm ci` has just
// built, does not build twice: a source deleted, and nothing else changed, must be a reason
// to build, or a test deleted from the tree would still run from dist/
t.test("a deleted source's output is gone after the next build, which the deletion alone asks for", async (t) => {
  const dir = tree(t);
  fs.writeFileSync(path.join(dir, 'cli', 'old.ts'), 'export const old = 1;\n');
  t.equal(run(dir, 'prepare.js').status, 0);
  t.ok(fs.existsSync(path.join(dir, 'dist', 'cli', 'old.js')), 'built');
  // every source and the build older than now, the sources older still: only the deletion is new
  const before = new Date(Date.now() - 10_000);
  const longBefore = new Date(Date.now() - 20_000);
  for (const f of [...buildInputs(dir), path.join('cli', 'main.ts')]) fs.utimesSync(path.join(dir, f), longBefore, longBefore);
  fs.utimesSync(path.join(dir, 'dist', '.built'), before, before);
  fs.rmSync(path.join(dir, 'cli', 'old.ts'));
  const demo = run(dir, 'build-if-stale.js');
  t.equal(demo.status, 0, demo.out);
  t.notMatch(demo.out, /nothing to build/, `the deletion is a reason to build (it said: ${demo.out.trim() || 'nothing'})`);
  for (const out of ['old.js', 'old.js.map']) t.notOk(fs.existsSync(path.join(dir, 'dist', 'cli', out)), `dist/cli/${out} is gone`);
  t.match(run(dir, 'build-if-stale.js').out, /dist\/ is current: nothing to build/, 'and once built, current');
});

// (tidy7) the orphan rule above covered compiled files only: a JSON file of conf/ deleted from
// the tree stayed in dist/conf (copy-assets.js copies conf/*.json) after any build, and a build
// was not asked for by its deletion
t.test("a deleted conf JSON's copy is gone after the next build, which the deletion alone asks for", async (t) => {
  const dir = tree(t);
  fs.mkdirSync(path.join(dir, 'conf'));
  fs.writeFileSync(path.join(dir, 'conf', 'old.schema.json'), '{}\n');
  fs.writeFileSync(path.join(dir, 'conf', 'kept.schema.json'), '{}\n');
  t.equal(run(dir, 'prepare.js').status, 0);
  t.ok(fs.existsSync(path.join(dir, 'dist', 'conf', 'old.schema.json')), 'copied');
  const before = new Date(Date.now() - 10_000);
  const longBefore = new Date(Date.now() - 20_000);
  for (const f of [...buildInputs(dir), path.join('cli', 'main.ts'), path.join('conf', 'kept.schema.json')])
    fs.utimesSync(path.join(dir, f), longBefore, longBefore);
  fs.utimesSync(path.join(dir, 'dist', '.built'), before, before);
  fs.rmSync(path.join(dir, 'conf', 'old.schema.json'));
  const demo = run(dir, 'build-if-stale.js');
  t.equal(demo.status, 0, demo.out);
  t.notMatch(demo.out, /nothing to build/, `the deletion is a reason to build (it said: ${demo.out.trim() || 'nothing'})`);
  t.notOk(fs.existsSync(path.join(dir, 'dist', 'conf', 'old.schema.json')), 'dist/conf/old.schema.json is gone');
  t.ok(fs.existsSync(path.join(dir, 'dist', 'conf', 'kept.schema.json')), 'the JSON still in conf/ is kept');
  t.match(run(dir, 'build-if-stale.js').out, /dist\/ is current: nothing to build/, 'and once built, current');
});

// (rev6) the build's own scripts make dist/ as much as the sources do: before `npm test` built
// through build-if-stale.js, every run built, so a change to how the build transpiles, copies
// or writes the config's validator (scripts/config-validator.js) was tested; after it, `npm
// test` said "dist/ is current" and ran the tests against what the old scripts had made
t.test('a build script changed since the last build is a reason to build', async (t) => {
  const dir = tree(t);
  t.equal(run(dir, 'prepare.js').status, 0);
  const before = new Date(Date.now() - 10_000);
  const longBefore = new Date(Date.now() - 20_000);
  for (const f of [...buildInputs(dir), path.join('cli', 'main.ts')]) fs.utimesSync(path.join(dir, f), longBefore, longBefore);
  fs.utimesSync(path.join(dir, 'dist', '.built'), before, before);
  // the copy step now also writes a file of its own into dist/
  fs.appendFileSync(path.join(dir, 'scripts', 'copy-assets.js'), "\nfs.writeFileSync(path.join(root, 'dist', 'made-by-the-new-copy-step'), 'x');\n");
  const demo = run(dir, 'build-if-stale.js');
  t.equal(demo.status, 0, demo.out);
  t.ok(
    fs.existsSync(path.join(dir, 'dist', 'made-by-the-new-copy-step')),
    `dist/ is what the changed build makes (build-if-stale said: ${demo.out.trim() || 'nothing'})`,
  );
  t.match(run(dir, 'build-if-stale.js').out, /dist\/ is current: nothing to build/, 'and once built, current');
});

t.test("the demo's build leaves the tests and benchmarks out, and npm test's check builds them", async (t) => {
  const dir = tree(t);
  const config = path.join(dir, 'tsconfig.json');
  fs.writeFileSync(config, JSON.stringify({ ...JSON.parse(fs.readFileSync(config, 'utf8')), include: ['cli/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'] }));
  for (const dir2 of ['test', 'bench']) {
    fs.mkdirSync(path.join(dir, dir2));
    fs.writeFileSync(path.join(dir, dir2, 'x.ts'), 'export const x = 1;\n');
  }
  const demo = run(dir, 'build-if-stale.js', '--product');
  t.equal(demo.status, 0, demo.out);
  t.ok(fs.existsSync(path.join(dir, 'dist', 'cli', 'main.js')), 'what the demo runs is built');
  for (const out of ['test/x.js', 'bench/x.js']) t.notOk(fs.existsSync(path.join(dir, 'dist', out)), `dist/${out} is left out`);
  // the build well after the demo's sources were saved and before the test is
  const saved = new Date(Date.now() - 20_000);
  for (const f of buildInputs(dir).concat('cli/main.ts')) fs.utimesSync(path.join(dir, f), saved, saved);
  const before = new Date(Date.now() - 10_000);
  fs.utimesSync(path.join(dir, 'dist', '.built-product'), before, before);
  fs.writeFileSync(path.join(dir, 'test', 'x.ts'), 'export const x = 2;\n');
  t.match(run(dir, 'build-if-stale.js', '--product').out, /dist\/ is current: nothing to build/, 'a test saved after the build does not rebuild the demo');
  // npm test's check (no --product): a build without the tests is no build of them
  const full = run(dir, 'build-if-stale.js');
  t.equal(full.status, 0, full.out);
  t.notMatch(full.out, /nothing to build/, 'the full check builds after a product-only build');
  for (const out of ['test/x.js', 'bench/x.js']) t.ok(fs.existsSync(path.join(dir, 'dist', out)), `dist/${out} is built by the full check`);
  t.match(run(dir, 'build-if-stale.js').out, /dist\/ is current: nothing to build/, 'and once built, current');
  t.match(run(dir, 'build-if-stale.js', '--product').out, /dist\/ is current: nothing to build/, 'for the demo too');
});

// (rev7) copy-assets.js took its output folder from the command line, and the demo's build
// requires it inside build-if-stale.js, whose first argument is `--product`: the Thrift bindings
// and the JSON schemas went to a folder named `--product` in the checkout, and from a deleted
// dist/ the demo's extension could not load (Cannot find module './gen/Extension')
t.test("the demo's build copies the assets into dist/, as every build does", async (t) => {
  const dir = tree(t);
  fs.mkdirSync(path.join(dir, 'conf'));
  fs.writeFileSync(path.join(dir, 'conf', 'a.schema.json'), '{}\n');
  const demo = run(dir, 'build-if-stale.js', '--product');
  t.equal(demo.status, 0, demo.out);
  t.ok(fs.existsSync(path.join(dir, 'dist', 'conf', 'a.schema.json')), 'the schema is beside the compiled code');
  t.notOk(fs.existsSync(path.join(dir, '--product')), 'and nothing is written to a folder named after the flag');
});
