#!/usr/bin/env node
// Which sources dist/ is built from, and whether it is older than one of them:
// prepare.js (a production install without TypeScript) and build-if-stale.js ask.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');
/** the last full build's start (build-if-stale.js compares the sources with it) */
const stamp = path.join(dist, '.built');
/**
 * the last product-only build's start (`build-if-stale.js --product`, the demo's): a stamp of
 * its own, so that a full build-if-stale (npm test's) never takes a build without the tests for
 * a current one
 */
const productStamp = path.join(dist, '.built-product');
/** top folders the demo does not run, which its build (build-if-stale.js) leaves to `npm run build` */
const NOT_RUN_BY_THE_DEMO = ['test', 'bench'];

/** what copy-assets.js copies to the same place in dist/: the files of a folder with an ending */
const COPIED = [
  { from: path.join('extension', 'gen'), ending: '.js' },
  { from: 'conf', ending: '.json' },
];

/** whether copy-assets.js copies the file at `rel` (relative to the root) to the same place in dist/ */
function copied(rel) {
  return COPIED.some(({ from, ending }) => path.dirname(rel) === from && rel.endsWith(ending));
}

/** every source of dist/ (TypeScript, Thrift bindings, JSON schemas), with its output there, relative to the root */
function* sources() {
  const config = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.json'), 'utf8'));
  const dirs = [...new Set(config.include.map((p) => p.split('/')[0]))];
  const walk = function* (dir) {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) yield* walk(p);
      else yield p;
    }
  };
  for (const d of dirs) {
    if (!fs.existsSync(path.join(root, d))) continue;
    for (const src of walk(path.join(root, d))) {
      const rel = path.relative(root, src);
      if (rel.endsWith('.d.ts')) continue;
      else if (rel.endsWith('.ts')) yield { rel, out: rel.replace(/\.ts$/, '.js') };
      else if (copied(rel)) yield { rel, out: rel };
    }
  }
}

// A source deleted or renamed leaves its compiled file behind, and `npm test` runs every
// dist/test/*.test.js: a test removed from the tree still ran (and failed) from an earlier
// build. copy-assets.js removes such outputs; build-if-stale.js builds when it finds one.
// A copied file (a conf/ JSON) whose original is gone is one as well: it stayed in dist/conf.
const COMPILED = /\.(js|js\.map|d\.ts)$/;
const COMPILED_DIRS = ['extension', 'state', 'scorer', 'emulator', 'cli', 'demo', 'report', 'conf', 'bench', 'test'];

/** the compiled and copied files in `out` whose source is gone, as full paths */
function* orphans(out = dist) {
  const walk = function* (dir) {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) yield* walk(full);
      else if (entry.isFile() && (COMPILED.test(entry.name) || copied(path.relative(out, full)))) {
        const rel = path.relative(out, full);
        const base = rel.replace(COMPILED, '');
        // its source: itself (copied), or the TypeScript or JavaScript it was compiled from
        if (![rel, `${base}.ts`, `${base}.js`].some((src) => fs.existsSync(path.join(root, src)))) yield full;
      }
    }
  };
  for (const top of COMPILED_DIRS) if (fs.existsSync(path.join(out, top))) yield* walk(path.join(out, top));
}

/** the first source newer than its output, or null */
function staleSource() {
  for (const { rel, out } of sources()) {
    const built = path.join(dist, out);
    if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < fs.statSync(path.join(root, rel)).mtimeMs) return rel;
  }
  return null;
}

/**
 * `npm run build`: transpile.js, then copy-assets.js; a syntax error ends the process with
 * status 1 once every output is written, as tsc did (a type error no longer stops a build:
 * `npm run typecheck`, part of `npm run lint`, finds it). Then dist/.built is stamped with
 * the time the build started and `why` it ran: whichever script built (prepare.js under
 * `npm ci`, build-if-stale.js before the demo), the next build-if-stale.js knows the build
 * is current (a source saved while it ran is newer). `skip`: top folders left out (transpile.js);
 * such a build stamps `productStamp` instead, which only a product-only check reads.
 */
function build(why, skip = []) {
  const started = new Date();
  if (require('./transpile.js').transpile(path.join(root, 'tsconfig.json'), skip) > 0) process.exit(1);
  require('./copy-assets.js').copyAssets(dist);
  const stamped = skip.length > 0 ? productStamp : stamp;
  fs.writeFileSync(stamped, `${why}\n`);
  fs.utimesSync(stamped, started, started);
}

/**
 * what makes dist/ besides its sources, relative to the root: the project's settings and the
 * build's own scripts (how it transpiles, what it copies, the config's validator it writes).
 * build-if-stale.js builds when one is newer than the last build, as for a source
 */
function buildInputs() {
  const scripts = ['stale.js', 'transpile.js', 'copy-assets.js', 'config-validator.js'].map((f) => path.join('scripts', f));
  return ['tsconfig.json', 'package.json', ...scripts].filter((rel) => fs.existsSync(path.join(root, rel)));
}

module.exports = { COPIED, sources, staleSource, orphans, buildInputs, build, root, dist, stamp, productStamp, NOT_RUN_BY_THE_DEMO };
