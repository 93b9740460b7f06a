import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { DIST, ROOT } from './helpers/paths';

// extension/anomaly.ext, copied as the README installs it: where it finds the built tree and
// node, and one line with a sysexits code when a part is missing.

const LAUNCHER = path.join(ROOT, 'extension', 'anomaly.ext');

function install(layout: 'alone' | 'readme'): { dir: string; ext: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-launcher-'));
  const extDir = path.join(dir, 'extensions');
  fs.mkdirSync(extDir, { mode: 0o755 });
  const ext = path.join(extDir, 'anomaly.ext');
  fs.copyFileSync(LAUNCHER, ext);
  fs.chmodSync(ext, 0o755);
  // the README's layout: /usr/local/lib/osquery/{extensions/anomaly.ext, anomaly/dist}
  if (layout === 'readme') {
    fs.mkdirSync(path.join(dir, 'anomaly'));
    fs.symlinkSync(DIST, path.join(dir, 'anomaly', 'dist'));
  }
  return { dir, ext };
}

function run(ext: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ANOMALY_')));
  const r = spawnSync(ext, args, { encoding: 'utf8', env: { ...clean, ...env }, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

t.test('--help prints the usage and the environment it reads', async (t) => {
  const r = run(LAUNCHER, ['--help']);
  t.equal(r.code, 0);
  t.match(r.out, /^Usage: anomaly\.ext /);
  for (const v of ['ANOMALY_DIST', 'ANOMALY_NODE', 'ANOMALY_CONFIG', 'ANOMALY_STATE_DIR']) t.match(r.out, v);
});

t.test('missing parts: one line and sysexits 69 or 78', async (t) => {
  const alone = install('alone');
  t.teardown(() => fs.rmSync(alone.dir, { recursive: true, force: true }));
  const noDist = run(alone.ext, ['--socket', '/nonexistent']);
  t.equal(noDist.code, 69, 'no built tree beside it: EX_UNAVAILABLE');
  t.match(noDist.err, /^anomaly\.ext: no built extension at .*; set ANOMALY_DIST/);
  t.equal(noDist.err.trim().split('\n').length, 1, 'one line');
  const badDist = run(alone.ext, [], { ANOMALY_DIST: path.join(alone.dir, 'nowhere') });
  t.equal(badDist.code, 78, 'ANOMALY_DIST naming nothing: EX_CONFIG');
  t.match(badDist.err, /ANOMALY_DIST=.*nowhere has no extension\/main\.js/);
  const badNode = run(alone.ext, [], { ANOMALY_DIST: DIST, ANOMALY_NODE: path.join(alone.dir, 'node') });
  t.equal(badNode.code, 78, 'ANOMALY_NODE naming nothing: EX_CONFIG');
  t.match(badNode.err, /ANOMALY_NODE=.* is not an executable file/);
  // a PATH with the launcher's shell tools and no node
  const bin = path.join(alone.dir, 'bin');
  fs.mkdirSync(bin);
  for (const tool of ['readlink', 'dirname'])
    fs.symlinkSync(spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim(), path.join(bin, tool));
  const noNode = run(alone.ext, [], { ANOMALY_DIST: DIST, PATH: bin });
  t.equal(noNode.code, 69, 'no node on PATH: EX_UNAVAILABLE');
  t.match(noNode.err, /^anomaly\.ext: node is not on PATH .*set ANOMALY_NODE/);
  t.equal(noNode.err.trim().split('\n').length, 1, 'one line');
});

t.test('in the README layout it finds ../anomaly/dist and runs the extension', async (t) => {
  const readme = install('readme');
  t.teardown(() => fs.rmSync(readme.dir, { recursive: true, force: true }));
  // the extension itself answers a bad flag with its own usage error: proof that it ran
  const r = run(readme.ext, ['--bogus']);
  t.equal(r.code, 64, `the compiled extension ran and refused the flag: ${r.err.trim()}`);
  t.match(r.err, /^anomaly\.ext: unknown flag --bogus/);
});

t.test('a node older than 20, or one that does not run, is refused before the exec: sysexits 69', async (t) => {
  const alone = install('alone');
  t.teardown(() => fs.rmSync(alone.dir, { recursive: true, force: true }));
  // stand-ins that print what node 18.19.1 prints for --version, and that fail to start
  const old = path.join(alone.dir, 'node18');
  fs.writeFileSync(old, '#!/bin/sh\n[ "$1" = --version ] && { echo v18.19.1; exit 0; }\necho ran\n', { mode: 0o755 });
  const refused = run(alone.ext, [], { ANOMALY_DIST: DIST, ANOMALY_NODE: old });
  t.equal(refused.code, 69, refused.err);
  t.match(refused.err, /is Node 18; anomaly\.ext needs Node 20 or later/);
  t.notMatch(refused.out, /ran/, 'the old node was not run on the extension');
  const broken = path.join(alone.dir, 'broken');
  fs.writeFileSync(broken, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  const dead = run(alone.ext, [], { ANOMALY_DIST: DIST, ANOMALY_NODE: broken });
  t.equal(dead.code, 69, dead.err);
  t.match(dead.err, /broken does not run/);
});

t.test("it gives node glibc malloc's fixed mmap threshold (unless one is set already) and a bounded young generation", async (t) => {
  const alone = install('alone');
  t.teardown(() => fs.rmSync(alone.dir, { recursive: true, force: true }));
  // a stand-in for node that answers the version probe and then shows the environment the
  // launcher execs it with
  const fake = path.join(alone.dir, 'node');
  fs.writeFileSync(fake, '#!/bin/sh\n[ "$1" = --version ] && { echo v20.20.2; exit 0; }\necho "threshold=${MALLOC_MMAP_THRESHOLD_-unset} args=$*"\n', {
    mode: 0o755,
  });
  const r = run(alone.ext, ['--socket', '/nonexistent'], { ANOMALY_DIST: DIST, ANOMALY_NODE: fake });
  t.equal(r.code, 0, r.err);
  t.equal(r.out.trim(), `threshold=131072 args=--max-semi-space-size=4 ${DIST}/extension/main.js --socket /nonexistent`);
  const kept = run(alone.ext, ['--socket', '/nonexistent'], { ANOMALY_DIST: DIST, ANOMALY_NODE: fake, MALLOC_MMAP_THRESHOLD_: '65536' });
  t.equal(kept.out.trim(), `threshold=65536 args=--max-semi-space-size=4 ${DIST}/extension/main.js --socket /nonexistent`);
});

// osqueryd runs anomaly.ext only when the file is owned by root (or osqueryd's user) and is not
// writable by everyone (osquery's safePermissions); the launcher then runs node on the built
// tree, as root. A tree another user owns or everyone may write is that user's root shell: the
// README's `cp -a` of a checkout a developer cloned kept the developer's uid on every file.
t.test('it refuses a built tree or a node that a user other than root (or its own) could change', async (t) => {
  const readme = install('readme');
  t.teardown(() => fs.rmSync(readme.dir, { recursive: true, force: true }));
  const top = path.join(readme.dir, 'anomaly');
  fs.rmSync(path.join(top, 'dist'));
  fs.cpSync(DIST, path.join(top, 'dist'), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(top, 'node_modules'));
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(top, 'package.json'));
  const main = path.join(top, 'dist', 'extension', 'main.js');
  const trusted = run(readme.ext, ['--bogus']);
  t.equal(trusted.code, 64, `a tree of its own user runs: ${trusted.err.trim()}`);

  fs.chmodSync(main, 0o666);
  const writable = run(readme.ext, ['--bogus']);
  t.equal(writable.code, 78, 'a file of the tree writable by everyone: EX_CONFIG, and node is not started');
  t.match(writable.err, /^anomaly\.ext: .*dist\/extension\/main\.js is writable by everyone, .*chmod -R o-w /);
  t.equal(writable.err.trim().split('\n').length, 1, 'one line');
  fs.chmodSync(main, 0o644);

  // A dangling link loads nothing, and its own mode (lrwxrwxrwx) is not one chmod can change:
  // npm leaves such links in node_modules/.bin when a package's bin file is missing (review8).
  const dangling = path.join(top, 'dist', 'extension', 'gone.js');
  fs.symlinkSync('./missing.js', dangling);
  const withDangling = run(readme.ext, ['--bogus']);
  t.equal(withDangling.code, 64, `a dangling link in the tree is no finding: ${withDangling.err.trim()}`);
  fs.rmSync(dangling);

  const fake = path.join(readme.dir, 'node');
  fs.writeFileSync(fake, '#!/bin/sh\n[ "$1" = --version ] && { echo v20.20.2; exit 0; }\necho ran\n', { mode: 0o755 });
  fs.chmodSync(fake, 0o757);
  const node = run(readme.ext, [], { ANOMALY_NODE: fake });
  t.equal(node.code, 78, 'a node binary writable by everyone is not run');
  t.match(node.err, /node is writable by everyone/);
  t.notMatch(node.out, /ran/);
  fs.chmodSync(fake, 0o755);

  if (process.getuid?.() !== 0) {
    t.comment('chown to another user needs root: the owner cases are not run');
    return;
  }
  fs.chownSync(main, 1000, 1000);
  const owned = run(readme.ext, ['--bogus']);
  t.equal(owned.code, 78, 'a file of the tree owned by another user: EX_CONFIG');
  t.match(owned.err, /^anomaly\.ext: .*dist\/extension\/main\.js is owned by uid 1000, neither root nor uid 0 .*chown -R root:root /);
  fs.chownSync(main, 0, 0);
  fs.chownSync(top, 1000, 1000);
  const ownedTop = run(readme.ext, ['--bogus']);
  t.equal(ownedTop.code, 78, 'the folder that holds dist/ owned by another user (who could swap dist/): refused');
  t.match(ownedTop.err, /anomaly is owned by uid 1000/);
  fs.chownSync(fake, 1000, 1000);
  const ownedNode = run(readme.ext, [], { ANOMALY_NODE: fake, ANOMALY_DIST: DIST });
  t.equal(ownedNode.code, 78, 'a node binary owned by another user (an nvm install in a home) is not run as root');
  t.match(ownedNode.err, /node is owned by uid 1000/);
});

// Node looks for a package it cannot find in the install's node_modules in every folder above
// it (../node_modules, ../../node_modules, … /node_modules). The optional tfjs-node is missing
// from most installs, so whoever can create a node_modules folder in any parent of the install
// (a /tmp, a group-writable /opt/team) would have root run his code: the launcher's ownership
// rule covers the install, not its parents.
t.test('the optional tfjs-node is looked for in the install only, not in the folders above it', async (t) => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-parent-'));
  t.teardown(() => fs.rmSync(parent, { recursive: true, force: true }));
  const marker = path.join(parent, 'planted-code-ran');
  const planted = path.join(parent, 'node_modules', '@tensorflow', 'tfjs-node');
  fs.mkdirSync(planted, { recursive: true });
  fs.writeFileSync(path.join(planted, 'package.json'), '{"name":"@tensorflow/tfjs-node","main":"index.js"}\n');
  fs.writeFileSync(path.join(planted, 'index.js'), `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\nthrow new Error('planted');\n`);
  const top = path.join(parent, 'anomaly');
  fs.mkdirSync(top);
  // a real copy: node resolves from a module's real path, so a link to the checkout's dist/
  // would search above the checkout instead
  fs.cpSync(DIST, path.join(top, 'dist'), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(top, 'node_modules'));
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(top, 'package.json'));
  t.notOk(fs.existsSync(path.join(ROOT, 'node_modules', '@tensorflow', 'tfjs-node')) && 'tfjs-node installed', 'this check needs an install without tfjs-node');

  const backend = path.join(top, 'dist', 'scorer', 'models', 'backend.js');
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ANOMALY_')));
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(backend)}).selectBackend().then((n) => console.log(n))`], {
    encoding: 'utf8',
    env: clean,
    timeout: 120_000,
  });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout.trim(), 'wasm', 'the backend chosen without tfjs-node');
  t.notOk(fs.existsSync(marker), 'the tfjs-node planted above the install was not loaded');

  const misspelt = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(backend)}).selectBackend().catch((e) => console.log(e.message))`], {
    encoding: 'utf8',
    env: { ...clean, ANOMALY_TF_BACKEND: 'wsam' },
    timeout: 120_000,
  });
  t.match(misspelt.stdout, /ANOMALY_TF_BACKEND: wsam names no backend/, 'a misspelt forced backend is refused, not run as the plain JS one');
});

t.test('it runs the tree it checked, and refuses one whose folders above could be renamed by another user (review9)', async (t) => {
  const readme = install('readme');
  t.teardown(() => fs.rmSync(readme.dir, { recursive: true, force: true }));
  // a node that says what it was asked to run
  const fake = path.join(readme.dir, 'node');
  fs.writeFileSync(fake, '#!/bin/sh\n[ "$1" = --version ] && { echo v20.20.2; exit 0; }\necho "ran $0 $2"\n', { mode: 0o755 });
  // ANOMALY_DIST through a link: what is run is what was checked, the link's target, not a
  // path the link's folder's owner can point elsewhere between the check and node's start
  const links = path.join(readme.dir, 'links');
  fs.mkdirSync(links, { mode: 0o755 });
  fs.symlinkSync(DIST, path.join(links, 'dist'));
  fs.symlinkSync(fake, path.join(links, 'node'));
  const viaLink = run(readme.ext, [], { ANOMALY_NODE: path.join(links, 'node'), ANOMALY_DIST: path.join(links, 'dist') });
  t.equal(viaLink.code, 0, viaLink.err);
  t.equal(viaLink.out.trim(), `ran ${fake} ${fs.realpathSync(DIST)}/extension/main.js`, 'the resolved node and tree');

  // a folder above the tree's own that everyone may write (not sticky, as /tmp is): anyone
  // renames the tree away after the check and puts theirs in its place, and the scorer thread
  // (started from dist/ later, and again after a restart) loads theirs as root
  const top = path.join(readme.dir, 'anomaly');
  fs.rmSync(path.join(top, 'dist'));
  fs.cpSync(DIST, path.join(top, 'dist'), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(top, 'node_modules'));
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(top, 'package.json'));
  t.equal(run(readme.ext, ['--bogus']).code, 64, 'the tree as installed runs');
  fs.chmodSync(readme.dir, 0o777);
  const open = run(readme.ext, ['--bogus']);
  t.equal(open.code, 78, `a folder above it writable by everyone: refused (${open.err.trim()})`);
  t.match(open.err, new RegExp(`^anomaly\\.ext: ${readme.dir} is writable by everyone`));
  fs.chmodSync(readme.dir, 0o1777);
  t.equal(run(readme.ext, ['--bogus']).code, 64, 'sticky, as /tmp: only the owner of an entry may rename it');
  fs.chmodSync(readme.dir, 0o755);
  // node_modules/ linked from a shared folder: the folders above its target
  const shared = path.join(readme.dir, 'shared');
  fs.mkdirSync(path.join(shared, 'node_modules'), { recursive: true });
  fs.chmodSync(shared, 0o777);
  fs.rmSync(path.join(top, 'node_modules'));
  fs.symlinkSync(path.join(shared, 'node_modules'), path.join(top, 'node_modules'));
  const modules = run(readme.ext, ['--bogus']);
  t.equal(modules.code, 78, `node_modules/ in a folder everyone may write: refused (${modules.err.trim()})`);
  t.match(modules.err, new RegExp(`^anomaly\\.ext: ${shared} is writable by everyone`));
  fs.rmSync(path.join(top, 'node_modules'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(top, 'node_modules'));
  if (process.getuid?.() !== 0) {
    t.comment('chown to another user needs root: the owner case is not run');
    return;
  }
  fs.chownSync(readme.dir, 1000, 1000);
  const owned = run(readme.ext, ['--bogus']);
  t.equal(owned.code, 78, `a folder above it owned by another user: refused (${owned.err.trim()})`);
  t.match(owned.err, new RegExp(`^anomaly\\.ext: ${readme.dir} is owned by uid 1000`));
  fs.chownSync(readme.dir, 0, 0);
});
