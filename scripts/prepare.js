#!/usr/bin/env node
// `npm ci` runs this (the `prepare` script). With the dev dependencies it builds (tsc is
// incremental, so a current dist/ costs a second). A production install (`npm ci --omit=dev`)
// has no TypeScript: it keeps a dist/ that is current and says how to build one that is not.
'use strict';
const fs = require('fs');
const { staleSource, build, root, dist } = require('./stale.js');

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
