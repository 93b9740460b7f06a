#!/usr/bin/env node
// `npm run demo` builds first, and a build of an unchanged tree still costs a few seconds of
// a one-minute demo (transpile.js transpiles every source again). This runs the build
// (transpile.js, then copy-assets.js, as `npm run build`) unless the last build's stamp is
// newer than every source, tsconfig.json, package.json and the build's own scripts (stale.js
// buildInputs): every build of stale.js stamps it with the time it started, this script's and
// npm ci's (prepare.js). (The outputs' own times cannot say that a build is current: `npx tsc`
// does not rewrite an output whose source was saved unchanged.)
//
// `--product` (the demo's and eval's) builds only what the product runs: the tests and the
// benchmarks, 45 % of the sources and 30-43 % of the build's CPU, are left out, and their edits
// are no reason to build (docs/benchmarks.md, "The demo's CPU: the heap keeper after fits, the
// demo's build"). Such a build stamps dist/.built-product, which only `--product` reads, so the
// full check (npm test's, npm run bench's) still builds the tests it left out.
'use strict';
const fs = require('fs');
const path = require('path');
const { sources, orphans, buildInputs, build, root, stamp, productStamp, NOT_RUN_BY_THE_DEMO } = require('./stale.js');

const productOnly = process.argv.includes('--product');
const runByTheProduct = (rel) => !NOT_RUN_BY_THE_DEMO.includes(rel.split(path.sep)[0]);

function changed() {
  const stamps = (productOnly ? [stamp, productStamp] : [stamp]).filter((f) => fs.existsSync(f));
  if (stamps.length === 0) return 'no build stamped yet';
  const built = Math.max(...stamps.map((f) => fs.statSync(f).mtimeMs));
  const inputs = [...buildInputs(), ...Array.from(sources(), (s) => s.rel).filter((rel) => !productOnly || runByTheProduct(rel))];
  for (const rel of inputs) if (fs.statSync(path.join(root, rel)).mtimeMs > built) return rel;
  // a source deleted changes no other's time, and its output would still run (a test removed)
  for (const orphan of orphans()) return `${path.relative(root, orphan)}, whose source is gone`;
  return null;
}

const why = changed();
if (why === null) {
  process.stderr.write('dist/ is current: nothing to build\n');
} else {
  build(why, productOnly ? NOT_RUN_BY_THE_DEMO : []);
}
