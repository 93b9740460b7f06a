#!/usr/bin/env node
// `npm ci` runs this (the `prepare` script). With the dev dependencies it builds (transpiles
// every source, a few seconds; the type check is npm run lint's). A production install (`npm ci --omit=dev`)
// has no TypeScript: it keeps a dist/ that is current and says how to build one that is not.
'use strict';
const fs = require('fs');
const { staleSource, build, root, dist } = require('./stale.js');

/**
 * tap's Test class with package.json's `tap.plugin` list (the suite leaves out the plugins it
 * does not use, TypeScript's loader first: README, docs/benchmarks.md). tap rebuilds the class
 * itself when the list differs, but only for the run after: the runner has already read the
 * old class's loaders, so the first `npm test` of a fresh install would pay for them all.
 */
function buildTap() {
  const { spawnSync } = require('child_process');
  const path = require('path');
  // (no list, as in build-stamp's fixture tree that links this node_modules: tap's own class stands)
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  if (!pkg.tap?.plugin) return;
  // (its build prints tshy's whole configuration: shown only when it fails)
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs'), 'build'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`${r.stdout}${r.stderr}anomaly.ext: tap build failed\n`);
    process.exit(r.status ?? 1);
  }
}

function hasTypeScript() {
  try {
    require.resolve('typescript/bin/tsc', { paths: [root] });
    return true;
  } catch {
    return false;
  }
}

if (hasTypeScript()) {
  build('npm ci (prepare)');
  buildTap();
} else {
  const stale = fs.existsSync(dist) ? staleSource() : 'dist/';
  if (stale) {
    console.error(
      `anomaly.ext: dist/ is missing or older than ${stale}, and TypeScript is not installed (a production install). Build first where the dev dependencies are: npm ci && npm run build, then npm ci --omit=dev.`,
    );
    process.exit(1);
  }
  console.error('anomaly.ext: dist/ is current; production install without a build');
}
